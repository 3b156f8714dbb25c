"""Every shipped scenario validates and runs one mechanics and one phenotype step on NumPy
(the phenotype step shortened to the mechanics step, so large scenarios stay fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.toml"))


def test_there_is_a_default():
    assert "default.toml" in [p.name for p in SCENARIOS]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_runs(path, tmp_path):
    dt = load_scenario(path).spec.clock.dt_mechanics
    scn = load_scenario(path, [f"clock.dt_phenotype={dt}"])
    sim = build_simulation(scn, make_backend("numpy", "float64"), run_dir=tmp_path / "run")
    sim.stop = scn.spec.clock.dt_phenotype
    sim.run()
    assert sim.step_index == sim.stop_step
    values = sim.backend.asnumpy(sim.fields.values)
    assert np.all(np.isfinite(values)) and values.min() >= 0
    assert (tmp_path / "run" / "run.xdmf").is_file()
