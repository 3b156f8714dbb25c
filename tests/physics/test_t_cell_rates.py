"""CD8 T-cell rates one at a time: recruitment at entry voxels, IL-2-driven division with its
limit, lifespan, exhaustion by chronic engagement. Each is a rate per minute checked
against its expected value (stated tolerances: Poisson or binomial standard errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.scenario import scenario_from_dict

T8 = {"model": "cd8", "speed": 0.0, "repulsion": 0.0, "params": {"targets": []}}


def _sim(cells, fields=None, stop=600.0, grid=8, vessels=(), seed=3, dt=(1.0, 2.0, 6.0)):
    raw = {
        "run": {"stop": stop, "seed": seed},
        "clock": {"dt_diffusion": dt[0], "dt_mechanics": dt[1], "dt_phenotype": dt[2]},
        "grid": {"nx": grid, "ny": grid, "nz": grid, "spacing": 20.0},
        "fields": fields or {"oxygen": {"preset": "oxygen", "initial": 38.0, "boundary": 38.0}},
        "vessels": list(vessels),
        "cells": cells,
    }
    return build_simulation(scenario_from_dict(raw, "rates"), make_backend("numpy", "float64"))


def _box(count, kind="t8"):
    return {"kind": kind, "shape": "box", "lower": [-70] * 3, "upper": [70] * 3, "count": count}


@pytest.mark.parametrize("sites", ["boundary", "vessels"])
def test_recruitment_rate_and_entry_voxels(sites):
    """Uniform chemokine c = K: cells enter at R c/(K + c) = R/2 per minute, each inside an
    entry voxel (the outer layer of voxels, or the vessel voxels)."""
    rate = 2.0  # cells/min at saturating chemokine
    t8 = {
        **T8,
        "params": {
            "targets": [],
            "recruitment_rate": rate,
            "recruitment_field": "chemokine",
            "recruitment_half_saturation": 1.0,
            "recruitment_sites": [sites],
            "lifespan": 1e12,
        },
    }
    fields = {"chemokine": {"preset": "chemokine", "decay": 0.0, "initial": 1.0}}
    vessels = [{"shape": "random", "fraction": 0.05, "seed": 9}]
    sim = _sim({"kinds": {"t8": t8}}, fields, stop=600.0, vessels=vessels)
    sim.run()
    n = sim.population.n
    expected = rate / 2 * sim.time
    print(f"{sites}: {n} cells recruited, expected {expected:.0f}")
    assert abs(n - expected) < 4 * math.sqrt(expected)
    assert float(sim.cells.counters["t8_recruited"]) == n
    pos = sim.population.to_host()["position"]
    ijk = np.floor((pos - sim.grid.origin) / 20.0).astype(int)
    if sites == "boundary":
        on_face = np.any((ijk == 0) | (ijk == sim.grid.nx - 1), axis=1)
        assert on_face.all()
    else:
        mask = sim.cells.vessels
        assert mask.sum() > 0 and mask[ijk[:, 2], ijk[:, 1], ijk[:, 0]].all()


def test_il2_division_rate_and_limit():
    """With IL-2 at its half saturation everywhere, T cells divide at k_div / 2 (and die at
    1/lifespan) until their line has made ``division_limit`` divisions."""
    k = 1.0 / 240.0
    t8 = {
        **T8,
        "params": {
            "targets": [],
            "il2_field": "il2",
            "il2_half_saturation": 0.15,
            "proliferation_rate": k,
            "lifespan": 2000.0,
            "division_limit": 100,
        },
    }
    fields = {"il2": {"preset": "il2", "decay": 0.0, "initial": 0.15}}
    sim = _sim({"kinds": {"t8": t8}, "initial": [_box(400)]}, fields, stop=480.0)
    sim.run()
    net = k / 2 - 1 / 2000.0
    expected = 400 * math.exp(net * sim.time)
    print(f"{sim.population.n} T cells after {sim.time:g} min, expected {expected:.0f}")
    assert sim.population.n == pytest.approx(expected, rel=0.08)
    limited = dict(t8, params={**t8["params"], "division_limit": 1, "lifespan": 1e12})
    sim = _sim({"kinds": {"t8": limited}, "initial": [_box(300)]}, fields, stop=4000.0)
    sim.run()
    assert sim.population.n == 600  # every line divided exactly once
    assert set(np.unique(sim.population.to_host()["divisions"])) == {1}


def test_lifespan():
    t8 = {**T8, "params": {"targets": [], "lifespan": 600.0}}
    sim = _sim({"kinds": {"t8": t8}, "initial": [_box(2000)]}, stop=600.0)
    sim.run()
    expected = 2000 * math.exp(-1.0)
    sd = math.sqrt(2000 * math.exp(-1) * (1 - math.exp(-1)))
    assert abs(sim.population.n - expected) < 4 * sd


def test_chronic_engagement_exhausts():
    """A T cell held on a target it never kills gains exhaustion at 1/T_E and turns
    exhausted at the first phenotype step after E reaches 1; it then lets go."""
    t8 = {
        "model": "cd8",
        "speed": 0.0,
        "params": {
            "targets": ["tumour"],
            "kill_rate": 0.0,
            "detach_rate": 0.0,
            "attach_rate": 10.0,
            "exhaustion_time": 120.0,
            "lifespan": 1e12,
        },
    }
    tumour = {
        "model": "tumour",
        "repulsion": 0.0,
        "params": {
            "birth_rate": 0.0,
            "apoptosis_rate": 0.0,
            "antigen_mean": 2.0,
            "antigen_sd": 0.0,
        },
    }
    cells = {
        "kinds": {"tumour": tumour, "t8": t8},
        "initial": [
            {"kind": "tumour", "shape": "box", "lower": [0, 0, 0], "upper": [0, 0, 0], "count": 1},
            {"kind": "t8", "shape": "box", "lower": [12, 0, 0], "upper": [12, 0, 0], "count": 1},
        ],
    }
    sim = _sim(cells, stop=60.0, dt=(0.5, 1.0, 6.0))
    sim.run()
    pop = sim.population.to_host()
    t = pop["kind"] == 1
    assert pop["state"][t][0] == 1  # engaged
    assert pop["exhaustion"][t][0] == pytest.approx((60.0 - 1.0) / 120.0, abs=0.02)
    sim.stop = 126.0
    sim.run()
    pop = sim.population.to_host()
    t = pop["kind"] == 1
    assert pop["state"][t][0] == 2 and pop["target_id"][t][0] == -1  # exhausted, let go
