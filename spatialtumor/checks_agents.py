"""Kernel contract checks of the cell layer (``pair_forces``, ``deposit_sorted``,
``contact_search``, ``move_cells``).

Each check has the signature of :mod:`spatialtumor.checks`: ``check(backend, shape, dtype,
rng) -> rows`` with ``shape = (nf, nz, ny, nx)``. Here ``(nz, ny, nx)`` is the bin grid
(mechanics bins or field voxels) and ``nf`` the number of fields. :func:`register` adds
them to the contract run by ``spatialtumor check-backend``.
"""

from __future__ import annotations

import numpy as np

from .backends import reference_agents
from .binning import BinGrid, bin_cells

#: bin edge of the random configurations [µm]
BIN = 20.0


def _cells(shape, rng, per_bin: float = 3.0):
    """Random cells in a box of ``shape[1:]`` bins of BIN µm: clusters, bin edges, deaths."""
    nz, ny, nx = shape[1:]
    upper = BIN * np.array([nx, ny, nz], dtype=np.float64)
    n = int(per_bin * nx * ny * nz) + 7
    pos = rng.random((n, 3)) * upper
    m = n // 5
    pos[:m] = rng.random((m, 3)) * np.minimum(upper, 2 * BIN)  # crowded corner
    pos[m : 2 * m] = np.round(pos[m : 2 * m] / BIN) * BIN  # on bin faces and corners
    pos = np.minimum(pos, upper)
    alive = rng.random(n) > 0.15
    ids = rng.permutation(4 * n)[:n].astype(np.int64)
    grid = BinGrid((0.0, 0.0, 0.0), tuple(upper), (nx, ny, nz))
    return grid, pos, alive, ids


def _dev(backend, a, dtype=None):
    return backend.xp.asarray(np.ascontiguousarray(a if dtype is None else a.astype(dtype)))


def check_pair_forces(backend, shape, dtype, rng) -> list[dict]:
    """``pair_forces`` on random configurations (3 kinds, radii 4–8 µm, dead rows)."""
    from .checks import compare

    dtype = np.dtype(dtype)
    grid, pos, alive, ids = _cells(shape, rng)
    n = pos.shape[0]
    radius = rng.uniform(4.0, 8.0, n)
    kind = rng.integers(0, 3, n).astype(np.int16)
    rep = rng.uniform(1.0, 50.0, (3, 3))
    rep = np.sqrt(rep * rep.T)
    adh = rng.uniform(0.0, 2.0, (3, 3))
    reach = rng.uniform(1.0, 1.25, 3)  # a_i r_i + a_j r_j ≤ 2 × 1.25 × 8 = BIN
    b = bin_cells(np, grid, pos, alive, ids)
    host = [pos.astype(dtype), radius.astype(dtype)]
    coef = [rep.astype(dtype), adh.astype(dtype), reach.astype(dtype)]
    want = np.full((n, 3), np.nan, dtype=dtype)
    reference_agents.pair_forces(
        host[0], host[1], kind, b.cell_bin, b.order, b.start, b.end, grid.dims, *coef, want
    )
    xp = backend.xp
    out = xp.asarray(np.full((n, 3), np.nan, dtype=dtype))
    backend.kernels.pair_forces(
        _dev(backend, host[0]),
        _dev(backend, host[1]),
        _dev(backend, kind),
        _dev(backend, b.cell_bin),
        _dev(backend, b.order),
        _dev(backend, b.start),
        _dev(backend, b.end),
        grid.dims,
        *(_dev(backend, c) for c in coef),
        out,
    )
    case = f"{n} cells"
    return [compare("pair_forces", case, backend.asnumpy(out), want, shape, dtype)]


def check_deposit_sorted(backend, shape, dtype, rng) -> list[dict]:
    """``deposit_sorted`` of random cells onto random S and U arrays (some dead after sort)."""
    from .checks import compare

    dtype = np.dtype(dtype)
    nf = shape[0]
    grid, pos, alive, ids = _cells(shape, rng, per_bin=2.0)
    n = pos.shape[0]
    b = bin_cells(np, grid, pos, alive, ids)
    alive = alive & (rng.random(n) > 0.05)
    kind = rng.integers(0, 2, n).astype(np.int16)
    volume = rng.uniform(500.0, 5000.0, n).astype(dtype)
    sc = rng.uniform(0.0, 10.0, (2, nf))
    uc = rng.uniform(0.0, 10.0, (2, nf))
    inv_vv = 1.0 / BIN**3
    s0 = rng.uniform(0.0, 1.0, shape).astype(dtype)
    u0 = rng.uniform(0.0, 1.0, shape).astype(dtype)
    want_s, want_u = s0.copy(), u0.copy()
    args = (b.order, b.start, b.end, kind, volume, alive, sc, uc)
    reference_agents.deposit_sorted(*args, inv_vv, want_s, want_u)
    s = _dev(backend, s0)
    u = _dev(backend, u0)
    backend.kernels.deposit_sorted(*(_dev(backend, a) for a in args), inv_vv, s, u)
    case = f"{n} cells"
    return [
        compare("deposit_sorted", case + " source", backend.asnumpy(s), want_s, shape, dtype),
        compare("deposit_sorted", case + " uptake", backend.asnumpy(u), want_u, shape, dtype),
    ]


