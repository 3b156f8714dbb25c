"""ParaView opens the run folder of an ``mpirun -n 4`` run as one dataset: the whole
domain's geometry, every field's range and a probed voxel at each time.

Needs mpi4py, ``mpirun``, ``pvbatch`` and ``xvfb-run`` (skipped otherwise); about 10 s.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _mpirun import needs_mpi, run_fields

from spatialtumor.output import read_run
from tests._pvbatch import pvbatch

SCRIPT = Path(__file__).resolve().parents[1] / "io" / "_paraview_open.py"

pytestmark = [
    needs_mpi,
    pytest.mark.paraview,
    pytest.mark.skipif(
        shutil.which("pvbatch") is None or shutil.which("xvfb-run") is None,
        reason="pvbatch (ParaView) and xvfb-run are needed",
    ),
]


def expected(snaps, cell_arrays=()) -> dict:
    """What ParaView should show, read from the snapshots: per time every field's range,
    the cell count and the value of the first field at its largest voxel (a probe of the
    geometry); ``cell_arrays``: the point arrays the cells must carry."""
    checks = []
    for s in snaps:
        name, values = next(iter(s.fields.items()))
        k, j, i = (int(v) for v in np.unravel_index(np.argmax(values), values.shape))
        checks.append(
            {
                "time": s.time,
                "ranges": {n: [float(v.min()), float(v.max())] for n, v in s.fields.items()},
                "cells": s.n_cells,
                "probe": {
                    "xyz": [float(v) for v in s.grid.centre(k, j, i)],
                    "field": name,
                    "value": float(values[k, j, i]),
                },
            }
        )
    return {
        "times": [s.time for s in snaps],
        "fields": list(snaps[0].fields),
        "cell_arrays": list(cell_arrays),
        "checks": checks,
    }


def test_paraview_opens_a_four_rank_run_as_one_dataset(tmp_path):
    run = run_fields(tmp_path / "run", 4, "--stop", "1", "--split", "z")
    snaps = read_run(run)
    assert len(snaps) == 3 and tuple(snaps[0].grid.shape) == (16, 18, 20)
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(expected(snaps)))
    proc = pvbatch(SCRIPT, run, path, tries=1, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for label in ("OpenDataFile", "XDMF Reader", "Xdmf3ReaderT"):
        assert f"{label}: " in proc.stdout and "checked 3 times" in proc.stdout, out
