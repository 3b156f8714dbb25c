"""NumPy reference kernels of the cell layer: the specification of ``kernels/mechanics.cu``
and ``kernels/exchange.cu``.

Both work on the order produced by :func:`spatialtumor.binning.bin_cells` (rows sorted by
(bin, id), per-bin ``start``/``end``). They are vectorised over cells; the only Python
loops run over blocks of cells (pair forces list all candidate pairs of a block at once)
and over the fields (deposit).
"""

from __future__ import annotations

import numpy as np

#: neighbour offsets (dx, dy, dz) in the order every implementation must sum them
OFFSETS = tuple((dx, dy, dz) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1))

#: distances below this [µm] count as coincident centres (no direction, no force)
MIN_DISTANCE = 1e-5


def pair_forces(
    position,
    radius,
    kind,
    cell_bin,
    order,
    bin_start,
    bin_end,
    dims,
    repulsion,
    adhesion,
    adhesion_distance,
    out,
):
    """Velocity of every cell from its neighbours' potentials (PhysiCell, Macklin et al. 2018).

    Parameters
    ----------
    position : (N, 3) — cell centres [µm]
    radius : (N,) — cell radii [µm]
    kind : (N,) int16 — kind index of each row
    cell_bin : (N,) int64 — mechanics bin of each row; ``nx·ny·nz`` (sentinel) = no cell
    order : (N,) int64 — rows sorted by (bin, id)
    bin_start, bin_end : (nx·ny·nz,) int64 — bin b holds ``order[bin_start[b]:bin_end[b]]``
    dims : (nx, ny, nz) — bins per axis; bin index ``(k ny + j) nx + i``
    repulsion : (nk, nk) — pair repulsion coefficient c_rep [µm/min]
    adhesion : (nk, nk) — pair adhesion coefficient c_adh [µm/min]
    adhesion_distance : (nk,) — relative maximum adhesion distance a of each kind [-]
    out : (N, 3) — overwritten with the velocity [µm/min]; 0 for sentinel rows

    Notes
    -----
    For cells i ≠ j at distance ``d = |x_i − x_j|`` with ``R = r_i + r_j`` and
    ``R_A = a_{k_i} r_i + a_{k_j} r_j``::

        v_i += [c_rep (1 − d/R)²₊ − c_adh (1 − d/R_A)²₊] (x_i − x_j) / max(d, 1e-5)

    summed over the 27 bins around the bin of i in the order of :data:`OFFSETS`, and within
    a bin in sorted order (so the floating-point sum is the same on every backend and for
    every row order). Bins must be at least as large as the longest interaction distance
    ``max(R, R_A)``; pairs further apart contribute exactly zero.
    """
    nx, ny, nz = (int(d) for d in dims)
    nb = nx * ny * nz
    dt = position.dtype
    out[...] = 0
    live = np.flatnonzero(cell_bin < nb)
    if live.size == 0:
        return
    kinds = kind.astype(np.int64)
    rep = np.asarray(repulsion, dtype=dt)
    adh = np.asarray(adhesion, dtype=dt)
    reach = np.asarray(adhesion_distance, dtype=dt)
    offsets = np.array(OFFSETS, dtype=np.int64)  # (27, 3)
    coords = tuple(np.ascontiguousarray(position[:, a]) for a in range(3))
    rmax = float(radius[live].max())
    cutoff2 = (2.0 * rmax * max(1.0, float(reach.max()))) ** 2 * (1 + 1e-6)
    for first in range(0, live.size, PAIR_CHUNK):
        cells = live[first : first + PAIR_CHUNK]
        _pair_forces_chunk(
            cells,
            coords,
            radius,
            kinds,
            cell_bin,
            order,
            bin_start,
            bin_end,
            (nx, ny, nz),
            offsets,
            rep,
            adh,
            reach,
            cutoff2,
            out,
        )


#: cells handled per vectorised pass (bounds the temporary pair arrays to ~10⁶–10⁷ pairs)
PAIR_CHUNK = 16384


