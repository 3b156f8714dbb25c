"""Pair forces against an O(N²) brute force; displacement guard; walls; determinism."""

from __future__ import annotations

import numpy as np
import pytest

from spatialtumor.agents import CellKind, Population
from spatialtumor.backends.reference_agents import pair_forces
from spatialtumor.binning import BinGrid, bin_cells
from spatialtumor.mechanics import (
    Mechanics,
    apply_walls,
    interaction_distance,
    limit_displacement,
    pair_coefficients,
)

KINDS = (
    CellKind("tumour", radius=8.0, repulsion=10.0, adhesion=0.4, adhesion_distance=1.25),
    CellKind("cd8", radius=5.0, repulsion=50.0, adhesion=0.0, adhesion_distance=1.5),
    CellKind("mac", radius=10.0, repulsion=4.0, adhesion=1.0, adhesion_distance=1.1),
)


def brute_force(pos, radius, kind, alive, rep, adh, reach):
    """Σ over all pairs, written straight from PhysiCell's potentials."""
    n = pos.shape[0]
    v = np.zeros((n, 3))
    for i in range(n):
        if not alive[i]:
            continue
        for j in range(n):
            if j == i or not alive[j]:
                continue
            delta = pos[i] - pos[j]
            d = np.linalg.norm(delta)
            big_r = radius[i] + radius[j]
            big_ra = reach[kind[i]] * radius[i] + reach[kind[j]] * radius[j]
            f = 0.0
            if d < big_r:
                f += rep[kind[i], kind[j]] * (1 - d / big_r) ** 2
            if d < big_ra:
                f -= adh[kind[i], kind[j]] * (1 - d / big_ra) ** 2
            v[i] += f * delta / max(d, 1e-5)
    return v


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_forces_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 250
    lower, upper = np.zeros(3), np.array([120.0, 90.0, 60.0])
    pos = rng.random((n, 3)) * upper
    pos[:40] = pos[:40] * 0.3  # a crowded corner, leaving other bins empty
    pos[40:60] = np.round(pos[40:60] / 30.0) * 30.0  # exactly on bin edges and corners
    pos[60:70] = pos[70:80] + rng.normal(0, 3, (10, 3))  # close pairs
    pos[80] = pos[81]  # coincident centres
    radius = rng.uniform(4, 10, n)
    kind = rng.integers(0, 3, n).astype(np.int16)
    alive = rng.random(n) > 0.1
    rep, adh, reach = pair_coefficients(KINDS)
    size = 2 * 1.5 * 10.0
    grid = BinGrid.covering(lower, upper, size)
    assert grid.n_bins > 8
    b = bin_cells(np, grid, pos, alive)
    out = np.full((n, 3), np.nan)
    pair_forces(
        pos, radius, kind, b.cell_bin, b.order, b.start, b.end, grid.dims, rep, adh, reach, out
    )
    expect = brute_force(pos, radius, kind, alive, rep, adh, reach)
    assert np.all(out[~alive] == 0)
    assert np.abs(expect).max() > 1.0  # there are real interactions
    assert np.allclose(out, expect, rtol=1e-12, atol=1e-12)


def test_geometric_mean_coefficients():
    rep, adh, reach = pair_coefficients(KINDS)
    assert rep[0, 1] == rep[1, 0] == pytest.approx(np.sqrt(10.0 * 50.0))
    assert adh[0, 2] == pytest.approx(np.sqrt(0.4))
    assert adh[1, 0] == 0 and reach.tolist() == [1.25, 1.5, 1.1]
    # largest 2 max(1, a) r among the kinds (the macrophage: 2 × 1.1 × 10), grown by 2^(1/3)
    assert interaction_distance(KINDS) == pytest.approx(22.0 * 2 ** (1 / 3))


