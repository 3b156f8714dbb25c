"""Scenarios with cells: bad input gives one clear line naming the key, exit code 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from spatialtumor.cli import cli

BASE = """
[run]
stop = 1.0
[clock]
dt_diffusion = 0.1
dt_mechanics = 0.1
dt_phenotype = 0.5
[grid]
nx = 8
ny = 8
nz = 8
spacing = 20.0
[fields.oxygen]
diffusivity = 1.0e5
decay = 0.1
initial = 38.0
boundary = 38.0
[cells.kinds.tumour]
exchange.oxygen = { uptake = 1.0 }
[cells.kinds.tumour.growth]
birth_rate = 0.001
[[cells.initial]]
kind = "tumour"
shape = "sphere"
radius = 30.0
[output]
every = 0.5
"""

CSV_OK = "x,y,z,kind\n0,0,0,tumour\n10,5,-3,tumour\n"


def write(tmp_path, text, csv=None):
    if csv is not None:
        (tmp_path / "cells.csv").write_text(csv)
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def invoke(args):
    return CliRunner().invoke(cli, args)


def test_cells_scenario_runs(tmp_path):
    scn = write(tmp_path, BASE)
    res = invoke(["run", str(scn), "--backend", "numpy", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "cells:" in res.output and "done: t = 1 min" in res.output


def test_csv_placement_relative_to_scenario(tmp_path):
    text = BASE.replace('shape = "sphere"\nradius = 30.0', 'shape = "csv"\nfile = "cells.csv"')
    scn = write(tmp_path, text, CSV_OK)
    res = invoke(["run", str(scn), "--backend", "numpy", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "cells: 2" in res.output


CASES = {
    "unknown exchange field": (
        BASE.replace("exchange.oxygen =", "exchange.oxgen ="),
        "cells.kinds.tumour.exchange.oxgen: unknown field 'oxgen'; fields: oxygen",
    ),
    "unknown chemotaxis field": (
        BASE.replace(
            "[cells.kinds.tumour.growth]",
            'chemotaxis = { field = "il2", bias = 0.5 }\n[cells.kinds.tumour.growth]',
        ),
        "cells.kinds.tumour.chemotaxis.field: unknown field 'il2'",
    ),
    "negative rate": (
        BASE.replace("birth_rate = 0.001", "birth_rate = -0.001"),
        "cells.kinds.tumour.growth.birth_rate: Input should be greater than or equal to 0",
    ),
    "negative uptake": (
        BASE.replace("uptake = 1.0", "uptake = -1.0"),
        "cells.kinds.tumour.exchange.oxygen.uptake: Input should be greater than or equal to 0",
    ),
    "unknown kind placed": (
        BASE.replace('kind = "tumour"\nshape', 'kind = "tumor"\nshape'),
        "cells.initial.0.kind: unknown kind 'tumor'; kinds: tumour",
    ),
    "typo in kind table": (
        BASE.replace(
            "[cells.kinds.tumour.growth]\nbirth_rate", "[cells.kinds.tumour.growth]\nbirth_rat"
        ),
        "cells.kinds.tumour.growth.birth_rat: unknown key; allowed:",
    ),
    "sphere outside the domain": (
        BASE.replace("radius = 30.0", "radius = 30.0\ncentre = [500.0, 0.0, 0.0]"),
        "cells.initial.0: places a cell at",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_cells_input(tmp_path, case):
    text, expected = CASES[case]
    scn = write(tmp_path, text)
    res = invoke(["run", str(scn), "--backend", "numpy", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {scn}: "), res.output
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "run").exists()


CSV_BAD = {
    "outside": ("x,y,z,kind\n0,0,0,tumour\n900,0,0,tumour\n", "line 3: cell at (900.0, 0.0, 0.0)"),
    "unknown kind": ("x,y,z,kind\n0,0,0,tumor\n", "line 2: unknown kind 'tumor'"),
    "not a number": ("x,y,z,kind\n0,zero,0,tumour\n", "line 2: column 'y' is not a number"),
    "missing column": ("x,y,kind\n0,0,tumour\n", "missing column(s) ['z']"),
}


@pytest.mark.parametrize("case", sorted(CSV_BAD))
def test_bad_csv(tmp_path, case):
    csv, expected = CSV_BAD[case]
    text = BASE.replace('shape = "sphere"\nradius = 30.0', 'shape = "csv"\nfile = "cells.csv"')
    scn = write(tmp_path, text, csv)
    res = invoke(["run", str(scn), "--backend", "numpy", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert "cells.initial.0.file" in lines[0] and expected in lines[0], lines[0]
    assert not (tmp_path / "run").exists()


def test_missing_csv_file(tmp_path):
    text = BASE.replace('shape = "sphere"\nradius = 30.0', 'shape = "csv"\nfile = "none.csv"')
    scn = write(tmp_path, text)
    res = invoke(["validate", str(scn)])
    assert res.exit_code == 2 and "cells.initial.0.file: no such file" in res.output
