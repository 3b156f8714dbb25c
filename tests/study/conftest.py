"""Fixtures of the study tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from _study import run_cli, write_study


@pytest.fixture(scope="session")
def swept_study(tmp_path_factory):
    """2 arms × 2 oxygen decays × 2 seeds = 8 members, run once with the local executor."""
    folder = tmp_path_factory.mktemp("swept")
    body = """
[arms.normoxia]
[arms.hypoxia]
set = ["fields.oxygen.boundary=15.0", "fields.oxygen.initial=15.0"]
[[vary]]
key = "fields.oxygen.decay"
values = [0.05, 0.2]
"""
    path = write_study(folder, body)
    out = folder / "out"
    res = run_cli("study", "run", str(path), "--out", str(out), "-j", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    return path, out


def pytest_collection_modifyitems(config, items):
    """The study tests marked ``slow`` (about a minute or more) run only when asked for with
    ``-m slow``: the rest of ``tests/study`` stays well under two minutes on two cores."""
    if "slow" in (config.option.markexpr or ""):
        return
    here = Path(__file__).resolve().parent
    skip = pytest.mark.skip(reason="slow study test: run with -m slow")
    for item in items:
        if "slow" in item.keywords and here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)
