"""ParaView itself opens a run folder: times, arrays, ranges, a probe and cell counts.

Needs ``pvbatch`` and ``xvfb-run`` on PATH (skipped otherwise); about 5 s.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from spatialtumor.output import add_writers, read_run
from tests._pvbatch import pvbatch

sys.path.insert(0, str(Path(__file__).parent))
from _runs import SPIKE, SPIKE_VALUE, make_sim  # noqa: E402

SCRIPT = Path(__file__).with_name("_paraview_open.py")

pytestmark = [
    pytest.mark.paraview,
    pytest.mark.skipif(
        shutil.which("pvbatch") is None or shutil.which("xvfb-run") is None,
        reason="pvbatch (ParaView) and xvfb-run are needed",
    ),
]


def expected_of(snaps, check_times):
    """What ParaView should show, computed from the snapshot files."""
    first = snaps[0]
    columns = []
    for name, col in first.cells.items():
        k = col.shape[1] if col.ndim == 2 else 1
        columns += [name] if k in (1, 3, 9) else [f"{name}_{c}" for c in range(k)]
    if "kind" in first.cells:
        columns.append("kind_state")  # the (kind, state) class index of the sidecar
    by_time = {s.time: s for s in snaps}
    checks = []
    for t in check_times:
        s = by_time[t]
        ranges = {n: [float(v.min()), float(v.max())] for n, v in s.fields.items()}
        k, j, i = SPIKE
        probe = {
            "xyz": [float(v) for v in s.grid.centre(k, j, i)],
            "field": "marker",
            "value": SPIKE_VALUE,
        }
        checks.append({"time": t, "ranges": ranges, "cells": s.n_cells, "probe": probe})
    return {
        "times": [s.time for s in snaps],
        "fields": list(first.fields),
        "cell_arrays": columns,
        "checks": checks,
    }


def run_pvbatch(run_dir, expected, tmp_path):
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(expected))
    return pvbatch(SCRIPT, run_dir, path, tries=1, timeout=120)


def test_paraview_opens_the_run(tmp_path):
    run_dir = tmp_path / "run"
    sim = make_sim(stop=5.5)
    add_writers(sim, run_dir, every=1.0)
    sim.run()
    snaps = read_run(run_dir)
    counts = {s.time: s.n_cells for s in snaps}
    check_times = [0.0, 1.0, 3.0, 5.5]
    assert counts[1.0] == 0 and counts[0.0] > 0 and counts[3.0] > 0  # an empty time included
    expected = expected_of(snaps, check_times)
    proc = run_pvbatch(run_dir, expected, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for label in ("OpenDataFile", "XDMF Reader", "Xdmf3ReaderT"):
        assert f"{label}: " in proc.stdout and "checked 4 times" in proc.stdout, out

    # the script can fail: a wrong expectation is reported and exits non-zero
    wrong = json.loads(json.dumps(expected))
    wrong["checks"][2]["cells"] += 1
    wrong["checks"][0]["ranges"]["oxygen"][1] += 1.0
    wrong["checks"][3]["probe"]["xyz"][0] += 2.0  # the neighbouring voxel holds 0
    proc = run_pvbatch(run_dir, wrong, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"t=3.0: {counts[3.0]} cells shown, expected {counts[3.0] + 1}" in proc.stdout
    assert "t=0.0: range of oxygen" in proc.stdout
    assert "t=5.5: marker at" in proc.stdout
