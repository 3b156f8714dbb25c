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
    nx, ny, nz = dims
    dt = coords[0].dtype
    m = cells.size
    b = cell_bin[cells]
    ni = (b % nx)[:, None] + offsets[:, 0]
    nj = ((b // nx) % ny)[:, None] + offsets[:, 1]
    nk = (b // (nx * ny))[:, None] + offsets[:, 2]
    ok = (ni >= 0) & (ni < nx) & (nj >= 0) & (nj < ny) & (nk >= 0) & (nk < nz)
    nbin = np.where(ok, (nk * ny + nj) * nx + ni, 0).ravel()
    s0 = bin_start[nbin]
    count = np.where(ok.ravel(), bin_end[nbin] - s0, 0)
    total = int(count.sum())
    if total == 0:
        return
    # pair p belongs to (cell, offset) slot `owner`; `k` is its rank inside that bin
    owner = np.repeat(np.arange(m * 27, dtype=np.int64), count)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    j = order[np.repeat(s0, count) + k]
    local = owner // 27
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
