"""Cross-type Ripley's K function and pair-correlation function in 3D, in a box window,
with the translation edge correction.

For points ``x_i`` of type A (n_A of them) and ``y_j`` of type B (n_B) observed in a box
W = ∏ [0, L_a] of volume |W| (Ripley 1977; translation correction of Ohser & Stoyan 1981;
3D use as in Baddeley et al. 1993; Baddeley, Rubak & Turner 2015, §7.4 and §7.7)::

    K_AB(r) = |W|² / (n_A n_B) · Σ_i Σ_j 1(|y_j − x_i| ≤ r) / γ(y_j − x_i)
    γ(h)    = |W ∩ (W + h)| = ∏_a (L_a − |h_a|)

the expected number of B points within r of a typical A point divided by the intensity of
B. For A = B, pairs i = j are left out and ``n_A n_B`` becomes ``n (n − 1)``. Each pair is
weighted by the inverse of the volume in which its separation vector could be observed, so
pairs close to the walls (whose partners may lie outside W) count for the ones that are
missed: for independent Poisson patterns (complete spatial randomness)
``K(r) = 4π r³ / 3`` at every r < min L_a. Without correction (``γ = |W|``) the estimate is
biased low, the more so the larger r is relative to the box.

The pair-correlation function is estimated over the shells between consecutive radii,
``g = ΔK / (4π/3 (r_k³ − r_{k−1}³))`` (1 for CSR, > 1 where B clusters around A).

Pairs up to the largest radius are found over a grid of bins (:func:`.neighbours.pairs_within`,
O(N · neighbours)); the weighted histogram is a ``bincount`` on the backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backends import Backend
from .neighbours import default_backend, pairs_within

#: edge corrections understood by :func:`cross_k`
CORRECTIONS = ("translation", "none")


@dataclass(frozen=True)
class KFunction:
    """K and g of a pair of point sets.

    Attributes
    ----------
    radii : (m,) r [µm], increasing
    k : (m,) K(r) [µm³]
    shell_mid : (m,) midpoints of the shells (r_{k−1}, r_k] [µm] (r_{−1} = 0)
    pcf : (m,) g over each shell [1]
    n_a, n_b : points of each type
    volume : |W| [µm³]
    correction : "translation" or "none"
    """

    radii: np.ndarray
    k: np.ndarray
    shell_mid: np.ndarray
    pcf: np.ndarray
    n_a: int
    n_b: int
    volume: float
    correction: str

    @property
    def poisson(self) -> np.ndarray:
        """K of complete spatial randomness, ``4π r³ / 3`` [µm³]."""
        return 4.0 / 3.0 * math.pi * self.radii**3


def check_radii(radii, extent) -> np.ndarray:
    """Radii [µm] as a float64 array; raises ValueError unless positive, finite, strictly
    increasing and below the shortest edge of the window ``extent`` (Lx, Ly, Lz) [µm]."""
    r = np.asarray(radii, dtype=np.float64).ravel()
    if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"radii must be positive numbers of µm, got {r.tolist()}")
    if np.any(np.diff(r) <= 0):
        raise ValueError(f"radii must increase, got {r.tolist()}")
    short = float(np.min(extent))
    if r[-1] >= short:
        raise ValueError(
            f"the largest radius ({r[-1]:g} µm) must be below the shortest domain edge "
            f"({short:g} µm)"
        )
    return r


def cross_k(
    a,
    b,
    radii,
    lower,
    upper,
    *,
    backend: Backend | None = None,
    same: bool = False,
    correction: str = "translation",
) -> KFunction:
    """Cross-type K function and pair correlation of points ``b`` around points ``a``.

    Parameters
    ----------
    a : (n_a, 3) positions of type A [µm] (host or backend array)
    b : (n_b, 3) positions of type B [µm]
    radii : increasing radii r [µm], all below the shortest edge of the window
    lower, upper : (x, y, z) corners of the window W (the simulation domain) [µm]
    backend : array backend (NumPy float64 when None)
    same : A and B are the same set (i = j pairs left out)
    correction : "translation" (default) or "none"

    Returns
    -------
    KFunction
        NaN values when a type has no points (or fewer than 2 with ``same``).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    be = default_backend(backend)
    xp = be.xp
    lo = np.asarray(lower, dtype=np.float64)
    size = np.asarray(upper, dtype=np.float64) - lo
    r = check_radii(radii, size)
    vol = float(np.prod(size))
    a = xp.asarray(a, dtype=xp.float64).reshape(-1, 3)
    b = xp.asarray(b, dtype=xp.float64).reshape(-1, 3)
    n_a, n_b = int(a.shape[0]), int(b.shape[0])
    pairs = n_a * (n_a - 1) if same else n_a * n_b
    mid = 0.5 * (np.concatenate([[0.0], r[:-1]]) + r)
    if pairs == 0:
        nan = np.full(r.shape, np.nan)
        return KFunction(r, nan, mid, nan.copy(), n_a, n_b, vol, correction)
    edges = xp.asarray(r)
    size_d = xp.asarray(size)
    hist = xp.zeros(r.size, dtype=xp.float64)
    for _i, _j, delta in pairs_within(a, b, float(r[-1]), backend=be, same=same):
        if delta.shape[0] == 0:
            continue
        d = xp.sqrt(xp.sum(delta * delta, axis=1))
        slot = xp.minimum(xp.searchsorted(edges, d, side="left"), r.size - 1)
        if correction == "translation":
            w = vol / xp.prod(size_d[None, :] - xp.abs(delta), axis=1)
        else:
            w = xp.ones(d.shape[0], dtype=xp.float64)
        hist += xp.bincount(slot, weights=w, minlength=r.size)[: r.size]
    k = vol / pairs * np.cumsum(be.asnumpy(hist))
    shells = 4.0 / 3.0 * math.pi * np.diff(np.concatenate([[0.0], r**3]))
    pcf = np.diff(np.concatenate([[0.0], k])) / shells
    return KFunction(r, k, mid, pcf, n_a, n_b, vol, correction)
