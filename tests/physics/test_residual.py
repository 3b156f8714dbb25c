"""Residual disease of the tumour kind (NumPy): TNF-α kills the primary type and drives the
residual type in a test where only TNF-α differs; entry into dormancy and reactivation at
their rates; PD-L1-high residual cells; IL-6 blunting NK and CD8 killing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatialtumor.biology.residual import DORMANT, LIVE, RESIDUAL
from tests.physics._immune import scenario, simulation


def _box(seed: int, residual: dict, fields: dict, count: int = 600, stop: float = 720.0):
    """Tumour cells in a box with uniform oxygen and fixed uniform signals (no decay)."""
    raw = {
        "run": {"stop": stop, "seed": seed},
        "clock": {"dt_diffusion": 6.0, "dt_mechanics": 6.0, "dt_phenotype": 6.0},
        "grid": {"nx": 10, "ny": 10, "nz": 10, "spacing": 20.0},
        "fields": {
            "oxygen": {"preset": "oxygen", "initial": 38.0, "boundary": 38.0},
            **{n: {"diffusivity": 0.0, "initial": c, "units": "ng/mL"} for n, c in fields.items()},
        },
        "cells": {
            "kinds": {
                "tumour": {
                    "model": "tumour",
                    "repulsion": 0.0,
                    "adhesion": 0.0,
                    "params": {"residual": residual},
                }
            },
            "initial": [
                {
                    "kind": "tumour",
                    "shape": "box",
                    "lower": [-90] * 3,
                    "upper": [90] * 3,
                    "count": count,
                }
            ],
        },
        "output": {"every": stop},
    }
    return raw


def _start_in(sim, state_of_half: int):
    """Put every second cell (by id) into ``state_of_half`` (the rest stay primary)."""
    pop = sim.population
    half = pop["id"] % 2 == 1
    pop["state"][...] = np.where(half, state_of_half, pop["state"])
    sim.cells.apply_states()
    return half


def _counts(sim) -> tuple[int, int]:
    pop = sim.population.to_host()
    state = pop["state"]  # to_host keeps the living rows only
    return int(np.sum(state == LIVE)), int(np.sum(state == RESIDUAL))


TNF_EFFECTS = {"tnf_field": "tnf", "tnf_kill_rate": 1.0 / 720.0, "tnf_growth_boost": 1.0}


@pytest.mark.parametrize("seed", [1, 2])
def test_tnf_kills_the_primary_type_and_drives_the_residual_type(seed):
    """Same seed, only TNF-α differs (0 or 1 ng/mL, H = 0.91): after 12 h the primary type
    is smaller with TNF-α (net rate b − a − k_T H < 0, against b − a > 0) and the residual
    type larger (division × (1 + g H)); each within 15 % of the expected growth factor."""
    out = {}
    for tnf in (0.0, 1.0):
        sim = simulation(_box(seed, TNF_EFFECTS, {"tnf": tnf}))
        _start_in(sim, RESIDUAL)
        n0 = _counts(sim)
        sim.run()
        out[tnf] = (n0, _counts(sim))
    (p0, r0), (p_off, r_off) = out[0.0]
    _, (p_on, r_on) = out[1.0]
    print(f"seed {seed}: primary {p0} → {p_off} / {p_on}, residual {r0} → {r_off} / {r_on}")
    assert p_on < 0.8 * p_off and r_on > 1.3 * r_off
    b, a, t, h = 0.00072, 5.31667e-5, 720.0, 1.0 / 1.1
    assert p_on / p0 == pytest.approx(math.exp((b - a - h / 720.0) * t), rel=0.15)
    assert r_on / r0 == pytest.approx(math.exp((b * (1 + h) - a) * t), rel=0.15)
    assert r_off / r0 == pytest.approx(math.exp((b - a) * t), rel=0.15)


def test_dormancy_entry_and_reactivation_follow_their_rates():
    """Without division or death: primary cells enter dormancy at k_in (fraction
    1 − e^{−k_in t}), dormant cells reactivate at k_out H(VEGF) with VEGF at its K (H = ½),
    within 4 binomial σ; dormant and residual cells sit at the higher PD-L1 set point."""
    residual = {
        "entry_rate": 1.0 / 600.0,
        "reactivation_rate": 1.0 / 300.0,
        "vegf_field": "vegf",
        "vegf_half_saturation": 0.1,
        "pdl1_extra": 0.5,
    }
    raw = _box(3, residual, {"vegf": 0.1, "ifng": 0.0}, count=1600, stop=300.0)
    raw["cells"]["kinds"]["tumour"]["params"].update(
        birth_rate=0.0, apoptosis_rate=0.0, ifng_field="ifng", pdl1_rate=0.05
    )
    sim = simulation(raw)
    was_dormant = _start_in(sim, DORMANT)
    sim.run()
    pop = sim.population.to_host()
    state = pop["state"]
    t = sim.time
    n = int(np.sum(~was_dormant))
    entered = np.sum(state[~was_dormant] == DORMANT) + np.sum(state[~was_dormant] == RESIDUAL)
    p_in = 1 - math.exp(-t / 600.0)
    assert abs(entered - n * p_in) < 4 * math.sqrt(n * p_in * (1 - p_in))
    m = int(np.sum(was_dormant))
    woke = np.sum(state[was_dormant] == RESIDUAL)
    p_out = 1 - math.exp(-t / 600.0)  # k_out H = (1/300) · ½
    assert abs(woke - m * p_out) < 4 * math.sqrt(m * p_out * (1 - p_out))
    high = pop["pdl1"][state != LIVE].mean()
    low = pop["pdl1"][state == LIVE].mean()
    assert low == pytest.approx(0.1, abs=0.01) and high > low + 0.3


@pytest.mark.parametrize("hill_n", [1.0, 3.0])
def test_reactivation_follows_the_hill_function_of_the_signal(hill_n):
    """Dormant cells at VEGF = K/2 reactivate at k_out Hₙ with Hₙ = 1/(1 + 2ⁿ) (⅓ for n = 1,
    ⅑ for n = 3): the fraction woken after 5 h is 1 − e^{−k_out Hₙ t} within 4 binomial σ."""
    k_out = 1.0 / 100.0
    residual = {
        "entry_rate": 0.0,
        "reactivation_rate": k_out,
        "vegf_field": "vegf",
        "vegf_half_saturation": 0.1,
        "signal_hill": hill_n,
    }
    raw = _box(4, residual, {"vegf": 0.05}, count=1600, stop=300.0)
    raw["cells"]["kinds"]["tumour"]["params"].update(birth_rate=0.0, apoptosis_rate=0.0)
    sim = simulation(raw)
    was_dormant = _start_in(sim, DORMANT)
    sim.run()
    state = sim.population.to_host()["state"]
    m = int(np.sum(was_dormant))
    woke = int(np.sum(state[was_dormant] == RESIDUAL))
    p_out = 1 - math.exp(-k_out / (1 + 2**hill_n) * sim.time)
    print(f"n = {hill_n}: {woke} of {m} woke, expected {m * p_out:.0f}")
    assert abs(woke - m * p_out) < 4 * math.sqrt(m * p_out * (1 - p_out))


def _killing_with_il6(kind: str, il6: float, seed: int) -> float:
    raw = scenario(seed, t_cells=0 if kind == "nk" else 80, run={"stop": 180.0})
    raw["fields"]["il6"] = {"preset": "il6", "initial": il6, "decay": 0.0}
    tum = raw["cells"]["kinds"]["tumour"]["params"]
    tum.update(birth_rate=0.0, apoptosis_rate=0.0)
    if kind == "nk":
        tum.update(mhc_initial=0.0)
        raw["cells"]["kinds"]["nk"] = {
            "model": "nk",
            "chemotaxis": {"field": "chemokine", "bias": 0.5},
            "params": {"targets": ["tumour"], "kill_capacity": 100, "il6_field": "il6"},
        }
        raw["cells"]["initial"].append(
            {
                "kind": "nk",
                "shape": "shell",
                "inner_radius": 75.0,
                "outer_radius": 110.0,
                "count": 80,
            }
        )
    else:
        raw["cells"]["kinds"]["t8"]["params"]["il6_field"] = "il6"
    sim = simulation(raw)
    sim.run()
    return float(sim.cells.counters[f"{'nk' if kind == 'nk' else 't8'}_kills"])


@pytest.mark.parametrize("kind", ["nk", "cd8"])
def test_il6_blunts_killing(kind):
    """IL-6 held at 3 K_L (killing × ¼): fewer than half the kills of the same seed without."""
    without = _killing_with_il6(kind, 0.0, 1)
    with_il6 = _killing_with_il6(kind, 0.3, 1)
    print(f"{kind}: kills without / with IL-6: {without} / {with_il6}")
    assert without > 20 and with_il6 < 0.5 * without
