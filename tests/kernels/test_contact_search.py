"""The contact search twin against brute force, its independence of row order, and the
statistics of the picks (competing exponential clocks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatialtumor import random as rnd
from spatialtumor.backends import reference_agents
from spatialtumor.binning import BinGrid, bin_cells

REACH_FULL, REACH_MAX = 0.833, 1.071


def _search(pos, radius, ids, alive, weight, query, grid, prefix, stream, dtype=np.float64):
    b = bin_cells(np, grid, pos, alive, ids)
    m = query.size
    out = [np.zeros(m, np.int64), np.zeros(m), np.zeros(m, np.int64), np.zeros(m)]
    reference_agents.contact_search(
        pos.astype(dtype),
        radius.astype(dtype),
        ids,
        b.cell_bin,
        b.order,
        b.start,
        b.end,
        grid.dims,
        query,
        weight,
        REACH_FULL,
        REACH_MAX,
        prefix,
        stream,
        *out,
    )
    return out


def _cloud(seed, n=400, box=100.0):
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 3)) * box
    pos[: n // 4] = rng.random((n // 4, 3)) * 25.0  # a crowded corner
    radius = rng.uniform(4.0, 8.0, n)
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    alive = rng.random(n) > 0.1
    weight = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.05, 1.0, n))
    grid = BinGrid((0.0, 0.0, 0.0), (box, box, box), (5, 5, 5))  # 20 µm ≥ 1.071 × 16 µm
    return rng, pos, radius, ids, alive, weight, grid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_twin_equals_brute_force(seed):
    rng, pos, radius, ids, alive, weight, grid = _cloud(seed)
    query = np.flatnonzero(alive)[::3]
    prefix, stream = rnd.key_prefix(7, 123), rnd.stream_id("attachment")
    count, wsum, pick, tau = _search(pos, radius, ids, alive, weight, query, grid, prefix, stream)
    n_checked = 0
    for m, q in enumerate(query):
        best, best_tau, c, w_total = -1, math.inf, 0, 0.0
        for o in range(pos.shape[0]):
            if o == q or not alive[o] or weight[o] <= 0:
                continue
            big_r = radius[q] + radius[o]
            d = float(np.linalg.norm(pos[q] - pos[o]))
            if d >= REACH_MAX * big_r:
                continue
            phi = (
                1.0
                if d <= REACH_FULL * big_r
                else (REACH_MAX * big_r - d) / ((REACH_MAX - REACH_FULL) * big_r)
            )
            w = weight[o] * phi
            u = float(rnd.pair_uniform(np, 7, 123, ids[q : q + 1], ids[o : o + 1], stream)[0])
            t = -math.log1p(-u) / w
            c += 1
            w_total += w
            if t < best_tau or (t == best_tau and ids[o] < ids[best]):
                best, best_tau = o, t
        assert count[m] == c
        assert wsum[m] == pytest.approx(w_total, rel=1e-12, abs=1e-15)
        assert pick[m] == best
        assert (tau[m] == -1.0) if best < 0 else tau[m] == pytest.approx(best_tau, rel=1e-12)
        n_checked += c > 0
    assert n_checked > 0.3 * query.size  # most queries do have partners


def test_result_does_not_depend_on_row_order():
    rng, pos, radius, ids, alive, weight, grid = _cloud(5)
    query = np.flatnonzero(alive)[::2]
    prefix, stream = rnd.key_prefix(1, 9), rnd.stream_id("attachment")
    a = _search(pos, radius, ids, alive, weight, query, grid, prefix, stream)
    perm = rng.permutation(pos.shape[0])
    inv = np.argsort(perm)
    b = _search(
        pos[perm],
        radius[perm],
        ids[perm],
        alive[perm],
        weight[perm],
        inv[query],
        grid,
        prefix,
        stream,
    )
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])  # same bits: the sum order is (bin, id)
    picked_a = np.where(a[2] >= 0, ids[np.maximum(a[2], 0)], -1)
    picked_b = np.where(b[2] >= 0, ids[perm][np.maximum(b[2], 0)], -1)
    np.testing.assert_array_equal(picked_a, picked_b)
    np.testing.assert_array_equal(a[3], b[3])


def test_picks_follow_competing_clocks():
    """One query with three partners of weights 0.1, 0.3, 0.6 at full contact: an event at
    rate k happens within dt with chance 1 − exp(−k dt Σw), and picks partner j with
    chance w_j / Σw."""
    pos = np.array([[50.0, 50, 50], [58, 50, 50], [50, 58, 50], [50, 50, 58]])
    radius = np.full(4, 5.0)
    ids = np.array([10, 11, 12, 13], dtype=np.int64)
    alive = np.ones(4, dtype=bool)
    weight = np.array([0.0, 0.1, 0.3, 0.6])
    grid = BinGrid((0.0, 0.0, 0.0), (100.0, 100.0, 100.0), (4, 4, 4))
    k, dt, trials = 0.5, 1.0, 20000
    picks, events = np.zeros(4), 0
    stream = rnd.stream_id("attachment")
    for step in range(trials):
        _, wsum, pick, tau = _search(
            pos, radius, ids, alive, weight, np.array([0]), grid, rnd.key_prefix(3, step), stream
        )
        assert wsum[0] == pytest.approx(1.0)
        if tau[0] < k * dt:
            events += 1
            picks[pick[0]] += 1
    p = -math.expm1(-k * dt * 1.0)
    sd = math.sqrt(p * (1 - p) / trials)
    assert abs(events / trials - p) < 4 * sd
    share = picks[1:] / events
    np.testing.assert_allclose(share, weight[1:], atol=4 * math.sqrt(0.25 / events))
