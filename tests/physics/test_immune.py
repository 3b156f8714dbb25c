"""CD8 T cells against a small tumour: control, contact killing, immunoediting, adaptive
resistance through IFN-γ and PD-L1, and rates that do not depend on the steps.

Ensembles of a few seeds on a 16³ grid (NumPy). Tolerances are stated with each check.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _immune import scenario, simulation  # noqa: E402

from spatialtumor.exchange import sample_voxel  # noqa: E402

SEEDS = (1, 2, 3)
LIVE = 0
ENGAGED = 1


def live_tumour(sim):
    pop = sim.population.to_host()
    return pop, (pop["kind"] == 0) & (pop["state"] == LIVE)


def test_t_cells_shrink_the_tumour_by_contact_killing_and_edit_its_antigen():
    """Same seeds with and without T cells (6 h): fewer live tumour cells with them; every
    kill happens between cells in contact; the mean antigen of live tumour cells falls under
    attack (high-antigen cells are recognised and killed first) and not without it."""
    with_t, without_t, drop_with, drop_without = [], [], [], []
    for seed in SEEDS:
        for t_cells, counts, drops in ((80, with_t, drop_with), (0, without_t, drop_without)):
            sim = simulation(scenario(seed, t_cells=t_cells))
            pop, live = live_tumour(sim)
            antigen0 = pop["antigen"][live].mean()
            if t_cells:
                sim.cells.kill_log = []
            sim.run()
            pop, live = live_tumour(sim)
            counts.append(int(live.sum()))
            drops.append(antigen0 - pop["antigen"][live].mean())
            if t_cells:
                log = sim.cells.kill_log
                kills = int(sum(e["target"].size for e in log))
                assert kills == int(float(sim.cells.counters["t8_kills"])) > 20
                d = np.concatenate([e["distance"] for e in log])
                # contact: centre distance below contact_max × (r_T + r_tumour)
                assert np.all(d < 1.071 * (5.0 + 8.412)), d.max()
    print(f"live tumour cells with T cells {with_t}, without {without_t}")
    print(
        f"antigen drop with T cells {np.round(drop_with, 3)}, without {np.round(drop_without, 3)}"
    )
    assert all(a < 0.8 * b for a, b in zip(with_t, without_t, strict=True))
    assert min(drop_with) > 0.03  # antigen ~ N(1, 0.25): selection lowers the survivors' mean
    assert max(abs(d) for d in drop_without) < 0.015  # no selection: only sampling noise


def test_no_kill_without_contact():
    """T cells that cannot move and sit 60 µm from the tumour never kill."""
    raw = scenario(1, t_cells=40, run={"stop": 120.0})
    raw["cells"]["initial"][1].update(inner_radius=125.0, outer_radius=135.0)
    raw["cells"]["kinds"]["t8"]["speed"] = 0.0
    sim = simulation(raw)
    sim.run()
    assert float(sim.cells.counters["t8_kills"]) == 0
    pop = sim.population.to_host()
    assert not np.any((pop["kind"] == 1) & (pop["state"] == ENGAGED))


def _cap_csv(tmp_path, seed, n=80, radius=76.0):
    """T cells on the +x cap of a sphere around the tumour (CSV placement)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(20 * n, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    u = u[u[:, 0] > 0.75][:n] * radius
    path = tmp_path / f"cap{seed}.csv"
    path.write_text("x,y,z,kind\n" + "".join(f"{a},{b},{c},t8\n" for a, b, c in u))
    return path


@pytest.mark.parametrize("seed", SEEDS)
def test_ifng_around_engaged_t_cells_raises_pdl1_nearby(tmp_path, seed):
    """T cells attack the tumour from the +x side only. After an hour IFN-γ is at least 3×
    higher at engaged T cells than at tumour cells on the far (−x) side, and PD-L1 has risen
    above its basal level more on the near side than on the far side. Without IFN-γ release
    PD-L1 stays exactly basal."""
    results = {}
    for release in (True, False):
        raw = scenario(seed, run={"stop": 60.0})
        raw["cells"]["initial"][1] = {
            "kind": "t8",
            "shape": "csv",
            "file": str(_cap_csv(tmp_path, seed)),
        }
        t8 = raw["cells"]["kinds"]["t8"]
        t8.update(speed=1.0, chemotaxis={"field": "chemokine", "bias": 0.9})
        if not release:
            t8["state_exchange"] = {}
        sim = simulation(raw)
        sim.run()
        pop = sim.population.to_host()
        x = pop["position"][:, 0]
        live = (pop["kind"] == 0) & (pop["state"] == LIVE)
        engaged = (pop["kind"] == 1) & (pop["state"] == ENGAGED)
        g = sim.backend.asnumpy(
            sample_voxel(
                sim.grid, sim.fields["ifng"], sim.fields.grid.backend.asarray(pop["position"])
            )
        )
        results[release] = {
            "engaged": int(engaged.sum()),
            "ifng_engaged": g[engaged].mean(),
            "ifng_far": g[live & (x < -30)].mean(),
            "pdl1_near": pop["pdl1"][live & (x > 30)].mean(),
            "pdl1_far": pop["pdl1"][live & (x < -30)].mean(),
            "pdl1": pop["pdl1"][live],
        }
    on, off = results[True], results[False]
    print({k: v for k, v in on.items() if k != "pdl1"})
    basal = 0.1
    assert on["engaged"] >= 10
    assert on["ifng_engaged"] > 3 * on["ifng_far"]
    assert on["pdl1_near"] - basal > 1.2 * (on["pdl1_far"] - basal)
    assert on["pdl1_near"] > basal + 0.05
    np.testing.assert_allclose(off["pdl1"], basal, rtol=0, atol=1e-12)


PD1_HALF, PD1_HILL, KILL = 0.707, 2.0, 0.0667


def test_kill_rate_per_attached_t_cell_falls_with_target_pdl1():
    """PD-L1 held fixed on every tumour cell (no IFN-γ response), antigen fixed (s = 2/3),
    no exhaustion: the realised kill rate per attached T cell, kills / time attached,
    matches ``k s / (1 + (L/K)²)`` per mechanics step within 4 Poisson standard errors, and
    falls as PD-L1 rises."""
    dt = 0.5
    s = (1.5 - 0.5) / 1.5
    rates = []
    for level in (0.0, 0.5, 1.0, 2.0):
        raw = scenario(4, t_cells=120, run={"stop": 180.0})
        tum = raw["cells"]["kinds"]["tumour"]["params"]
        tum.update(ifng_field=None, pdl1_basal=level, antigen_mean=1.5, antigen_sd=0.0)
        tum.update(birth_rate=0.0, apoptosis_rate=0.0)
        raw["cells"]["kinds"]["t8"]["params"].update(
            exhaustion_per_kill=0.0, exhaustion_time=1e12, attach_rate=1.0
        )
        sim = simulation(raw)
        sim.run()
        kills = float(sim.cells.counters["t8_kills"])
        attached = float(sim.cells.counters["t8_engaged_time"])
        rate = kills / attached
        expected = -math.expm1(-KILL * s / (1 + (level / PD1_HALF) ** PD1_HILL) * dt) / dt
        print(
            f"PD-L1 {level}: {kills:.0f} kills in {attached:.0f} T-cell·min attached: "
            f"{rate:.4f} /min, expected {expected:.4f} /min"
        )
        assert kills > 30
        assert abs(rate - expected) < 4 * math.sqrt(kills) / attached
        rates.append(rate)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))


