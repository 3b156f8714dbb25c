"""Therapy on schedules: dosing, antibody pharmacokinetics against their analytic solutions,
the tissue antibody against a 1D diffusion–decay profile, receptor occupancy, anti-PD-1
against untreated tumours (ensembles of seeds; NumPy), bad schedules and exact restart."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.cells.occupancy import OccupancyParams, occupancy_step
from spatialtumor.checkpoint import latest_checkpoint, resume_simulation
from spatialtumor.scenario import ScenarioError, load_scenario, scenario_from_dict
from tests._refusal import assert_refused
from tests._restart import assert_same_run, interrupted

ROOT = Path(__file__).resolve().parents[2]
ANTI_PD1 = str(ROOT / "scenarios" / "anti_pd1.toml")
DAY = 1440.0


def _pk_scenario(params: dict, doses: list[dict], stop: float, dt_phenotype: float = 60.0):
    return scenario_from_dict(
        {
            "run": {"stop": stop},
            "clock": {"dt_diffusion": 60.0, "dt_mechanics": 60.0, "dt_phenotype": dt_phenotype},
            "grid": {"nx": 2, "ny": 2, "nz": 2},
            "fields": {"antibody": {"preset": "antibody"}},
            "compartments": {"plasma": {"model": "antibody_pk", "params": params}},
            "therapy": {"doses": doses},
            "output": {"every": stop},
        },
        "pk.toml",
    )


def _infusion_amounts(k: np.ndarray, doses: list[tuple[float, float]], h: float, t: float):
    """Exact A(t) of ``dA/dt = K A + J`` with each dose D entering the central state at a
    constant rate over [t₀, t₀ + h]: ``A = Σ V diag((e^{λ(t−a)} − e^{λ(t−b)})/λ) V⁻¹ e₁ D/h``."""
    lam, vec = np.linalg.eig(k)
    inv = np.linalg.inv(vec)
    total = np.zeros(2)
    for t0, dose in doses:
        a, b = t0, min(t, t0 + h)
        if t <= a:
            continue
        w = (np.exp(lam * (t - a)) - np.exp(lam * (t - b))) / lam
        total += np.real(vec @ np.diag(w) @ inv @ np.array([dose / h, 0.0]))
    return total


def test_plasma_follows_the_two_compartment_solution():
    """Pembrolizumab defaults, 200 mg every 3 weeks ×2: TR-BDF2 against the exact solution
    at every phenotype step over 6 weeks (relative error < 1e-5)."""
    from spatialtumor.biology.pharmacokinetics import AntibodyPK, AntibodyPKParams

    every = 21 * DAY
    doses = [{"into": "plasma", "amount": 200.0, "at": 0.0, "every": every, "count": 2}]
    scn = _pk_scenario({}, doses, stop=42 * DAY, dt_phenotype=360.0)
    sim = build_simulation(scn, make_backend("numpy"))
    k = AntibodyPK.matrix(AntibodyPKParams())
    worst = 0.0
    while sim.step_index < sim.stop_step:
        sim.step()
        if sim.step_index % sim.clock.phenotype_every == 0:
            exact = _infusion_amounts(k, [(0.0, 200.0), (every, 200.0)], 360.0, sim.time)
            got = sim.compartments["plasma"].y
            worst = max(worst, float(np.max(np.abs(got - exact) / np.max(np.abs(exact)))))
    assert worst < 1e-5
    assert list(sim.dosing.given) == [2]
    # the terminal half-life of the defaults is that of pembrolizumab (≈ 3–4 weeks)
    lam = np.linalg.eigvals(k)
    assert 20 * DAY < math.log(2) / float(np.min(np.abs(lam))) < 30 * DAY


def test_one_compartment_halves_every_half_life():
    """Q = 0: the plasma concentration halves every t½ = V ln 2 / CL (relative 1e-6; TR-BDF2
    is second order: 60-min substeps err by 6e-6 per half-life of 2 days, 10-min ones by
    1/36 of that)."""
    half_life = 2 * DAY
    clearance = 3480.0 * math.log(2) / half_life
    params = {"clearance": clearance, "intercompartmental_clearance": 0.0, "max_substep": 10.0}
    doses = [{"into": "plasma", "amount": 100.0, "at": 0.0}]
    scn = _pk_scenario(params, doses, stop=7 * DAY)
    sim = build_simulation(scn, make_backend("numpy"))
    seen = {}
    while sim.step_index < sim.stop_step:
        sim.step()
        seen[round(sim.time)] = sim.compartments["plasma"].output("concentration")
    c1 = seen[round(DAY)]
    for n in (1, 2):
        assert seen[round(DAY + n * half_life)] / c1 == pytest.approx(0.5**n, rel=1e-6)
    # 100 mg in 3.48 L of a 146 kDa antibody, less what cleared during the first hour
    c0 = 100.0 / 3480.0 * 1e3 * 1e6 / 146_000.0
    assert seen[60] == pytest.approx(
        c0 * (1 - math.exp(-math.log(2) / half_life * 60)) / (math.log(2) / half_life * 60),
        rel=1e-6,
    )


def test_tissue_antibody_follows_diffusion_decay_from_the_vessels():
    """Vessels in the first x-layer exchange with plasma; the steady tissue profile is the
    1D diffusion–decay solution ``cosh((ℓ − x)/L)/cosh(ℓ/L)``, ``L = √(D/λ)``, with a
    closed wall at distance ℓ (within 2 % of the vessel value), and the vessel voxel takes
    in from plasma what it loses, ``k/(1 + k dt) (f C₁ − c₀) = D (c₀ − c₁)/h² + λ c₀``
    (within 2 %; ``k/(1 + k dt)`` is the rate of the implicit exchange step)."""
    nx, h = 40, 10.0
    d, lam = 600.0, 0.06
    scn = scenario_from_dict(
        {
            "run": {"stop": 300.0},
            "clock": {"dt_diffusion": 0.05, "dt_mechanics": 0.5, "dt_phenotype": 1.0},
            "grid": {"nx": nx, "ny": 2, "nz": 2, "spacing": h, "origin": [0.0, 0.0, 0.0]},
            "fields": {"antibody": {"diffusivity": d, "decay": lam, "units": "nM"}},
            "vessels": [{"shape": "box", "lower": [0.0, 0.0, 0.0], "upper": [h, 2 * h, 2 * h]}],
            "compartments": {
                "plasma": {
                    "model": "antibody_pk",
                    "params": {
                        "clearance": 0.0,
                        "intercompartmental_clearance": 0.0,
                        "initial_central": 100.0,
                        "field": "antibody",
                        "tissue_fraction": 0.3,
                        "permeability_surface": 0.05,  # k = 0.05 · 40 = 2 /min
                    },
                }
            },
            "output": {"every": 300.0},
        },
        "tissue.toml",
    )
    sim = build_simulation(scn, make_backend("numpy"))
    sim.run()
    c = sim.fields["antibody"][0, 0, :]
    x = (np.arange(nx) + 0.5) * h - 0.5 * h  # distance from the vessel voxel's centre
    ell = nx * h - 0.5 * h
    length = math.sqrt(d / lam)
    profile = np.cosh((ell - x) / length) / math.cosh(ell / length)
    assert np.max(np.abs(c / c[0] - profile)) < 0.02
    plasma = sim.compartments["plasma"].output("concentration")
    k = 0.05 * nx
    assert k / (1 + k * 0.05) * (0.3 * plasma - c[0]) == pytest.approx(
        d * (c[0] - c[1]) / h**2 + lam * c[0], rel=0.02
    )


def test_occupancy_is_exact_and_reaches_the_langmuir_isotherm():
    p = OccupancyParams(field="x")
    c = np.array([0.0, 1.0, 3.0, 30.0])
    theta0 = np.array([0.5, 0.0, 0.2, 0.9])
    one = occupancy_step(np, theta0, c, p, 10.0)
    two = occupancy_step(np, occupancy_step(np, theta0, c, p, 5.0), c, p, 5.0)
    np.testing.assert_allclose(one, two, rtol=1e-12, atol=1e-15)  # independent of the step
    eq = occupancy_step(np, theta0, c, p, 1e6)
    kd = p.off_rate / p.on_rate
    np.testing.assert_allclose(eq, c / (c + kd), rtol=1e-12)


# anti-PD-1 against untreated tumours (ensemble) -------------------------------------------
SMALL = [
    "run.stop=180",
    "clock.dt_diffusion=0.1",
    "grid.nx=12",
    "grid.ny=12",
    "grid.nz=12",
    "cells.initial.0.radius=60",
    "cells.initial.1.inner_radius=72",
    "cells.initial.1.outer_radius=110",
    "cells.initial.1.count=60",
    "output.every=360",
    "output.checkpoint_every=0",
]
PDL1_NEGATIVE = [
    "cells.kinds.tumour.params.pdl1_basal=0",
    "cells.kinds.tumour.params.pdl1_induced=0",
]


def _outcome(seed: int, extra: list[str]):
    scn = load_scenario(ANTI_PD1, SMALL + extra)
    sim = build_simulation(scn, make_backend("numpy"), seed=seed)
    sim.run()
    pop = sim.population.to_host()
    tumour = sim.cells.by_name["tumour"].index
    live = int(np.sum((pop["kind"] == tumour) & (pop["state"] == 0)))
    kills = float(sim.cells.counters["t8_kills"])
    return live, kills


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_anti_pd1_lowers_burden_of_a_pdl1_high_tumour_and_not_of_a_negative_one(seed):
    """PD-L1-high: the treated tumour ends with fewer live cells and more kills than the
    untreated one, seed by seed (the brake of 3× at full PD-L1 is lifted by ≈75–95 %
    occupancy). PD-L1-negative: no brake to lift, so the treated run is the untreated one."""
    treated = _outcome(seed, [])
    untreated = _outcome(seed, ["therapy.doses=[]"])
    assert treated[1] > 1.15 * untreated[1]
    assert treated[0] < untreated[0]
    # an hour is enough to see a difference if there were one: the runs are bit-identical
    neg = PDL1_NEGATIVE + ["run.stop=60"]
    neg_treated = _outcome(seed, neg)
    neg_untreated = _outcome(seed, neg + ["therapy.doses=[]"])
    assert neg_treated == neg_untreated


# schedules: bad input and exact restart ----------------------------------------------------
@pytest.mark.parametrize(
    "setting, key, words",
    [
        ("therapy.doses.0.at=-60", "therapy.doses.0.at", "in the past"),
        ("therapy.doses.0.amount=-5", "therapy.doses.0.amount", "positive"),
        ("therapy.doses.0.into=blood", "therapy.doses.0.into", "unknown compartment"),
        ("therapy.doses.0.state=brain", "therapy.doses.0.state", "no state"),
        ("therapy.doses.0.count=3", "therapy.doses.0", "interval"),
        ("therapy.doses.0.at=1e6", "therapy.doses.0.at", "after the run stops"),
        ("therapy.doses.0.drug=x", "therapy.doses.0.drug", "unknown key"),
        ("cells.kinds.t8.params.pd1_blockade.field=nivo", "pd1_blockade.field", "unknown field"),
        ("compartments.plasma.params.field=nivo", "compartments.plasma.params.field", "unknown"),
    ],
)
def test_bad_schedules_give_one_line_and_exit_2(setting, key, words):
    assert_refused(ANTI_PD1, setting, key=key, words=words)


def test_restart_in_the_middle_of_a_schedule_is_exact(tmp_path):
    """Doses at 0, 40, 80 min; a checkpoint at 60 min; resumed to 120 min = uninterrupted."""
    base = SMALL[:-2] + [
        "run.stop=120",
        "therapy.doses.0.every=40",
        "therapy.doses.0.count=3",
        "output.every=30",
        "output.checkpoint_every=60",
    ]
    full, half, sim = interrupted(load_scenario(ANTI_PD1, base), tmp_path, 60.0)
    assert list(half.dosing.given) == [2]
    assert list(sim.dosing.given) == [3]
    assert_same_run(full, sim, tmp_path)


# anti-CTLA-4 --------------------------------------------------------------------------------
ANTI_CTLA4 = str(ROOT / "scenarios" / "anti_ctla4.toml")
CTLA4_SMALL = [
    "run.stop=240",
    "clock.dt_diffusion=0.1",
    "grid.nx=14",
    "grid.ny=14",
    "grid.nz=14",
    "cells.initial.0.radius=60",
    *(f"cells.initial.{i}.inner_radius=70" for i in (1, 2)),
    *(f"cells.initial.{i}.outer_radius=120" for i in (1, 2)),
    "cells.initial.1.count=30",
    "cells.initial.2.count=100",
    "output.every=360",
    "output.checkpoint_every=0",
]


def _ctla4_outcome(seed, extra):
    sim = build_simulation(
        load_scenario(ANTI_CTLA4, CTLA4_SMALL + extra), make_backend("numpy"), seed=seed
    )
    sim.run()
    pop = sim.population.to_host()
    treg = sim.cells.by_name["treg"].index
    return int(np.sum(pop["kind"] == treg)), sim.compartments["ln"].value("primed")


@pytest.mark.parametrize("seed", [1, 2])
def test_anti_ctla4_depletes_regulatory_t_cells_and_raises_priming(seed):
    """Same seed, 4 h: fewer regulatory T cells (the drug adds a death rate to the same
    draws, ≥ 5 % fewer) and more primed T cells in the lymph node than untreated."""
    treated = _ctla4_outcome(seed, [])
    untreated = _ctla4_outcome(seed, ["therapy.doses=[]"])
    print(f"seed {seed}: regulatory T cells, primed (treated, untreated): {treated}, {untreated}")
    assert treated[0] < 0.95 * untreated[0]
    assert treated[1] > untreated[1]


def test_anti_pdl1_binds_pdl1_on_tumour_cells():
    """The same antibody field aimed at PD-L1 (``pdl1_blockade`` of the tumour kind): after
    an hour every live tumour cell's bound fraction lies in [0, 1) and their mean is above
    0.5 (the tissue holds tens of nM against K_D = 3 nM)."""
    scn = load_scenario(
        ANTI_PD1,
        SMALL + ["run.stop=60", 'cells.kinds.tumour.params.pdl1_blockade.field="anti_pd1"'],
    )
    sim = build_simulation(scn, make_backend("numpy"), seed=1)
    sim.run()
    pop = sim.population.to_host()
    live = (pop["kind"] == sim.cells.by_name["tumour"].index) & (pop["state"] == 0)
    theta = pop["pdl1_blocked"][live]
    assert np.all((theta >= 0) & (theta < 1)) and theta.mean() > 0.5


# wall values set at a dose: no rebuild -------------------------------------------------------
@pytest.mark.parametrize("solver", ["lod", "explicit"])
def test_setting_a_wall_value_equals_building_with_it(solver):
    """``Transport.set_boundary`` after 10 steps at wall value 0 and a fresh transport built
    with wall 5 from the same state give bit-identical fields over 10 more steps; zero-flux
    faces stay zero-flux and the factorised line matrices are the same objects."""
    from spatialtumor.fields import Boundary, Fields, Species
    from spatialtumor.grid import Grid
    from spatialtumor.transport import Transport

    be = make_backend("numpy", "float64")
    grid = Grid(be, (6, 7, 8), (10.0, 10.0, 10.0))
    faces = (None, 0.0, 0.0, None, 0.0, 0.0)  # x_min and y_max zero-flux

    def make(wall):
        walls = tuple(None if v is None else wall for v in faces)
        sp = {"c": Species(200.0, 0.01, 1.0, boundary=Boundary(*walls), solver=solver)}
        return Fields(grid, sp)

    dt = 0.02
    a = make(0.0)
    ta = Transport(a, dt)
    lines = [id(x) for t in ta._lod for x in t[1:3]]
    for _ in range(10):
        ta.step()
    ta.set_boundary("c", 5.0)
    assert [id(x) for t in ta._lod for x in t[1:3]] == lines
    assert np.array_equal(ta.boundary_value("c"), [np.nan, 5, 5, np.nan, 5, 5], equal_nan=True)
    b = make(5.0)
    b.values[...] = a.values
    tb = Transport(b, dt)
    for _ in range(10):
        ta.step()
        tb.step()
    assert a.values.tobytes() == b.values.tobytes()


def test_plasma_fed_through_the_boundary_holds_the_walls_at_the_tissue_level(tmp_path):
    """``feed = "boundary"``: with a constant plasma level (no clearance) the field evolves
    exactly as with fixed walls at ``f C₁``; a checkpoint mid-run restarts bit-identically."""
    params = {"clearance": 0.0, "intercompartmental_clearance": 0.0, "initial_central": 50.0}
    params |= {"field": "antibody", "feed": "boundary"}
    base = {
        "run": {"stop": 240.0},
        "clock": {"dt_diffusion": 1.0, "dt_mechanics": 2.0, "dt_phenotype": 6.0},
        "grid": {"nx": 8, "ny": 8, "nz": 8, "spacing": 20.0},
        "fields": {"antibody": {"preset": "antibody", "boundary": 0.0}},
        "compartments": {"plasma": {"model": "antibody_pk", "params": params}},
        "output": {"every": 60.0, "checkpoint_every": 120.0},
    }
    fed = build_simulation(scenario_from_dict(base, "fed.toml"), make_backend("numpy"))
    level = 0.3 * fed.compartments["plasma"].output("concentration")
    fixed = {**base, "compartments": {}}
    fixed["fields"] = {"antibody": {"preset": "antibody", "boundary": level}}
    wall = build_simulation(scenario_from_dict(fixed, "fixed.toml"), make_backend("numpy"))
    fed.run()
    wall.run()
    assert level > 1.0 and fed.fields.values.tobytes() == wall.fields.values.tobytes()
    full = build_simulation(
        scenario_from_dict(base, "fed.toml"), make_backend("numpy"), run_dir=tmp_path / "full"
    )
    full.run()
    half = build_simulation(
        scenario_from_dict(base, "fed.toml"),
        make_backend("numpy"),
        run_dir=tmp_path / "half",
        stop=120.0,
    )
    half.run()
    sim, _, _ = resume_simulation(latest_checkpoint(tmp_path / "half"), stop=240.0, backend="numpy")
    sim.run()
    assert sim.fields.values.tobytes() == full.fields.values.tobytes()
    bad = {**base, "fields": {"antibody": {"preset": "antibody"}}}
    with pytest.raises(ScenarioError, match="params.feed: .*zero-flux"):
        scenario_from_dict(bad, "bad.toml")
