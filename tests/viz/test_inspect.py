"""``spatialtumor info RUN``: human-readable lines and JSON that match the run."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.cli import cli
from spatialtumor.runs import write_synthetic_run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A real (tiny) fields-only run: snapshots, time series and a checkpoint."""
    out = tmp_path_factory.mktemp("real") / "run"
    r = CliRunner().invoke(
        cli,
        [
            "run",
            "diffusion",
            "--out",
            str(out),
            "--stop",
            "0.2",
            "--quiet",
            "--set",
            "grid.nx=8",
            "--set",
            "grid.ny=8",
            "--set",
            "grid.nz=6",
            "--set",
            "output.every=0.1",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


def _info(run_dir, *extra):
    r = CliRunner().invoke(cli, ["info", str(run_dir), *extra])
    assert r.exit_code == 0, r.output
    return r.output


def test_json_matches_real_run(real_run):
    data = json.loads(_info(real_run, "--json"))
    assert data["snapshots"] == 3
    np.testing.assert_allclose(data["snapshot_times_min"], [0.0, 0.1, 0.2])
    assert data["last_step"] == 10 and data["backend"] == "numpy" and data["seed"] == 1
    assert data["title"].startswith("Oxygen and a chemokine")
    assert data["fields"] == {"oxygen": "mmHg", "chemokine": "dimensionless"}
    assert data["grid"]["shape_xyz"] == [8, 8, 6]
    assert data["checkpoints"]["count"] == 1 and data["checkpoints"]["steps"] == [10]
    assert data["cells_last"] == {} and data["timeseries_rows"] == 3
    assert data["disk"]["total"] >= data["disk"]["snapshots"] + data["disk"]["checkpoints"] > 0
    assert data["versions"]["spatialtumor"]


def test_counts_and_text(tmp_path):
    run = write_synthetic_run(tmp_path, n_cells=150, times=(0.0, 10.0))
    data = json.loads(_info(run, "--json"))
    with h5py.File(run / "snapshots" / "snapshot_000001.h5", "r") as f:
        kind, state = f["cells/kind"][()], f["cells/state"][()]
    assert data["cells_last"]["tumour/live"] == int(np.sum((kind == 0) & (state == 0)))
    assert data["cells_last"]["cd8/live"] == int(np.sum(kind == 1))
    assert sum(data["cells_last"].values()) == kind.size
    assert data["kinds"] == ["tumour", "cd8", "macrophage"]
    assert data["kind_models"] == ["tumour", "inert", "inert"]
    text = _info(run)
    lines = dict(line.split(": ", 1) for line in text.strip().splitlines())
    assert lines["cells_last"].startswith(f"{kind.size:,} (tumour/live ")
    assert lines["snapshots"] == "2"
    assert lines["grid"].startswith("shape_xyz 16×16×16")
    assert "{" not in text  # readable, not Python reprs


def test_not_a_run(tmp_path):
    r = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert r.exit_code == 2 and "no snapshots" in r.output
