"""Run members in this process, one after another, reusing one backend.

:func:`run_members` is what every executor ends up calling, in a worker process
(``python -m spatialtumor.study.worker``), a SLURM array task or a Dask worker. The backend
(``make_backend``) is made once per (backend, precision) and kept for the life of the
process, so on a GPU the CUDA context, the memory pool and the compiled kernels are reused
from one member to the next.

A member folder is locked (``flock``) while its member runs, so two processes never run the
same member: the second waits, then finds it finished and skips it. The lock dies with its
process, so a killed run never leaves a member locked.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .layout import DEFINITION, DONE, FAILED, LOCK, LOG, RUN, now_iso, read_json, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    from ..backends import Backend

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

#: prefix of the lines a worker process prints for each finished member
OUTCOME_TAG = "@outcome "

_BACKENDS: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class Outcome:
    """What happened to one member: ``done``, ``skipped`` (already done) or ``failed``."""

    id: str
    status: str
    wall_seconds: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def member_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (waits while another process holds it)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(folder / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def backend_for(name: str, precision: str) -> Backend:
    """The backend of this process for (name, precision), made on first use."""
    from ..build import make_backend

    key = (name, precision)
    if key not in _BACKENDS:
        _BACKENDS[key] = make_backend(name, precision)
    return _BACKENDS[key]


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_member(folder: str | os.PathLike) -> Outcome:
    """Run the member defined in ``folder/member.json`` unless it is already finished.

    The run goes to ``folder/run`` (removed first if a killed run left it), warnings and a
    failure's traceback to ``folder/member.log``; ``done.json`` is written atomically after
    the run, or ``failed.json`` with a one-line error. Never raises for a member's failure.
    """
    folder = Path(folder)
    with member_lock(folder):
        if (folder / DONE).is_file():
            return Outcome(folder.name, "skipped")
        return _run_unlocked(folder)


def _run_unlocked(folder: Path) -> Outcome:
    from .. import __version__
    from ..build import build_simulation
    from ..output.timeseries import read_timeseries
    from ..scenario import load_scenario

    run_dir = folder / RUN
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (folder / FAILED).unlink(missing_ok=True)
    start = time.perf_counter()
    with open(folder / LOG, "w", encoding="utf-8") as log:
        try:
            spec = read_json(folder / DEFINITION)
            log.write(f"member {spec['id']}: {spec['scenario']}\n")
            for item in spec["overrides"]:
                log.write(f"  --set {item}\n")
            scn = load_scenario(spec["scenario"], spec["overrides"])
            for w in scn.warnings:
                log.write(f"warning: {w}\n")
            precision = spec.get("precision") or scn.spec.run.precision
            be = backend_for(spec.get("backend", "auto"), precision)
            log.write(f"backend: {be.describe()}\n")
            log.flush()
            sim = build_simulation(scn, be, run_dir=run_dir)
            sim.run()
            table = read_timeseries(run_dir)
            final = {k: _plain(v[-1]) for k, v in table.items() if len(v)}
            wall = time.perf_counter() - start
            write_json_atomic(
                folder / DONE,
                {
                    "id": spec["id"],
                    "status": "done",
                    "wall_seconds": wall,
                    "sim_wall_seconds": sim.wall_seconds,
                    "steps": sim.step_index,
                    "backend": be.name,
                    "device": str(be.device),
                    "dtype": str(be.dtype),
                    "final": final,
                    "finished": now_iso(),
                    "version": __version__,
                    "host": os.uname().nodename if hasattr(os, "uname") else "",
                },
            )
            log.write(f"done in {wall:.2f} s\n")
            return Outcome(folder.name, "done", wall)
        except Exception as exc:
            wall = time.perf_counter() - start
            error = one_line(exc)
            log.write(traceback.format_exc())
            write_json_atomic(
                folder / FAILED,
                {
                    "id": folder.name,
                    "status": "failed",
                    "error": error,
                    "log": LOG,
                    "wall_seconds": wall,
                    "finished": now_iso(),
                },
            )
            return Outcome(folder.name, "failed", wall, error)


def _plain(value: Any) -> Any:
    try:
        return value.item()
    except AttributeError:
        return value


def run_members(
    folders: Sequence[str | os.PathLike], report: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    """Run several members one after another in this process (one backend for all)."""
    out = []
    for folder in folders:
        outcome = run_member(folder)
        out.append(outcome)
        if report is not None:
            report(outcome)
    return out


def run_members_dicts(folders: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`run_members` with plain results (for Dask, which pickles them)."""
    from ..allocator import keep_freed_memory

    keep_freed_memory()  # the worker process is ours for the task, as in the CLI
    return [o.to_dict() for o in run_members(folders)]
