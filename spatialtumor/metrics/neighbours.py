"""Neighbour searches over a grid of bins, written once against ``xp``: the nearest point of
one set to each point of another, and every pair of points closer than a cutoff.

Points are sorted into the bins of a :class:`~spatialtumor.binning.BinGrid` laid over the
bounding box of both sets (:func:`~spatialtumor.binning.bin_cells`); a query visits bins
around its own, and every (query, bin) slot is expanded into its candidate pairs with a
prefix sum and a ``searchsorted`` (no Python loop over points, no ``repeat`` with array
counts, which CuPy lacks). Work is O(N · candidates); the temporary pair arrays are bounded
by :data:`PAIR_BUDGET` by splitting the queries into blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backends import Backend, get_backend
from ..binning import BinGrid, Binning, bin_cells

#: most candidate pairs (or query × offset slots) held at once per block
PAIR_BUDGET = 1 << 22
#: points per occupied bin aimed at by :func:`nearest`
TARGET_OCCUPANCY = 2.0
#: rings visited per bin size before :func:`nearest` doubles the bins for unfinished queries
RINGS_PER_LEVEL = 2


def default_backend(backend: Backend | None) -> Backend:
    """``backend``, or the float64 NumPy backend when None."""
    return backend if backend is not None else get_backend("numpy", "float64")


def ring_offsets(k: int) -> np.ndarray:
    """Bin offsets (dx, dy, dz) at Chebyshev distance exactly ``k`` (host, (m, 3) int64).

    ``k = 0`` is the bin itself; ring k holds ``(2k+1)³ − (2k−1)³`` offsets.
    """
    r = np.arange(-k, k + 1, dtype=np.int64)
    g = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)[:, ::-1]
    return np.ascontiguousarray(g[np.abs(g).max(axis=1) == k])


def block_offsets(reach: int = 1) -> np.ndarray:
    """All bin offsets with every component in ``[−reach, reach]`` (host, int64)."""
    return np.concatenate([ring_offsets(k) for k in range(reach + 1)])


def _bounds(xp, *sets) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Bounding box (lower, upper) [µm] of the non-empty point sets, slightly widened."""
    lo = np.min([np.asarray(_host(xp, s.min(axis=0))) for s in sets if s.shape[0]], axis=0)
    hi = np.max([np.asarray(_host(xp, s.max(axis=0))) for s in sets if s.shape[0]], axis=0)
    pad = 1e-6 * max(float(np.max(hi - lo)), 1.0)
    return tuple(float(v) for v in lo - pad), tuple(float(v) for v in hi + pad)


def _host(xp, a) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _bin_points(xp, points, lower, upper, size: float) -> Binning:
    grid = BinGrid.covering(lower, upper, size)
    return bin_cells(xp, grid, points, xp.ones(points.shape[0], dtype=bool))


def _bin_ijk(xp, grid: BinGrid, points):
    """(N, 3) integer bin coordinates (i, j, k) of points inside ``grid``'s box."""
    dt = points.dtype
    rel = (points - xp.asarray(grid.lower, dtype=dt)) * xp.asarray(1.0 / grid.size, dtype=dt)
    ijk = xp.floor(rel).astype(xp.int64)
    return xp.clip(ijk, 0, xp.asarray(grid.dims, dtype=xp.int64) - 1)


def _slots(xp, qijk, binning: Binning, offsets, qpos=None, bound2=None):
    """Flat bin and point count of every (query, offset) slot, query-major.

    With ``qpos`` (query positions) and ``bound2`` (a squared distance per query), slots
    whose bin lies at least ``√bound2`` from the query get count 0 (nothing in them can
    be closer)."""
    grid = binning.grid
    nx, ny, nz = grid.dims
    o = xp.asarray(offsets, dtype=xp.int64)
    ni = qijk[:, 0:1] + o[None, :, 0]
    nj = qijk[:, 1:2] + o[None, :, 1]
    nk = qijk[:, 2:3] + o[None, :, 2]
    ok = (ni >= 0) & (ni < nx) & (nj >= 0) & (nj < ny) & (nk >= 0) & (nk < nz)
    if bound2 is not None:
        gap2 = xp.zeros(ok.shape, dtype=xp.float64)
        for a, idx in enumerate((ni, nj, nk)):
            low = grid.lower[a] + idx * float(grid.size[a])
            x = qpos[:, a : a + 1]
            gap = xp.maximum(xp.maximum(low - x, x - (low + float(grid.size[a]))), 0.0)
            gap2 += gap * gap
        ok &= gap2 < bound2[:, None]
    nbin = xp.where(ok, (nk * ny + nj) * nx + ni, 0).ravel()
    count = xp.where(ok.ravel(), binning.end[nbin] - binning.start[nbin], 0)
    return nbin, count


