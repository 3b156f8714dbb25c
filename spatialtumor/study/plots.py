"""Plots of a study's joined table (matplotlib, no pyplot state).

``arms_figure``: one column over time, mean ± spread across the members of each arm.
``response_figure``: the final value of a column against one swept parameter (mean ± spread
over seeds, one curve per arm) or two (a map of the mean, one panel per arm).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

SPREADS = ("sd", "range", "sem")


def default_column(table: pd.DataFrame) -> str:
    """``cells_total`` when present, else the first field total."""
    if "cells_total" in table.columns:
        return "cells_total"
    totals = [c for c in table.columns if c.endswith("_total")]
    if not totals:
        raise ValueError("the table has no cells_total or <field>_total column")
    return totals[0]


def _band(values: pd.core.groupby.SeriesGroupBy, spread: str):
    mean = values.mean()
    if spread == "sd":
        s = values.std(ddof=1).fillna(0.0)
        return mean, mean - s, mean + s
    if spread == "sem":
        s = (values.std(ddof=1) / np.sqrt(values.count())).fillna(0.0)
        return mean, mean - s, mean + s
    if spread == "range":
        return mean, values.min(), values.max()
    raise ValueError(f"spread must be one of {SPREADS}, not {spread!r}")


def arms_figure(
    timeseries: pd.DataFrame, column: str, spread: str = "sd", title: str = ""
) -> Figure:
    """Mean ± spread of ``column`` over time [h], one curve and band per arm."""
    from matplotlib.figure import Figure

    if column not in timeseries.columns:
        raise ValueError(f"no column {column!r}; columns: {', '.join(timeseries.columns)}")
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for arm, group in timeseries.groupby("arm", sort=False):
        by_time = group.groupby("time_min")[column]
        mean, lo, hi = _band(by_time, spread)
        hours = mean.index.to_numpy() / 60.0
        n = group["member"].nunique()
        (line,) = ax.plot(hours, mean.to_numpy(), label=f"{arm} (n = {n})")
        ax.fill_between(hours, lo.to_numpy(), hi.to_numpy(), color=line.get_color(), alpha=0.25)
    ax.set_xlabel("time [h]")
    ax.set_ylabel(column)
    ax.set_title(title or f"{column}: mean ± {spread} per arm")
    ax.legend(frameon=False)
    return fig


def response_figure(
    members: pd.DataFrame, params: list[str], column: str, spread: str = "sd", title: str = ""
) -> Figure:
    """Final ``column`` against one or two swept parameters (finished members only)."""
    from matplotlib.figure import Figure

    final = f"final_{column}"
    done = members[members["status"] == "done"]
    if final not in done.columns:
        raise ValueError(f"no finished member has column {column!r}")
    if len(params) == 1:
        (p,) = params
        fig = Figure(figsize=(6.0, 4.0), layout="constrained")
        ax = fig.add_subplot()
        for arm, group in done.groupby("arm", sort=False):
            by_p = group.groupby(p)[final]
            mean, lo, hi = _band(by_p, spread)
            x = mean.index.to_numpy(dtype=float)
            line = ax.plot(x, mean.to_numpy(), marker="o", label=arm)[0]
            ax.fill_between(x, lo.to_numpy(), hi.to_numpy(), color=line.get_color(), alpha=0.25)
        if _log_like(done[p]):
            ax.set_xscale("log")
        ax.set_xlabel(p)
        ax.set_ylabel(f"final {column}")
        ax.set_title(title or f"final {column}: mean ± {spread} over seeds")
        ax.legend(frameon=False)
        return fig
    if len(params) != 2:
        raise ValueError("a response surface needs one or two parameters")
    px, py = params
    arms = list(dict.fromkeys(done["arm"]))
    fig = Figure(figsize=(4.6 * len(arms), 4.0), layout="constrained")
    axes = fig.subplots(1, len(arms), squeeze=False)[0]
    mean_all = done.groupby(["arm", px, py])[final].mean()
    vmin, vmax = float(mean_all.min()), float(mean_all.max())
    for ax, arm in zip(axes, arms, strict=True):
        grid = mean_all.loc[arm].reset_index()
        x, y, z = (grid[c].to_numpy(dtype=float) for c in (px, py, final))
        xs, ys = np.unique(x), np.unique(y)
        if len(xs) * len(ys) == len(z):  # a full grid: a map
            zz = grid.pivot(index=py, columns=px, values=final).to_numpy()
            im = ax.pcolormesh(xs, ys, zz, shading="nearest", vmin=vmin, vmax=vmax)
            ax.plot(x, y, "k.", ms=3)  # where the members are
        else:  # scattered samples
            im = ax.scatter(x, y, c=z, vmin=vmin, vmax=vmax, s=40)
        for values, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
            if _log_like(pd.Series(values)):
                setter("log")
        ax.set_xlabel(px)
        ax.set_ylabel(py)
        ax.set_title(arm)
    fig.colorbar(im, ax=list(axes), label=f"mean final {column}")
    if title:
        fig.suptitle(title)
    return fig


def _log_like(values: pd.Series) -> bool:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    return bool(v.size and v.min() > 0 and v.max() / v.min() >= 20.0)


def save_figure(
    fig: Figure, stem: str | os.PathLike, formats=("png", "svg"), dpi: int = 150
) -> list[Path]:
    """Save ``fig`` as ``stem.<format>`` for each format; the paths."""
    import matplotlib

    out = []
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        for f in formats:
            p = stem.with_suffix(f".{f}")
            fig.savefig(p, dpi=dpi, facecolor="white")
            out.append(p)
    return out
