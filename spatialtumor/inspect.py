"""What a run folder holds: ``spatialtumor info RUN [--json]``.

:func:`run_summary` returns a dict that serves both outputs: nested values are small
``dict``/``list``/``int`` subclasses that JSON encodes as plain structures and numbers,
while ``str()`` gives a one-line human reading (``1,851 (tumour/live 1,811, …)``,
``1.9 MB``), which is what the command prints as ``key: value`` lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .runs import RunError, open_run

CHECKPOINT_PATTERN = re.compile(r"^checkpoint_(\d+)\.h5$")


class Bytes(int):
    """A size in bytes; prints as ``1.9 MB``."""

    def __str__(self) -> str:
        v = float(self)
        for unit in ("B", "kB", "MB", "GB", "TB"):
            if v < 1000 or unit == "TB":
                return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
            v /= 1000.0
        return f"{v:.1f} TB"  # pragma: no cover

    __repr__ = __str__


class Readable(dict):
    """A dict printed as ``key value, key value``."""

    def __str__(self) -> str:
        if not self:
            return "none"
        return ", ".join(f"{k} {_fmt(v)}" for k, v in self.items())

    __repr__ = __str__


class Counts(Readable):
    """Cell counts ``{"kind/state": n}`` printed as ``total (kind/state n, …)``."""

    def __str__(self) -> str:
        if not self:
            return "0"
        total = sum(int(v) for v in self.values())
        return f"{total:,} ({super().__str__()})"

    __repr__ = __str__


class Listing(list):
    """A list printed as ``a, b, …`` (shortened to the first and last few when long)."""

    def __str__(self) -> str:
        items = [_fmt(v) for v in self]
        if len(items) > 8:
            items = items[:3] + ["…"] + items[-3:]
        return ", ".join(items) if items else "none"

    __repr__ = __str__


class Dims(list):
    """A list of extents printed as ``48×48×40``."""

    def __str__(self) -> str:
        return "×".join(_fmt(v) for v in self)

    __repr__ = __str__


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int) and not isinstance(v, Bytes):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def _reported(run) -> Readable:
    """The last row's value of every quantity the kinds report (kills are running totals)."""
    ts = run.timeseries
    if not len(ts):
        return Readable()
    out = Readable()
    for col, info in run.timeseries_columns.items():
        if col in ts.columns and not info.get("increase_of"):
            v = float(ts[col].iloc[-1])
            out[col] = int(v) if v.is_integer() else round(v, 4)
    return out


def _schedule(scenario: dict) -> Listing:
    """Every scheduled dose of the run's scenario as ``"t min: label amount"``."""
    from .doses import schedule_rows

    return Listing(f"{t:g} min: {label} {amount:g}" for t, label, amount in schedule_rows(scenario))


def _checkpoints(run_dir: Path) -> Readable:
    folder = run_dir / "checkpoints"
    files = sorted(p for p in folder.glob("checkpoint_*.h5") if CHECKPOINT_PATTERN.match(p.name))
    steps, times = Listing(), Listing()
    for p in files:
        try:
            with h5py.File(p, "r") as f:
                steps.append(int(f.attrs["step"]))
                times.append(float(f.attrs["time_min"]))
        except (OSError, KeyError):
            steps.append(int(CHECKPOINT_PATTERN.match(p.name).group(1)))
            times.append(float("nan"))
    return Readable(
        count=len(files), files=Listing(p.name for p in files), steps=steps, times_min=times
    )


def run_summary(run_dir: Path) -> dict[str, Any]:
    """Summary of a run folder: scenario, backend, snapshots, cells, checkpoints, sizes.

    Parameters
    ----------
    run_dir : the run folder

    Returns
    -------
    dict
        ``run``, ``scenario``, ``title``, ``backend``, ``device``, ``dtype``, ``seed``,
        ``grid`` (shape, spacing [µm], origin [µm]), ``fields`` (name → units),
        ``snapshots`` (count), ``snapshot_times_min``, ``last_time_min``, ``last_step``,
        ``cells_last`` (``"kind/state"`` → count at the last snapshot), ``kinds``,
        ``kind_models``, ``therapy`` (every scheduled dose), ``reported_last`` (the kinds'
        reported numbers in the last table row),
        ``checkpoints`` (count, files, steps, times [min]), ``disk`` (bytes per part and
        total), ``versions``, ``created``, ``timeseries_rows``, ``sidecar``.
    """
    run_dir = Path(run_dir)
    try:
        run = open_run(run_dir)
    except RunError as exc:
        from .cli import BadInput

        raise BadInput(str(exc)) from None
    first, last = run.first, run.last
    a = last.attrs
    scenario = run.scenario
    g = run.grid
    ts = run.timeseries
    versions = Readable(
        {
            k.removesuffix("_version"): str(v)
            for k, v in a.items()
            if k.endswith("_version") and k != "format_version"
        }
    )
    versions["format"] = f"{a.get('format', '?')} {a.get('format_version', '?')}"
    disk = Readable(
        snapshots=Bytes(_size(run_dir / "snapshots")),
        checkpoints=Bytes(_size(run_dir / "checkpoints")),
        other=Bytes(0),
        total=Bytes(_size(run_dir)),
    )
    disk["other"] = Bytes(disk["total"] - disk["snapshots"] - disk["checkpoints"])
    times = run.times
    out: dict[str, Any] = {
        "run": str(run_dir),
        "scenario": str(a.get("scenario_path", "")),
        "title": str(scenario.get("title", "")),
        "backend": str(a.get("backend", "")),
        "device": str(a.get("device", "")),
        "dtype": str(a.get("dtype", "")),
        "seed": int(a.get("seed", 0)),
        "grid": Readable(
            shape_xyz=Dims(int(n) for n in g.shape[::-1]),
            spacing_um=Dims(float(s) for s in g.spacing),
            origin_um=Listing(float(v) for v in g.origin),
            voxels=int(np.prod(g.shape)),
        ),
        "fields": Readable(last.units),
        "snapshots": len(run.snapshots),
        "snapshot_times_min": Listing(float(t) for t in times),
        "first_time_min": float(first.time),
        "last_time_min": float(last.time),
        "last_step": int(last.step),
        "kinds": Listing(run.kind_names),
        "kind_models": Listing(m or "?" for m in run.vocabulary.kind_models),
        "cells_last": Counts(last.counts()),
        "reported_last": _reported(run),
        "checkpoints": _checkpoints(run_dir),
        "therapy": _schedule(scenario),
        "timeseries_rows": int(len(ts)),
        "sidecar": str(run.sidecar.name) if run.sidecar.exists() else "missing",
        "disk": disk,
        "versions": versions,
        "created": str(first.attrs.get("created", "")),
    }
    return out
