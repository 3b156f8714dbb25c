"""Curves of a run with matplotlib: cell counts per kind and state, tumour size, field totals.

::

    from spatialtumor.plots import population_figure, save_plots

    fig = population_figure("runs/demo")            # a matplotlib Figure (no pyplot state)
    save_plots("runs/demo")                          # RUN/plots/population.png and .svg

Counts per kind come from ``timeseries.csv`` where it has them (finer in time), otherwise
from the snapshots; counts per state and the tumour size always come from the snapshots.
Kind and state names, and which kinds are tumour cells (model "tumour"), are read from the
snapshots' vocabulary. Tumour size is shown as the equivalent-sphere radius
``(3 ΣV / 4π)^(1/3)`` [µm] of the live tumour cells and of all tumour cells, and as
``√(5/3)·R_g`` [µm] (``R_g`` the radius of gyration of all tumour cells; equal to the radius
for a uniformly filled ball). Quantities the kinds report to the time series (kills per
interval, attached T cells, mean antigen and PD-L1, …) get one panel each, as described by
``RUN/timeseries.json``. The doses of the scenario's ``[[therapy.doses]]`` schedule, if any,
are marked on every panel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .runs import Run, open_run

#: line style of a kind's state, by its code (0 solid, 1 dashed, …)
STATE_STYLES = ("-", "--", ":", "-.")
#: matplotlib settings of every figure the project draws
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
    "svg.fonttype": "none",
}


@dataclass(frozen=True)
class TherapyEvent:
    """One dose or treatment start: ``time`` [min] and a label."""

    time: float
    label: str


def therapy_events(scenario: dict[str, Any]) -> list[TherapyEvent]:
    """Every dose of a resolved scenario's ``[[therapy.doses]]`` schedule, in time order
    (an empty list when it has none or was written by a version without schedules)."""
    from .doses import schedule_rows

    return [TherapyEvent(t, label) for t, label, _amount in schedule_rows(scenario)]


def _last_time(snapshot_times, ts) -> float:
    """Latest time [min] of the run's snapshots or time series (inf when it has neither)."""
    ends = [float(np.max(snapshot_times))] if len(snapshot_times) else []
    if ts is not None and len(ts) and "time_min" in ts.columns:
        ends.append(float(ts["time_min"].max()))
    return max(ends) if ends else float("inf")


def time_scale(t_max: float) -> tuple[float, str]:
    """Divisor and unit label (min, h or d) that suit an axis running to ``t_max`` [min]."""
    if t_max >= 2 * 1440:
        return 1440.0, "d"
    if t_max >= 180:
        return 60.0, "h"
    return 1.0, "min"


@dataclass
class RunCurves:
    """Everything the figure plots, as arrays (times [min])."""

    snapshot_times: np.ndarray
    kind_times: np.ndarray
    kinds: dict[str, np.ndarray]  # kind → cells over kind_times
    states: dict[tuple[str, str], np.ndarray]  # (kind, state) → cells over snapshot_times
    state_codes: dict[tuple[str, str], int]  # (kind, state) → the state's code
    size: dict[str, np.ndarray]  # label → radius [µm] over snapshot_times
    field_times: np.ndarray
    field_totals: dict[str, np.ndarray]  # field → total [units·µm³] over field_times
    units: dict[str, str]
    events: list[TherapyEvent]
    reported: dict[str, dict[str, np.ndarray]] = None  # panel → column → values (kind_times)
    reported_units: dict[str, str] = None  # panel → units


def _tumour_size(snap, tumour_codes: list[int]) -> dict[str, float]:
    pos = snap.column("position")
    kind = snap.column("kind")
    if pos is None or kind is None or not tumour_codes:
        return {}
    pos = np.asarray(pos, dtype=np.float64)
    tum = np.isin(np.asarray(kind), tumour_codes)
    state = snap.column("state")
    live = tum & (np.asarray(state) == 0) if state is not None else tum
    vol = snap.column("volume")
    if vol is None:
        r = snap.column("radius")
        vol = 4.0 / 3.0 * np.pi * np.asarray(r, dtype=np.float64) ** 3 if r is not None else None
    out = {}
    if vol is not None:
        vol = np.asarray(vol, dtype=np.float64)
        for label, mask in (("live tumour cells", live), ("all tumour cells", tum)):
            out[f"equivalent-sphere radius, {label}"] = float(
                (3.0 * vol[mask].sum() / (4.0 * np.pi)) ** (1.0 / 3.0)
            )
    if tum.sum() > 1:
        p = pos[tum]
        rg = np.sqrt(np.mean(np.sum((p - p.mean(axis=0)) ** 2, axis=1)))
        out["√(5/3)·radius of gyration, all tumour cells"] = float(np.sqrt(5.0 / 3.0) * rg)
    else:
        out["√(5/3)·radius of gyration, all tumour cells"] = 0.0
    return out


