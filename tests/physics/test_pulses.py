"""Field pulses on the schedule (``[[therapy.pulses]]``): the amount is conserved whatever
the step, stays in its region, shows in the schedule; bad tables give one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.cli import cli
from spatialtumor.doses import schedule_rows
from spatialtumor.scenario import scenario_from_dict

PULSE = {
    "field": "tnf",
    "amount": 4.0e6,
    "at": 2.5,
    "duration": 30.0,
    "every": 50.0,
    "count": 2,
    "region": "sphere",
    "centre": [10.0, 0.0, -20.0],
    "radius": 45.0,
    "label": "wound",
}


def _raw(dt: float, diffusivity: float = 500.0, pulse: dict | None = None) -> dict:
    return {
        "run": {"stop": 120.0},
        "clock": {"dt_diffusion": dt, "dt_mechanics": 6.0, "dt_phenotype": 6.0},
        "grid": {"nx": 10, "ny": 10, "nz": 10, "spacing": 20.0},
        "fields": {"tnf": {"diffusivity": diffusivity, "decay": 0.0, "units": "ng/mL"}},
        "therapy": {"pulses": [pulse or PULSE]},
        "output": {"every": 120.0},
    }


@pytest.mark.parametrize("dt", [0.75, 2.0])
def test_every_pulse_delivers_its_amount_whatever_the_step(dt):
    """Zero-flux walls, no decay: the total is 0 before 2.5 min, one amount between the
    pulses and two after (relative 1e-12), with steps that do not meet the pulse edges."""
    sim = build_simulation(scenario_from_dict(_raw(dt), "p.toml"), make_backend("numpy"))
    totals = {}
    while sim.step_index < sim.stop_step:
        sim.step()
        totals[round(sim.time, 6)] = sim.fields.totals()["tnf"]
    times = np.array(list(totals))
    values = np.array(list(totals.values()))
    amount = PULSE["amount"]
    assert np.all(values[times <= 2.5 - dt] == 0.0)
    between = (times >= 32.5 + dt) & (times <= 52.5 - dt)
    assert np.allclose(values[between], amount, rtol=1e-12)
    assert values[-1] == pytest.approx(2 * amount, rel=1e-12)


def test_a_pulse_stays_in_its_region():
    """Without diffusion only the voxels whose centre lies in the sphere gain, evenly."""
    sim = build_simulation(scenario_from_dict(_raw(1.0, 0.0), "p.toml"), make_backend("numpy"))
    sim.stop = 40.0
    sim.run()
    c = sim.fields["tnf"]
    grid = sim.grid
    z, y, x = np.meshgrid(grid.centres("z"), grid.centres("y"), grid.centres("x"), indexing="ij")
    inside = (x - 10) ** 2 + y**2 + (z + 20) ** 2 <= 45.0**2
    assert np.all(c[~inside] == 0) and np.ptp(c[inside]) < 1e-12 * c.max()
    assert c[inside].sum() * grid.voxel_volume == pytest.approx(PULSE["amount"], rel=1e-12)


def test_pulses_are_in_the_schedule():
    scn = scenario_from_dict(_raw(1.0), "p.toml")
    rows = schedule_rows(json.loads(json.dumps(scn.spec.model_dump(mode="json"))))
    assert rows == [(2.5, "wound", 4.0e6), (52.5, "wound", 4.0e6)]


@pytest.mark.parametrize(
    "change, key, words",
    [
        ({"field": "il6"}, "therapy.pulses.0.field", "unknown field"),
        ({"amount": -1.0}, "therapy.pulses.0.amount", "positive"),
        ({"at": -5.0}, "therapy.pulses.0.at", "in the past"),
        ({"centre": [900.0, 0.0, 0.0]}, "therapy.pulses.0.centre", "outside the domain"),
        ({"region": "box"}, "therapy.pulses.0", "takes no centre, radius"),
        ({"at": 500.0, "count": 1}, "therapy.pulses.0.at", "after the run stops"),
    ],
)
def test_bad_pulses_give_one_line_and_exit_2(tmp_path, change, key, words):
    import tomli_w

    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(_raw(1.0, pulse={**PULSE, **change})))
    r = CliRunner().invoke(cli, ["validate", str(path), "--quiet"])
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and key in line and words in line, line


def test_a_neutralising_drug_removes_its_field_at_k_a():
    """Uniform fields, zero-flux walls: TNF with decay λ under a constant drug level a falls
    as ((1 + Δt k a)(1 + Δt λ))⁻ⁿ (implicit source step, then the decay of the x sweep;
    10⁻¹²), a rate within 3 % of λ + k a (Δt (λ + k a) = 0.055); the drug is not
    depleted."""
    k, a, lam, dt = 2.0e-3, 50.0, 0.01, 0.5
    raw = {
        "run": {"stop": 60.0},
        "clock": {"dt_diffusion": dt, "dt_mechanics": dt, "dt_phenotype": dt},
        "grid": {"nx": 4, "ny": 4, "nz": 4},
        "fields": {
            "tnf": {
                "diffusivity": 800.0,
                "decay": lam,
                "initial": 1.0,
                "neutralised_by": {"field": "anti_tnf", "rate": k},
            },
            "anti_tnf": {"diffusivity": 600.0, "initial": a},
        },
        "output": {"every": 60.0},
    }
    sim = build_simulation(scenario_from_dict(raw, "n.toml"), make_backend("numpy"))
    sim.run()
    n = sim.step_index
    c = sim.fields["tnf"]
    assert np.allclose(c, ((1 + dt * k * a) * (1 + dt * lam)) ** -n, rtol=1e-12, atol=0)
    # first order in Δt: the decay rate read off the run is within Δt(λ + k a)/2 of λ + k a
    assert -np.log(c.mean()) / sim.time == pytest.approx(lam + k * a, rel=0.03)
    assert np.allclose(sim.fields["anti_tnf"], a, rtol=1e-12, atol=0)
    bad = {**raw, "fields": {**raw["fields"]}}
    bad["fields"]["tnf"] = {**raw["fields"]["tnf"], "neutralised_by": {"field": "x", "rate": k}}
    from spatialtumor.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="fields.tnf.neutralised_by.field"):
        scenario_from_dict(bad, "n.toml")
