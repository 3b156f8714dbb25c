"""SLURM job arrays: one array task per member (or per chunk of members).

``write_array`` writes ``STUDY/slurm/array-<n>.sh`` and ``STUDY/slurm/array-<n>.tasks``
(line ``i``: the member ids of array task ``i``) for the members not finished yet; each
task runs ``python -m spatialtumor.study.worker --study STUDY --tasks FILE --task
$SLURM_ARRAY_TASK_ID``. ``submit`` hands the script to ``sbatch``. Resubmitting after some
tasks failed or timed out writes a new array for what is left; finished members are never
redone, and a member is never run twice at once (member folders are locked).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .executors import chunks

SLURM_DIR = "slurm"
#: SLURM's default MaxArraySize is 1001 (indices 0..1000)
MAX_ARRAY_SIZE = 1000


class SlurmError(RuntimeError):
    """The array cannot be written or submitted; ``str()`` is one line."""


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of each array task (``#SBATCH`` lines)."""

    job_name: str = "spatialtumor"
    time: str = "01:00:00"
    cpus_per_task: int = 1
    mem: str = "4G"
    gpus_per_task: int = 0
    partition: str | None = None
    account: str | None = None
    max_parallel: int | None = None
    members_per_task: int = 1
    extra: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    python: str = sys.executable
    max_array_size: int = MAX_ARRAY_SIZE


@dataclass(frozen=True)
class ArrayScript:
    """A written array: the script, its task file, and how many tasks and members."""

    script: Path
    tasks: Path
    n_tasks: int
    n_members: int
    lines: list[str] = field(default_factory=list)


def _next_number(folder: Path) -> int:
    nums = [int(m.group(1)) for p in folder.glob("array-*.sh") if (m := _NUM.match(p.name))]
    return max(nums, default=-1) + 1


_NUM = re.compile(r"array-(\d+)\.sh$")


def script_text(study_dir: Path, tasks: Path, n_tasks: int, opts: SlurmOptions) -> str:
    """The array script for ``n_tasks`` tasks."""
    logs = study_dir / SLURM_DIR / "logs"
    array = f"0-{n_tasks - 1}" + (f"%{opts.max_parallel}" if opts.max_parallel else "")
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={opts.job_name}",
        f"#SBATCH --array={array}",
        f"#SBATCH --output={logs}/%A_%a.out",
        f"#SBATCH --time={opts.time}",
        f"#SBATCH --cpus-per-task={opts.cpus_per_task}",
        f"#SBATCH --mem={opts.mem}",
    ]
    if opts.gpus_per_task:
        lines.append(f"#SBATCH --gres=gpu:{opts.gpus_per_task}")
    if opts.partition:
        lines.append(f"#SBATCH --partition={opts.partition}")
    if opts.account:
        lines.append(f"#SBATCH --account={opts.account}")
    lines += [f"#SBATCH {e}" for e in opts.extra]
    per = opts.members_per_task
    lines += [
        f"# spatialtumor study: {n_tasks} array tasks, up to {per} member"
        f"{'s' * (per != 1)} each; task i runs the member ids on line i of",
        f"# {tasks}",
        "set -eu",
        'export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"',
    ]
    lines += list(opts.setup)
    lines += [
        f"cd {shlex.quote(str(Path.cwd()))}",
        f"exec {shlex.quote(opts.python)} -m spatialtumor.study.worker "
        f"--study {shlex.quote(str(study_dir))} --tasks {shlex.quote(str(tasks))} "
        '--task "$SLURM_ARRAY_TASK_ID"',
    ]
    return "\n".join(lines) + "\n"


def write_array(study_dir: str | os.PathLike, ids: list[str], opts: SlurmOptions) -> ArrayScript:
    """Write the array script and task file for the member ``ids`` (usually the unfinished).

    Raises
    ------
    SlurmError
        when there is nothing to run, or more tasks than ``opts.max_array_size``.
    """
    study_dir = Path(study_dir).resolve()
    if not ids:
        raise SlurmError("every member is finished; nothing to submit")
    tasks = chunks(ids, opts.members_per_task)
    if len(tasks) > opts.max_array_size:
        need = -(-len(ids) // opts.max_array_size)
        raise SlurmError(
            f"{len(tasks)} array tasks exceed the array size limit of {opts.max_array_size}; "
            f"use --members-per-task {need} or more"
        )
    folder = study_dir / SLURM_DIR
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    n = _next_number(folder)
    tasks_path = folder / f"array-{n}.tasks"
    script_path = folder / f"array-{n}.sh"
    tasks_path.write_text("".join(" ".join(t) + "\n" for t in tasks), encoding="utf-8")
    text = script_text(study_dir, tasks_path, len(tasks), opts)
    script_path.write_text(text, encoding="utf-8")
    script_path.chmod(0o755)
    return ArrayScript(script_path, tasks_path, len(tasks), len(ids), text.splitlines())


def submit_script(script: Path, sbatch: str = "sbatch") -> str:
    """Submit with ``sbatch --parsable``; return the job id."""
    exe = shutil.which(sbatch)
    if exe is None:
        raise SlurmError(f"{sbatch} not found on PATH; submit {script} on the cluster")
    res = subprocess.run([exe, "--parsable", str(script)], capture_output=True, text=True)
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise SlurmError(f"sbatch failed ({res.returncode}): {msg[-1] if msg else ''}")
    out = res.stdout.strip().splitlines()
    return out[-1].split(";")[0].strip() if out else ""
