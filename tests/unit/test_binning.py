"""Binning: order by (bin, id), bin starts/ends, dead rows excluded."""

from __future__ import annotations

import numpy as np

from spatialtumor.agents import CellKind, Population
from spatialtumor.binning import BinGrid, bin_cells, bin_population


def test_covering_grid_bins_are_at_least_the_size():
    g = BinGrid.covering((0, 0, 0), (100, 31, 5), 30.0)
    assert g.dims == (3, 1, 1)
    assert np.all((g.size >= 30.0) | (np.array(g.dims) == 1))


def test_order_starts_and_ends(backend, rng):
    xp = backend.xp
    g = BinGrid((0.0, 0.0, 0.0), (40.0, 30.0, 20.0), (4, 3, 2))
    n = 500
    pos = rng.random((n, 3)) * (40, 30, 20)
    pos[:20] = np.floor(pos[:20] / 10) * 10  # exactly on bin edges
    pos[20] = (40, 30, 20)  # upper corner belongs to the last bin
    alive = rng.random(n) > 0.2
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    b = bin_cells(xp, g, backend.asarray(pos), xp.asarray(alive), xp.asarray(ids))
    order, start, end = (backend.asnumpy(a) for a in (b.order, b.start, b.end))
    cell_bin = backend.asnumpy(b.cell_bin)
    ijk = np.minimum(np.floor(pos / 10).astype(int), (3, 2, 1))
    expect = (ijk[:, 2] * 3 + ijk[:, 1]) * 4 + ijk[:, 0]
    assert np.array_equal(cell_bin[alive], expect[alive])
    assert np.all(cell_bin[~alive] == g.n_bins)
    ref = np.lexsort((ids, np.where(alive, expect, g.n_bins)))
    assert np.array_equal(order, ref)
    assert np.array_equal(end - start, np.bincount(expect[alive], minlength=g.n_bins))
    for bin_ in range(g.n_bins):
        rows = order[start[bin_] : end[bin_]]
        assert np.all(expect[rows] == bin_) and np.all(alive[rows])
    assert end[-1] == alive.sum()


def test_population_binning_uses_id_order(backend, rng):
    pop = Population(backend, (CellKind("a"),))
    pop.add_cells("a", rng.random((300, 3)) * 50)
    pop.kill(rng.random(300) < 0.3)
    g = BinGrid.covering((0, 0, 0), (50, 50, 50), 10)
    fast = bin_population(pop, g)
    slow = bin_cells(backend.xp, g, pop["position"], pop["alive"], pop["id"])
    assert np.array_equal(backend.asnumpy(fast.order), backend.asnumpy(slow.order))
    empty = bin_population(Population(backend, (CellKind("a"),)), g)
    assert int(empty.end[-1]) == 0


def test_run_boundaries_equal_the_prefix_sums_of_the_counts(backend, rng):
    """Bins found by binary search over the sorted keys, empty bins and dead rows included."""
    xp = backend.xp
    g = BinGrid((0.0, 0.0, 0.0), (50.0, 50.0, 50.0), (5, 5, 5))
    for n in (0, 1, 7, 300):
        pos = rng.random((n, 3)) * 50.0
        pos[: n // 3] *= 0.3  # crowded corner, many empty bins elsewhere
        alive = rng.random(n) > 0.2
        ids = rng.permutation(3 * n)[:n].astype(np.int64)
        b = bin_cells(xp, g, xp.asarray(pos), xp.asarray(alive), xp.asarray(ids))
        cell_bin = backend.asnumpy(b.cell_bin)
        counts = np.bincount(cell_bin, minlength=g.n_bins + 1)[: g.n_bins]
        np.testing.assert_array_equal(backend.asnumpy(b.end), np.cumsum(counts))
        np.testing.assert_array_equal(backend.asnumpy(b.start), np.cumsum(counts) - counts)
        order = backend.asnumpy(b.order)
        np.testing.assert_array_equal(order, np.lexsort((ids, cell_bin)))
        assert b.start.dtype == b.end.dtype == b.order.dtype == cell_bin.dtype == np.int64