def _kills_per_t_cell_hour(seed, dt_mechanics=0.5, dt_phenotype=6.0):
    raw = scenario(
        seed,
        run={"stop": 180.0},
        clock={"dt_diffusion": 0.25, "dt_mechanics": dt_mechanics, "dt_phenotype": dt_phenotype},
    )
    raw["cells"]["kinds"]["t8"]["params"]["lifespan"] = 1e9  # a fixed number of T cells
    sim = simulation(raw)
    n_t = int(np.sum(sim.population.to_host()["kind"] == 1))
    sim.run()
    return float(sim.cells.counters["t8_kills"]) / (n_t * sim.time / 60.0)


def test_kills_per_t_cell_hour_do_not_depend_on_the_steps():
    """Halving the mechanics step, and separately the phenotype step, changes the mean kills
    per T cell per hour (4 seeds each) by less than 3 combined standard errors."""
    seeds = (11, 12, 13, 14)
    runs = {
        "base": [_kills_per_t_cell_hour(s) for s in seeds],
        "mechanics/2": [_kills_per_t_cell_hour(s, dt_mechanics=0.25) for s in seeds],
        "phenotype/2": [_kills_per_t_cell_hour(s, dt_phenotype=3.0) for s in seeds],
    }
    mean = {k: np.mean(v) for k, v in runs.items()}
    se = {k: np.std(v, ddof=1) / np.sqrt(len(v)) for k, v in runs.items()}
    print({k: (round(mean[k], 3), round(se[k], 3)) for k in runs})
    for k in ("mechanics/2", "phenotype/2"):
        diff = abs(mean[k] - mean["base"])
        assert diff < 3 * math.hypot(se[k], se["base"]), (k, mean, se)
        assert diff < 0.2 * mean["base"]


def test_one_sort_per_grid_and_mechanics_step():
    """Contact search and pair forces share the sort of the mechanics bins; the deposits
    share the sort over the voxels: each is built once per mechanics step."""
    sim = simulation(scenario(1, run={"stop": 30.0}))
    sim.run()
    layer = sim.cells
    steps = sim.step_index // sim.clock.mechanics_every
    by_grid = layer.neighbours.builds_by_grid
    assert by_grid[layer.mechanics.bins] == steps
    voxels = [g for g in by_grid if g != layer.mechanics.bins]
    assert len(voxels) == 1 and by_grid[voxels[0]] <= steps + 1
