"""Launch ``python -m spatialtumor`` alone or under ``mpirun``, and read a run's result."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the mpirun of the Open MPI that mpi4py was installed with (beside this interpreter), else
#: the first on PATH
_BESIDE = Path(sys.executable).parent / "mpirun"
MPIRUN = str(_BESIDE) if _BESIDE.exists() else shutil.which("mpirun")
HAVE_MPI = MPIRUN is not None and importlib.util.find_spec("mpi4py") is not None

needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py and mpirun are needed")

#: the fields-only scenario at a size that runs in seconds, with one explicit species so that
#: both the LOD transpose and the ghost planes are exercised
SMALL = [
    "--set", "grid.nx=20",
    "--set", "grid.ny=18",
    "--set", "grid.nz=16",
    "--set", "fields.chemokine.solver=explicit",
    "--set", "output.every=0.5",
]  # fmt: skip


def environment(**more: str) -> dict[str, str]:
    """This checkout first on the path; no variables a launcher sets in its processes
    unless given (Open MPI's ``OMPI_MCA_*`` settings are kept)."""
    launcher = ("OMPI_COMM_WORLD_", "OMPI_UNIVERSE_SIZE", "PMI_", "PMIX_", "SLURM_STEP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(launcher)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(more)
    return env


def spatialtumor(args, ranks: int = 0, env=None, timeout: float = 120, write: str = "gathered"):
    """Run the command line; ``ranks`` > 0 launches it under ``mpirun -n ranks``.

    A ``run`` under mpirun writes its output as ``write`` says (``--write``, unless ``args``
    give it): gathered by default here, the mode whose files are byte-identical to one
    process's (the tests of parts mode, ``test_mpi_parts.py``, ask for ``parts``).
    """
    args = list(args)
    if ranks and args and args[0] == "run" and "--write" not in args:
        args += ["--write", write]
    cmd = [sys.executable, "-m", "spatialtumor", *map(str, args)]
    extra = {}
    if ranks:
        cmd = [MPIRUN, "-n", str(ranks), "--oversubscribe", *cmd]
        # Open MPI refuses root without these (containers and CI run as root)
        extra = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return subprocess.run(
        cmd,
        env=env or environment(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def run_fields(out: Path, ranks: int = 0, *more, write: str = "gathered") -> Path:
    """The small fields-only run into ``out`` (continued from a checkpoint when ``more``
    holds ``--resume``), output written as ``write`` says under mpirun; fails the test with
    the output on error."""
    scenario = [] if "--resume" in more else ["diffusion", *SMALL]
    args = ["run", *scenario, "--backend", "numpy", "--quiet", "--out", out, *more]
    done = spatialtumor(args, ranks, write=write)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def final_state(run: Path) -> dict[str, np.ndarray]:
    """Last snapshot's fields, the last checkpoint's fields and the time-series text."""
    snap = sorted((run / "snapshots").glob("snapshot_*.h5"))[-1]
    ck = sorted((run / "checkpoints").glob("checkpoint_*.h5"))[-1]
    out = {}
    with h5py.File(snap, "r") as f:
        for name in f["fields"]:
            out[f"snapshot/{name}"] = f["fields"][name][()]
    with h5py.File(ck, "r") as f:
        out["checkpoint"] = f["fields"][()]
    out["timeseries"] = np.frombuffer((run / "timeseries.csv").read_bytes(), dtype=np.uint8)
    return out


def assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert np.array_equal(a[key], b[key]), f"{key} differs"