def candidates(cells, cell_bin, order, bin_start, bin_end, dims, offsets):
    """Every row in the 27 bins around each of ``cells`` (rows), in the visiting order of
    the kernels: per cell, offsets in :data:`OFFSETS` order, then each bin's sorted order.

    Returns ``(local, j)``: pair p pairs ``cells[local[p]]`` with row ``j[p]`` (itself
    included). Cells in the sentinel bin (no bin) have no candidates.
    """
    nx, ny, nz = dims
    b = cell_bin[cells]
    inside = b < nx * ny * nz
    b = np.where(inside, b, 0)
    ni = (b % nx)[:, None] + offsets[:, 0]
    nj = ((b // nx) % ny)[:, None] + offsets[:, 1]
    nk = (b // (nx * ny))[:, None] + offsets[:, 2]
    ok = (ni >= 0) & (ni < nx) & (nj >= 0) & (nj < ny) & (nk >= 0) & (nk < nz)
    ok &= inside[:, None]
    nbin = np.where(ok, (nk * ny + nj) * nx + ni, 0).ravel()
    s0 = bin_start[nbin]
    count = np.where(ok.ravel(), bin_end[nbin] - s0, 0)
    total = int(count.sum())
    # pair p belongs to (cell, offset) slot `owner`; `k` is its rank inside that bin
    owner = np.repeat(np.arange(cells.size * 27, dtype=np.int64), count)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    j = order[np.repeat(s0, count) + k]
    return owner // 27, j


def _pair_forces_chunk(
    cells,
    coords,
    radius,
    kinds,
    cell_bin,
    order,
    bin_start,
    bin_end,
    dims,
    offsets,
    rep,
    adh,
    reach,
    cutoff2,
    out,
):
    """All candidate pairs of ``cells`` at once, listed per cell in (offset, slot) order."""
    dt = coords[0].dtype
    m = cells.size
    local, j = candidates(cells, cell_bin, order, bin_start, bin_end, dims, offsets)
    if local.size == 0:
        return
    i = cells[local]
    # most candidates lie beyond every interaction distance: drop them (and i == j) first,
    # testing against the largest distance any pair of these cells can interact over
    px, py, pz = coords
    dx = px[i] - px[j]
    dy = py[i] - py[j]
    dz = pz[i] - pz[j]
    d2 = dx * dx + dy * dy + dz * dz
    near = np.flatnonzero((d2 < cutoff2) & (j != i))
    i, j, local = i[near], j[near], local[near]
    dx, dy, dz, d2 = dx[near], dy[near], dz[near], d2[near]
    ki, kj = kinds[i], kinds[j]
    ri, rj = radius[i], radius[j]
    d = np.sqrt(d2)
    one = dt.type(1)
    big_r = ri + rj
    big_ra = reach[ki] * ri + reach[kj] * rj
    tr = np.maximum(one - d / big_r, 0)
    ta = np.where(d < big_ra, one - d / np.where(big_ra > 0, big_ra, one), 0)
    f = (rep[ki, kj] * tr * tr - adh[ki, kj] * ta * ta) / np.maximum(d, dt.type(MIN_DISTANCE))
    # bincount adds in input order: per cell, offsets in OFFSETS order, slots in sorted order
    for a, comp in enumerate((dx, dy, dz)):
        out[cells, a] = np.bincount(local, weights=f * comp, minlength=m).astype(dt)


def deposit_sorted(
    order,
    start,
    end,
    kind,
    volume,
    alive,
    source_coef,
    uptake_coef,
    inv_voxel_volume,
    source,
    uptake,
):
    """Add every cell's secretion and uptake to its voxel, one fixed-order sum per voxel.

    Parameters
    ----------
    order : (N,) int64 — rows sorted by (voxel, id)
    start, end : (n_vox,) int64 — voxel v holds ``order[start[v]:end[v]]``
    kind : (N,) int16 — kind index of each row
    volume : (N,) — cell volumes V_cell [µm³]
    alive : (N,) bool — dead rows contribute nothing
    source_coef : (nk, nf) — ``r T`` per kind and field [units/min]
    uptake_coef : (nk, nf) — ``r + u`` per kind and field [1/min]
    inv_voxel_volume : float — 1 / V_voxel [1/µm³]
    source, uptake : (nf, nz, ny, nx) — S [units/min] and U [1/min], added to in place

    Notes
    -----
    ``S[f, v] += Σ_{j ∈ v} (V_j / V_voxel) source_coef[k_j, f]`` and likewise U with
    ``uptake_coef``: BioFVM's cell secretion/uptake ``(V/V_voxel)[r (T − c) − u c]``, which
    :func:`spatialtumor.backends.reference.apply_sources` integrates implicitly. Each sum
    runs over one voxel's cells in sorted order and is accumulated in float64 (no atomics,
    so the result does not depend on thread order).
    """
    nf = source.shape[0]
    nvox = start.shape[0]
    n_sorted = int(end[-1]) if nvox else 0
    if n_sorted == 0:
        return
    rows = order[:n_sorted]
    k = kind[rows].astype(np.int64)
    w = volume[rows].astype(np.float64) * float(inv_voxel_volume) * alive[rows]
    sc = np.asarray(source_coef, dtype=np.float64).reshape(-1, nf)
    uc = np.asarray(uptake_coef, dtype=np.float64).reshape(-1, nf)
    occupied = np.flatnonzero(end > start)
    seg = start[occupied]
    s_flat = source.reshape(nf, nvox)
    u_flat = uptake.reshape(nf, nvox)
    for f in range(nf):
        s_flat[f, occupied] += np.add.reduceat(w * sc[k, f], seg).astype(source.dtype)
        u_flat[f, occupied] += np.add.reduceat(w * uc[k, f], seg).astype(uptake.dtype)


def contact_search(
    position,
    radius,
    ids,
    cell_bin,
    order,
    bin_start,
    bin_end,
    dims,
    query,
    weight,
    reach_full,
    reach_max,
    prefix,
    stream,
    out_count,
    out_weight,
    out_pick,
    out_time,
):
    """Partners in contact of each query cell, and one picked by competing exponential clocks.

    Parameters
    ----------
    position : (N, 3) — cell centres [µm]
    radius : (N,) — cell radii [µm]
    ids : (N,) int64 — cell ids (keys of the random draws, tie-break)
    cell_bin, order, bin_start, bin_end, dims : the (bin, id) sort, as for :func:`pair_forces`
    query : (M,) int64 — rows whose partners are searched (live rows)
    weight : (N,) float64 — how strongly each row is a partner (0: not a partner) [1]
    reach_full, reach_max : contact distances relative to ``R = r_q + r_o`` [-]
    prefix : uint64 — :func:`spatialtumor.random.key_prefix` of (seed, step)
    stream : int — random stream of the draws
    out_count : (M,) int64 — number of partners
    out_weight : (M,) float64 — Σ w over the partners
    out_pick : (M,) int64 — picked partner row, −1 if none
    out_time : (M,) float64 — τ of the pick, −1 if none

    Notes
    -----
    For a partner o ≠ q with ``weight[o] > 0`` at centre distance ``d < reach_max R``::

        φ = 1                                        if d ≤ reach_full R
        φ = (reach_max R − d) / ((reach_max − reach_full) R)   otherwise
        w = weight[o] φ,        τ = −log(1 − u) / w

    with ``u`` the uniform of :func:`spatialtumor.random.pair_uniform` for (seed, step,
    id_q, id_o, stream). The pick is the partner of smallest τ (ties: smaller id): an
    attachment at rate ``k`` then happens in a step ``dt`` if ``τ < k dt``, with the chance
    ``1 − exp(−k dt Σ w)`` and each partner picked in proportion to its ``w``. Partners are
    visited over the 27 bins in :data:`OFFSETS` order and the sorted order of each bin;
    ``d`` is computed in the working precision as in :func:`pair_forces`, φ, w and τ in
    float64, and Σ w is accumulated in that visiting order.
    """
    from ..random import GOLDEN, M1, M2, TWO_POW_M53

    nx, ny, nz = (int(d) for d in dims)
    m = int(query.shape[0])
    out_count[...] = 0
    out_weight[...] = 0.0
    out_pick[...] = -1
    out_time[...] = -1.0
    if m == 0:
        return
    dt = position.dtype
    offsets = np.array(OFFSETS, dtype=np.int64)
    q = np.asarray(query, dtype=np.int64)
    owner, o = candidates(q, cell_bin, order, bin_start, bin_end, (nx, ny, nz), offsets)
    if owner.size == 0:
        return
    qi = q[owner]
    w0 = np.asarray(weight, dtype=np.float64)[o]
    keep = (o != qi) & (w0 > 0)
    owner, o, qi, w0 = owner[keep], o[keep], qi[keep], w0[keep]
    ddx = position[qi, 0] - position[o, 0]
    ddy = position[qi, 1] - position[o, 1]
    ddz = position[qi, 2] - position[o, 2]
    d = np.sqrt(ddx * ddx + ddy * ddy + ddz * ddz).astype(dt).astype(np.float64)
    big_r = (radius[qi] + radius[o]).astype(dt).astype(np.float64)
    near = d < reach_max * big_r
    owner, o, qi, w0, d, big_r = (a[near] for a in (owner, o, qi, w0, d, big_r))
    phi = np.where(
        d <= reach_full * big_r, 1.0, (reach_max * big_r - d) / ((reach_max - reach_full) * big_r)
    )
    w = w0 * phi
    pos = w > 0
    owner, o, qi, w = owner[pos], o[pos], qi[pos], w[pos]
    if owner.size == 0:
        return
    out_count[...] = np.bincount(owner, minlength=m)
    out_weight[...] = np.bincount(owner, weights=w, minlength=m)

    def mix(z):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(M1)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(M2)
        return z ^ (z >> np.uint64(31))

    def absorb(h, word):
        return mix((h ^ word) + np.uint64(GOLDEN))

    with np.errstate(over="ignore"):
        hq = absorb(np.uint64(prefix), ids[qi].astype(np.uint64))
        h = absorb(absorb(hq, ids[o].astype(np.uint64)), np.uint64(int(stream) << 32))
    u = (h >> np.uint64(11)).astype(np.float64) * TWO_POW_M53
    tau = -np.log1p(-u) / w
    best = np.lexsort((ids[o], tau, owner))
    first = np.ones(best.size, dtype=bool)
    first[1:] = owner[best][1:] != owner[best][:-1]
    sel = best[first]
    out_pick[owner[sel]] = o[sel]
    out_time[owner[sel]] = tau[sel]
