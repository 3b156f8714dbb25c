"""A run killed with SIGKILL at any moment leaves a readable run folder.

Each test starts a real run in a child process, waits for output to appear, kills it with
SIGKILL (no handler, no flush, no ``finally``) and then checks with ``check_run_folder``
that every completed snapshot, the sidecar and the time-series table read back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spatialtumor.output import SIDECAR_NAME, SnapshotWriter, list_snapshots, read_snapshot

HERE = Path(__file__).parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from _runs import check_run_folder, sidecar_files  # noqa: E402

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL needs a POSIX system")

CHILD = """
import sys
sys.path.insert(0, {here!r})
from _runs import make_sim
from spatialtumor.output import add_writers
sim = make_sim(stop=1e6, shape={shape!r})
add_writers(sim, {run!r}, every=0.5)
sim.run()
"""


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")])
    return e


def start_child(run_dir: Path, shape) -> subprocess.Popen:
    code = CHILD.format(here=str(HERE), shape=tuple(shape), run=str(run_dir))
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def temporaries(run_dir: Path) -> list[Path]:
    found = []
    for folder in (run_dir, run_dir / "snapshots"):
        if folder.is_dir():
            found += [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    return found


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 20.0) -> bool:
    """Spin until ``predicate()`` holds; False on timeout. Fails if the child died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"child exited early ({proc.returncode}): {err.decode()[-2000:]}")
    return False


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def n_snapshots(run_dir: Path) -> int:
    return len(list_snapshots(run_dir))


def after_kill(run_dir: Path) -> dict:
    summary = check_run_folder(run_dir)
    # a restarted writer removes what the killed one left half-written
    SnapshotWriter(run_dir, every=1.0, existing="append")
    assert not [p for p in temporaries(run_dir) if "snapshot" in p.name]
    return summary


@pytest.mark.parametrize("delay", [0.0, 0.037, 0.11, 0.29])
def test_kill_at_random_moments(tmp_path, delay):
    """Small snapshots, tens per second: the kill lands anywhere in the write cycle."""
    run_dir = tmp_path / "run"
    proc = start_child(run_dir, (5, 7, 11))
    try:
        assert wait_for(lambda: n_snapshots(run_dir) >= 2, proc)
        time.sleep(delay)
    finally:
        kill(proc)
    summary = after_kill(run_dir)
    assert summary["snapshots"] >= 2


def test_kill_while_a_snapshot_is_being_written(tmp_path):
    """Larger snapshots (~6 MB): kill exactly while a temporary snapshot file exists."""
    run_dir = tmp_path / "run"
    proc = start_child(run_dir, (48, 64, 120))
    snaps = run_dir / "snapshots"

    def mid_write():
        return n_snapshots(run_dir) >= 1 and any(
            p.name.startswith(".snapshot_") and p.name.endswith(".tmp") for p in snaps.iterdir()
        )

    try:
        caught = wait_for(mid_write, proc)
    finally:
        kill(proc)
    assert caught, "no snapshot was ever seen half-written"
    left = [p for p in temporaries(run_dir) if p.name.startswith(".snapshot_")]
    assert left, "the kill should have left the half-written snapshot behind"
    assert all(p.name not in {q.name for q in list_snapshots(run_dir)} for p in left)
    after_kill(run_dir)


def test_kill_while_the_sidecar_or_table_is_being_replaced(tmp_path):
    """Kill while a temporary sidecar or table exists (tried for up to 5 s, then anyway)."""
    run_dir = tmp_path / "run"
    proc = start_child(run_dir, (5, 7, 11))

    def mid_replace():
        if not (run_dir / SIDECAR_NAME).exists():
            return False
        return any(p.parent == run_dir for p in temporaries(run_dir))

    try:
        assert wait_for(lambda: n_snapshots(run_dir) >= 2, proc)
        caught = wait_for(mid_replace, proc, timeout=5.0)
    finally:
        kill(proc)
    summary = check_run_folder(run_dir, require_snapshots=2)
    if caught:  # the old sidecar or table is still there, complete
        assert summary["listed"] >= 1 and summary["rows"] >= 1


def test_cli_run_killed_mid_run(tmp_path):
    """``spatialtumor run`` on the diffusion scenario, killed after a few snapshots."""
    run_dir = tmp_path / "cli"
    cmd = [
        sys.executable, "-m", "spatialtumor.cli", "run", "scenarios/diffusion.toml",
        "--out", str(run_dir), "--backend", "numpy", "--set", "output.every=0.2",
        "--stop", "30", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    rng = np.random.default_rng()
    try:
        assert wait_for(lambda: n_snapshots(run_dir) >= 4, proc, timeout=60.0)
        time.sleep(rng.uniform(0.0, 0.3))
    finally:
        kill(proc)
    summary = check_run_folder(run_dir, require_snapshots=4)
    files = list_snapshots(run_dir)
    snaps = [read_snapshot(p) for p in files]
    assert snaps[-1].time < 30.0, "the run finished before it was killed"
    assert [s.step for s in snaps] == [10 * i for i in range(len(snaps))]  # 0.2 min / 0.02
    # every completed snapshot and the sidecar read in VTK, with the snapshot's values
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(run_dir / SIDECAR_NAME))
    reader.UpdateInformation()
    listed = sidecar_files(run_dir)
    by_file = {p.relative_to(run_dir).as_posix(): s for p, s in zip(files, snaps, strict=True)}
    for t, rel in listed[:: max(1, len(listed) // 3)] + listed[-1:]:
        reader.UpdateTimeStep(t)
        image = reader.GetOutputDataObject(0)  # fields only: the image itself
        assert image.IsA("vtkImageData")
        snap = by_file[rel]
        assert snap.time == t
        for name in ("oxygen", "chemokine"):
            values = vtk_to_numpy(image.GetPointData().GetArray(name))
            np.testing.assert_array_equal(values, snap.fields[name].ravel())
    # the table parses and its rows are the snapshot steps (give or take the one being written)
    from spatialtumor.output import read_timeseries

    ts = read_timeseries(run_dir)
    assert abs(len(ts["step"]) - len(snaps)) <= 1
    n = min(len(ts["step"]), len(snaps))
    np.testing.assert_array_equal(ts["step"][:n], [s.step for s in snaps[:n]])
    assert summary["rows"] == len(ts["step"])