def run_curves(run: str | os.PathLike | Run) -> RunCurves:
    """Collect the curves of a run (reads only the columns it needs)."""
    run = run if isinstance(run, Run) else open_run(run)
    snaps = list(run.snapshots)
    times = np.array([s.time for s in snaps])
    names = list(run.kind_names)
    ts = run.timeseries
    kind_cols = [f"cells_{k}" for k in names]
    kinds: dict[str, np.ndarray] = {}
    if names and len(ts) and all(c in ts.columns for c in kind_cols):
        kind_times = ts["time_min"].to_numpy(dtype=float)
        for k, c in zip(names, kind_cols, strict=True):
            kinds[k] = ts[c].to_numpy(dtype=float)
    else:
        kind_times = times
        for k in names:
            kinds[k] = np.zeros(len(snaps))
    states: dict[tuple[str, str], np.ndarray] = {}
    size: dict[str, np.ndarray] = {}
    vocab = run.vocabulary
    tumour_codes = vocab.kinds_of_model("tumour")
    for i, s in enumerate(snaps):
        if not s.has_population:
            continue
        counts = s.counts()
        for key, n in counts.items():
            kind, _, state = key.partition("/")
            states.setdefault((kind, state or "all"), np.zeros(len(snaps)))[i] = n
            if kind_times is times and kind in kinds:
                kinds[kind][i] += n
        for label, r in _tumour_size(s, tumour_codes).items():
            size.setdefault(label, np.full(len(snaps), np.nan))[i] = r
    order = {n: i for i, n in enumerate(names)}
    codes = {}
    for key in states:
        k = order.get(key[0], -1)
        known = vocab.states_of(k) if k >= 0 else ()
        codes[key] = known.index(key[1]) if key[1] in known else 99
    states = dict(sorted(states.items(), key=lambda kv: (order.get(kv[0][0], 99), codes[kv[0]])))
    reported: dict[str, dict[str, np.ndarray]] = {}
    reported_units: dict[str, str] = {}
    for col, info in run.timeseries_columns.items():
        if info.get("counter") or col not in ts.columns:
            continue  # running totals are drawn as their increase per interval
        panel = str(info.get("panel", col))
        reported.setdefault(panel, {})[col] = ts[col].to_numpy(dtype=float)
        reported_units[panel] = str(info.get("units", ""))
    fields = run.field_names
    totals: dict[str, np.ndarray] = {}
    if len(ts) and all(f"{f}_total" in ts.columns for f in fields):
        field_times = ts["time_min"].to_numpy(dtype=float)
        for f in fields:
            totals[f] = ts[f"{f}_total"].to_numpy(dtype=float)
    else:
        field_times = times
        vv = run.grid.voxel_volume
        for f in fields:
            totals[f] = np.array([float(np.sum(s.field(f), dtype=np.float64)) * vv for s in snaps])
    return RunCurves(
        snapshot_times=times,
        kind_times=kind_times,
        kinds=kinds,
        states=states,
        state_codes=codes,
        size=size,
        field_times=field_times,
        field_totals=totals,
        units=run.units,
        # events after the last row (a run stopped early, a schedule beyond it) are not shown
        events=[e for e in therapy_events(run.scenario) if e.time <= _last_time(times, ts)],
        reported=reported,
        reported_units=reported_units,
    )


def _kind_colours(run: Run) -> dict[str, tuple[float, float, float]]:
    from .render import kind_colours

    return kind_colours(run.vocabulary)