def _expand(xp, nbin, count, binning: Binning):
    """Candidate pairs of a run of slots: (slot, point row) for every point of each slot."""
    cum = xp.cumsum(count)
    total = int(cum[-1]) if cum.shape[0] else 0
    p = xp.arange(total, dtype=xp.int64)
    slot = xp.searchsorted(cum, p, side="right")
    rank = p - (cum[slot] - count[slot])
    return slot, binning.order[binning.start[nbin[slot]] + rank]


def candidates(
    xp,
    backend: Backend,
    qijk,
    binning: Binning,
    offsets,
    budget: int = PAIR_BUDGET,
    qpos=None,
    bound2=None,
) -> Iterator[tuple[Any, Any]]:
    """Blocks ``(q, j)`` of candidate pairs: query row ``q`` with every point row ``j`` in the
    bins at ``qijk[q] + offsets`` (only bins nearer than ``√bound2[q]`` to ``qpos[q]`` when
    those are given); ``q`` is non-decreasing within a block and every query lies in one
    block only."""
    nq, m = int(qijk.shape[0]), int(len(offsets))
    step = max(1, budget // max(m, 1))
    for a in range(0, nq, step):
        b = slice(a, a + step)
        if bound2 is None:
            nbin, count = _slots(xp, qijk[b], binning, offsets)
        else:
            nbin, count = _slots(xp, qijk[b], binning, offsets, qpos[b], bound2[b])
        per_query = np.cumsum(backend.asnumpy(count.reshape(-1, m).sum(axis=1)))
        n_sub, lo = per_query.shape[0], 0
        while lo < n_sub:
            base = int(per_query[lo - 1]) if lo else 0
            hi = max(int(np.searchsorted(per_query, base + budget, side="right")), lo + 1)
            if per_query[hi - 1] > base:
                slot, j = _expand(xp, nbin[lo * m : hi * m], count[lo * m : hi * m], binning)
                yield a + lo + slot // m, j
            lo = hi


def nearest(
    query,
    points,
    *,
    backend: Backend | None = None,
    same: bool = False,
    bin_size: float | None = None,
):
    """Distance from each query point to its nearest point of ``points``.

    Parameters
    ----------
    query : (n, 3) array on the backend — positions [µm]
    points : (m, 3) array on the backend — positions [µm]
    backend : the array backend (NumPy float64 when None)
    same : ``query`` and ``points`` are the same set (row i never pairs with itself)
    bin_size : first bin edge [µm]; default: the mean spacing ``(V_box / m)^(1/3)`` of
        ``points`` in their bounding box, refined (up to three times) while occupied bins
        hold more than about four points (clustered sets such as a tumour in a large box)

    Returns
    -------
    distance : (n,) float64 [µm] — ``inf`` where there is no other point
    index : (n,) int64 — row of the nearest point (−1 where none)

    Notes
    -----
    Exact. Bins are visited ring by ring (Chebyshev distance k = 0, 1, 2 from the query's
    bin); after ring k, any point not yet seen lies at least ``k · s`` away (s the smallest
    bin edge), so a query whose best distance is ≤ k · s is final; bins farther from the
    query than its best distance so far are skipped. Unfinished queries go on with bins
    twice as large (a far query costs O(log distance) levels, not O(distance³) bins), until
    one bin holds everything.
    """
    be = default_backend(backend)
    xp = be.xp
    query = xp.asarray(query, dtype=xp.float64)
    points = xp.asarray(points, dtype=xp.float64)
    nq, npts = int(query.shape[0]), int(points.shape[0])
    best = xp.full(nq, xp.inf, dtype=xp.float64)
    arg = xp.full(nq, -1, dtype=xp.int64)
    if nq == 0 or npts - (1 if same else 0) <= 0:
        return best, arg
    lower, upper = _bounds(xp, query, points)
    if bin_size is None:
        volume = float(np.prod(np.maximum(np.subtract(upper, lower), 1e-6)))
        bin_size = max((volume / npts) ** (1.0 / 3.0), 1e-6)
    bin_size = float(bin_size)
    binning = _bin_points(xp, points, lower, upper, bin_size)
    for _ in range(3):  # clustered points: refine until occupied bins hold a few points
        occupied = int(xp.count_nonzero(binning.end > binning.start))
        occupancy = npts / max(occupied, 1)
        if occupancy <= TARGET_OCCUPANCY * 2:
            break
        bin_size /= (occupancy / TARGET_OCCUPANCY) ** (1.0 / 3.0)
        binning = _bin_points(xp, points, lower, upper, bin_size)
    active = xp.arange(nq, dtype=xp.int64)
    while active.shape[0]:
        grid = binning.grid
        qijk = _bin_ijk(xp, grid, query)
        smin = float(np.min(grid.size))
        last = max(grid.dims) - 1  # ring that reaches every bin from any bin
        for k in range(min(RINGS_PER_LEVEL, last) + 1):
            blocks = candidates(
                xp,
                be,
                qijk[active],
                binning,
                ring_offsets(k),
                qpos=query[active],
                bound2=best[active],
            )
            for q_local, j in blocks:
                q = active[q_local]
                if same:
                    keep = j != q
                    q, j = q[keep], j[keep]
                if q.shape[0] == 0:
                    continue
                diff = query[q] - points[j]
                d2 = xp.sum(diff * diff, axis=1)
                closer = d2 < best[q]  # only pairs that can improve a query are sorted
                _update_min(xp, best, arg, q[closer], j[closer], d2[closer])
            if k >= last:
                active = active[:0]
            else:
                active = active[best[active] > (k * smin) ** 2]
            if active.shape[0] == 0:
                break
        bin_size *= 2.0
        if active.shape[0]:
            binning = _bin_points(xp, points, lower, upper, bin_size)
    return xp.sqrt(best), arg


def _update_min(xp, best, arg, q, j, d2) -> None:
    """``best[q] = min(best[q], d2)`` per query (q non-decreasing), remembering the row j."""
    first = xp.argsort(d2, kind="stable")
    order = first[xp.argsort(q[first], kind="stable")]
    qs = q[order]
    head = xp.ones(qs.shape[0], dtype=bool)
    head[1:] = qs[1:] != qs[:-1]
    qh, dh, jh = qs[head], d2[order][head], j[order][head]
    better = dh < best[qh]
    best[qh[better]] = dh[better]
    arg[qh[better]] = jh[better]


def pairs_within(
    a,
    b,
    r_max: float,
    *,
    backend: Backend | None = None,
    same: bool = False,
) -> Iterator[tuple[Any, Any, Any]]:
    """Every pair (i, j) with ``|b_j − a_i| ≤ r_max``, in blocks.

    Parameters
    ----------
    a : (n, 3) array on the backend — positions [µm]
    b : (m, 3) array on the backend — positions [µm]
    r_max : cutoff [µm]
    same : ``a`` and ``b`` are the same set (pairs i == j are left out; both orders kept)

    Yields
    ------
    i : (p,) int64 rows of ``a``
    j : (p,) int64 rows of ``b``
    delta : (p, 3) float64 — ``b_j − a_i`` [µm]

    Notes
    -----
    Bins of edge ≥ ``r_max``; each point of ``a`` visits its 27 surrounding bins.
    """
    be = default_backend(backend)
    xp = be.xp
    a = xp.asarray(a, dtype=xp.float64)
    b = xp.asarray(b, dtype=xp.float64)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return
    lower, upper = _bounds(xp, a, b)
    binning = _bin_points(xp, b, lower, upper, float(r_max))
    qijk = _bin_ijk(xp, binning.grid, a)
    r2 = float(r_max) ** 2
    for i, j in candidates(xp, be, qijk, binning, block_offsets(1)):
        delta = b[j] - a[i]
        keep = xp.sum(delta * delta, axis=1) <= r2
        if same:
            keep &= i != j
        yield i[keep], j[keep], delta[keep]
