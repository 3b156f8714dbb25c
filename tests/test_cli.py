"""Command line: runs, validation, and bad input → one clear line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spatialtumor.cli import cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
GOOD = """
[run]
stop = 1.0
[clock]
dt_diffusion = 0.1
dt_mechanics = 0.1
dt_phenotype = 0.5
[grid]
nx = 6
ny = 5
nz = 4
spacing = 20.0
[fields.oxygen]
diffusivity = 1.0e5
decay = 0.1
initial = 38.0
units = "mmHg"
boundary = 38.0
[output]
every = 0.5
"""


@pytest.fixture
def runner():
    return CliRunner()


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_run_small_scenario(runner, tmp_path):
    scn = write(tmp_path, GOOD)
    out = tmp_path / "run"
    res = runner.invoke(cli, ["run", str(scn), "--backend", "numpy", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "done: t = 1 min, 10 steps" in res.output
    assert "voxel-field updates/s" in res.output
    assert (out / "run.xdmf").is_file()
    assert len(list((out / "snapshots").glob("*.h5"))) == 3  # t = 0, 0.5, 1


def test_run_options_override(runner, tmp_path):
    scn = write(tmp_path, GOOD)
    out = tmp_path / "run"
    args = [
        "run",
        str(scn),
        "--backend",
        "numpy",
        "--precision",
        "float32",
        "--out",
        str(out),
        "--stop",
        "0.5",
        "--seed",
        "9",
        "--set",
        "fields.oxygen.decay=0.2",
    ]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "numpy (float32)" in res.output and "seed 9" in res.output
    assert "done: t = 0.5 min, 5 steps" in res.output


def test_run_refuses_nonempty_out(runner, tmp_path):
    scn = write(tmp_path, GOOD)
    out = tmp_path / "run"
    out.mkdir()
    (out / "x").write_text("keep me")
    res = runner.invoke(cli, ["run", str(scn), "--backend", "numpy", "--out", str(out)])
    assert res.exit_code == 2 and "not empty" in res.output
    assert (out / "x").read_text() == "keep me"


def test_validate_prints_resolved(runner):
    res = runner.invoke(cli, ["validate", str(SCENARIOS / "diffusion.toml")])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output and "dt_diffusion = 0.02" in res.output
    assert "origin = [" in res.output  # resolved, although the file leaves it out


BAD = {
    "typo key": (
        GOOD.replace("decay = 0.1", "decai = 0.1"),
        "fields.oxygen.decai: unknown key; allowed: boundary, decay, diffusivity",
    ),
    "wrong type": (
        GOOD.replace("nx = 6", 'nx = "six"'),
        "grid.nx: Input should be a valid integer",
    ),
    "negative diffusivity": (
        GOOD.replace("diffusivity = 1.0e5", "diffusivity = -1.0"),
        "fields.oxygen.diffusivity: Input should be greater than or equal",
    ),
    "unstable explicit": (
        GOOD.replace('units = "mmHg"', 'units = "mmHg"\nsolver = "explicit"'),
        "fields.oxygen.solver: explicit step unstable",
    ),
    "absurd grid": (
        GOOD.replace("nx = 6", "nx = 1000000").replace("ny = 5", "ny = 1000000"),
        "grid: 1000000×1000000×4 voxels × 1 fields needs about",
    ),
    "clocks do not nest": (
        GOOD.replace("dt_mechanics = 0.1", "dt_mechanics = 0.25"),
        "clock: dt_mechanics (0.25 min) must be an integer multiple",
    ),
    "missing grid": (GOOD.replace("[grid]", "[grid_]"), "grid_: unknown key"),
    "bad toml": (GOOD + "\n[[[", "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_scenario_one_line_exit_2(runner, tmp_path, case, command):
    text, expected = BAD[case]
    scn = write(tmp_path, text, "bad.toml")
    args = [command, str(scn)] + (
        ["--backend", "numpy", "--out", str(tmp_path / "r")] if command == "run" else []
    )
    res = runner.invoke(cli, args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {scn}: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # nothing created for a bad scenario


def test_bad_override(runner):
    res = runner.invoke(cli, ["validate", str(SCENARIOS / "diffusion.toml"), "--set", "nonsense"])
    assert res.exit_code == 2 and "expected KEY=VALUE" in res.output
    res = runner.invoke(
        cli, ["validate", str(SCENARIOS / "diffusion.toml"), "--set", "sources.0.field=nitrogen"]
    )
    assert res.exit_code == 2 and "sources.0.field: unknown field 'nitrogen'" in res.output


def test_unknown_scenario_name(runner):
    res = runner.invoke(cli, ["run", "no-such-scenario"])
    assert res.exit_code == 2 and "no shipped scenario of that name" in res.output


def test_info_lists_backends(runner):
    res = runner.invoke(cli, ["info"])
    assert res.exit_code == 0
    assert "backends: numpy" in res.output and "numpy:" in res.output
    res = runner.invoke(cli, ["info", "--json"])
    import json

    data = json.loads(res.output)
    assert data["spatialtumor"] and "auto backend" in data


def test_check_backend_without_gpu(runner):
    from spatialtumor.backends import cupy_status

    if cupy_status()[0]:
        pytest.skip("a GPU is present")
    res = runner.invoke(cli, ["check-backend"])
    assert res.exit_code != 0 and "no CUDA device" in res.output
    res = runner.invoke(cli, ["check-backend", "--backend", "cupy"])
    assert res.exit_code == 2 and "unusable" in res.output
