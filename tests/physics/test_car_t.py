"""CAR-T cells and infusions of cells: target-positive tumour cells are cleared while
target-negative ones escape, no escape with a homogeneous target, recognition independent
of MHC-I and of the peptide antigen, expansion on engagement, loss of the target at
division, infusions at the right time and place, bad schedules, and exact restart between
two infusions (small grids, NumPy)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.cli import cli
from spatialtumor.scenario import load_scenario, scenario_from_dict
from tests._refusal import assert_refused
from tests._restart import assert_same_run, interrupted

ROOT = Path(__file__).resolve().parents[2]
CAR_T = str(ROOT / "scenarios" / "car_t.toml")

#: a tumour of ≈ 270 cells (radius 60 µm) in uniform oxygen (no uptake, so the diffusion
#: step can be long: these tests are about the CAR-T cells); CAR-T cells infused at the
#: boundary of a 320 µm box at 30 min climb the tumour's chemokine
BASE = {
    "run": {"stop": 300.0, "seed": 1},
    "clock": {"dt_diffusion": 0.5, "dt_mechanics": 0.5, "dt_phenotype": 6.0},
    "grid": {"nx": 16, "ny": 16, "nz": 16, "spacing": 20.0},
    "fields": {
        "oxygen": {"preset": "oxygen", "initial": 38.0, "boundary": 38.0},
        "chemokine": {"preset": "chemokine", "boundary": 0.0},
    },
    "cells": {
        "kinds": {
            "tumour": {
                "model": "tumour",
                "exchange": {"chemokine": {"release": 500.0}},
                "params": {},
            },
            "cart": {
                "model": "car_t",
                "chemotaxis": {"field": "chemokine", "bias": 0.5},
                "params": {"targets": ["tumour"]},
            },
        },
        "initial": [{"kind": "tumour", "shape": "sphere", "radius": 60.0}],
    },
    "therapy": {"infusions": [{"kind": "cart", "cells": 120, "at": 30.0, "site": "boundary"}]},
    "output": {"every": 60.0, "checkpoint_every": 0},
}


def _scenario(seed=1, stop=300.0, tumour=None, infusions=None, output=None):
    raw = copy.deepcopy(BASE)
    raw["run"].update(seed=seed, stop=stop)
    raw["cells"]["kinds"]["tumour"]["params"].update(tumour or {})
    if infusions is not None:
        raw["therapy"]["infusions"] = infusions
    raw["output"].update(output or {})
    return scenario_from_dict(raw, "car-t-test")


def _tumour_counts(sim):
    """(live tumour cells, of them target-positive)."""
    pop = sim.population.to_host()
    live = (pop["kind"] == sim.cells.by_name["tumour"].index) & (pop["state"] == 0)
    return int(live.sum()), int((live & (pop["car_target"] > 0)).sum())


@functools.cache
def _treated(seed: int, fraction: float, stop: float = 300.0):
    """Live and target-positive tumour cells at 0 min and at the end, the CAR-T cells at the
    end and the counters, of one run."""
    sim = build_simulation(
        _scenario(seed, stop, {"car_target_positive_fraction": fraction}), make_backend("numpy")
    )
    start = _tumour_counts(sim)
    sim.run()
    pop = sim.population.to_host()
    car = int(np.sum(pop["kind"] == sim.cells.by_name["cart"].index))
    counters = {k: float(v) for k, v in sim.cells.counters.items()}
    return start, _tumour_counts(sim), car, counters


@pytest.mark.parametrize("seed", [1, 2])
def test_target_positive_cells_are_cleared_and_negative_ones_escape(seed):
    """70 % target-positive at seeding; 120 CAR-T cells from the boundary at 30 min: after
    5 h the positive share of live tumour cells is below 0.2, and the target-negative cells
    are all still there (none is recognised: ≥ 95 % of the initial number, they divide
    and die only at the tumour's own rates, 1.6 % apoptosis in 5 h)."""
    (n0, pos0), (n1, pos1), _car, counters = _treated(seed, 0.7)
    kills = counters["cart_kills"]
    print(f"seed {seed}: live {n0} → {n1}, positive {pos0} → {pos1}, kills {kills}")
    assert abs(pos0 / n0 - 0.7) < 0.1  # binomial: s.d. 0.03 for 270 cells
    assert pos1 / n1 < 0.2
    assert n1 - pos1 >= 0.95 * (n0 - pos0)
    assert counters["cart_kills"] >= 0.8 * pos0


@pytest.mark.parametrize("seed", [1, 2])
def test_car_t_cells_expand_on_engagement_and_not_without_their_target(seed):
    """The same runs: CAR-T cells divided (counter > 0) and outnumber those infused; with
    no target-positive cell (fraction 0) they never engage, so they neither kill nor
    divide in 2 h."""
    *_, car, counters = _treated(seed, 0.7)
    print(f"seed {seed}: CAR-T {car} of 120 infused, divisions {counters['cart_divisions']}")
    assert counters["cart_infused"] == 120
    assert counters["cart_divisions"] > 0 and car > 120
    *_, car0, counters0 = _treated(seed, 0.0, 120.0)
    assert counters0["cart_kills"] == 0 and counters0["cart_divisions"] == 0
    assert counters0["cart_engaged_time"] == 0 and car0 <= 120


def _memory_run(fraction: float, stop: float):
    raw_params = {"memory_rate": 1.0 / 60.0}
    scn = _scenario(1, stop, {"car_target_positive_fraction": fraction})
    raw = scn.resolved()
    raw["cells"]["kinds"]["cart"]["params"].update(raw_params)
    sim = build_simulation(scenario_from_dict(raw, "memory"), make_backend("numpy"))
    sim.run()
    pop = sim.population.to_host()
    car = pop["kind"] == sim.cells.by_name["cart"].index
    memory = sim.cells.by_name["cart"].state_code("memory")
    share = float(np.sum(car & (pop["state"] == memory)) / np.sum(car))
    return share, {k: float(v) for k, v in sim.cells.counters.items()}


def test_unstimulated_cells_become_memory_and_return_on_their_target():
    """k_mem = 1/h. Without target-positive cells (σ = 0) the cells infused at 30 min are
    memory after 90 more minutes with probability 1 − e^{−1.5} = 0.78 (0.65–0.9 for 120
    cells, s.d. 0.04). With every tumour cell positive, memory cells touching one return
    to the hunt (reactivation counter > 0) and the tumour is still attacked."""
    share, _ = _memory_run(0.0, 120.0)
    print(f"memory share without targets at 2 h: {share:.3f}")
    assert 0.65 < share < 0.9
    _, counters = _memory_run(1.0, 180.0)
    print(
        f"with targets: memory formed {counters['cart_memory_formed']}, "
        f"reactivated {counters['cart_reactivated']}, kills {counters['cart_kills']}"
    )
    assert counters["cart_memory_formed"] > 0 and counters["cart_reactivated"] > 0
    assert counters["cart_kills"] > 50


def test_homogeneous_target_leaves_no_escapees_and_lowers_the_burden():
    """Every cell positive and no loss: no target-negative live cell at the end, and the
    treated tumour has less than half the live cells of the untreated one (seed 1, 5 h)."""
    (n0, _), (n1, pos1), _car, _counters = _treated(1, 1.0)
    untreated = build_simulation(_scenario(1, infusions=[]), make_backend("numpy"))
    untreated.run()
    m1, _ = _tumour_counts(untreated)
    print(f"live tumour cells at 5 h: treated {n1}, untreated {m1} (from {n0})")
    assert pos1 == n1
    assert n1 < 0.5 * m1


def test_recognition_does_not_read_mhc_or_the_peptide_antigen():
    """Tumour cells without MHC-I and antigen are killed exactly as those with them: the
    runs (2.5 h) are bit-identical but for those two columns, with kills > 20."""
    runs = []
    for tum in ({}, {"mhc_initial": 0.0, "antigen_mean": 0.0, "antigen_sd": 0.0}):
        sim = build_simulation(_scenario(1, 150.0, tum), make_backend("numpy"))
        sim.run()
        runs.append((sim.population.to_host(), float(sim.cells.counters["cart_kills"])))
    (a, kills_a), (b, kills_b) = runs
    assert kills_a == kills_b and kills_a > 20
    assert np.all(b["mhc"] == 0) and np.all(b["antigen"] == 0)
    for k in a:
        if k not in ("mhc", "antigen"):
            assert a[k].tobytes() == b[k].tobytes(), k


def test_daughters_lose_the_target_at_division():
    """Loss probability 0.3, no CAR-T cells, every cell positive at seeding: of the cells
    made by divisions in 5 h (mother and daughter both start again at age 0), the
    daughter loses the target with probability 0.3, so about 15 % are negative (0.07–0.25
    for ≈ 120 cells; s.d. 0.03); none of the cells that never divided is."""
    sim = build_simulation(
        _scenario(1, tumour={"car_target_loss_probability": 0.3}, infusions=[]),
        make_backend("numpy"),
    )
    sim.run()
    pop = sim.population.to_host()
    live = (pop["kind"] == sim.cells.by_name["tumour"].index) & (pop["state"] == 0)
    born = live & (pop["age"] < 300.0 - 1e-6)
    negative = pop["car_target"] == 0
    share = float((born & negative).sum() / born.sum())
    print(f"{born.sum()} cells made by divisions, negative share {share:.3f}")
    assert born.sum() > 60
    assert 0.07 < share < 0.25
    assert not np.any(live & ~born & negative)


def test_infusions_arrive_at_their_time_and_place():
    """Infusions into an empty tissue of immobile cells, each recognised by its age at the
    end (60 min): 7 cells into the vessel voxels at 0 min (delivered by the first phenotype
    step, at 6 min), 11 into a ball at 10 min (delivered at 12 min, the step whose interval
    (6, 12] holds 10), 13 at the x_min face at 24 min (delivered at 24 min), and 5 into a
    second ball at 36 and 54 min."""
    raw = {
        "run": {"stop": 60.0, "seed": 4},
        "clock": {"dt_diffusion": 1.0, "dt_mechanics": 2.0, "dt_phenotype": 6.0},
        "grid": {"nx": 8, "ny": 8, "nz": 8, "spacing": 20.0},
        "fields": {"oxygen": {"preset": "oxygen", "initial": 38.0}},
        "vessels": [{"shape": "box", "lower": [-20.0, -20.0, -20.0], "upper": [20.0, 0.0, 0.0]}],
        "cells": {
            "kinds": {
                "tumour": {"model": "tumour"},
                "cart": {
                    "model": "car_t",
                    "speed": 0.0,
                    "repulsion": 0.0,
                    "params": {"lifespan": 1e9, "memory_lifespan": 1e9},
                },
            },
        },
        "therapy": {
            "infusions": [
                {"kind": "cart", "cells": 7, "at": 0.0, "site": "vessels"},
                {"kind": "cart", "cells": 11, "at": 10.0, "site": "point"}
                | {"centre": [20.0, -10.0, 5.0], "radius": 25.0},
                {"kind": "cart", "cells": 13, "at": 24.0, "site": "x_min"},
                {"kind": "cart", "cells": 5, "at": 36.0, "every": 18.0, "count": 2}
                | {"site": "point", "centre": [-30.0, 30.0, 30.0], "radius": 10.0},
            ]
        },
        "output": {"every": 60.0, "checkpoint_every": 0},
    }
    sim = build_simulation(scenario_from_dict(raw, "infusions"), make_backend("numpy", "float64"))
    sim.run()
    pop = sim.population.to_host()
    entered = np.round(60.0 - pop["age"])
    times, counts = np.unique(entered, return_counts=True)
    assert dict(zip(times.tolist(), counts.tolist(), strict=True)) == {
        6.0: 7,
        12.0: 11,
        24.0: 13,
        36.0: 5,
        54.0: 5,
    }
    x = pop["position"]
    grid = sim.grid
    ijk = np.floor((x - np.asarray(grid.origin)) / np.asarray(grid.spacing)).astype(int)
    vessels = sim.cells.vessels
    at = entered == 6.0
    assert np.all(vessels[ijk[at, 2], ijk[at, 1], ijk[at, 0]])
    at = entered == 12.0
    assert np.all(np.linalg.norm(x[at] - [20.0, -10.0, 5.0], axis=1) < 25.0)
    at = entered == 24.0
    assert np.all(ijk[at, 0] == 0)
    at = (entered == 36.0) | (entered == 54.0)
    assert np.all(np.linalg.norm(x[at] - [-30.0, 30.0, 30.0], axis=1) < 10.0)
    assert float(sim.cells.counters["cart_infused"]) == 41
    # cells of one ball are spread over it, not stacked: their mean distance from the
    # centre is ≈ 3R/4 for a uniform ball (18.75 µm for 25 µm; 11 cells, s.d. ≈ 1.5 µm)
    at = entered == 12.0
    assert 14.0 < np.linalg.norm(x[at] - [20.0, -10.0, 5.0], axis=1).mean() < 23.0


@pytest.mark.parametrize(
    "setting, key, words",
    [
        ("therapy.infusions.0.kind=car", "therapy.infusions.0.kind", "unknown kind"),
        ("therapy.infusions.0.cells=0", "therapy.infusions.0.cells", "positive number"),
        ("therapy.infusions.0.at=-5", "therapy.infusions.0.at", "in the past"),
        ("therapy.infusions.0.at=1e6", "therapy.infusions.0.at", "after the run stops"),
        ("therapy.infusions.0.centre=[0,0,230]", "therapy.infusions.0.centre", "outside"),
        ("therapy.infusions.0.centre=[0,0,-1e4]", "therapy.infusions.0.centre", "outside"),
        ("therapy.infusions.0.site=moon", "therapy.infusions.0.site", "unknown site"),
        ("therapy.infusions.0.count=3", "therapy.infusions.0", "interval"),
        (
            'therapy.infusions=[{kind="cart", cells=5, at=0, site="vessels"}]',
            "therapy.infusions.0.site",
            "names vessels but the scenario has none",
        ),
        (
            'therapy.infusions=[{kind="cart", cells=5, at=0, site="point", radius=5}]',
            "therapy.infusions.0.centre",
            "needs the centre",
        ),
        (
            'therapy.infusions=[{kind="cart", cells=5, at=0, site="point", centre=[0,0,0]}]',
            "therapy.infusions.0.radius",
            "needs the radius",
        ),
        (
            'therapy.infusions=[{kind="cart", cells=5, at=0, site="x_min", radius=5}]',
            "therapy.infusions.0",
            'only with site = "point"',
        ),
        (
            'therapy.infusions=[{kind="cart", cells=5, at=60}, '
            '{kind="cart", cells=5, at=0, every=30, count=3, site="x_min"}]',
            "therapy.infusions.1",
            "one infusion written twice",
        ),
        (
            'therapy.infusions=[{kind="cart", cells=5, at=60, site="point", centre=[0,0,0], '
            'radius=10}, {kind="cart", cells=5, at=60, site="point", centre=[0,0,15], '
            "radius=10}]",
            "therapy.infusions.1",
            "one infusion written twice",
        ),
        ('cells.kinds.cart.params.targets=["cart"]', "params.targets.0", "car_target"),
    ],
)
def test_bad_infusions_give_one_line_and_exit_2(setting, key, words):
    assert_refused(CAR_T, setting, key=key, words=words)


def test_infusions_at_separate_places_or_times_are_accepted():
    """Two infusions at one time into separate balls, or into one place at different
    times, are two infusions."""
    for infusions in (
        '[{kind="cart", cells=5, at=60, site="point", centre=[0,0,0], radius=10}, '
        '{kind="cart", cells=5, at=60, site="point", centre=[0,0,25], radius=10}]',
        '[{kind="cart", cells=5, at=60}, {kind="cart", cells=5, at=90, site="x_min"}]',
    ):
        r = CliRunner().invoke(
            cli, ["validate", CAR_T, "--set", f"therapy.infusions={infusions}", "--quiet"]
        )
        assert r.exit_code == 0, r.output


def test_restart_between_two_infusions_is_exact(tmp_path):
    """Infusions at 30 and 90 min; a checkpoint at 60 min; resumed to 120 min: the same
    cells, fields, counters and time series as the uninterrupted run."""
    infusions = [{"kind": "cart", "cells": 40, "at": 30.0, "every": 60.0, "count": 2}]
    output = {"every": 30.0, "checkpoint_every": 60.0}
    scn = _scenario(3, 120.0, {"car_target_positive_fraction": 0.7}, infusions, output)
    full, half, sim = interrupted(scn, tmp_path, 60.0)
    assert float(half.cells.counters["cart_infused"]) == 40
    assert float(sim.cells.counters["cart_infused"]) == 80
    assert float(full.cells.counters["cart_kills"]) > 0
    for name, value in full.cells.counters.items():
        assert float(sim.cells.counters[name]) == float(value), name
    assert_same_run(full, sim, tmp_path)


def test_scenario_lists_the_infusion_in_its_schedule():
    from spatialtumor.doses import schedule_rows

    scn = load_scenario(CAR_T)
    rows = schedule_rows(scn.resolved())
    assert rows == [(720.0, "CAR-T infusion", 400.0)]
