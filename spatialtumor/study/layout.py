"""The study folder: manifest, one folder per member, completion markers.

::

    STUDY/
      study.json               manifest: settings, parameter keys, members (index, id, arm, seed)
      study.toml               copy of the study file as it was read
      members/<id>/member.json what the member is (scenario, overrides, seed, backend)
      members/<id>/run/        its run folder (snapshots, timeseries.csv, checkpoints)
      members/<id>/member.log  its log (warnings, traceback of a failure)
      members/<id>/done.json   written atomically after the run: the member is finished
      members/<id>/failed.json the last failure: one-line error
      results/                 the joined tables (see ``table.py``)

A member is finished exactly when ``done.json`` exists; anything else in its folder is
redone from scratch by the next run of the study.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..output.atomic import write_text_atomic
from .members import Member, Study

FORMAT = 1
MANIFEST = "study.json"
STUDY_COPY = "study.toml"
MEMBERS = "members"
DEFINITION = "member.json"
DONE = "done.json"
FAILED = "failed.json"
LOG = "member.log"
RUN = "run"
LOCK = ".lock"
RESULTS = "results"


def default_study_dir(study_file: str | os.PathLike) -> Path:
    """``runs/<study file stem>`` in the current folder."""
    return Path("runs") / Path(study_file).stem


def member_dir(study_dir: str | os.PathLike, member_id: str) -> Path:
    return Path(study_dir) / MEMBERS / member_id


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json_atomic(path: str | os.PathLike, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, default=str) + "\n")


def definition(member: Member, study: Study, backend: str, precision: str | None) -> dict:
    """What a member is, as stored in ``members/<id>/member.json``."""
    return {
        "format": FORMAT,
        "id": member.id,
        "study": study.name,
        "arm": member.arm,
        "seed": member.seed,
        "params": member.params,
        "scenario": str(study.scenario_path),
        "overrides": list(member.overrides),
        "backend": backend,
        "precision": precision,
    }


def write_definitions(
    study_dir: Path, members: list[Member], study: Study, backend: str, precision: str | None
) -> list[Path]:
    """Create each member's folder and ``member.json`` (rewritten only when it changed)."""
    dirs = []
    for m in members:
        d = member_dir(study_dir, m.id)
        d.mkdir(parents=True, exist_ok=True)
        data = definition(m, study, backend, precision)
        path = d / DEFINITION
        try:
            same = read_json(path) == json.loads(json.dumps(data, default=str))
        except (OSError, ValueError):
            same = False
        if not same:
            write_json_atomic(path, data)
        dirs.append(d)
    return dirs


def prepare_study_dir(
    study: Study, study_dir: str | os.PathLike, backend: str, precision: str | None
) -> list[Path]:
    """Write the manifest, the study file copy and every member definition; their folders."""
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": FORMAT,
        "name": study.name,
        "title": study.spec.title,
        "study_file": str(study.source.resolve()),
        "scenario": str(study.scenario_path),
        "backend": backend,
        "precision": precision,
        "arms": study.arms,
        "seeds": study.spec.seed_list(),
        "params": list(study.param_keys),
        "members": [
            {"index": m.index, "id": m.id, "arm": m.arm, "seed": m.seed, "params": m.params}
            for m in study.members
        ],
        "written": now_iso(),
    }
    write_json_atomic(study_dir / MANIFEST, manifest)
    write_text_atomic(study_dir / STUDY_COPY, study.source.read_text(encoding="utf-8"))
    return write_definitions(study_dir, list(study.members), study, backend, precision)


def read_manifest(study_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a study folder; ``FileNotFoundError`` when there is none."""
    path = Path(study_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{study_dir} is not a study folder (no {MANIFEST})")
    return read_json(path)


@dataclass(frozen=True)
class MemberStatus:
    """Where one member stands: ``done``, ``failed`` or ``pending``."""

    id: str
    status: str
    error: str = ""
    wall_seconds: float | None = None


def member_status(folder: str | os.PathLike) -> MemberStatus:
    """Read a member folder's markers (``done.json`` wins over ``failed.json``)."""
    folder = Path(folder)
    done = folder / DONE
    if done.is_file():
        try:
            data = read_json(done)
            return MemberStatus(folder.name, "done", "", data.get("wall_seconds"))
        except (OSError, ValueError):
            pass
    failed = folder / FAILED
    if failed.is_file():
        try:
            data = read_json(failed)
            return MemberStatus(folder.name, "failed", str(data.get("error", "")))
        except (OSError, ValueError):
            return MemberStatus(folder.name, "failed", "unreadable failed.json")
    return MemberStatus(folder.name, "pending")


def statuses(study_dir: str | os.PathLike, ids: list[str]) -> list[MemberStatus]:
    return [member_status(member_dir(study_dir, i)) for i in ids]
