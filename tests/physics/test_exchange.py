"""Cells ↔ fields: deposit equals bincount, mass balance, sensing of value and gradient."""

from __future__ import annotations

import numpy as np
import pytest

from spatialtumor.agents import CellKind, FieldExchange, Population
from spatialtumor.backends.reference_agents import deposit_sorted
from spatialtumor.binning import BinGrid, bin_cells
from spatialtumor.clock import Clock
from spatialtumor.exchange import (
    CellExchange,
    exchange_tables,
    sample_gradient,
    sample_trilinear,
    sample_voxel,
    sense,
)
from spatialtumor.fields import Boundary, Fields, Species
from spatialtumor.grid import Grid
from spatialtumor.simulation import Simulation
from spatialtumor.sources import SourceTerms

KINDS = (
    CellKind(
        "tumour",
        exchange={
            "oxygen": FieldExchange(uptake=10.0),
            "factor": FieldExchange(rate=10.0, target=1.0),
        },
    ),
    CellKind("cd8", radius=5.0, exchange={"oxygen": FieldExchange(uptake=1.0)}),
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deposit_equals_bincount(rng, dtype):
    shape = (3, 5, 7)  # (nz, ny, nx)
    nvox = 105
    n = 600
    pos = rng.random((n, 3)) * (70.0, 50.0, 30.0)
    pos[:30] = np.round(pos[:30] / 10) * 10  # on voxel faces
    kind = rng.integers(0, 2, n).astype(np.int16)
    volume = rng.uniform(500, 3000, n).astype(dtype)
    alive = rng.random(n) > 0.2
    grid = BinGrid((0.0, 0.0, 0.0), (70.0, 50.0, 30.0), (7, 5, 3))
    b = bin_cells(np, grid, pos, alive)
    alive[rng.random(n) < 0.1] = False  # deaths after the sort are skipped too
    sc, uc = rng.random((2, 2)), rng.random((2, 2))
    src = np.full((2,) + shape, 0.5, dtype=dtype)
    upt = np.zeros((2,) + shape, dtype=dtype)
    deposit_sorted(b.order, b.start, b.end, kind, volume, alive, sc, uc, 1e-3, src, upt)
    w = volume.astype(np.float64) * 1e-3 * alive
    vox = b.cell_bin.clip(0, nvox - 1)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    for f in range(2):
        s_ref = 0.5 + np.bincount(vox, weights=w * sc[kind, f], minlength=nvox)
        u_ref = np.bincount(vox, weights=w * uc[kind, f], minlength=nvox)
        assert np.allclose(src[f].ravel(), s_ref, rtol=rtol, atol=0)
        assert np.allclose(upt[f].ravel(), u_ref, rtol=rtol, atol=1e-30)
        assert src.dtype == dtype


def test_tables_and_unknown_field():
    sc, uc = exchange_tables(KINDS, ("oxygen", "factor"))
    assert sc.tolist() == [[0.0, 10.0], [0.0, 0.0]]
    assert uc.tolist() == [[10.0, 10.0], [1.0, 0.0]]
    with pytest.raises(ValueError, match="unknown field 'factor'"):
        exchange_tables(KINDS, ("oxygen",))


def _sim(backend, rng, n_cells=300):
    grid = Grid(backend, (6, 7, 8), spacing=20.0)
    fields = Fields(
        grid,
        oxygen=Species(diffusivity=1000.0, initial=30.0, boundary=Boundary.zero_flux()),
        factor=Species(diffusivity=100.0, initial=0.2),
    )
    pop = Population(backend, KINDS)
    pop.append(
        {"position": rng.random((n_cells, 3)) * grid.extent, "kind": rng.integers(0, 2, n_cells)}
    )
    pop.kill(rng.random(n_cells) < 0.1)
    sources = SourceTerms(fields)
    ex = CellExchange(pop, fields)
    sources.depositors.append(ex)
    clock = Clock(0.01, 0.1, 6.0)
    sim = Simulation(grid, fields, pop, clock=clock, stop=1.0, sources=sources)
    return sim, ex


def test_mass_balance_secretion_and_uptake(backend, rng):
    """Zero-flux walls, no decay: each field's total changes by exactly what cells exchanged."""
    sim, ex = _sim(backend, rng)
    for _ in range(5):
        before = sim.fields.totals()
        sim.sources.assemble(sim)
        amounts = backend.asnumpy(
            ex.exchanged(sim.fields.values, sim.sources.source, sim.sources.uptake, 0.01)
        )
        sim.step()
        after = sim.fields.totals()
        for f, name in enumerate(sim.fields.names):
            expect = float(amounts[:, f].sum())
            assert abs(expect) > 0
            assert after[name] - before[name] == pytest.approx(expect, rel=1e-9)
    names = sim.fields.names
    assert float(amounts[:, names.index("oxygen")].sum()) < 0  # uptake only
    assert float(amounts[:, names.index("factor")].sum()) > 0  # secretion toward 1 from 0.2
    dead = ~backend.asnumpy(sim.population["alive"])
    assert np.all(amounts[dead] == 0)


def test_exchange_sort_is_cached_until_the_population_changes(backend, rng):
    sim, ex = _sim(backend, rng, 50)
    b1 = ex.binning()
    assert ex.binning() is b1
    sim.population.mark_changed()
    assert ex.binning() is not b1


def test_uptake_matches_the_implicit_single_voxel_solution(backend):
    """One cell alone in a one-voxel domain: c ← c / (1 + dt (V/V_vox) u) each step."""
    grid = Grid(backend, (1, 1, 1), spacing=20.0)
    fields = Fields(grid, oxygen=Species(diffusivity=0.0, initial=38.0))
    kind = CellKind("t", radius=8.412, exchange={"oxygen": FieldExchange(uptake=10.0)})
    pop = Population(backend, (kind,))
    pop.add_cells("t", [[10.0, 10.0, 10.0]])
    sources = SourceTerms(fields)
    sources.depositors.append(CellExchange(pop, fields))
    sim = Simulation(grid, fields, pop, clock=Clock(0.01, 0.1, 6.0), stop=1, sources=sources)
    for _ in range(10):
        sim.step()
    w = kind.volume / 8000.0
    expect = 38.0 / (1 + 0.01 * w * 10.0) ** 10
    assert float(backend.asnumpy(fields["oxygen"]).ravel()[0]) == pytest.approx(expect, rel=1e-12)


def test_sensing_value_and_gradient(backend, rng):
    grid = Grid(backend, (5, 6, 7), spacing=(10.0, 20.0, 30.0), origin=(-5.0, 0.0, 100.0))
    z, y, x = np.meshgrid(grid.centres("z"), grid.centres("y"), grid.centres("x"), indexing="ij")
    lin = 2.0 + 0.5 * x - 0.25 * y + 0.125 * z
    quad = x * x + y * z
    pos_h = grid.origin + rng.random((500, 3)) * grid.extent
    pos = backend.asarray(pos_h)
    # voxel value
    ijk = np.floor((pos_h - grid.origin) / grid.spacing).astype(int)
    v = backend.asnumpy(sample_voxel(grid, backend.asarray(quad), pos))
    assert np.array_equal(v, quad[ijk[:, 2], ijk[:, 1], ijk[:, 0]])
    # trilinear interpolation is exact for a linear field inside the centres' hull
    inside = np.all(
        (pos_h >= grid.first_centre)
        & (pos_h <= grid.first_centre + grid.spacing * (grid.counts_xyz - 1)),
        axis=1,
    )
    t = backend.asnumpy(sample_trilinear(grid, backend.asarray(lin), pos))
    exact = 2.0 + 0.5 * pos_h[:, 0] - 0.25 * pos_h[:, 1] + 0.125 * pos_h[:, 2]
    assert inside.sum() > 100
    assert np.allclose(t[inside], exact[inside], rtol=1e-12)
    assert t.min() >= lin.min() - 1e-12 and t.max() <= lin.max() + 1e-12
    # gradient: equals numpy.gradient at the voxel (central inside, one-sided at walls)
    g = backend.asnumpy(sample_gradient(grid, backend.asarray(quad), pos))
    ref = np.gradient(quad, *grid.spacing[::-1])  # (d/dz, d/dy, d/dx)
    for a in range(3):
        assert np.allclose(g[:, a], ref[2 - a][ijk[:, 2], ijk[:, 1], ijk[:, 0]], rtol=1e-12)
    g = backend.asnumpy(sample_gradient(grid, backend.asarray(lin), pos))
    assert np.allclose(g, [0.5, -0.25, 0.125], rtol=1e-12)


def test_sense_by_population_and_flat_axis(backend):
    grid = Grid(backend, (1, 4, 4), spacing=10.0)
    fields = Fields(grid, f=Species(diffusivity=0.0, initial=3.0))
    pop = Population(backend, ("a",))
    pop.add_cells("a", [[5.0, 5.0, 5.0], [39.0, 1.0, 9.0]])
    assert np.allclose(backend.asnumpy(sense(pop, fields, "f")), 3.0)
    assert np.allclose(backend.asnumpy(sense(pop, fields, "f", "trilinear")), 3.0)
    g = backend.asnumpy(sample_gradient(grid, fields["f"], pop["position"]))
    assert np.all(g == 0)
    with pytest.raises(ValueError, match="sensing method"):
        sense(pop, fields, "f", "nearest")
