"""How deep immune cells have entered the tumour: statistics of their depth below the
tumour surface (signed distance from :mod:`.geometry`, positive inside)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Infiltration:
    """Depth statistics of one kind of cells.

    Attributes
    ----------
    cells : cells considered
    inside : share of them inside the tumour (depth > 0) [1]
    mean, median, p90, max : depth of the cells inside [µm] (NaN when none is inside)
    relative : ``mean / thickness`` [1], thickness the tumour's largest depth (the
        radius of its inscribed sphere): 0 at the surface, 1 at the deepest point
    """

    cells: int
    inside: float
    mean: float
    median: float
    p90: float
    max: float
    relative: float


def infiltration(depth: np.ndarray, thickness: float) -> Infiltration:
    """Infiltration statistics of cells at signed depths ``depth`` [µm] (host array).

    Parameters
    ----------
    depth : (n,) signed depth below the tumour surface [µm] (−inf far outside)
    thickness : the tumour's largest depth [µm]
    """
    d = np.asarray(depth, dtype=np.float64)
    n = int(d.shape[0])
    d_in = d[d > 0]
    if d_in.size == 0:
        nan = math.nan
        return Infiltration(n, 0.0 if n else nan, nan, nan, nan, nan, nan)
    mean = float(np.mean(d_in))
    return Infiltration(
        cells=n,
        inside=d_in.size / n,
        mean=mean,
        median=float(np.median(d_in)),
        p90=float(np.percentile(d_in, 90)),
        max=float(np.max(d_in)),
        relative=mean / thickness if thickness > 0 else math.nan,
    )
