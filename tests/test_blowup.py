"""The blow-up check: a run whose values become non-finite or exceed ``blowup.limit`` stops
within ``blowup.every`` with one line naming step, time, field (or cell column) and value,
after a diagnostic snapshot; a stable run is unchanged by it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.cli import EXIT_BLOWUP, cli
from spatialtumor.guard import BlowUp, Guard
from spatialtumor.output import list_snapshots, read_timeseries
from spatialtumor.scenario import scenario_from_dict

RISING = """
[run]
stop = 5.0
[clock]
dt_diffusion = 0.1
dt_mechanics = 0.1
dt_phenotype = 0.5
[grid]
nx = 6
ny = 5
nz = 4
[fields.s]
diffusivity = 100.0
[[sources]]
field = "s"
shape = "box"
lower = [-1000.0, -1000.0, -1000.0]
upper = [1000.0, 1000.0, 1000.0]
release = 10.0
[output]
every = 1.0
[blowup]
every = 0.5
limit = 24.9
"""


def invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_rising_field_stops_at_the_first_check_past_the_limit(tmp_path):
    scn = tmp_path / "s.toml"
    scn.write_text(RISING)
    run = tmp_path / "run"
    res = invoke(["run", scn, "--out", run, "--backend", "numpy", "--quiet"])
    assert res.exit_code == EXIT_BLOWUP == 4, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0] == (
        f"error: {run}: blow-up at step 25 (t = 2.5 min): field 's' reached 25 (limit 24.9); "
        f"diagnostic snapshot {run}/snapshots/snapshot_000003.h5"
    )
    files = list_snapshots(run)
    assert [p.name for p in files][-1] == "snapshot_000003.h5"
    for p in files[:-1]:
        with h5py.File(p) as f:
            assert "diagnostic" not in f.attrs
    with h5py.File(files[-1]) as f:
        assert f.attrs["diagnostic"].startswith("blow-up at step 25")
        assert int(f.attrs["step"]) == 25 and f["fields/s"][...].max() > 24.9
    assert list(read_timeseries(run)["step"]) == [0, 10, 20]  # rows of healthy states only
    assert not list((run / "checkpoints").glob("*.h5"))  # no checkpoint of a blown-up state


def test_check_can_be_turned_off(tmp_path):
    scn = tmp_path / "s.toml"
    scn.write_text(RISING.replace("limit = 24.9", "limit = 24.9\ncheck = false"))
    res = invoke(["run", scn, "--out", tmp_path / "run", "--backend", "numpy", "--quiet"])
    assert res.exit_code == 0, res.output


def _fields_only(raw_extra=None):
    raw = {
        "run": {"stop": 10.0},
        "clock": {"dt_diffusion": 0.1, "dt_mechanics": 0.1, "dt_phenotype": 0.5},
        "grid": {"nx": 6, "ny": 5, "nz": 4},
        "fields": {"o": {"diffusivity": 1e3, "decay": 0.1, "initial": 1.0, "boundary": 1.0}},
        "blowup": {"every": 1.0},
    }
    raw.update(raw_extra or {})
    return scenario_from_dict(raw, "x.toml")


class Poison:
    """A process that writes ``value`` into an array at one step (a stand-in for a bug)."""

    clock = "mechanics"

    def __init__(self, step, target, value):
        self.step, self.target, self.value = step, target, value

    def __call__(self, sim):
        if sim.step_index == self.step:
            self.target(sim)[...] = self.value


@pytest.mark.parametrize("value", [np.nan, np.inf, -1e300])
def test_poisoned_field_is_found_within_the_interval(value):
    sim = build_simulation(_fields_only(), make_backend("numpy", "float64"))
    assert sim.guard.every == 10
    sim.processes.append(Poison(37, lambda s: s.fields.values[0, 1:2, 2:3, 3:4], value))
    with pytest.raises(BlowUp) as info:
        sim.run()
    exc = info.value
    assert exc.step == 40 and exc.time == pytest.approx(4.0) and exc.name == "o"
    assert exc.what == "field"
    assert np.isnan(exc.value) if np.isnan(value) else abs(exc.value) > exc.limit
    assert str(exc).startswith("blow-up at step 40 (t = 4 min): field 'o' ")


def test_poisoned_cell_column_is_named():
    raw = {
        "cells": {
            "kinds": {"bead": {"model": "inert", "radius": 5.0}},
            "initial": [{"kind": "bead", "shape": "box", "count": 5, "lower": [-20.0] * 3}],
        }
    }
    sim = build_simulation(_fields_only(raw), make_backend("numpy", "float64"))
    sim.processes.append(Poison(12, lambda s: s.population["age"][2:3], np.inf))
    with pytest.raises(BlowUp, match=r"step 20 \(t = 2 min\): cell column 'age' became inf"):
        sim.run()


def test_guard_changes_nothing_in_a_stable_run():
    with_guard = build_simulation(_fields_only(), make_backend("numpy", "float64"))
    without = build_simulation(_fields_only({"blowup": {"check": False}}), with_guard.backend)
    assert without.guard is None
    with_guard.run()
    without.run()
    assert with_guard.fields.values.tobytes() == without.fields.values.tobytes()


def test_guard_schedule():
    assert Guard.every_minutes(6.0, 0.02).every == 300
    assert Guard.every_minutes(6.0, 10.0).every == 1  # at least every step
    assert not Guard(300).due(299) and Guard(300).due(600)
    with pytest.raises(ValueError):
        Guard(0)
