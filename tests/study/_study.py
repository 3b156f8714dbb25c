"""Helpers of the study tests: tiny studies of the shipped default scenario (10³ voxels,
about 70 cells, about a second a member)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: overrides making the default scenario tiny; only grid, clock, run and output keys and the
#: placement radius, which do not depend on the cell model
TINY = [
    "grid.nx=10",
    "grid.ny=10",
    "grid.nz=10",
    "cells.initial.0.radius=40.0",
    "clock.dt_diffusion=0.1",
    "run.stop=60.0",
    "output.every=30.0",
    "output.checkpoint_every=0.0",
]

ARMS = """
[arms.normoxia]
[arms.hypoxia]
set = ["fields.oxygen.boundary=15.0", "fields.oxygen.initial=15.0"]
[arms.severe]
set = ["fields.oxygen.boundary=8.0", "fields.oxygen.initial=8.0"]
"""


def study_text(body: str = "", *, seeds: str = "[1, 2]", stop: float = 60.0) -> str:
    """A study of the tiny default scenario with ``body`` appended (arms, vary, …)."""
    sets = [s for s in TINY if not s.startswith("run.stop")] + [f"run.stop={stop}"]
    items = ", ".join(f'"{s}"' for s in sets)
    head = f'scenario = "default"\nbackend = "numpy"\nseeds = {seeds}\nset = [{items}]\n'
    return head + body


def write_study(folder: Path, body: str = "", name: str = "study.toml", **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(study_text(body, **kw), encoding="utf-8")
    return path


def cli_env() -> dict[str, str]:
    """Environment for a CLI subprocess: this checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from spatialtumor.cli import main; main()", *args]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300):
    """``spatialtumor ARGS`` in a subprocess (text output)."""
    return subprocess.run(
        cli_cmd(*args), cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )
