"""The distributed transport through the package API: odd slab sizes, every split axis,
mixed walls, sources on alternate steps, the host staging a device backend uses, and
messages cut into pieces (as those over 2³¹ elements are)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _mpirun import MPIRUN, environment, needs_mpi

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _driver  # noqa: E402

pytestmark = needs_mpi
STEPS = 6


@pytest.fixture(scope="module")
def alone():
    from spatialtumor.backends import get_backend

    return _driver.run(get_backend("numpy", "float64"), "auto", STEPS)


@pytest.mark.parametrize(
    ("ranks", "split", "kind", "pieces"),
    [
        (2, "z", "numpy", ()),
        (3, "y", "numpy", ()),
        (4, "x", "numpy", ()),
        (3, "z", "staged", ()),
        (2, "x", "staged", ()),
        (3, "y", "numpy", ("7",)),  # every transpose and gather message in 7-element pieces
    ],
)
def test_distributed_transport_is_bitwise_serial(alone, tmp_path, ranks, split, kind, pieces):
    out = tmp_path / "whole.npy"
    cmd = [MPIRUN, "-n", str(ranks), "--oversubscribe", sys.executable, str(HERE / "_driver.py")]
    cmd += [str(out), kind, split, str(STEPS), *pieces]
    env = environment(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    got = np.load(out)
    assert got.shape == alone.shape
    assert np.array_equal(got, alone), float(np.max(np.abs(got - alone)))
    assert not np.array_equal(got, _driver.initial(_driver.SHAPE))  # something moved
