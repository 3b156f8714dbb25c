"""Immune cells per volume in the tumour centre and at the invasive margin, and the same
densities as an imaging study would count them per area of a thin section.

Regions, by the signed depth ``d`` below the tumour surface (:mod:`.geometry`) and the
margin width ``w``:

==========  =====================  ==============================================
region      depth                  meaning
==========  =====================  ==============================================
centre      ``d > w/2``            tumour deeper than the inner half of the margin
margin      ``−w/2 < d ≤ w/2``     band of width w centred on the tumour surface
outside     ``d ≤ −w/2``           tissue beyond the margin
==========  =====================  ==============================================

As in pathology (centre of the tumour vs invasive margin, Galon et al. 2014; Muijlwijk et
al. 2024) the margin straddles the border: half of it inside the tumour, half outside.

**3D → 2D.** Imaging thresholds are cells per mm² of a section of thickness ``τ``. A
section of thickness τ shows every cell whose centre lies within ``(τ + D)/2`` of its
mid-plane (D the cell's diameter), so the profiles counted per area are
``N_A = N_V (τ + D)`` (Abercrombie 1946). We compute ``N_V`` over the whole 3D region
(every cell counts, not only those of one slab, so the estimate is not dominated by the few
cells a single virtual section would hold) and report ``N_A`` with τ = 4 µm, the usual
thickness of sections for immunohistochemistry, and D the mean diameter of the counted
cells (their ``2 · radius``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .geometry import TumourGeometry

#: region names, in table order
REGIONS = ("centre", "margin", "outside")
#: µm³ per mm³ and µm per mm
UM3_PER_MM3 = 1e9
UM_PER_MM = 1e3


def region_bounds(margin_width: float) -> dict[str, tuple[float, float]]:
    """Region → (low, high] interval of depth [µm] for a margin of width ``margin_width``."""
    half = 0.5 * float(margin_width)
    return {"centre": (half, math.inf), "margin": (-half, half), "outside": (-math.inf, -half)}


def region_of(depth: np.ndarray, margin_width: float) -> np.ndarray:
    """Region code of each depth [µm]: index into :data:`REGIONS` (int8)."""
    half = 0.5 * float(margin_width)
    d = np.asarray(depth, dtype=np.float64)
    return np.where(d > half, 0, np.where(d > -half, 1, 2)).astype(np.int8)


def section_density(per_mm3: float, thickness: float, diameter: float) -> float:
    """Cells per mm² of a section ``thickness`` [µm] thick: ``N_V (τ + D)`` [cells/mm²].

    Parameters
    ----------
    per_mm3 : N_V [cells/mm³]
    thickness : section thickness τ [µm]
    diameter : mean cell diameter D [µm]
    """
    return float(per_mm3) * (float(thickness) + float(diameter)) / UM_PER_MM


@dataclass(frozen=True)
class RegionDensities:
    """Counts and densities of one kind of cells in the tumour's regions.

    Attributes
    ----------
    counts : region → cells
    volumes : region → volume [µm³] (centre and margin)
    per_mm3 : region → N_V [cells/mm³] (NaN for an empty region)
    per_mm2 : region → section-equivalent N_A [cells/mm²]
    diameter : mean diameter D of the cells [µm] used for N_A
    """

    counts: dict[str, int]
    volumes: dict[str, float]
    per_mm3: dict[str, float]
    per_mm2: dict[str, float]
    diameter: float


def region_densities(
    geometry: TumourGeometry,
    depth: np.ndarray,
    diameter: np.ndarray,
    margin_width: float,
    section_thickness: float,
) -> RegionDensities:
    """Densities of cells at signed depths ``depth`` [µm] with diameters ``diameter`` [µm].

    Parameters
    ----------
    geometry : the tumour geometry (region volumes)
    depth : (n,) signed depth of each cell [µm] (host)
    diameter : (n,) cell diameters [µm] (host)
    margin_width : w [µm]
    section_thickness : τ [µm]
    """
    codes = region_of(depth, margin_width)
    counts = {r: int(np.count_nonzero(codes == i)) for i, r in enumerate(REGIONS)}
    bounds = region_bounds(margin_width)
    volumes = {r: geometry.region_volume(*bounds[r]) for r in ("centre", "margin")}
    d_mean = float(np.mean(diameter)) if len(diameter) else math.nan
    per_mm3: dict[str, float] = {}
    per_mm2: dict[str, float] = {}
    for r, v in volumes.items():
        per_mm3[r] = counts[r] / (v / UM3_PER_MM3) if v > 0 else math.nan
        dia = d_mean if counts[r] else 0.0  # no cells: zero whatever their size
        per_mm2[r] = section_density(per_mm3[r], section_thickness, dia)
    return RegionDensities(counts, volumes, per_mm3, per_mm2, d_mean)
