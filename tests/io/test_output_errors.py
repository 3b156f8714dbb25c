"""An output file that cannot be written (disk full, file too large, I/O error): one line
naming the file and its errno, exit code 3; what was completed before stays readable and
the partial file is removed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import spatialtumor.checkpoint as checkpoint_module
import spatialtumor.output.snapshots as snapshots_module
from spatialtumor.checkpoint import read_checkpoint
from spatialtumor.cli import EXIT_OUTPUT, cli
from spatialtumor.output import list_snapshots, read_snapshot, read_timeseries
from spatialtumor.output.atomic import write_error

REPO = Path(__file__).resolve().parents[2]
SCENARIO = """
[run]
stop = 3.0
[clock]
dt_diffusion = 0.1
dt_mechanics = 0.1
dt_phenotype = 0.5
[grid]
nx = 6
ny = 5
nz = 4
[fields.oxygen]
diffusivity = 1.0e5
decay = 0.1
initial = 38.0
boundary = 38.0
[output]
every = 0.5
checkpoint_every = 1.0
"""
# what h5py raises when the disk is full: the errno is only in the message
H5PY_ENOSPC = (
    "Unable to synchronously write data (file write failed: time = Tue Jun  4 10:00:00 2024, "
    "filename = '{name}', file descriptor = 7, errno = 28, error message = 'No space left on "
    "device', buf = 0x55d0, total write size = 4096, bytes this sub-write = 4096, bytes "
    "actually written = 18446744073709551615, offset = 0)"
)


def temporaries(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name]


def one_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def fail_on_call(original, n: int):
    """``original`` that, on its ``n``-th call, writes a little and then fails like h5py."""
    calls = {"n": 0}

    def wrapper(f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            f.attrs["half"] = "written"
            raise OSError(H5PY_ENOSPC.format(name=f.filename))
        return original(f, *args, **kwargs)

    return wrapper


def test_disk_full_while_writing_a_snapshot(tmp_path, monkeypatch):
    scn = tmp_path / "s.toml"
    scn.write_text(SCENARIO)
    run = tmp_path / "run"
    broken = fail_on_call(snapshots_module.write_snapshot_file, 4)
    monkeypatch.setattr(snapshots_module, "write_snapshot_file", broken)
    res = CliRunner().invoke(
        cli, ["run", str(scn), "--out", str(run), "--backend", "numpy", "--quiet"]
    )
    assert res.exit_code == EXIT_OUTPUT == 3, res.output
    assert one_line(res) == (
        f"error: {run}/snapshots/snapshot_000003.h5: cannot write: No space left on device "
        "(errno 28, ENOSPC)"
    )
    assert not temporaries(run)
    snaps = [read_snapshot(p) for p in list_snapshots(run)]
    assert [s.time for s in snaps] == [0.0, 0.5, 1.0]
    assert list(read_timeseries(run)["step"]) == [0, 5, 10]
    assert read_checkpoint(run / "checkpoints" / "checkpoint_000000010.h5")["step"] == 10


def test_disk_full_while_writing_a_checkpoint(tmp_path, monkeypatch):
    scn = tmp_path / "s.toml"
    scn.write_text(SCENARIO)
    run = tmp_path / "run"
    monkeypatch.setattr(
        checkpoint_module, "_write_node", fail_on_call(checkpoint_module._write_node, 2)
    )
    res = CliRunner().invoke(
        cli, ["run", str(scn), "--out", str(run), "--backend", "numpy", "--quiet"]
    )
    assert res.exit_code == 3, res.output
    assert one_line(res).startswith(
        f"error: {run}/checkpoints/checkpoint_000000020.h5: cannot write: No space left"
    )
    assert not temporaries(run)
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["checkpoint_000000010.h5"]
    assert read_checkpoint(run / "checkpoints" / "checkpoint_000000010.h5")["step"] == 10
    assert read_snapshot(list_snapshots(run)[-1]).time == 2.0


def test_write_error_names_the_file_and_errno():
    e = write_error(OSError(H5PY_ENOSPC.format(name="x.tmp")), Path("run/s.h5"))
    assert (e.errno, e.filename, e.strerror) == (28, "run/s.h5", os.strerror(28))
    e = write_error(PermissionError(errno.EACCES, "Permission denied", "x.tmp"), Path("y"))
    assert isinstance(e, PermissionError) and e.filename == "y"


CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
from spatialtumor.cli import main
sys.argv = ["spatialtumor", "run", sys.argv[1], "--out", sys.argv[2], "--backend", "numpy"]
sys.argv.append("--quiet")
main()
"""


@pytest.mark.skipif(not hasattr(os, "setpgid") or sys.platform != "linux", reason="Linux limits")
def test_real_write_failure_file_too_large(tmp_path):
    """The kernel refuses the write (RLIMIT_FSIZE): the real h5py error path, end to end."""
    scn = tmp_path / "s.toml"
    scn.write_text(SCENARIO.replace("nx = 6", "nx = 60"))  # snapshots of ~35 kB
    run = tmp_path / "run"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(scn), str(run)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 3, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0] == (
        f"error: {run}/snapshots/snapshot_000000.h5: cannot write: File too large (errno 27, EFBIG)"
    )
    assert not temporaries(run)
