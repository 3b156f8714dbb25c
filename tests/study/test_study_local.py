"""Local executor: a 12-member study survives SIGKILL, failures are recorded, in-process
members give the same results as one process per member."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from _study import ARMS, cli_cmd, cli_env, run_cli, write_study
from click.testing import CliRunner

from spatialtumor.cli import cli
from spatialtumor.study.runner import run_members
from spatialtumor.study.table import read_table


def _done(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("members/*/done.json")}


def _workers_of(out: Path) -> list[int]:
    """Pids of worker processes still running on members of ``out`` (Linux /proc)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "spatialtumor.study.worker" in cmd and str(out) in cmd:
            pids.append(int(proc.name))
    return pids


def test_twelve_members_survive_sigkill_and_resume(tmp_path):
    study = write_study(tmp_path, ARMS, seeds="[1, 2, 3, 4]", stop=120.0)
    out = tmp_path / "out"
    args = ["study", "run", str(study), "--out", str(out), "-j", "2"]
    proc = subprocess.Popen(
        cli_cmd(*args), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while len(_done(out)) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _done(out)
    assert 3 <= len(before) < 12
    if Path("/proc").is_dir():  # the workers die with their parent
        deadline = time.monotonic() + 10
        while _workers_of(out) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _workers_of(out) == []
    before = _done(out)  # a member may have finished between the two looks

    res = run_cli(*args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "12 members (3 arms × 1 point × 4 seeds)" in res.stdout
    assert f"{len(before)} finished, {12 - len(before)} to run" in res.stdout
    assert f"{12 - len(before)} run now" in res.stdout
    after = _done(out)
    assert len(after) == 12
    assert all(after[k] == v for k, v in before.items())  # finished members were not redone

    members = read_table(out, "members")
    assert len(members) == 12 and set(members["status"]) == {"done"}
    assert list(members["index"]) == list(range(12))
    assert list(members["arm"]) == ["normoxia"] * 4 + ["hypoxia"] * 4 + ["severe"] * 4
    assert list(members["seed"]) == [1, 2, 3, 4] * 3
    ts = read_table(out, "timeseries")
    assert ts["member"].nunique() == 12
    assert len(ts) == 12 * 5  # t = 0, 30, 60, 90, 120 min
    # the arm's overrides reached the run: the wall value bounds the oxygen
    top = ts.groupby("arm")["oxygen_max"].max()
    assert top["normoxia"] == 38.0 and top["hypoxia"] == 15.0 and top["severe"] == 8.0
    for m in members.itertuples():
        spec = json.loads((out / "members" / m.member / "member.json").read_text())
        assert spec["seed"] == m.seed and spec["overrides"][-1] == f"run.seed={m.seed}"
    # seeds matter: the four normoxic runs do not all end alike
    assert ts[ts["arm"] == "normoxia"].groupby("member")["cells_total"].last().nunique() > 1


def test_arm_that_cannot_run_is_refused_before_any_member_runs(tmp_path):
    body = "[arms.ok]\n[arms.broken]\nset = ['cells.initial.0.radius=150.0']\n"
    study = write_study(tmp_path, body, seeds="[1, 2]")
    res = CliRunner().invoke(cli, ["study", "run", str(study), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "arms.broken.set.0: cells.initial.0: places a cell at" in res.output
    assert not (tmp_path / "out").exists()


def test_failed_member_is_recorded_and_does_not_stop_the_others(tmp_path):
    # valid, but the blow-up check stops the run at once: a member that fails while running
    body = "[arms.ok]\n[arms.broken]\nset = ['blowup.limit=1.0']\n"
    study = write_study(tmp_path, body, seeds="[1, 2]")
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(out), "-j", "2"])
    assert res.exit_code == 1, res.output
    assert "2 of 4 members finished, 2 failed" in res.output
    failed = [line for line in res.output.splitlines() if line.startswith("failed: broken-s")]
    assert len(failed) == 2 and "blow-up at step 0" in failed[0] and "member.log" in failed[0]
    members = read_table(out, "members")
    assert list(members["status"]) == ["done", "done", "failed", "failed"]
    assert "BlowUp" in members["error"].iloc[2]
    folder = out / "members" / members["member"].iloc[2]
    assert "Traceback" in (folder / "member.log").read_text()
    assert json.loads((folder / "failed.json").read_text())["error"] == members["error"].iloc[2]

    res = runner.invoke(cli, ["study", "status", str(out)])
    assert res.exit_code == 1 and "2 finished, 2 failed, 0 pending" in res.output
    res = runner.invoke(cli, ["study", "run", str(study), "--out", str(out), "--skip-failed"])
    assert "2 finished, 0 to run" in res.output and res.exit_code == 1


def test_members_in_one_process_match_one_process_each(swept_study, tmp_path):
    study, out = swept_study
    grouped = tmp_path / "grouped"
    res = run_cli(
        "study", "run", str(study), "--out", str(grouped), "-j", "2", "--members-per-process", "4"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "4 members per process" in res.stdout
    ids = sorted(p.name for p in (out / "members").iterdir())
    assert len(ids) == 8 and ids == sorted(p.name for p in (grouped / "members").iterdir())
    for i in ids:
        a = (out / "members" / i / "run" / "timeseries.csv").read_bytes()
        b = (grouped / "members" / i / "run" / "timeseries.csv").read_bytes()
        assert a == b, i
    # and in this very process, twice in a row with one backend
    here = tmp_path / "here"
    for i in ids[:2]:
        (here / i).mkdir(parents=True)
        (here / i / "member.json").write_bytes((out / "members" / i / "member.json").read_bytes())
    outcomes = run_members([here / i for i in ids[:2]])
    assert [o.status for o in outcomes] == ["done", "done"]
    for i in ids[:2]:
        a = (out / "members" / i / "run" / "timeseries.csv").read_bytes()
        assert (here / i / "run" / "timeseries.csv").read_bytes() == a
    assert [o.status for o in run_members([here / ids[0]])] == ["skipped"]


def test_joined_tables_and_csv_fallback(swept_study, monkeypatch):
    study, out = swept_study
    members = read_table(out, "members")
    assert len(members) == 8
    assert list(members.columns[:5]) == ["member", "index", "arm", "seed", "fields.oxygen.decay"]
    assert sorted(set(members["fields.oxygen.decay"])) == [0.05, 0.2]
    assert {"final_cells_total", "final_oxygen_total", "wall_seconds"} <= set(members.columns)
    ts = read_table(out, "timeseries")
    assert len(ts) == 8 * 3 and ts["step"].dtype == "int64"
    import spatialtumor.study.table as table

    monkeypatch.setattr(table, "parquet_available", lambda: False)
    paths = table.write_tables(out)
    assert paths["timeseries"].suffix == ".csv" and not list((out / "results").glob("*.parquet"))
    again = table.read_table(out, "timeseries")
    pd.testing.assert_frame_equal(again[ts.columns], ts, check_exact=True)
    monkeypatch.undo()
    table.write_tables(out)


def test_status_and_join_commands(swept_study):
    study, out = swept_study
    runner = CliRunner()
    res = runner.invoke(cli, ["study", "status", str(study), "--out", str(out)])
    assert res.exit_code == 0 and "8 members: 8 finished, 0 failed, 0 pending" in res.output
    res = runner.invoke(cli, ["study", "join", str(out)])
    assert res.exit_code == 0 and "24 rows of 8 finished members" in res.output
    res = runner.invoke(cli, ["study", "status", str(out / "members")])
    assert res.exit_code == 2 and "is not a study folder" in res.output


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_gpu_slots_pin_cuda_visible_devices(tmp_path, monkeypatch):
    import threading
    import types

    from spatialtumor.study.executors import LocalExecutor

    seen = []
    both_running = threading.Barrier(2, timeout=10)

    class FakePopen:
        def __init__(self, cmd, env, **kw):
            seen.append(env.get("CUDA_VISIBLE_DEVICES"))
            if len(seen) <= 2:
                both_running.wait()  # the first two workers run at once, one per GPU
            self.stdout = iter(())

        def wait(self):
            return 0

        def poll(self):
            return 0

    fake = types.SimpleNamespace(Popen=FakePopen, PIPE=subprocess.PIPE, DEVNULL=subprocess.DEVNULL)
    monkeypatch.setattr("spatialtumor.study.executors.subprocess", fake)
    ex = LocalExecutor(gpus=["2", "5"])
    assert ex.jobs == 2 and "on GPUs 2,5" in ex.describe()
    folders = []
    for i in range(4):
        (tmp_path / f"m{i}").mkdir()
        folders.append(tmp_path / f"m{i}")
    got = []
    ex.run(folders, got.append)
    assert sorted(seen[:2]) == ["2", "5"] and len(seen) == 4 and set(seen) == {"2", "5"}
    assert [o.status for o in got] == ["failed"] * 4  # nothing reported: recorded as lost
