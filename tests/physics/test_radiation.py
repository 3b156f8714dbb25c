"""Radiation fractions: linear-quadratic survival per kind against exp(−αD − βD²) (ensembles
of seeds, binomial tolerance), the region, immunogenic death releasing antigen and a danger
signal, bad schedules, exact restart in the middle of a schedule, and ``info`` listing the
fractions (NumPy)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.cli import cli
from spatialtumor.radiation import DEFAULT_SENSITIVITY
from spatialtumor.scenario import load_scenario, scenario_from_dict
from tests._refusal import assert_refused
from tests._restart import assert_same_run, interrupted

ROOT = Path(__file__).resolve().parents[2]
RADIATION = str(ROOT / "scenarios" / "radiation_immuno.toml")
N = 3000  # cells of each kind
HALF = 150.0  # µm: cells fill the box [−HALF, HALF]³

#: tumour and CD8 cells packed at random in a box, not moving, not dividing, not dying,
#: not attaching; oxygen uniform; one phenotype step of 1 min
BOX = {
    "run": {"stop": 1.0, "seed": 1},
    "clock": {"dt_diffusion": 1.0, "dt_mechanics": 1.0, "dt_phenotype": 1.0},
    "grid": {"nx": 16, "ny": 16, "nz": 16, "spacing": 20.0},
    "fields": {"oxygen": {"preset": "oxygen", "initial": 38.0, "boundary": 38.0}},
    "cells": {
        "kinds": {
            "tumour": {
                "model": "tumour",
                "repulsion": 0.0,
                "speed": 0.0,
                "params": {"birth_rate": 0.0, "apoptosis_rate": 0.0},
            },
            "t8": {
                "model": "cd8",
                "repulsion": 0.0,
                "speed": 0.0,
                "params": {"targets": ["tumour"], "attach_rate": 0.0},
            },
        },
        "initial": [
            {
                "kind": k,
                "shape": "box",
                "lower": [-HALF] * 3,
                "upper": [HALF] * 3,
                "count": N,
            }
            for k in ("tumour", "t8")
        ],
    },
    "therapy": {"radiation": [{"dose": 2.0, "at": 0.0}]},
    "output": {"every": 1.0},
}


def _box(seed: int = 1, radiation=None, **changes) -> dict:
    raw = copy.deepcopy(BOX)
    raw["run"]["seed"] = seed
    if radiation is not None:
        raw["therapy"]["radiation"] = radiation
    for key, value in changes.items():
        raw[key] = value
    return raw


def _run(raw: dict, run_dir=None):
    sim = build_simulation(
        scenario_from_dict(raw, "radiation-test"), make_backend("numpy", "float64"), run_dir=run_dir
    )
    before = sim.population.to_host()
    sim.run()
    return sim, before


def _survival(model: str, dose: float) -> float:
    s = DEFAULT_SENSITIVITY[model]
    return math.exp(-s.alpha * dose - s.beta * dose**2)


# survival per fraction ---------------------------------------------------------------------
@pytest.mark.parametrize("dose", [2.0, 6.0])
def test_survival_per_fraction_is_linear_quadratic_per_kind(dose):
    """One fraction to the domain, seeds 1–3 pooled: the killed fraction of the irradiated
    cells of each kind is 1 − exp(−αD − βD²) within 4 binomial σ (tumour: α 0.3 /Gy, β 0.03
    /Gy², S = 0.49 at 2 Gy, 0.056 at 6 Gy; CD8: α 0.69 /Gy, S = 0.25 and 0.016). Killed tumour
    cells are in `immunogenic`, killed T cells are gone, the others untouched."""
    for kind, model in (("tumour", "tumour"), ("t8", "cd8")):
        hit = killed = 0
        for seed in (1, 2, 3):
            sim, _ = _run(_box(seed, [{"dose": dose, "at": 0.0}]))
            c = sim.cells.counters
            hit += float(c[f"{kind}_irradiated"])
            killed += float(c[f"{kind}_radiation_killed"])
            assert float(c["radiation_fractions"]) == 1.0
            pop = sim.population.to_host()
            code = sim.cells.by_name[kind].index
            mine = pop["kind"] == code
            if kind == "tumour":
                assert int(np.sum(mine & (pop["state"] == 3))) == c[f"{kind}_radiation_killed"]
                assert int(np.sum(mine & (pop["state"] == 0))) == N - c[f"{kind}_radiation_killed"]
            else:
                assert int(np.sum(mine)) == N - c[f"{kind}_radiation_killed"]
        p = 1.0 - _survival(model, dose)
        sigma = math.sqrt(hit * p * (1 - p))
        print(f"{kind} {dose} Gy: killed {killed:.0f} of {hit:.0f}, expected {hit * p:.1f}")
        assert hit == 3 * N
        assert abs(killed - hit * p) < 4 * sigma


def test_a_fraction_is_given_at_the_phenotype_step_whose_interval_holds_it():
    """Δt = 0.5 min, Δt_p = 6 min (12 steps): fractions at 0, 5.5, 6 and 6.5 min fall in the
    steps ending at 6, 6, 6 and 12 min (a fraction at 0 in the first step, ``(t − Δt_p, t]``
    otherwise); one at 11.9 min in the step ending at 12 min."""
    from spatialtumor.radiation import RadiationSpec

    def given(at):
        spec = RadiationSpec(dose=2.0, at=at)
        return [len(spec.due(step, 12, 0.5)) for step in (12, 24, 36)]

    assert given(0.0) == given(5.5) == given(6.0) == [1, 0, 0]
    assert given(6.5) == given(11.9) == given(12.0) == [0, 1, 0]
    five = RadiationSpec(dose=2.0, at=1.0, every=2.0, count=5)  # 1, 3, 5, 7, 9 min
    assert [len(five.due(step, 12, 0.5)) for step in (12, 24)] == [3, 2]


def test_a_kind_override_replaces_the_default_and_inert_cells_are_untouched():
    """``sensitivity.t8 = {alpha = 0, beta = 0}`` spares the T cells; a kind of model
    ``inert`` is irradiated but never killed."""
    raw = _box(1, [{"dose": 6.0, "at": 0.0, "sensitivity": {"t8": {"alpha": 0.0, "beta": 0.0}}}])
    raw["cells"]["kinds"]["stroma"] = {"model": "inert", "repulsion": 0.0, "speed": 0.0}
    raw["cells"]["initial"].append(
        {"kind": "stroma", "shape": "box", "lower": [-HALF] * 3, "upper": [HALF] * 3, "count": 500}
    )
    sim, _ = _run(raw)
    c = sim.cells.counters
    assert float(c["t8_irradiated"]) == N and float(c["t8_radiation_killed"]) == 0
    assert float(c["stroma_irradiated"]) == 500 and float(c["stroma_radiation_killed"]) == 0
    assert float(c["tumour_radiation_killed"]) > 0.8 * N


# region --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "region",
    [
        {"region": "sphere", "centre": [40.0, -20.0, 0.0], "radius": 90.0},
        {"region": "box", "lower": [-150.0, -60.0, 0.0], "upper": [20.0, 200.0, 90.0]},
    ],
    ids=["sphere", "box"],
)
def test_only_cells_inside_the_region_are_hit(region):
    """A lethal fraction (α = 10 /Gy for both kinds, 6 Gy: S = e⁻⁶⁰): exactly the cells
    inside the region at the step are irradiated and killed, none outside."""
    lethal = {"alpha": 10.0, "beta": 0.0}
    item = {"dose": 6.0, "at": 0.0, "sensitivity": {"tumour": lethal, "t8": lethal}, **region}
    sim, before = _run(_box(2, [item]))
    p = before["position"]
    if region["region"] == "sphere":
        inside = np.sum((p - np.asarray(region["centre"])) ** 2, axis=1) <= region["radius"] ** 2
    else:
        inside = np.all((p >= region["lower"]) & (p <= region["upper"]), axis=1)
    assert 200 < inside.sum() < 0.6 * before["id"].size
    after = sim.population.to_host()
    gone_or_dying = set(before["id"]) - set(after["id"][after["state"] == 0])
    assert gone_or_dying == set(before["id"][inside])
    c = sim.cells.counters
    hit = float(c["tumour_irradiated"]) + float(c["t8_irradiated"])
    killed = float(c["tumour_radiation_killed"]) + float(c["t8_radiation_killed"])
    assert hit == killed == inside.sum()


# immunogenic death ---------------------------------------------------------------------------
def _released(seed: int, radiation: list) -> tuple[float, float, dict]:
    """Total antigen and danger [nM·µm³] after 30 min, and the tumour states."""
    raw = _box(seed, radiation)
    raw["run"]["stop"] = 30.0
    raw["fields"]["antigen"] = {"preset": "antigen", "boundary": 0.0}
    raw["fields"]["danger"] = {"diffusivity": 500.0, "decay": 0.0116, "units": "nM"}
    raw["output"]["every"] = 30.0
    tumour = raw["cells"]["kinds"]["tumour"]
    tumour["params"]["apoptosis_rate"] = 5.31667e-5
    tumour["state_exchange"] = {
        "apoptotic": {"antigen": {"release": 1400.0}},
        "immunogenic": {"antigen": {"release": 1400.0}, "danger": {"release": 1400.0}},
    }
    sim, _ = _run(raw)
    f = sim.fields
    volume = 20.0**3
    antigen = float(np.sum(f["antigen"])) * volume
    danger = float(np.sum(f["danger"])) * volume
    pop = sim.population.to_host()
    mine = pop["kind"] == sim.cells.by_name["tumour"].index
    states = {s: int(np.sum(mine & (pop["state"] == i))) for i, s in enumerate(("live", "apo"))}
    states["immunogenic"] = int(np.sum(mine & (pop["state"] == 3)))
    return antigen, danger, states


@pytest.mark.parametrize("seed", [1, 2])
def test_an_immunogenic_death_releases_antigen_and_danger(seed):
    """2 Gy at 0 min: half the tumour cells enter `immunogenic` and release antigen and the
    danger signal; after 30 min the tissue holds far more antigen than untreated (where only
    the background apoptosis releases it) and danger only when treated. With
    ``immunogenic = false`` the killed cells go apoptotic: antigen but no danger."""
    treated = _released(seed, [{"dose": 2.0, "at": 0.0}])
    untreated = _released(seed, [])
    plain = _released(seed, [{"dose": 2.0, "at": 0.0, "immunogenic": False}])
    print(f"seed {seed}: antigen, danger, states: {treated}, {untreated}, {plain}")
    assert treated[2]["immunogenic"] > 0.4 * N and untreated[2]["immunogenic"] == 0
    assert treated[0] > 20 * untreated[0] > 0
    assert treated[1] > 0 and untreated[1] == 0
    assert plain[2]["immunogenic"] == 0 and plain[2]["apo"] > 0.4 * N
    assert plain[1] == 0 and plain[0] > 20 * untreated[0]


# bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "setting, key, words",
    [
        ("therapy.radiation.0.dose=0", "therapy.radiation.0.dose", "positive"),
        ("therapy.radiation.0.dose=-2", "therapy.radiation.0.dose", "positive"),
        ("therapy.radiation.0.at=-60", "therapy.radiation.0.at", "in the past"),
        ("therapy.radiation.0.at=1e6", "therapy.radiation.0.at", "after the run stops"),
        ("therapy.radiation.0.every=0", "therapy.radiation.0", "need an interval"),
        (
            "therapy.radiation.0.sensitivity.tcell={alpha=1.0,beta=0.0}",
            "therapy.radiation.0.sensitivity.tcell",
            "unknown kind",
        ),
        ("therapy.radiation.0.centre=[5000.0,0.0,0.0]", "therapy.radiation.0.centre", "outside"),
        ('therapy.radiation.0.region="box"', "therapy.radiation.0", "takes no centre, radius"),
        ("therapy.radiation.0.radius=0", "therapy.radiation.0.radius", "greater than 0"),
        ("therapy.radiation.0.gray=2", "therapy.radiation.0.gray", "unknown key"),
    ],
)
def test_bad_fractions_give_one_line_and_exit_2(setting, key, words):
    assert_refused(RADIATION, setting, key=key, words=words)


def test_a_box_outside_the_domain_or_without_a_corner_is_refused():
    item = {"dose": 2.0, "at": 0.0, "region": "box", "lower": [200.0, 0.0, 0.0]}
    item["upper"] = [300.0, 10.0, 10.0]  # the domain is [−160, 160]³ µm
    with pytest.raises(Exception, match=r"therapy\.radiation\.0\.lower.*outside"):
        scenario_from_dict(_box(1, [item]), "radiation-test")
    del item["upper"]
    with pytest.raises(Exception, match=r"therapy\.radiation\.0.*needs upper"):
        scenario_from_dict(_box(1, [item]), "radiation-test")


# restart and info ----------------------------------------------------------------------------
SMALL = [
    "clock.dt_diffusion=0.1",
    "grid.nx=12",
    "grid.ny=12",
    "grid.nz=12",
    "cells.initial.0.radius=60",
    "cells.initial.1.inner_radius=62",
    "cells.initial.1.outer_radius=100",
    "cells.initial.1.count=60",
    "cells.initial.2.lower=[-110.0,-110.0,-110.0]",
    "cells.initial.2.upper=[110.0,110.0,110.0]",
    "cells.initial.2.count=30",
    "therapy.radiation.0.radius=80",
    "therapy.radiation.0.dose=2",
    "therapy.radiation.0.at=0",
    "therapy.radiation.0.every=40",
    "therapy.radiation.0.count=3",
]


def test_restart_in_the_middle_of_a_schedule_is_exact(tmp_path):
    """Fractions at 0, 40, 80 min; a checkpoint at 60 min; resumed to 120 min = the
    uninterrupted run, bit for bit (cells, fields, time series)."""
    base = SMALL + ["run.stop=120", "output.every=30", "output.checkpoint_every=60"]
    full, half, sim = interrupted(load_scenario(RADIATION, base), tmp_path, 60.0)
    assert float(full.cells.counters["radiation_fractions"]) == 3
    assert float(full.cells.counters["tumour_radiation_killed"]) > 0
    assert float(half.cells.counters["radiation_fractions"]) == 2
    assert float(sim.cells.counters["radiation_fractions"]) == 3
    assert_same_run(full, sim, tmp_path)


def test_info_lists_the_fractions(tmp_path):
    """``info RUN`` of a run lists every fraction (time, label, dose) and the counters."""
    out = tmp_path / "run"
    args = ["run", RADIATION, "--out", str(out), "--quiet"]
    for s in SMALL + ["run.stop=12", "output.every=12", "output.checkpoint_every=0"]:
        args += ["--set", s]
    args += ["--set", 'therapy.radiation.0.label="boost"', "--set", "therapy.radiation.0.every=5"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["info", str(out), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["therapy"] == ["0 min: boost 2", "5 min: boost 2", "10 min: boost 2"]
    assert data["reported_last"]["boost_fractions_total"] == 3
    assert "t8_irradiated_total" in data["reported_last"]