def test_sum_does_not_depend_on_row_order(rng):
    """Bit-identical velocities for a permuted population with the same ids."""
    n = 400
    pos = rng.random((n, 3)) * 60
    radius = np.full(n, 8.0)
    kind = np.zeros(n, np.int16)
    ids = np.arange(n, dtype=np.int64)
    alive = np.ones(n, bool)
    rep, adh, reach = pair_coefficients(KINDS[:1])
    grid = BinGrid.covering((0, 0, 0), (60, 60, 60), 20.0)
    perm = rng.permutation(n)
    outs = []
    for p in (np.arange(n), perm):
        b = bin_cells(np, grid, pos[p], alive, ids[p])
        out = np.zeros((n, 3))
        pair_forces(
            pos[p],
            radius,
            kind,
            b.cell_bin,
            b.order,
            b.start,
            b.end,
            grid.dims,
            rep,
            adh,
            reach,
            out,
        )
        outs.append(out)
    assert np.array_equal(outs[0][perm], outs[1])


def test_two_cells_relax_to_the_potential_minimum(backend):
    """Two overlapping tumour cells move apart to where repulsion balances adhesion."""
    kind = CellKind("t", radius=8.0, repulsion=10.0, adhesion=0.4, adhesion_distance=1.25)
    pop = Population(backend, (kind,))
    pop.add_cells("t", [[50.0, 50.0, 50.0], [58.0, 50.0, 50.0]])
    mech = Mechanics(pop, (0, 0, 0), (100, 100, 100), dt=0.5)
    for s in range(3000):
        mech.step(s)
    p = backend.asnumpy(pop["position"])
    d = np.linalg.norm(p[1] - p[0])
    # c_rep (1 − d/16)² = c_adh (1 − d/20)²  →  (1 − d/16) = √0.04 (1 − d/20)
    k = np.sqrt(0.4 / 10.0)
    d_eq = (1 - k) / (1 / 16 - k / 20)
    assert d == pytest.approx(d_eq, rel=1e-6)
    assert np.allclose(p.mean(axis=0), [54.0, 50.0, 50.0])  # momentum conserved


def test_displacement_guard_and_walls(backend):
    xp = backend.xp
    dx = backend.asarray([[10.0, 0, 0], [0.1, 0, 0], [0, 3, 4]])
    limit_displacement(xp, dx, backend.asarray([8.0, 8.0, 8.0]), 0.5)
    assert np.allclose(backend.asnumpy(dx), [[4, 0, 0], [0.1, 0, 0], [0, 2.4, 3.2]])
    pos = backend.asarray([[-1.0, 5, 105], [50, 50, 50], [-500, 0, 0]])
    apply_walls(xp, pos, (0, 0, 0), (100, 100, 100), "reflect")
    assert np.allclose(backend.asnumpy(pos), [[1, 5, 95], [50, 50, 50], [0, 0, 0]])
    pos = backend.asarray([[-1.0, 5, 105]])
    apply_walls(xp, pos, (0, 0, 0), (100, 100, 100), "clamp")
    assert np.allclose(backend.asnumpy(pos), [[0, 5, 100]])


def test_crowded_cells_stay_in_the_box_and_moves_are_limited(backend, rng):
    kind = CellKind("t", radius=8.0, repulsion=10.0, adhesion=0.0)
    pop = Population(backend, (kind,))
    pop.add_cells("t", 50 + rng.normal(0, 2.0, (200, 3)))  # heavily overlapping blob
    mech = Mechanics(pop, (0, 0, 0), (100, 100, 100), dt=1.0, max_displacement=0.5)
    before = backend.asnumpy(pop["position"]).copy()
    mech.step(0)
    after = backend.asnumpy(pop["position"])
    assert np.max(np.linalg.norm(after - before, axis=1)) <= 4.0 + 1e-9
    for s in range(1, 60):
        mech.step(s)
    p = backend.asnumpy(pop["position"])
    assert np.all(p >= 0) and np.all(p <= 100)
    assert np.std(p[:, 0]) > 2 * np.std(before[:, 0])  # the blob spread out


def test_bad_parameters_are_errors(backend):
    pop = Population(backend, (CellKind("t", chemotaxis_field="x", chemotaxis_bias=0.5),))
    with pytest.raises(ValueError, match="walls"):
        Mechanics(pop, (0, 0, 0), (1, 1, 1), 0.1, walls="periodic")
    with pytest.raises(ValueError, match="needs the fields"):
        Mechanics(pop, (0, 0, 0), (1, 1, 1), 0.1)
    with pytest.raises(ValueError, match="chemotaxis_bias"):
        CellKind("t", chemotaxis_bias=2.0)
