"""The clear one-line refusals of a parallel run."""

from __future__ import annotations

import sys
import types

import h5py
import pytest
from _mpirun import SMALL, environment, needs_mpi, spatialtumor

from spatialtumor.parallel import MPIError, World
from spatialtumor.parallel.devices import select_device


def _errors(done) -> list[str]:
    """Our ``error:`` lines (Open MPI's notes on the stream may share a line with one)."""
    return [ln[ln.index("error:") :] for ln in done.stderr.splitlines() if "error:" in ln]


def _last_error(done) -> str:
    lines = _errors(done)
    assert lines, done.stdout + done.stderr
    return lines[0]


@needs_mpi
def test_too_many_ranks_for_the_grid(tmp_path):
    tiny = ["--set", "grid.nx=3", "--set", "grid.ny=3", "--set", "grid.nz=3"]
    done = spatialtumor(["run", "diffusion", "--backend", "numpy", *tiny], 4)
    assert done.returncode == 2
    assert "too many ranks for the grid" in _last_error(done)


SHIM = """
import errno, os
if os.environ.get("OMPI_COMM_WORLD_RANK") == "0":
    from spatialtumor.output import snapshots
    first = snapshots.SnapshotWriter.write
    calls = []
    def write(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", "snapshot_000001.h5")
        return first(self, *args, **kwargs)
    snapshots.SnapshotWriter.write = write
"""


@needs_mpi
def test_a_write_failing_on_rank_0_ends_every_rank(tmp_path):
    """Rank 0 cannot write its second snapshot (disk full) while rank 1 waits for it in the
    next exchange: one line, exit 3, the job ends at once (no rank left waiting) and the
    first snapshot stays readable."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM)
    env = environment(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["PYTHONPATH"] = f"{shim}:{env['PYTHONPATH']}"
    out = tmp_path / "r"
    args = ["run", "diffusion", "--backend", "numpy", "--quiet", "--out", out, *SMALL]
    done = spatialtumor([*args, "--stop", "2"], 2, env=env, timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    # Open MPI's note on the abort may share the stream (and a line) with it
    line = "error: snapshot_000001.h5: cannot write: No space left on device (errno 28, ENOSPC)"
    assert done.stderr.count("error:") == 1 and line in done.stderr, done.stderr
    assert [p.name for p in (out / "snapshots").glob("*.h5")] == ["snapshot_000000.h5"]
    h5py.File(out / "snapshots" / "snapshot_000000.h5", "r").close()


def test_mpi4py_missing_under_a_launcher(tmp_path):
    """A launcher's environment without mpi4py: one line, exit 2, before any work."""
    shim = tmp_path / "shim" / "mpi4py"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named mpi4py')\n")
    env = environment(OMPI_COMM_WORLD_SIZE="2")
    env["PYTHONPATH"] = f"{shim.parent}:{env['PYTHONPATH']}"
    done = spatialtumor(["run", "diffusion", "--backend", "numpy", *SMALL], env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    line = _last_error(done)
    assert "mpi4py is missing" in line and "2 processes" in line
    assert len(done.stderr.strip().splitlines()) == 1


@needs_mpi
def test_a_launcher_mpi_does_not_see_is_refused(tmp_path):
    """srun under PMIx with an mpi4py built for another MPI: each process would start MPI
    alone and run the whole problem; instead one line, exit 2."""
    env = environment(PMIX_RANK="0", SLURM_STEP_NUM_TASKS="2")
    done = spatialtumor(["run", "diffusion", "--backend", "numpy", *SMALL], env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the launcher started 2 processes but MPI sees 1" in _last_error(done)


def _fake_cupy(monkeypatch, count: int, bus_ids):
    used = []
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: count, deviceGetPCIBusId=lambda d: bus_ids[d]
    )
    cuda = types.SimpleNamespace(
        runtime=runtime, Device=lambda d: types.SimpleNamespace(use=lambda: used.append(d))
    )
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=cuda))
    return used


class _Comm:
    """Stands in for the world communicator: ``allgather`` returns what the ranks said."""

    def __init__(self, others):
        self.others = others

    def allgather(self, mine):
        return [mine, *self.others]


def test_device_count_below_rank_count(monkeypatch):
    used = _fake_cupy(monkeypatch, 1, ["0000:17:00.0"])
    w = World(None, rank=1, size=2, local_rank=1, local_size=2)
    with pytest.raises(MPIError, match="device count below rank count: 1 CUDA device"):
        select_device(w, "cupy")
    select_device(w, "numpy")  # no device needed
    # two ranks of one node on the same GPU: refused, naming it
    host = __import__("socket").gethostname()
    w = World(_Comm([(host, "0000:17:00.0")]), rank=1, size=2, local_rank=1, local_size=2)
    with pytest.raises(MPIError, match="GPU 0000:17:00.0 on .* would be shared"):
        select_device(w, "cupy")
    # one GPU visible to each rank, but a different one (per-task binding): accepted
    w = World(_Comm([(host, "0000:65:00.0")]), rank=1, size=2, local_rank=1, local_size=2)
    select_device(w, "cupy")
    assert used == [0]
    # enough devices: local rank r takes device r
    used = _fake_cupy(monkeypatch, 2, ["0000:17:00.0", "0000:65:00.0"])
    w = World(_Comm([(host, "0000:17:00.0")]), rank=1, size=2, local_rank=1, local_size=2)
    select_device(w, "cupy")
    assert used == [1]
