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
model = "tumour"
exchange.oxygen = { uptake = 1.0 }
[cells.kinds.tumour.params]
birth_rate = 0.001
[[cells.initial]]
kind = "tumour"
shape = "sphere"
radius = 30.0
[output]
every = 0.5
"""

MODELS = "car_t, cd8, dendritic, inert, macrophage, nk, treg, tumour"
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
            "[cells.kinds.tumour.params]",
            'chemotaxis = { field = "il2", bias = 0.5 }\n[cells.kinds.tumour.params]',
        ),
        "cells.kinds.tumour.chemotaxis.field: unknown field 'il2'",
    ),
    "negative rate": (
        BASE.replace("birth_rate = 0.001", "birth_rate = -0.001"),
        "cells.kinds.tumour.params.birth_rate: Input should be greater than or equal to 0",
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
            "[cells.kinds.tumour.params]\nbirth_rate", "[cells.kinds.tumour.params]\nbirth_rat"
        ),
        "cells.kinds.tumour.params.birth_rat: unknown key; allowed:",
    ),
    "infinite radius": (
        BASE.replace("exchange.oxygen =", "radius = inf\nexchange.oxygen ="),
        "cells.kinds.tumour.radius: Input should be a finite number (got inf)",
    ),
    "NaN rate": (
        BASE.replace("birth_rate = 0.001", "birth_rate = nan"),
        "cells.kinds.tumour.params.birth_rate: Input should be a finite number",
    ),
    "NaN placement centre": (
        BASE.replace("radius = 30.0", "radius = 30.0\ncentre = [nan, 0.0, 0.0]"),
        "cells.initial.0.centre.0: Input should be a finite number",
    ),
    "T-cell recruitment from a missing compartment": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\n'
        'params = { recruitment_from = "ln.effector_outflow" }\n',
        "cells.kinds.t8.params.recruitment_from: unknown compartment 'ln'; compartments: none",
    ),
    "T-cell recruitment from an unknown output": (
        BASE + '[compartments.ln]\nmodel = "lymph_node"\n[cells.kinds.t8]\nmodel = "cd8"\n'
        'params = { recruitment_from = "ln.outflow" }\n',
        "cells.kinds.t8.params.recruitment_from: compartment 'ln' has no output 'outflow'; "
        "outputs: effector_outflow",
    ),
    "suppressor state unknown": (
        BASE + '[cells.kinds.tam]\nmodel = "macrophage"\n[cells.kinds.t8]\nmodel = "cd8"\n'
        'params = { suppressors = ["tam/m3"] }\n',
        "cells.kinds.t8.params.suppressors.0: kind 'tam' has no state 'm3'; states: m0, m1, m2",
    ),
    "suppressor kind unknown": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { suppressors = ["treg"] }\n',
        "cells.kinds.t8.params.suppressors.0: unknown kind 'treg'; kinds: tumour, t8",
    ),
    "dendritic cells without antigen uptake": (
        BASE.replace(
            "[cells.kinds.tumour]", '[fields.antigen]\npreset = "antigen"\n[cells.kinds.tumour]'
        )
        + '[cells.kinds.dc]\nmodel = "dendritic"\n',
        "cells.kinds.dc.exchange.antigen: dendritic cells take up antigen",
    ),
    "unknown compartment model": (
        BASE + '[compartments.ln]\nmodel = "lymphnode"\n',
        "compartments.ln.model: unknown model 'lymphnode'; "
        "models: antibody_pk, drug_pk, lymph_node",
    ),
    "typo in compartment params": (
        BASE + '[compartments.ln]\nmodel = "lymph_node"\nparams = { egres_rate = 0.1 }\n',
        "compartments.ln.params.egres_rate: unknown key; allowed: antigen_decay,",
    ),
    "NK cells against a kind without MHC-I": (
        BASE + '[cells.kinds.bead]\nmodel = "inert"\n'
        '[cells.kinds.nk]\nmodel = "nk"\nparams = { targets = ["bead"] }\n',
        "cells.kinds.nk.params.targets.0: kind 'bead' (model 'inert') has no column(s) mhc",
    ),
    "unknown model": (
        BASE.replace('model = "tumour"', 'model = "tumor"'),
        "cells.kinds.tumour.model: unknown model 'tumor'; models: " + MODELS,
    ),
    "missing model": (
        BASE.replace('model = "tumour"\n', ""),
        "cells.kinds.tumour.model: required key is missing; models: " + MODELS,
    ),
    "typo in a body key": (
        BASE.replace("exchange.oxygen =", "exchang.oxygen ="),
        "cells.kinds.tumour.exchang: unknown key; allowed: adhesion,",
    ),
    "unknown field in params": (
        BASE.replace("birth_rate = 0.001", 'birth_rate = 0.001\nifng_field = "ifn"'),
        "cells.kinds.tumour.params.ifng_field: unknown field 'ifn'; fields: oxygen",
    ),
    "unknown state in state_exchange": (
        BASE.replace(
            "[cells.kinds.tumour.params]",
            "state_exchange.dying.oxygen = { uptake = 1.0 }\n[cells.kinds.tumour.params]",
        ),
        "cells.kinds.tumour.state_exchange.dying: model 'tumour' has no state 'dying'; "
        "states: live, apoptotic, necrotic",
    ),
    "T-cell target kind missing": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { targets = ["tumor"] }\n',
        "cells.kinds.t8.params.targets.0: unknown kind 'tumor'; kinds: tumour, t8",
    ),
    "T-cell target without antigen": (
        BASE
        + '[cells.kinds.bead]\nmodel = "inert"\n'
        + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { targets = ["bead"] }\n',
        "cells.kinds.t8.params.targets.0: kind 'bead' (model 'inert') has no column(s) "
        "antigen, mhc, pdl1",
    ),
    "T-cell typo in params": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { kill_rat = 0.1 }\n',
        "cells.kinds.t8.params.kill_rat: unknown key; allowed: attach_rate,",
    ),
    "T-cell negative rate": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { kill_rate = -0.1 }\n',
        "cells.kinds.t8.params.kill_rate: Input should be greater than or equal to 0",
    ),
    "T-cell unknown IL-2 field": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { il2_field = "il2" }\n',
        "cells.kinds.t8.params.il2_field: unknown field 'il2'; fields: oxygen",
    ),
    "T-cell unknown entry site": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { recruitment_sites = ["x_mid"] }\n',
        "cells.kinds.t8.params.recruitment_sites: unknown entry site 'x_mid'",
    ),
    "T-cell vessels without vessels": (
        BASE + '[cells.kinds.t8]\nmodel = "cd8"\nparams = { recruitment_sites = ["vessels"] }\n',
        "cells.kinds.t8.params.recruitment_sites: names vessels but the scenario has none",
    ),
    "sphere outside the domain": (
        BASE.replace("radius = 30.0", "radius = 30.0\ncentre = [500.0, 0.0, 0.0]"),
        "cells.initial.0: the sphere's centre (500, 0, 0) µm is outside the domain",
    ),
    "sphere reaching out of the domain": (
        BASE.replace("radius = 30.0", "radius = 30.0\ncentre = [70.0, 0.0, 0.0]"),
        "cells.initial.0: places a cell at (86.824, -9.71334, -13.7367) µm, outside the domain",
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


def test_csv_cells_larger_than_their_kind_widen_the_mechanics_bins(tmp_path):
    from spatialtumor.build import build_simulation, make_backend
    from spatialtumor.scenario import load_scenario

    text = BASE.replace('shape = "sphere"\nradius = 30.0', 'shape = "csv"\nfile = "cells.csv"')
    scn = write(tmp_path, text, "x,y,z,kind,radius\n0,0,0,tumour,20\n30,0,0,tumour,8\n")
    sim = build_simulation(load_scenario(scn), make_backend("numpy", "float64"))
    bins = sim.cells.mechanics.bins
    assert min(bins.size) >= 2 * 1.25 * 20.0  # reach of the 20 µm cell's adhesion