def check_contact_search(backend, shape, dtype, rng) -> list[dict]:
    """``contact_search`` of random query cells among random partners (some weight 0)."""
    from . import random as rnd
    from .checks import compare

    dtype = np.dtype(dtype)
    grid, pos, alive, ids = _cells(shape, rng)
    n = pos.shape[0]
    radius = rng.uniform(4.0, 8.0, n)
    weight = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.1, 1.0, n))
    b = bin_cells(np, grid, pos, alive, ids)
    live = np.flatnonzero(alive)
    query = rng.permutation(live)[: max(1, live.size // 3)].astype(np.int64)
    reach_full, reach_max = 0.833, 1.071  # 1.071 × (8 + 8) µm < BIN
    prefix = rnd.key_prefix(int(rng.integers(1 << 30)), int(rng.integers(1 << 20)))
    stream = rnd.stream_id("attachment")
    m = query.size
    host = (pos.astype(dtype), radius.astype(dtype), ids, b.cell_bin, b.order, b.start, b.end)
    want = [np.zeros(m, np.int64), np.zeros(m), np.zeros(m, np.int64), np.zeros(m)]
    reference_agents.contact_search(
        *host, grid.dims, query, weight, reach_full, reach_max, prefix, stream, *want
    )
    xp = backend.xp
    got = [xp.asarray(np.full(m, -7, np.int64)), xp.asarray(np.full(m, np.nan))]
    got += [xp.asarray(np.full(m, -7, np.int64)), xp.asarray(np.full(m, np.nan))]
    backend.kernels.contact_search(
        *(_dev(backend, a) for a in host),
        grid.dims,
        _dev(backend, query),
        _dev(backend, weight),
        reach_full,
        reach_max,
        prefix,
        stream,
        *got,
    )
    got = [backend.asnumpy(a) for a in got]
    case = f"{m} queries among {n} cells"
    wrong = int(np.sum(got[2] != want[2]))
    picks = {
        "kernel": "contact_search",
        "case": case + " pick (rows that differ)",
        "shape": tuple(int(v) for v in shape),
        "dtype": dtype.name,
        "max_abs": float(wrong),
        "max_rel": wrong / max(m, 1),
        "tol": 0.0,
        "ok": wrong == 0,
    }
    return [
        compare("contact_search", case + " count", got[0], want[0], shape, dtype),
        compare("contact_search", case + " weight", got[1], want[1], shape, dtype),
        picks,
        compare("contact_search", case + " time", got[3], want[3], shape, dtype),
    ]


def check_move_cells(backend, shape, dtype, rng) -> list[dict]:
    """``move_cells`` of random cells (3 kinds, dead rows, no direction yet, fast moves into
    the walls) over random fields, with and without chemotaxis, reflecting and clamping."""
    from .backends import reference_motility
    from .checks import compare

    dtype = np.dtype(dtype)
    nf = shape[0]
    _, pos, alive, ids = _cells(shape, rng)
    n = pos.shape[0]
    upper = tuple(BIN * float(v) for v in shape[:0:-1])
    vel = rng.normal(0.0, 40.0, (n, 3))
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    direction[rng.random(n) < 0.2] = 0.0
    kind = rng.integers(0, 3, n).astype(np.int16)
    state = rng.integers(0, 2, n).astype(np.int8)
    radius = rng.uniform(4.0, 8.0, n)
    table = dict(
        persistence=rng.uniform(0.05, 5.0, 3),
        bias=np.array([0.0, 0.6, 1.0]),
        kind_field=np.array([-1, 0, nf - 1], dtype=np.int64),
        class_speed=rng.uniform(0.0, 10.0, 6),
    )
    fields = rng.random(shape)
    step = int(rng.integers(1 << 20))
    rows = []
    for chem, walls in ((True, "reflect"), (False, "clamp")):
        host = [pos.astype(dtype), direction.astype(dtype)]
        args = (vel.astype(dtype), ids, kind, state, alive, radius.astype(dtype))
        coef = tuple(v if v.dtype == np.int64 else v.astype(dtype) for v in table.values())
        rest = ((0.0, 0.0, 0.0), (BIN, BIN, BIN), 0.4, 0.5, (0.0, 0.0, 0.0), upper, walls, 7)
        f = fields.astype(dtype) if chem else None
        reference_motility.move_cells(*host, *args, *coef, 2, f, *rest, step)
        got = [backend.xp.asarray(a.astype(dtype)) for a in (pos, direction)]
        backend.kernels.move_cells(
            *got,
            *(_dev(backend, a) for a in args),
            *(_dev(backend, a) for a in coef),
            2,
            None if f is None else _dev(backend, f),
            *rest,
            step,
        )
        got = [backend.asnumpy(a) for a in got]
        case = f"{n} cells {'chemotaxis ' if chem else ''}{walls}"
        switched = np.any(host[1] != direction.astype(dtype), axis=1)
        wrong = int(np.sum(switched != np.any(got[1] != direction.astype(dtype), axis=1)))
        rows += [
            compare("move_cells", case + " position", got[0], host[0], shape, dtype),
            compare("move_cells", case + " direction", got[1], host[1], shape, dtype),
            {
                "kernel": "move_cells",
                "case": case + " switches (rows that differ)",
                "shape": tuple(int(v) for v in shape),
                "dtype": dtype.name,
                "max_abs": float(wrong),
                "max_rel": wrong / max(n, 1),
                "tol": 0.0,
                "ok": wrong == 0 and bool(switched.any()) and not bool(switched.all()),
            },
        ]
    return rows


CHECKS = (check_pair_forces, check_deposit_sorted, check_contact_search, check_move_cells)


def register() -> None:
    """Add the cell-layer checks to :data:`spatialtumor.checks.CHECKS` (idempotent)."""
    from .checks import register_check

    for check in CHECKS:
        register_check(check)
