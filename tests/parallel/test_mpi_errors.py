"""The clear one-line refusals of a parallel run."""

from __future__ import annotations

import sys
import types

import pytest
from _mpirun import SMALL, environment, needs_mpi, spatialtumor

from spatialtumor.parallel import MPIError, World
from spatialtumor.parallel.devices import select_device


def _last_error(done) -> str:
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert lines, done.stdout + done.stderr
    return lines[0]


@needs_mpi
def test_immune_cells_are_refused_over_ranks(tmp_path):
    args = ["run", "immune_surveillance", "--backend", "numpy", "--out", tmp_path / "r"]
    done = spatialtumor(args, 2)
    assert done.returncode != 0
    line = _last_error(done)
    assert "cells across MPI ranks are not supported yet for kinds t8 (cd8)" in line
    assert "dc (dendritic)" in line and "(chemotaxis)" in line
    assert not (tmp_path / "r").exists()


@needs_mpi
def test_too_many_ranks_for_the_grid(tmp_path):
    tiny = ["--set", "grid.nx=3", "--set", "grid.ny=3", "--set", "grid.nz=3"]
    done = spatialtumor(["run", "diffusion", "--backend", "numpy", *tiny], 4)
    assert done.returncode != 0
    assert "too many ranks for the grid" in _last_error(done)


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


def test_device_count_below_rank_count(monkeypatch):
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    w = World(None, rank=1, size=2, local_rank=1, local_size=2)
    with pytest.raises(MPIError, match="device count below rank count: 1 CUDA device"):
        select_device(w, "cupy")
    select_device(w, "numpy")  # no device needed


@needs_mpi
def test_blow_up_is_found_over_ranks(tmp_path):
    """One rank over the limit stops every rank, with the single-process line on rank 0."""
    args = ["run", "diffusion", "--backend", "numpy", "--quiet", *SMALL, "--stop", "0.1"]
    args += ["--set", "blowup.limit=37.5"]
    alone = spatialtumor([*args, "--out", tmp_path / "alone"])
    split = spatialtumor([*args, "--out", tmp_path / "split"], 2)
    assert alone.returncode == split.returncode == 4
    want = _last_error(alone).replace(str(tmp_path / "alone"), "RUN")
    lines = [ln.replace(str(tmp_path / "split"), "RUN") for ln in split.stderr.splitlines()]
    assert want in lines
    assert (tmp_path / "split" / "snapshots" / "snapshot_000000.h5").is_file()
