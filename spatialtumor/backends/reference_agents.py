"""NumPy reference kernels of the cell layer: the specification of ``kernels/mechanics.cu``
and ``kernels/exchange.cu``.

Both work on the order produced by :func:`spatialtumor.binning.bin_cells` (rows sorted by
(bin, id), per-bin ``start``/``end``). They are vectorised over cells; the only Python
loops run over the 27 neighbour offsets, over the slot index inside a bin (at most the
largest bin occupancy) and over nothing else.
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
    b = cell_bin[live]
    bi = b % nx
    bj = (b // nx) % ny
    bk = b // (nx * ny)
    kinds = kind.astype(np.int64)
    rep = np.asarray(repulsion, dtype=dt)
    adh = np.asarray(adhesion, dtype=dt)
    reach = np.asarray(adhesion_distance, dtype=dt)
    one = dt.type(1)
    tiny = dt.type(MIN_DISTANCE)
    for dx, dy, dz in OFFSETS:
        ni, nj, nk_ = bi + dx, bj + dy, bk + dz
        ok = (ni >= 0) & (ni < nx) & (nj >= 0) & (nj < ny) & (nk_ >= 0) & (nk_ < nz)
        cells = live[ok]
        nbin = (nk_[ok] * ny + nj[ok]) * nx + ni[ok]
        s0 = bin_start[nbin]
        count = bin_end[nbin] - s0
        slot = 0
        while cells.size:
            keep = count > slot
            cells, s0, count = cells[keep], s0[keep], count[keep]
            if cells.size == 0:
                break
            j = order[s0 + slot]
            slot += 1
            other = j != cells
            i, j = cells[other], j[other]
            delta = position[i] - position[j]
            d = np.sqrt(np.einsum("ij,ij->i", delta, delta))
            ki, kj = kinds[i], kinds[j]
            big_r = radius[i] + radius[j]
            big_ra = reach[ki] * radius[i] + reach[kj] * radius[j]
            tr = np.maximum(one - d / big_r, 0)
            ta = np.where(d < big_ra, one - d / np.where(big_ra > 0, big_ra, one), 0)
            f = (rep[ki, kj] * tr * tr - adh[ki, kj] * ta * ta) / np.maximum(d, tiny)
            out[i] += f[:, None] * delta


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
