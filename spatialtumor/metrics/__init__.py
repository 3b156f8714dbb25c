"""Spatial immune metrics of snapshots: immune density in the tumour centre and at the
invasive margin, infiltration depth, immunotype (inflamed / excluded / desert), nearest
neighbour distances between kinds and cross-type Ripley's K and pair correlation.

::

    import spatialtumor as st
    from spatialtumor.metrics import MetricsOptions, run_metrics, write_metrics

    run = st.open_run("runs/immune")
    rows = run_metrics(run, MetricsOptions(margin_width=100.0))
    write_metrics(rows, run.path / "metrics.csv")

Definitions, units and sources: ``docs/METRICS.md``. The heavy parts (tumour mask and
distance transform, neighbour searches, pair counts) are array code on ``backend.xp``;
snapshots are read on the host.
"""

from __future__ import annotations

from .cells import KindSelection, MetricsError, SnapshotCells, select_kinds
from .density import REGIONS, RegionDensities, region_densities, section_density
from .geometry import TumourGeometry, tumour_geometry
from .immunotype import CENTRE_INFLAMED, MARGIN_EXCLUDED, Immunotype, classify
from .infiltration import Infiltration, infiltration
from .neighbours import nearest, pairs_within
from .ripley import KFunction, cross_k
from .table import (
    COLUMNS,
    TABLE_NAME,
    MetricsOptions,
    read_metrics,
    run_metrics,
    snapshot_metrics,
    write_metrics,
)

__all__ = [
    "CENTRE_INFLAMED",
    "COLUMNS",
    "MARGIN_EXCLUDED",
    "REGIONS",
    "TABLE_NAME",
    "Immunotype",
    "Infiltration",
    "KFunction",
    "KindSelection",
    "MetricsError",
    "MetricsOptions",
    "RegionDensities",
    "SnapshotCells",
    "TumourGeometry",
    "classify",
    "cross_k",
    "infiltration",
    "nearest",
    "pairs_within",
    "read_metrics",
    "region_densities",
    "run_metrics",
    "section_density",
    "select_kinds",
    "snapshot_metrics",
    "tumour_geometry",
    "write_metrics",
]
