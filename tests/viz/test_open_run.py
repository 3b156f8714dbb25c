"""open_run reads back exactly what the snapshot writer wrote."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

import spatialtumor as st
from spatialtumor.runs import RunError, open_run, write_synthetic_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("run"), n_cells=300, times=(0.0, 30.0, 90.0))


def test_snapshots_round_trip(run_dir):
    run = st.open_run(run_dir)
    assert len(run.snapshots) == 3
    np.testing.assert_array_equal(run.times, [0.0, 30.0, 90.0])
    for snap in run.snapshots:
        with h5py.File(snap.path, "r") as f:
            pos = f["cells/position"][()]
            kind = f["cells/kind"][()]
            state = f["cells/state"][()]
            names = [
                k.decode() if isinstance(k, bytes) else k for k in f["cells"].attrs["kind_names"]
            ]
            oxygen = f["fields/oxygen"][()]
            assert snap.time == f.attrs["time_min"] and snap.step == f.attrs["step"]
        cells = snap.cells
        assert len(cells) == pos.shape[0] == snap.n_cells
        np.testing.assert_array_equal(cells[["x", "y", "z"]].to_numpy(), pos)
        assert list(cells["kind"].astype(str)) == [names[k] for k in kind]
        np.testing.assert_array_equal(cells["kind_code"], kind)
        assert set(cells["state"].astype(str)) <= {"live", "apoptotic", "necrotic"}
        np.testing.assert_array_equal(cells["state_code"], state)
        assert cells["active"].dtype == bool
        np.testing.assert_array_equal(snap.fields["oxygen"], oxygen)
        assert snap.fields["oxygen"].shape == snap.grid.shape == (16, 16, 16)
        counts = snap.counts()
        assert sum(counts.values()) == pos.shape[0]
        assert counts["tumour/necrotic"] == int(np.sum((kind == 0) & (state == 2)))


def test_grid_timeseries_and_lookup(run_dir):
    run = open_run(run_dir)
    g = run.grid
    assert g.spacing == (20.0, 20.0, 20.0) and g.origin == (-160.0, -160.0, -160.0)
    ts = run.timeseries
    assert list(ts["time_min"]) == [0.0, 30.0, 90.0]
    for snap, (_, row) in zip(run.snapshots, ts.iterrows(), strict=True):
        assert row["cells_total"] == snap.n_cells
        assert row["cells_cd8"] == int(np.sum(snap.cells["kind"] == "cd8"))
    assert run.snapshots.at_time(40.0).time == 30.0
    assert run.snapshots[-1].index == 2 and len(run.snapshots[1:]) == 2
    assert run.kind_names == ("tumour", "cd8", "macrophage")
    assert run.units == {"oxygen": "mmHg"}
    assert open_run(run_dir / "run.xdmf").path == run.path


def test_not_a_run(tmp_path):
    with pytest.raises(RunError, match="no snapshots"):
        open_run(tmp_path)


def test_import_is_light():
    code = (
        "import sys, spatialtumor as st; assert 'pandas' not in sys.modules; "
        "st.open_run; print(sorted(m for m in ('cupy', 'vtkmodules') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