def population_figure(run: str | os.PathLike | Run, *, title: str | None = None):
    """A figure of the run's curves: one panel per quantity, returned unsaved.

    Panels (when the run has cells): cells per kind (one line per kind), cells per kind and
    state (line style by state), tumour size (when a kind has the tumour model), one panel
    per group of quantities the kinds report; then one panel per field with its total. The
    first axes hold one line per kind, labelled with the kind names.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure

    run = run if isinstance(run, Run) else open_run(run)
    c = run_curves(run)
    t_all = np.concatenate([c.snapshot_times, c.kind_times, c.field_times])
    scale, unit = time_scale(float(t_all.max(initial=0.0)))
    panels: list[str] = []
    if c.kinds:
        panels += ["kinds", "states"]
    if c.size:
        panels.append("size")
    panels += [f"reported:{p}" for p in c.reported or {}]
    panels += [f"field:{f}" for f in c.field_totals]
    ncols = 1 if len(panels) == 1 else 2
    nrows = (len(panels) + ncols - 1) // ncols
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        colours = _kind_colours(run)
        for ax, panel in zip(axes, panels, strict=False):
            if panel == "kinds":
                for k, y in c.kinds.items():
                    ax.plot(c.kind_times / scale, y, color=colours[k], label=k)
                ax.set_title("Cells per kind")
                ax.set_ylabel("cells")
            elif panel == "states":
                for (k, s), y in c.states.items():
                    ax.plot(
                        c.snapshot_times / scale,
                        y,
                        color=colours.get(k, "0.3"),
                        ls=STATE_STYLES[c.state_codes.get((k, s), 0) % len(STATE_STYLES)],
                        marker="o",
                        ms=2.5,
                        label=f"{k} ({s})",
                    )
                ax.set_title("Cells per kind and state")
                ax.set_ylabel("cells")
            elif panel == "size":
                for (label, y), ls in zip(c.size.items(), ("-", "--", ":"), strict=False):
                    ax.plot(
                        c.snapshot_times / scale,
                        y,
                        color="0.2",
                        ls=ls,
                        marker="o",
                        ms=2.5,
                        label=label,
                    )
                ax.set_title("Tumour size")
                ax.set_ylabel("radius (µm)")
            elif panel.startswith("reported:"):
                group = panel.split(":", 1)[1]
                styles = ("-", "--", ":", "-.")
                for (col, y), ls in zip(c.reported[group].items(), styles, strict=False):
                    ax.plot(c.kind_times / scale, y, color="0.15", ls=ls, label=col)
                ax.set_title(group)
                ax.set_ylabel(c.reported_units.get(group, "") or "value")
            else:
                f = panel.split(":", 1)[1]
                u = c.units.get(f, "")
                ax.plot(c.field_times / scale, c.field_totals[f], color="0.15", label=f)
                ax.set_title(f"{f}: total in the domain")
                lab = f"{u}·µm³" if u and u != "dimensionless" else "µm³"
                ax.set_ylabel(f"total ({lab})")
            ax.set_xlabel(f"time ({unit})")
            for j, e in enumerate(c.events):
                ax.axvline(
                    e.time / scale,
                    color="tab:red",
                    lw=0.9,
                    alpha=0.7,
                    ls="--",
                    label=e.label if j == 0 or e.label != c.events[j - 1].label else None,
                )
            if (not panel.startswith("field:") or c.events) and ax.get_legend_handles_labels()[0]:
                ax.legend(frameon=False, loc="best")
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        if title is None:
            title = str(run.scenario.get("title", "")) or run.path.name
        fig.suptitle(title, fontsize=11)
    return fig


def save_plots(
    run: str | os.PathLike | Run,
    out_dir: str | os.PathLike | None = None,
    *,
    formats: tuple[str, ...] = ("png", "svg"),
    dpi: int = 200,
    title: str | None = None,
) -> list[Path]:
    """Write ``population.<format>`` for each format to ``out_dir`` (default ``RUN/plots``)."""
    import matplotlib

    run = run if isinstance(run, Run) else open_run(run)
    out = Path(out_dir) if out_dir is not None else run.path / "plots"
    out.mkdir(parents=True, exist_ok=True)
    fig = population_figure(run, title=title)
    paths = []
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        for fmt in formats:
            p = out / f"population.{fmt}"
            fig.savefig(p, dpi=dpi, facecolor="white")
            paths.append(p)
    return paths


__all__ = [
    "RunCurves",
    "TherapyEvent",
    "population_figure",
    "run_curves",
    "save_plots",
    "therapy_events",
]
