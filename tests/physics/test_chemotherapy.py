"""Chemotherapy: the small-molecule PK against its analytic solution, kills of cycling cells
at the set rate with hypoxic cells spared, immunogenic death raising the antigen released,
lymphodepletion at the set rate, bad input, and exact restart in the middle of a schedule
(ensembles of seeds; NumPy)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.cli import cli
from spatialtumor.exchange import sample_voxel
from spatialtumor.scenario import load_scenario, scenario_from_dict
from tests._refusal import assert_refused
from tests._restart import assert_same_run, interrupted

ROOT = Path(__file__).resolve().parents[2]
CHEMO = str(ROOT / "scenarios" / "chemo_immuno.toml")
DAY = 1440.0


# drug PK --------------------------------------------------------------------------------------
def _infusion_amounts(k: np.ndarray, doses: list[tuple[float, float]], h: float, t: float):
    """Exact A(t) of ``dA/dt = K A + J``, each dose D entering the central state at a constant
    rate over [t₀, t₀ + h]: ``A = Σ V diag((e^{λ(t−a)} − e^{λ(t−b)})/λ) V⁻¹ e₁ D/h``."""
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


def _drug_pk_error(params: dict) -> tuple[float, float, list[int]]:
    """Largest error of the amounts [mg] against the exact solution at every phenotype step,
    the peak plasma concentration [nM] and the doses given: 50 mg daily ×2, over 30 h."""
    from spatialtumor.biology.pharmacokinetics import DrugPK, DrugPKParams

    h = 6.0
    doses = [{"into": "plasma", "amount": 50.0, "at": 0.0, "every": DAY, "count": 2}]
    scn = scenario_from_dict(
        {
            "run": {"stop": DAY + 360.0},
            "clock": {"dt_diffusion": h, "dt_mechanics": h, "dt_phenotype": h},
            "grid": {"nx": 2, "ny": 2, "nz": 2},
            "fields": {"drug": {"preset": "doxorubicin"}},
            "compartments": {"plasma": {"model": "drug_pk", "params": params}},
            "therapy": {"doses": doses},
            "output": {"every": DAY + 360.0},
        },
        "drug_pk.toml",
    )
    sim = build_simulation(scn, make_backend("numpy"))
    k = DrugPK.matrix(DrugPKParams(**params))
    worst, peak = 0.0, 0.0
    while sim.step_index < sim.stop_step:
        sim.step()
        exact = _infusion_amounts(k, [(0.0, 50.0), (DAY, 50.0)], h, sim.time)
        worst = max(worst, float(np.max(np.abs(sim.compartments["plasma"].y - exact))))
        peak = max(peak, sim.compartments["plasma"].output("concentration"))
    return worst, peak, list(sim.dosing.given)


def test_drug_plasma_follows_the_two_compartment_solution():
    """Doxorubicin defaults, 50 mg daily ×2 as 6-min infusions: TR-BDF2 on 1-min substeps
    against the exact solution at every phenotype step over 30 h (error < 5e-4 of a dose;
    halving the substep divides it by ≈ 4, second order); the defaults' half-lives are
    doxorubicin's (distribution 5–10 min; terminal 20–48 h, the label's range) and the peak
    is micromolar (50 mg in V₁ = 17.7 L is 5.2 µM; the 6-min infusion is as long as the
    distribution half-life)."""
    from spatialtumor.biology.pharmacokinetics import DrugPK, DrugPKParams

    worst, peak, given = _drug_pk_error({})
    finer, _, _ = _drug_pk_error({"max_substep": 0.5})
    print(f"largest error {worst / 50:.2e} of a dose, {finer / 50:.2e} on half the substep; "
          f"peak plasma {peak:.0f} nM")  # fmt: skip
    assert worst < 5e-4 * 50.0
    assert 3.5 < worst / finer < 4.5
    assert given == [2]
    k = DrugPK.matrix(DrugPKParams())
    half = sorted(math.log(2) / abs(float(x)) for x in np.linalg.eigvals(k))
    assert 5.0 < half[0] < 10.0 and 20 * 60.0 < half[1] < 48 * 60.0
    assert 1000.0 < peak < 50.0 / 17.7 * 1e9 / 543.5


# kills of cycling cells ----------------------------------------------------------------------
HALF = 160.0  # µm: the 16³ grid of 20 µm spans [−160, 160]³


def _box_scenario(kinds, initial, kill, drug, stop, extra_fields=None, sources=()):
    fields = {"drug": {"diffusivity": 0.0, "initial": drug, "units": "nM"}}
    fields.update(extra_fields or {})
    return scenario_from_dict(
        {
            "run": {"stop": stop},
            "clock": {"dt_diffusion": 1.0, "dt_mechanics": 3.0, "dt_phenotype": 6.0},
            "grid": {"nx": 16, "ny": 16, "nz": 16, "spacing": 20.0},
            "fields": fields,
            "sources": list(sources),
            "cells": {"kinds": kinds, "initial": initial},
            "therapy": {"chemotherapy": [{"field": "drug", "label": "drug", "kill": kill}]},
            "output": {"every": stop},
        },
        "chemo_box.toml",
    )


def _tumour_halves(seed: int, stop: float):
    """Tumour cells that neither divide nor die by themselves, half in oxygen 21.5 mmHg
    (f(O₂) = 0.5) and half where a sink holds oxygen at 0 (f = 0); drug at EC₅₀."""
    scn = _box_scenario(
        kinds={
            "tumour": {
                "model": "tumour",
                "params": {"birth_rate": 0.0, "apoptosis_rate": 0.0, "necrosis_rate": 0.0},
            }
        },
        initial=[
            {
                "kind": "tumour",
                "shape": "box",
                "lower": [-150, -150, -150],
                "upper": [-30, 150, 150],
                "count": 300,
            },
            {
                "kind": "tumour",
                "shape": "box",
                "lower": [30, -150, -150],
                "upper": [150, 150, 150],
                "count": 300,
            },
        ],  # fmt: skip
        kill={"tumour": {"max_rate": 0.02, "half_effect": 500.0, "immunogenic": True}},
        drug=500.0,
        stop=stop,
        extra_fields={"oxygen": {"diffusivity": 0.0, "initial": 21.5, "units": "mmHg"}},
        sources=[
            {
                "field": "oxygen",
                "shape": "box",
                "lower": [-HALF, -HALF, -HALF],
                "upper": [0.0, HALF, HALF],
                "uptake": 10.0,
            }
        ],  # fmt: skip
    )
    sim = build_simulation(scn, make_backend("numpy"), seed=seed)
    sim.run()
    pop = sim.population.to_host()
    sensed = sample_voxel(sim.grid, sim.fields["oxygen"], sim.population["position"])
    killed = pop["state"] == sim.cells.by_name["tumour"].state_code("immunogenic")
    oxic = sensed > 20.0
    assert np.all(oxic | (sensed < 1e-6))  # every cell sits clearly in one half
    counter = float(sim.cells.counters["tumour_chemo_killed"])
    return (
        int(oxic.sum()),
        int(killed[oxic].sum()),
        int((~oxic).sum()),
        int(killed[~oxic].sum()),
        counter,
    )


def test_chemotherapy_kills_cycling_cells_and_spares_hypoxic_ones():
    """Drug at EC₅₀ (H = 1/2), k_max 0.02 /min: oxygenated cells (f = 1/2) die at
    k = 0.005 /min, so 1 − e^{−0.9} = 0.593 are killed in 180 min (within 4 binomial s.d.
    per seed and pooled; f = 1 would give 0.835); hypoxic cells (f = 0) are all spared.
    Every kill is immunogenic and counted."""
    stop = 180.0
    expected = 1.0 - math.exp(-0.02 * 0.5 * 0.5 * stop)
    n_all = k_all = 0
    for seed in (1, 2, 3):
        n, k, n_hyp, k_hyp, counter = _tumour_halves(seed, stop)
        print(f"seed {seed}: oxygenated {k}/{n} killed, hypoxic {k_hyp}/{n_hyp}")
        assert n > 250 and n_hyp > 250
        assert k_hyp == 0
        assert counter == k
        sd = math.sqrt(expected * (1 - expected) / n)
        assert abs(k / n - expected) < 4 * sd
        n_all, k_all = n_all + n, k_all + k
    sd = math.sqrt(expected * (1 - expected) / n_all)
    print(f"pooled {k_all / n_all:.4f} against {expected:.4f} ± {sd:.4f}")
    assert abs(k_all / n_all - expected) < 4 * sd


def test_lymphodepletion_removes_t_cells_at_the_set_rate():
    """CD8 T cells that neither divide nor die by themselves, drug 3 EC₅₀ (H = 3/4),
    k_max 0.004 /min, ``cycling_only = false``: the count falls as e^{−0.003 t}; after
    180 min 0.583 remain (within 4 binomial s.d. per seed and pooled)."""
    stop = 180.0
    expected = math.exp(-0.004 * 0.75 * stop)
    n_all = s_all = 0
    for seed in (1, 2):
        scn = _box_scenario(
            kinds={"t8": {"model": "cd8", "params": {"targets": [], "lifespan": 1e9}}},
            initial=[
                {
                    "kind": "t8",
                    "shape": "box",
                    "lower": [-150, -150, -150],
                    "upper": [150, 150, 150],
                    "count": 400,
                }
            ],  # fmt: skip
            kill={"t8": {"max_rate": 0.004, "half_effect": 100.0, "cycling_only": False}},
            drug=300.0,
            stop=stop,
        )
        sim = build_simulation(scn, make_backend("numpy"), seed=seed)
        sim.run()
        left = int(np.sum(sim.population.to_host()["kind"] == 0))  # the dead are compacted away
        print(f"seed {seed}: {left}/400 T cells left, expected {400 * expected:.1f}")
        assert float(sim.cells.counters["t8_chemo_killed"]) == 400 - left
        sd = math.sqrt(expected * (1 - expected) / 400)
        assert abs(left / 400 - expected) < 4 * sd
        n_all, s_all = n_all + 400, s_all + left
    sd = math.sqrt(expected * (1 - expected) / n_all)
    assert abs(s_all / n_all - expected) < 4 * sd


# the scenario, reduced ----------------------------------------------------------------------
SMALL = [
    "run.stop=90",
    "clock.dt_diffusion=0.1",
    "grid.nx=14",
    "grid.ny=14",
    "grid.nz=14",
    "cells.initial.0.radius=60",
    "cells.initial.1.inner_radius=70",
    "cells.initial.1.outer_radius=110",
    "cells.initial.1.count=60",
    "cells.initial.2.count=20",
    "cells.initial.2.lower=[-130,-130,-130]",
    "cells.initial.2.upper=[130,130,130]",
    "output.every=360",
    "output.checkpoint_every=0",
]


def _released(seed: int, extra: list[str]):
    sim = build_simulation(load_scenario(CHEMO, SMALL + extra), make_backend("numpy"), seed=seed)
    sim.run()
    pop = sim.population.to_host()
    live = int(np.sum((pop["kind"] == sim.cells.by_name["tumour"].index) & (pop["state"] == 0)))
    antigen = float(np.sum(sim.fields["antigen"]))  # × the voxel volume: the field integral
    danger = float(np.sum(sim.fields["danger"]))
    return live, antigen, danger, float(sim.cells.counters["tumour_chemo_killed"])


@pytest.mark.parametrize("seed", [1, 2])
def test_immunogenic_chemotherapy_raises_the_antigen_released(seed):
    """Same seed, an hour after a 50 mg dose: the treated tumour has fewer live cells, more
    antigen in the tissue (its immunogenic deaths release it; at least 1.5 × untreated,
    where only T-cell kills release it; measured ≈ 2×) and a danger signal, which the
    untreated tumour never releases."""
    treated = _released(seed, ["run.stop=60"])
    untreated = _released(seed, ["run.stop=60", "therapy.doses=[]"])
    print(f"seed {seed}: live, antigen, danger, chemo kills: {treated} against {untreated}")
    assert treated[3] > 0 and untreated[3] == 0
    assert treated[0] < untreated[0]
    assert treated[1] > 1.5 * untreated[1]
    assert treated[2] > 0 and untreated[2] == 0


# bad input and exact restart --------------------------------------------------------------
KEY = "therapy.chemotherapy.0"


@pytest.mark.parametrize(
    "setting, key, words",
    [
        (f"{KEY}.kill.tum={{max_rate=0.01,half_effect=1.0}}", f"{KEY}.kill.tum", "unknown kind"),
        (f"{KEY}.field=dox", f"{KEY}.field", "unknown field 'dox'"),
        (f"{KEY}.kill.tumour.max_rate=-0.01", f"{KEY}.kill.tumour.max_rate", "greater than"),
        (f"{KEY}.kill.tumour.half_effect=0", f"{KEY}.kill.tumour.half_effect", "greater than"),
        (f"{KEY}.kill.dc={{max_rate=0.01,half_effect=1.0}}", f"{KEY}.kill.dc.cycling_only",
         "no cycling share"),
        (f"{KEY}.kill.t8.cycling_only=true", f"{KEY}.kill.t8.cycling_only", "no cycling share"),
        (f"{KEY}.kill.t8.immunogenic=true", f"{KEY}.kill.t8.immunogenic", "no immunogenic"),
        (f"{KEY}.kill.tumour.rate=1", f"{KEY}.kill.tumour.rate", "unknown key"),
        (f"{KEY}.kill={{}}", f"{KEY}.kill", "at least one kind"),
    ],
)  # fmt: skip
def test_bad_chemotherapy_gives_one_line_and_exit_2(setting, key, words):
    assert_refused(CHEMO, setting, key=key, words=words)


@pytest.mark.parametrize(
    "settings",
    [["therapy.doses=[]"], ["therapy.chemotherapy.0.kill.t8.max_rate=0"]],
)
def test_the_scenario_arms_named_in_its_header_validate(settings):
    """The control arms the scenario's description names (no drug; no lymphodepletion)."""
    args = ["validate", CHEMO, "--quiet"] + [a for s in settings for a in ("--set", s)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output


def test_restart_in_the_middle_of_a_chemotherapy_schedule_is_exact(tmp_path):
    """Doses at 0, 20, 40 min; a checkpoint at 30 min; resumed to 60 min = uninterrupted,
    bit for bit (compartments, fields, cells, time series with the kill counters)."""
    base = SMALL[:-2] + [
        "run.stop=60",
        "therapy.doses.0.every=20",
        "therapy.doses.0.count=3",
        "output.every=15",
        "output.checkpoint_every=30",
    ]
    full, half, sim = interrupted(load_scenario(CHEMO, base), tmp_path, 30.0)
    assert list(half.dosing.given) == [2]
    assert float(half.cells.counters["tumour_chemo_killed"]) > 0
    assert list(sim.dosing.given) == [3]
    assert_same_run(full, sim, tmp_path)
