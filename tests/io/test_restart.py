"""Reproducibility and exact restart: same seed → same bytes; N = N/2 + checkpoint + N/2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.checkpoint import latest_checkpoint, resume_simulation
from spatialtumor.scenario import scenario_from_dict

SMALL = {
    "run": {"stop": 24.0, "seed": 11},
    "clock": {"dt_diffusion": 0.2, "dt_mechanics": 0.4, "dt_phenotype": 2.0},
    "grid": {"nx": 12, "ny": 10, "nz": 8, "spacing": 20.0},
    "fields": {
        "oxygen": {
            "diffusivity": 1e5,
            "decay": 0.1,
            "initial": 38.0,
            "units": "mmHg",
            "boundary": 38.0,
        },
        "signal": {"diffusivity": 50.0, "decay": 0.01, "solver": "explicit"},
    },
    "cells": {
        "kinds": {
            "tumour": {
                "model": "tumour",
                "exchange": {"oxygen": {"uptake": 1.0}, "signal": {"rate": 0.5, "target": 1.0}},
                "params": {"birth_rate": 0.01, "apoptosis_rate": 0.002},
            },
            "immune": {
                "model": "inert",
                "radius": 5.0,
                "speed": 2.0,
                "persistence": 3.0,
                "chemotaxis": {"field": "signal", "bias": 0.6},
            },
        },
        "initial": [
            {"kind": "tumour", "shape": "sphere", "radius": 35.0},
            {
                "kind": "immune",
                "shape": "shell",
                "inner_radius": 45.0,
                "outer_radius": 70.0,
                "count": 40,
            },
        ],
    },
    "output": {"every": 6.0, "checkpoint_every": 12.0},
}


def run(tmp_path, name, seed=None, stop=None):
    scn = scenario_from_dict(SMALL, "small")
    sim = build_simulation(
        scn, make_backend("numpy", "float64"), run_dir=tmp_path / name, seed=seed, stop=stop
    )
    sim.run()
    return sim


def state_of(sim):
    cells = sim.population.to_host()
    return sim.backend.asnumpy(sim.fields.values).copy(), cells


def assert_identical(a, b):
    fa, ca = a
    fb, cb = b
    assert fa.tobytes() == fb.tobytes()
    assert sorted(ca) == sorted(cb)
    for k in ca:
        assert ca[k].dtype == cb[k].dtype and ca[k].tobytes() == cb[k].tobytes(), k


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a = state_of(run(tmp_path, "a"))
    b = state_of(run(tmp_path, "b"))
    assert_identical(a, b)
    c = state_of(run(tmp_path, "c", seed=12))
    assert a[0].tobytes() != c[0].tobytes()
    assert a[1]["position"].tobytes() != c[1]["position"].tobytes()
    # the snapshot files carry identical field bytes too
    for name in ("oxygen", "signal"):
        with (
            h5py.File(tmp_path / "a/snapshots/snapshot_000004.h5") as fa,
            h5py.File(tmp_path / "b/snapshots/snapshot_000004.h5") as fb,
        ):
            assert fa["fields"][name][...].tobytes() == fb["fields"][name][...].tobytes()


def test_checkpoint_restart_is_bit_identical(tmp_path):
    full = state_of(run(tmp_path, "full"))
    half = run(tmp_path, "half", stop=12.0)
    ckpt = latest_checkpoint(tmp_path / "half")
    assert ckpt is not None and ckpt.name == "checkpoint_000000060.h5"
    sim, _scn, run_dir = resume_simulation(ckpt, stop=24.0, backend="numpy")
    assert sim.step_index == 60 and run_dir == (tmp_path / "half").resolve()
    assert half.population.n == sim.population.n
    sim.run()
    assert_identical(full, state_of(sim))
    # the resumed run folder holds the whole series, once each, in order
    times = []
    for p in sorted((tmp_path / "half" / "snapshots").glob("*.h5")):
        with h5py.File(p) as f:
            times.append(float(f.attrs["time_min"]))
    assert times == [0.0, 6.0, 12.0, 18.0, 24.0]


SCENARIO_FILE = """
[run]
stop = 60.0
seed = 5
[clock]
dt_diffusion = 0.1
dt_mechanics = 0.1
dt_phenotype = 1.0
[grid]
nx = 16
ny = 16
nz = 16
spacing = 20.0
[fields.oxygen]
diffusivity = 1e5
decay = 0.1
initial = 38.0
boundary = 38.0
[cells.kinds.tumour]
model = "tumour"
exchange.oxygen = { uptake = 2.0 }
params = { birth_rate = 0.01 }
[[cells.initial]]
kind = "tumour"
shape = "sphere"
radius = 60.0
[output]
every = 5.0
checkpoint_every = 10.0
"""


def cli(*args):
    return [sys.executable, "-m", "spatialtumor.cli", *map(str, args)]


def test_sigkilled_run_resumes_from_last_checkpoint(tmp_path):
    scn = tmp_path / "s.toml"
    scn.write_text(SCENARIO_FILE)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    ref = tmp_path / "ref"
    subprocess.run(
        cli("run", scn, "--backend", "numpy", "--out", ref, "--quiet"),
        check=True,
        env=env,
        capture_output=True,
    )
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        cli("run", scn, "--backend", "numpy", "--out", killed, "--quiet"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and latest_checkpoint(killed) is None:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ckpt = latest_checkpoint(killed)
    assert ckpt is not None, "no checkpoint before the kill"
    if ckpt.name == "checkpoint_000000600.h5":
        pytest.skip("the run finished before it could be killed")
    res = subprocess.run(
        cli("run", "--resume", ckpt, "--backend", "numpy", "--quiet"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    last = sorted((ref / "snapshots").glob("*.h5"))[-1]
    again = sorted((killed / "snapshots").glob("*.h5"))
    assert [p.name for p in again] == [p.name for p in sorted((ref / "snapshots").glob("*.h5"))]
    with h5py.File(last) as a, h5py.File(again[-1]) as b:
        assert a.attrs["time_min"] == b.attrs["time_min"] == 60.0
        assert a["fields/oxygen"][...].tobytes() == b["fields/oxygen"][...].tobytes()
        for col in a["cells"]:
            assert np.array_equal(a["cells"][col][...], b["cells"][col][...]), col


def test_resume_bad_checkpoint_is_one_line_error(tmp_path):
    bad = tmp_path / "checkpoint_000000010.h5"
    bad.write_bytes(b"not hdf5")
    res = subprocess.run(cli("run", "--resume", bad), capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
