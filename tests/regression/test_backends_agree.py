"""Whole runs on NumPy and on CuPy are statistically the same (GPU only)."""

from __future__ import annotations

import numpy as np
import pytest
from _prepared import numpy_result

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.scenario import scenario_from_dict

SCENARIO = {
    "run": {"stop": 120.0, "seed": 4},
    "clock": {"dt_diffusion": 0.02, "dt_mechanics": 0.1, "dt_phenotype": 6.0},
    "grid": {"nx": 24, "ny": 24, "nz": 24, "spacing": 20.0},
    "fields": {
        "oxygen": {
            "diffusivity": 1e5,
            "decay": 0.1,
            "initial": 38.0,
            "units": "mmHg",
            "boundary": 38.0,
        }
    },
    "cells": {
        "kinds": {
            "tumour": {
                "model": "tumour",
                "exchange": {"oxygen": {"uptake": 10.0}},
                "params": {"birth_rate": 0.003},
            }
        },
        "initial": [{"kind": "tumour", "shape": "sphere", "radius": 80.0}],
    },
}


def _run_summary(backend_name, precision):
    """(cells, total oxygen, mean distance of cells from the centre) after the run."""
    sim = build_simulation(
        scenario_from_dict(SCENARIO, "agree"), make_backend(backend_name, precision)
    )
    sim.run()
    cells = sim.population.to_host()
    r = np.linalg.norm(cells["position"], axis=1)
    return [sim.population.n, sim.fields.totals()["oxygen"], float(np.mean(r))]


def _run_summary_case(backend_name, precision):
    """``(key, compute)`` of one run summary, for :func:`_prepared.numpy_result`."""
    key = f"agree run summary {backend_name} {precision} {SCENARIO!r}"
    return key, lambda: _run_summary(backend_name, precision)


def _immune_case(backend_name, precision, seed):
    key = f"agree immune summary {backend_name} {precision} seed {seed}"
    return key, lambda: list(_immune_summary(backend_name, precision, seed))


def numpy_references():
    """Every NumPy half of the comparisons below, as ``(key, compute)`` pairs."""
    cases = [_run_summary_case("numpy", p) for p in ("float64", "float32")]
    return cases + [_immune_case("numpy", "float64", s) for s in IMMUNE_SEEDS]


IMMUNE_SEEDS = (1, 2, 3)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_numpy_and_cupy_runs_agree(precision):
    n_np, o_np, r_np = numpy_result(*_run_summary_case("numpy", precision))
    n_cp, o_cp, r_cp = _run_summary("cupy", precision)
    assert n_cp == pytest.approx(n_np, rel=0.05)
    assert o_cp == pytest.approx(o_np, rel=1e-3)
    assert r_cp == pytest.approx(r_np, rel=0.03)


@pytest.mark.gpu
def test_cupy_run_is_reproducible():
    states = []
    for _ in range(2):
        sim = build_simulation(
            scenario_from_dict(SCENARIO, "repro"), make_backend("cupy", "float32")
        )
        sim.stop = 30.0
        sim.run()
        cells = sim.population.to_host()
        states.append(
            (
                sim.backend.asnumpy(sim.fields.values).tobytes(),
                cells["position"].tobytes(),
                cells["id"].tobytes(),
            )
        )
    assert states[0] == states[1]


def _immune_summary(backend_name, precision, seed):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "physics"))
    from _immune import scenario

    raw = scenario(seed, run={"stop": 120.0})
    sim = build_simulation(scenario_from_dict(raw, "immune"), make_backend(backend_name, precision))
    sim.run()
    cells = sim.population.to_host()
    live = (cells["kind"] == 0) & (cells["state"] == 0)
    return float(sim.cells.counters["t8_kills"]), int(live.sum()), sim.fields.totals()["ifng"]


@pytest.mark.gpu
def test_numpy_and_cupy_immune_runs_agree():
    """Kills, surviving tumour cells and total IFN-γ agree in the mean of three seeds."""
    a = np.array([numpy_result(*_immune_case("numpy", "float64", s)) for s in IMMUNE_SEEDS])
    b = np.array([_immune_summary("cupy", "float32", s) for s in IMMUNE_SEEDS])
    np.testing.assert_allclose(b.mean(axis=0), a.mean(axis=0), rtol=0.15)


@pytest.mark.gpu
def test_cupy_immune_run_is_reproducible():
    assert _immune_summary("cupy", "float32", 5) == _immune_summary("cupy", "float32", 5)
