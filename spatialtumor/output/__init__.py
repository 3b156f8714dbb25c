"""Output: crash-safe HDF5 snapshots, the ParaView (XDMF) sidecar, the time-series table.

A run folder (see ``docs/FORMAT.md``)::

    RUN/run.xdmf                          sidecar: open this in ParaView
    RUN/snapshots/snapshot_000000.h5 ...  one HDF5 file per snapshot
    RUN/timeseries.csv                    one row per record (totals, min/max/mean, counts)

Typical use::

    sim.writers["snapshots"] = SnapshotWriter("RUN", every=60.0)     # min
    sim.writers["timeseries"] = TimeSeriesWriter("RUN", every=10.0)  # min

or ``add_writers(sim, "RUN", every=60.0)`` for both.
"""

from __future__ import annotations

import os

from .atomic import atomic_path, write_text_atomic
from .reader import (
    FORMAT,
    FORMAT_VERSION,
    GridGeometry,
    Snapshot,
    SnapshotFormatError,
    list_snapshots,
    read_run,
    read_snapshot,
)
from .schedule import Schedule
from .snapshots import SnapshotData, SnapshotWriter, snapshot_from_sim, write_snapshot
from .timeseries import TimeSeriesWriter, read_timeseries
from .xdmf import SIDECAR_NAME, rebuild_sidecar, sidecar_xml, write_sidecar

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SIDECAR_NAME",
    "GridGeometry",
    "Schedule",
    "Snapshot",
    "SnapshotData",
    "SnapshotFormatError",
    "SnapshotWriter",
    "TimeSeriesWriter",
    "add_writers",
    "atomic_path",
    "list_snapshots",
    "read_run",
    "read_snapshot",
    "read_timeseries",
    "rebuild_sidecar",
    "sidecar_xml",
    "snapshot_from_sim",
    "write_sidecar",
    "write_snapshot",
    "write_text_atomic",
]


def add_writers(
    sim,
    run_dir: str | os.PathLike,
    every: float = 60.0,
    *,
    timeseries_every: float | None = None,
    compression: str | None = None,
    existing: str = "error",
) -> None:
    """Register ``sim.writers["snapshots"]`` and ``sim.writers["timeseries"]`` on one folder.

    Parameters
    ----------
    every : interval between snapshots [min]
    timeseries_every : interval between time-series rows [min] (default: ``every``)
    compression : ``None``, ``"gzip"`` or ``"lzf"`` for the snapshot datasets
    existing : ``"error"``, ``"overwrite"`` or ``"append"`` (see :class:`SnapshotWriter`)
    """
    sim.writers["snapshots"] = SnapshotWriter(
        run_dir, every=every, compression=compression, existing=existing
    )
    sim.writers["timeseries"] = TimeSeriesWriter(
        run_dir, every=every if timeseries_every is None else timeseries_every, existing=existing
    )
