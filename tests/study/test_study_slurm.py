"""SLURM arrays without a cluster: the script is checked line by line, and a fake ``sbatch``
that runs the array's tasks here completes the study."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from _study import cli_cmd, cli_env, run_cli, write_study

from spatialtumor.study.members import load_study
from spatialtumor.study.slurm import SlurmError, SlurmOptions, write_array
from spatialtumor.study.table import read_table

BODY = "[arms.a]\n[arms.b]\nset = ['fields.oxygen.decay=0.2']\n"

FAKE_SBATCH = r"""#!/bin/bash
# Stand-in for sbatch: runs each task of the array script here, two at a time.
echo "$@" >> "$(dirname "$0")/sbatch.calls"
script="${@: -1}"
range=$(sed -n 's/^#SBATCH --array=\([0-9]*-[0-9]*\).*/\1/p' "$script")
first=${range%-*}
last=${range#*-}
logs="$(dirname "$script")/logs"
for i in $(seq "$first" "$last"); do
  SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 \
    bash "$script" > "$logs/4242_$i.out" 2>&1 &
  if (( (i - first) % 2 == 1 )); then wait; fi
done
wait
echo 4242
"""


def _fake_sbatch(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "sbatch"
    exe.write_text(FAKE_SBATCH)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    env = cli_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def test_array_script_lines(tmp_path):
    study = write_study(tmp_path, BODY, seeds="[1, 2, 3]")
    out = tmp_path / "out"
    res = run_cli(
        "study", "slurm", str(study), "--out", str(out), "--members-per-task", "2",
        "--time", "00:10:00", "--mem", "2G", "--gpus-per-task", "1", "--partition", "short",
        "--account", "lab", "--max-parallel", "2", "--sbatch-option", "--qos=normal",
        "--setup", "module load cuda", "--python", "/opt/env/bin/python",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "6 of 6 members to run in 3 array tasks" in res.stdout
    script = out.resolve() / "slurm" / "array-0.sh"
    assert f"script: {script}" in res.stdout and f"submit with: sbatch {script}" in res.stdout
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    sbatch = [line for line in lines if line.startswith("#SBATCH")]
    assert sbatch == [
        "#SBATCH --job-name=st-study",
        "#SBATCH --array=0-2%2",
        f"#SBATCH --output={out.resolve()}/slurm/logs/%A_%a.out",
        "#SBATCH --time=00:10:00",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=2G",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --partition=short",
        "#SBATCH --account=lab",
        "#SBATCH --qos=normal",
    ]
    tasks = out.resolve() / "slurm" / "array-0.tasks"
    assert "module load cuda" in lines
    assert lines[-1] == (
        f"exec /opt/env/bin/python -m spatialtumor.study.worker --study {out.resolve()} "
        f'--tasks {tasks} --task "$SLURM_ARRAY_TASK_ID"'
    )
    ids = [m.id for m in load_study(study).members]
    assert tasks.read_text().splitlines() == [" ".join(ids[i : i + 2]) for i in (0, 2, 4)]
    assert all((out / "members" / i / "member.json").is_file() for i in ids)


def test_array_size_limit(tmp_path):
    study = write_study(tmp_path, "", seeds="{ count = 5 }")

    ids = [m.id for m in load_study(study).members]
    with pytest.raises(SlurmError, match="use --members-per-task 3 or more"):
        write_array(tmp_path / "o", ids, SlurmOptions(max_array_size=2))


def test_fake_sbatch_completes_the_study(tmp_path):
    env = _fake_sbatch(tmp_path)
    study = write_study(tmp_path, BODY, seeds="[1, 2, 3]")
    out = tmp_path / "out"

    def cli(*args):
        return subprocess.run(cli_cmd(*args), env=env, capture_output=True, text=True)

    res = cli("study", "slurm", str(study), "--out", str(out), "--submit",
              "--members-per-task", "2")  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "submitted: job 4242" in res.stdout
    assert "--parsable" in (tmp_path / "bin" / "sbatch.calls").read_text()
    res = cli("study", "status", str(out))
    assert res.returncode == 0 and "6 members: 6 finished, 0 failed, 0 pending" in res.stdout
    res = cli("study", "join", str(out))
    assert res.returncode == 0, res.stderr
    members = read_table(out, "members")
    assert len(members) == 6 and set(members["status"]) == {"done"}
    assert list(members["arm"]) == ["a"] * 3 + ["b"] * 3
    assert len(read_table(out, "timeseries")) == 6 * 3
    logs = sorted(p.name for p in (out / "slurm" / "logs").iterdir())
    assert logs == ["4242_0.out", "4242_1.out", "4242_2.out"]

    # nothing left: no new array; one member redone: an array of one task
    res = cli("study", "slurm", str(study), "--out", str(out))
    assert res.returncode == 2 and "every member is finished; nothing to submit" in res.stderr
    (out / "members" / members["member"][4] / "done.json").unlink()
    res = cli("study", "slurm", str(study), "--out", str(out), "--submit")
    assert res.returncode == 0 and "1 of 6 members to run in 1 array tasks" in res.stdout
    assert (out.resolve() / "slurm" / "array-1.tasks").read_text().split() == [members["member"][4]]
    assert cli("study", "status", str(out)).returncode == 0
