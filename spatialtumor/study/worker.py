"""``python -m spatialtumor.study.worker``: run members in one process (one backend for all).

::

    python -m spatialtumor.study.worker STUDY/members/ID ...       # these member folders
    python -m spatialtumor.study.worker --study STUDY --tasks FILE --task 3
                                           # line 3 of FILE: the member ids of one array task

Prints one ``@outcome {json}`` line per member on stdout (read by the local executor).
With ``--parent PID`` the worker exits as soon as that process is gone, so a killed
``spatialtumor study run`` leaves no orphan members running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from .layout import member_dir
from .runner import OUTCOME_TAG, Outcome, run_members


def task_members(study_dir: Path, tasks_file: Path, task: int) -> list[Path]:
    """The member folders of array task ``task`` (line ``task`` of ``tasks_file``)."""
    lines = tasks_file.read_text(encoding="utf-8").splitlines()
    if not 0 <= task < len(lines):
        raise SystemExit(f"error: task {task} is not in {tasks_file} (0..{len(lines) - 1})")
    return [member_dir(study_dir, i) for i in lines[task].split()]


def watch_parent(pid: int, every: float = 0.5) -> None:
    """Exit this process (status 137) once process ``pid`` is no longer its parent."""

    def watch():
        while True:
            if os.getppid() != pid:
                os._exit(137)
            time.sleep(every)

    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def report(outcome: Outcome) -> None:
    sys.stdout.write(OUTCOME_TAG + json.dumps(outcome.to_dict()) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spatialtumor.study.worker", description=__doc__)
    p.add_argument("folders", nargs="*", type=Path, help="member folders")
    p.add_argument("--study", type=Path, help="study folder (with --tasks)")
    p.add_argument("--tasks", type=Path, help="file with one line of member ids per task")
    p.add_argument("--task", type=int, help="task number (e.g. $SLURM_ARRAY_TASK_ID)")
    p.add_argument("--parent", type=int, help="exit when this process is gone")
    args = p.parse_args(argv)
    from ..allocator import keep_freed_memory

    keep_freed_memory()  # as `spatialtumor run` does: NumPy's temporaries stay mapped
    if args.parent is not None:
        watch_parent(args.parent)
    folders = list(args.folders)
    if args.tasks is not None:
        if args.task is None or args.study is None:
            p.error("--tasks needs --study and --task")
        folders += task_members(args.study, args.tasks, args.task)
    if not folders:
        p.error("no member folders given")
    outcomes = run_members(folders, report=report)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
