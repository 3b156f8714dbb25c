"""All metrics of a snapshot as rows of one long table, and the run's table ``metrics.csv``.

One row per snapshot and quantity (and kind, kind pair, region or radius where the quantity
has them)::

    snapshot,time_min,step,quantity,kind,other,region,r_um,value,units,label
    3,30.0,1000,density_2d,t8,,centre,,12.4,cells/mm²,
    3,30.0,1000,immunotype,t8,,,,1.0,1,excluded
    3,30.0,1000,ripley_k,t8,tumour,,50.0,6.1e5,µm³,

Quantities (``docs/METRICS.md`` defines each):

=========================  =========  ===========================================
quantity                   units      kind / other / region / r_um
=========================  =========  ===========================================
tumour_cells               cells      tumour kinds (living cells)
tumour_volume              µm³        tumour kinds
tumour_radius              µm         equivalent-sphere radius of the mask
tumour_thickness           µm         largest depth (inscribed-sphere radius)
region_volume              µm³        region centre / margin
cells                      cells      immune kind, region centre / margin / outside
density_3d                 cells/mm³  immune kind, region centre / margin
density_2d                 cells/mm²  immune kind, region centre / margin (N_V (τ + D))
immunotype                 1          immune kind; 0 desert, 1 excluded, 2 inflamed
                                      (NaN undetermined), name in ``label``
infiltration_fraction      1          immune kind: share inside the tumour
infiltration_depth_mean    µm         immune kind (also _median, _p90, _max)
infiltration_depth_rel     1          immune kind: mean depth / tumour thickness
nn_mean, nn_median         µm         kind → other: distance to the nearest ``other``
ripley_k                   µm³        kind, other, r_um
pcf                        1          kind, other, r_um = shell midpoint
=========================  =========  ===========================================
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend
from .cells import KindSelection, MetricsError, SnapshotCells, select_kinds
from .density import REGIONS, region_densities
from .geometry import TumourGeometry, tumour_geometry
from .immunotype import classify
from .infiltration import infiltration
from .neighbours import default_backend, nearest
from .ripley import CORRECTIONS, check_radii, cross_k

COLUMNS = (
    "snapshot",
    "time_min",
    "step",
    "quantity",
    "kind",
    "other",
    "region",
    "r_um",
    "value",
    "units",
    "label",
)
TABLE_NAME = "metrics.csv"
#: default margin width [µm] (see docs/METRICS.md: ±50 µm ≈ 3 tumour-cell layers each side)
MARGIN_WIDTH = 100.0
#: default section thickness for the section-equivalent densities [µm]
SECTION_THICKNESS = 4.0
#: default radii of K and g [µm]
RADII = tuple(float(r) for r in range(10, 101, 10))


@dataclass(frozen=True)
class MetricsOptions:
    """What to compute.

    Attributes
    ----------
    immune : immune kind names (None: every kind that is not a tumour kind)
    tumour : tumour kind names (None: the kinds whose model is "tumour")
    margin_width : width w of the invasive margin, centred on the tumour surface [µm]
    radii : radii of Ripley's K and of the pair correlation [µm]
    section_thickness : τ of the section-equivalent densities [µm]
    mask_spacing : density voxel of the tumour mask [µm] (None: one tumour-cell diameter)
    correction : edge correction of K ("translation" or "none")
    """

    immune: tuple[str, ...] | None = None
    tumour: tuple[str, ...] | None = None
    margin_width: float = MARGIN_WIDTH
    radii: tuple[float, ...] = RADII
    section_thickness: float = SECTION_THICKNESS
    mask_spacing: float | None = None
    correction: str = "translation"

    def check(self) -> None:
        """Raise :class:`MetricsError` naming the first bad option."""
        if not (math.isfinite(self.margin_width) and self.margin_width > 0):
            raise MetricsError("margin", f"must be a positive width in µm, got {self.margin_width}")
        if not (math.isfinite(self.section_thickness) and self.section_thickness >= 0):
            raise MetricsError("section-thickness", f"must be ≥ 0 µm, got {self.section_thickness}")
        if self.mask_spacing is not None and not (
            math.isfinite(self.mask_spacing) and self.mask_spacing > 0
        ):
            raise MetricsError("mask-spacing", f"must be > 0 µm, got {self.mask_spacing}")
        if self.correction not in CORRECTIONS:
            raise MetricsError("correction", f"must be one of {', '.join(CORRECTIONS)}")
        try:
            check_radii(self.radii, (math.inf,) * 3)
        except ValueError as exc:
            raise MetricsError("radii", str(exc)) from None


class _Rows:
    """Collects rows of one snapshot."""

    def __init__(self, cells: SnapshotCells):
        self.cells = cells
        self.rows: list[dict[str, Any]] = []

    def add(self, quantity, value, units, kind="", other="", region="", r=math.nan, label=""):
        self.rows.append(
            {
                "snapshot": self.cells.index,
                "time_min": float(self.cells.time),
                "step": int(self.cells.step),
                "quantity": quantity,
                "kind": kind,
                "other": other,
                "region": region,
                "r_um": float(r),
                "value": float(value),
                "units": units,
                "label": label,
            }
        )


def geometry_of(
    cells: SnapshotCells,
    kinds: KindSelection,
    options: MetricsOptions,
    backend: Backend | None = None,
) -> TumourGeometry | None:
    """The tumour geometry of a snapshot (None without tumour cells).

    Every tumour cell still in the snapshot (living or dying: they occupy space) shapes
    the tumour; depths are resolved to ``margin_width`` outside it.
    """
    rows = cells.rows(kinds.tumour, living=False)
    if not np.any(rows):
        return None
    spacing = options.mask_spacing or 2.0 * float(np.median(cells.radius[rows]))
    if not spacing > 0:
        raise MetricsError("mask-spacing", "tumour cells have no radius; give a mask spacing")
    return tumour_geometry(
        cells.position[rows],
        cells.lower,
        cells.upper,
        spacing,
        reach=options.margin_width,
        backend=backend,
    )


def snapshot_metrics(
    cells: SnapshotCells,
    kinds: KindSelection,
    options: MetricsOptions,
    backend: Backend | None = None,
) -> list[dict[str, Any]]:
    """Every metric of one snapshot as table rows (see the module docstring)."""
    be = default_backend(backend)
    out = _Rows(cells)
    tlabel = kinds.tumour_label
    geo = geometry_of(cells, kinds, options, be) if kinds.tumour else None
    out.add("tumour_cells", np.count_nonzero(cells.rows(kinds.tumour)), "cells", tlabel)
    nan = math.nan
    out.add("tumour_volume", geo.volume if geo else 0.0, "µm³", tlabel)
    out.add("tumour_radius", geo.equivalent_radius if geo else nan, "µm", tlabel)
    out.add("tumour_thickness", geo.thickness if geo else nan, "µm", tlabel)
    if geo is not None:
        half = 0.5 * options.margin_width
        out.add("region_volume", geo.region_volume(half, math.inf), "µm³", tlabel, region="centre")
        out.add("region_volume", geo.region_volume(-half, half), "µm³", tlabel, region="margin")
    for k in kinds.immune:
        _immune_rows(out, cells, kinds.name(k), cells.rows([k]), geo, options, be)
    _neighbour_rows(out, cells, kinds, be)
    _k_rows(out, cells, kinds, options, be)
    return out.rows


def _immune_rows(out: _Rows, cells, name, rows, geo, options, be) -> None:
    nan = math.nan
    if geo is None:
        depth = np.full(int(np.count_nonzero(rows)), -math.inf)
    else:
        depth = be.asnumpy(geo.depth_at(be.xp.asarray(cells.position[rows])))
    if geo is not None:
        dens = region_densities(
            geo, depth, 2.0 * cells.radius[rows], options.margin_width, options.section_thickness
        )
        for r in REGIONS:
            out.add("cells", dens.counts[r], "cells", name, region=r)
        for r in ("centre", "margin"):
            out.add("density_3d", dens.per_mm3[r], "cells/mm³", name, region=r)
        for r in ("centre", "margin"):
            out.add("density_2d", dens.per_mm2[r], "cells/mm²", name, region=r)
        itype = classify(dens.per_mm2["centre"], dens.per_mm2["margin"])
    else:
        for r in REGIONS:
            out.add("cells", nan, "cells", name, region=r)
        itype = classify(nan, nan)
    out.add("immunotype", itype.code, "1", name, label=itype.value)
    inf = infiltration(depth, geo.thickness if geo else 0.0)
    out.add("infiltration_fraction", inf.inside, "1", name)
    for stat in ("mean", "median", "p90", "max"):
        out.add(f"infiltration_depth_{stat}", getattr(inf, stat), "µm", name)
    out.add("infiltration_depth_rel", inf.relative, "1", name)


def _neighbour_rows(out: _Rows, cells, kinds: KindSelection, be) -> None:
    xp = be.xp
    chosen = list(kinds.immune) + [k for k in kinds.tumour if k not in kinds.immune]
    pos = {k: xp.asarray(cells.position[cells.rows([k])]) for k in chosen}
    for a in chosen:
        for b in chosen:
            d, _ = nearest(pos[a], pos[b], backend=be, same=a == b)
            d = be.asnumpy(d)
            d = d[np.isfinite(d)]
            mean = float(np.mean(d)) if d.size else math.nan
            median = float(np.median(d)) if d.size else math.nan
            out.add("nn_mean", mean, "µm", kinds.name(a), other=kinds.name(b))
            out.add("nn_median", median, "µm", kinds.name(a), other=kinds.name(b))


def _k_rows(out: _Rows, cells, kinds: KindSelection, options: MetricsOptions, be) -> None:
    try:
        radii = check_radii(options.radii, cells.extent)
    except ValueError as exc:
        raise MetricsError("radii", str(exc)) from None
    xp = be.xp
    for a in kinds.immune:
        pa = xp.asarray(cells.position[cells.rows([a])])
        for b in [a, *kinds.tumour]:
            pb = pa if b == a else xp.asarray(cells.position[cells.rows([b])])
            kf = cross_k(
                pa,
                pb,
                radii,
                cells.lower,
                cells.upper,
                backend=be,
                same=a == b,
                correction=options.correction,
            )
            na, nb = kinds.name(a), kinds.name(b)
            for r, v in zip(kf.radii, kf.k, strict=True):
                out.add("ripley_k", v, "µm³", na, other=nb, r=r)
            for r, v in zip(kf.shell_mid, kf.pcf, strict=True):
                out.add("pcf", v, "1", na, other=nb, r=r)


def select_snapshots(run, which: str | Sequence[int] = "all") -> list:
    """Snapshots of ``run``: ``"all"``, ``"last"`` or snapshot numbers (file numbers)."""
    snaps = list(run.snapshots)
    if isinstance(which, str):
        if which == "all":
            return snaps
        if which == "last":
            return snaps[-1:]
        raise MetricsError("snapshot", f"must be 'all', 'last' or numbers, got {which!r}")
    by_index = {s.index: s for s in snaps}
    missing = [i for i in which if i not in by_index]
    if missing:
        have = ", ".join(str(i) for i in sorted(by_index))
        raise MetricsError("snapshot", f"no snapshot {missing[0]}; the run has {have}")
    return [by_index[i] for i in which]


def run_metrics(
    run,
    options: MetricsOptions | None = None,
    *,
    backend: Backend | None = None,
    snapshots: str | Sequence[int] = "all",
    progress: Callable[[int, int, Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Rows of every selected snapshot of ``run`` (a :class:`~spatialtumor.runs.Run`).

    Raises
    ------
    MetricsError
        naming the option at fault (unknown kind, bad margin or radii, …).
    """
    options = options or MetricsOptions()
    options.check()
    kinds = select_kinds(run.vocabulary, options.immune, options.tumour)
    chosen = select_snapshots(run, snapshots)
    g = run.grid
    try:
        check_radii(options.radii, np.multiply(g.spacing, g.shape[::-1]))
    except ValueError as exc:
        raise MetricsError("radii", str(exc)) from None
    rows: list[dict[str, Any]] = []
    for i, snap in enumerate(chosen):
        rows += snapshot_metrics(SnapshotCells.of_snapshot(snap), kinds, options, backend)
        if progress is not None:
            progress(i + 1, len(chosen), snap)
    return rows


def write_metrics(rows: Iterable[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write rows as CSV (header :data:`COLUMNS`; floats in full precision, NaN as ``nan``),
    atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for row in rows:
            w.writerow([_cell(row[c]) for c in COLUMNS])
    os.replace(tmp, path)
    return path


def _cell(v) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def read_metrics(path: str | os.PathLike):
    """A metrics table as a pandas DataFrame (empty strings in text columns)."""
    import pandas as pd

    text = ["quantity", "kind", "other", "region", "units", "label"]
    numbers = {c: ["nan"] for c in ("time_min", "r_um", "value")}
    return pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=False, na_values=numbers)
