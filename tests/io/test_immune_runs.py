"""Runs with T cells: same seed → same bits, exact restart through a checkpoint (new columns
and counters included), and format-1 runs still open in open_run, render and info."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "physics"))
from _immune import scenario, simulation  # noqa: E402

from spatialtumor.checkpoint import latest_checkpoint, resume_simulation  # noqa: E402
from spatialtumor.cli import cli  # noqa: E402
from spatialtumor.runs import open_run  # noqa: E402

V1_RUN = Path(__file__).resolve().parents[1] / "data" / "run_v1"
NEW_COLUMNS = ("antigen", "mhc", "pdl1", "target_id", "contact_time", "kills", "exhaustion")


def _raw(stop=60.0):
    raw = scenario(7, t_cells=60, run={"stop": stop})
    raw["output"] = {"every": 15.0, "checkpoint_every": 30.0}
    return raw


def _state(sim):
    return sim.backend.asnumpy(sim.fields.values).copy(), sim.population.to_host()


def _same(a, b):
    assert a[0].tobytes() == b[0].tobytes()
    assert sorted(a[1]) == sorted(b[1])
    for k in a[1]:
        assert a[1][k].dtype == b[1][k].dtype and a[1][k].tobytes() == b[1][k].tobytes(), k


def test_same_seed_same_bits(tmp_path):
    runs = []
    for name in ("a", "b"):
        sim = simulation(_raw(), run_dir=tmp_path / name)
        sim.run()
        runs.append(_state(sim))
    _same(*runs)
    assert set(NEW_COLUMNS) <= set(runs[0][1])
    assert int(np.sum(runs[0][1]["kills"])) > 0
    ta = (tmp_path / "a" / "timeseries.csv").read_text()
    assert ta == (tmp_path / "b" / "timeseries.csv").read_text()
    with (
        h5py.File(tmp_path / "a/snapshots/snapshot_000004.h5") as fa,
        h5py.File(tmp_path / "b/snapshots/snapshot_000004.h5") as fb,
    ):
        for name in fa["cells"]:
            assert fa["cells"][name][()].tobytes() == fb["cells"][name][()].tobytes(), name


def test_checkpoint_restart_is_exact_with_t_cells(tmp_path):
    full = simulation(_raw(60.0), run_dir=tmp_path / "full")
    full.run()
    half = simulation(_raw(30.0), run_dir=tmp_path / "half")
    half.run()
    ckpt = latest_checkpoint(tmp_path / "half")
    assert ckpt.name == "checkpoint_000000120.h5"
    with h5py.File(ckpt) as f:
        assert set(NEW_COLUMNS) <= set(f["population/columns"])
        assert json.loads(f["process/cells/counters"].attrs["t8_kills"]) > 0
    sim, _scn, _dir = resume_simulation(ckpt, stop=60.0, backend="numpy")
    assert float(sim.cells.counters["t8_kills"]) == float(half.cells.counters["t8_kills"]) > 0
    sim.run()
    _same(_state(full), _state(sim))
    assert float(sim.cells.counters["t8_kills"]) == float(full.cells.counters["t8_kills"])
    a = pd.read_csv(tmp_path / "full" / "timeseries.csv")
    b = pd.read_csv(tmp_path / "half" / "timeseries.csv")
    pd.testing.assert_frame_equal(a, b)  # the per-interval kills continue across the restart


@pytest.fixture
def v1_run(tmp_path):
    dst = tmp_path / "run_v1"
    shutil.copytree(V1_RUN, dst)
    return dst


def test_v1_run_opens(v1_run):
    run = open_run(v1_run)
    assert run.last.attrs["format_version"] == 1
    vocab = run.vocabulary
    assert vocab.kind_names == ("tumour",) and vocab.kind_models == ("tumour",)
    assert vocab.kind_states == (("live", "apoptotic", "necrotic"),)
    cells = run.last.cells
    assert len(cells) == run.last.n_cells > 0 and set(cells["state"].unique()) <= {"live"}
    assert run.last.counts() == {"tumour/live": run.last.n_cells}


def test_v1_run_renders_and_shows_info(v1_run):
    pytest.importorskip("vtk")
    res = CliRunner().invoke(cli, ["info", str(v1_run)])
    assert res.exit_code == 0, res.output
    assert "tumour" in res.output and "spatialtumor-snapshot 1" in res.output
    out = v1_run / "frames"
    res = CliRunner().invoke(cli, ["render", str(v1_run), "--out", str(out), "--size", "320x240"])
    assert res.exit_code == 0, res.output
    assert list(out.glob("*.png"))
