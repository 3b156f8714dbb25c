"""Study files: validation (one line naming the key, exit 2) and member expansion."""

from __future__ import annotations

import numpy as np
import pytest
from _study import ARMS, write_study
from click.testing import CliRunner

from spatialtumor.cli import cli
from spatialtumor.study.design import unit_samples
from spatialtumor.study.members import load_study
from spatialtumor.study.spec import StudyError

BAD = [
    ("titel = 'x'\n", "titel: unknown key; allowed: arms, backend,"),
    ("[[vary]]\nkye = 'fields.oxygen.decay'\n", "vary.0.kye: unknown key; allowed:"),
    (
        "[[vary]]\nkey = 'fields.oxygen.decayy'\nvalues = [0.1]\n",
        "vary.0.key: fields.oxygen.decayy: not a key of the scenario; fields.oxygen has: "
        "boundary, decay",
    ),
    (
        "[[vary]]\nkey = 'fields.oxygne.decay'\nvalues = [0.1]\n",
        "vary.0.key: fields.oxygne.decay: not a key of the scenario; fields has: oxygen",
    ),
    ("[[vary]]\nkey = 'fields.oxygen.decay'\nvalues = []\n", "vary.0.values: is empty"),
    (
        "[[vary]]\nkey = 'fields.oxygen.decay'\nstart = 0.1\nstop = 0.2\nnum = 0\n",
        "vary.0.num: empty range: num = 0",
    ),
    (
        "[[vary]]\nkey = 'fields.oxygen.decay'\nstart = 0.1\nstop = 0.2\n",
        "vary.0: needs values, or start, stop and num (missing: num)",
    ),
    (
        "[[vary]]\nkey = 'fields.oxygen.decay'\nvalues = [0.1, -1.0]\n",
        "vary.0.values.1: fields.oxygen.decay = -1.0: Input should be greater than or equal to 0",
    ),
    (
        "[[vary]]\nkey = 'fields.oxygen.decay'\nvalues = [0.1, 0.1]\n",
        "vary.0.values.1: repeated value 0.1",
    ),
    (
        "[sample]\ncount = 4\n[[sample.params]]\nkey = 'fields.oxygen.decay'\n"
        "low = 0.2\nhigh = 0.1\n",
        "sample.params.0: empty range: high (0.1) must exceed low (0.2)",
    ),
    ("[sample]\ncount = 0\nparams = []\n", "sample.count: empty sample: count = 0"),
    (
        "[sample]\ncount = 2\n[[sample.params]]\nkey = 'grid.nq'\nlow = 1\nhigh = 2\n",
        "sample.params.0.key: grid.nq: not a key of the scenario; grid has: nx, ny, nz, origin,",
    ),
    ("[arms.a]\nset = ['fields.oxygen.bondary=3.0']\n", "arms.a.set.0: fields.oxygen.bondary:"),
    ("[arms.a]\nsett = []\n", "arms.a.sett: unknown key; allowed: description, set"),
    ("[arms.'a b']\n", "arms.a b: arm names use letters, digits"),
    ("[arms.a]\nset = ['grid.nx=-3']\n", "arms.a.set.0: grid.nx: Input should be greater than 0"),
    ("scenario2 = 1\n", "scenario2: unknown key"),
]


@pytest.mark.parametrize("body, expected", BAD)
def test_bad_study_file_is_one_line_naming_the_key(tmp_path, body, expected):
    path = write_study(tmp_path, body)
    res = CliRunner().invoke(cli, ["study", "run", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "o").exists()  # nothing is written for a bad study


def test_empty_seeds_and_unknown_scenario(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('scenario = "default"\nseeds = []\n')
    with pytest.raises(StudyError, match=r"s\.toml: seeds: is empty"):
        load_study(p)
    p.write_text('scenario = "nope"\n')
    with pytest.raises(StudyError, match=r"s\.toml: scenario: nope: no such file"):
        load_study(p)
    p.write_text('scenario = "default"\nseeds = { start = 3, count = 0 }\n')
    with pytest.raises(StudyError, match="seeds: is empty"):
        load_study(p)


def test_bad_fit_table(tmp_path):
    body = (
        "[fit]\ncolumns = ['cells_total']\n[[fit.params]]\nkey = 'fields.oxygen.decai'\n"
        "low = 0.01\nhigh = 0.1\n"
    )
    with pytest.raises(StudyError, match=r"fit\.params\.0\.key: fields\.oxygen\.decai: not a key"):
        load_study(write_study(tmp_path, body))
    body = "[fit]\ncolumns = []\nparams = []\n"
    with pytest.raises(StudyError, match=r"fit\.columns: is empty"):
        load_study(write_study(tmp_path, body))


def test_members_are_arms_by_points_by_seeds(tmp_path):
    body = ARMS + "[[vary]]\nkey = 'fields.oxygen.decay'\nstart = 0.05\nstop = 0.2\nnum = 3\n"
    study = load_study(write_study(tmp_path, body, seeds="{ start = 5, count = 2 }"))
    assert len(study.members) == 3 * 3 * 2
    assert study.param_keys == ("fields.oxygen.decay",)
    m = study.members
    assert [x.arm for x in m[:6]] == ["normoxia"] * 6 and m[6].arm == "hypoxia"
    assert [x.seed for x in m[:4]] == [5, 6, 5, 6]
    assert [x.params["fields.oxygen.decay"] for x in m[:6:2]] == [0.05, 0.125, 0.2]
    assert m[7].overrides[-3:] == (
        "fields.oxygen.initial=15.0",
        "fields.oxygen.decay=0.05",
        "run.seed=6",
    )
    assert len({x.id for x in m}) == len(m)
    assert m[0].id.startswith("normoxia-s5-")
    # ids are stable from one reading to the next, and change with what the run is
    again = load_study(tmp_path / "study.toml")
    assert [x.id for x in again.members] == [x.id for x in m]
    changed_body = body.replace("0.05", "0.06")
    changed = load_study(write_study(tmp_path, changed_body, name="b.toml", seeds="[5, 6]"))
    assert changed.members[0].id != m[0].id and changed.members[4].id == m[4].id  # 0.2 both


def test_log_grid_and_lhs_sample(tmp_path):
    body = (
        "[[vary]]\nkey = 'fields.oxygen.decay'\nstart = 0.01\nstop = 1.0\nnum = 3\n"
        "scale = 'log'\n"
        "[sample]\nmethod = 'lhs'\ncount = 5\nseed = 3\n"
        "[[sample.params]]\nkey = 'fields.oxygen.initial'\nlow = 10.0\nhigh = 40.0\n"
    )
    study = load_study(write_study(tmp_path, body, seeds="[1]"))
    assert len(study.members) == 3 * 5
    decays = sorted({m.params["fields.oxygen.decay"] for m in study.members})
    assert decays == [0.01, 0.1, 1.0]
    initial = sorted(m.params["fields.oxygen.initial"] for m in study.members[:5])
    strata = [int((v - 10.0) / 30.0 * 5) for v in initial]
    assert strata == [0, 1, 2, 3, 4]  # one point per stratum


@pytest.mark.parametrize("dims", [1, 3])
def test_latin_hypercube_has_one_point_per_stratum(dims):
    u = unit_samples("lhs", 16, dims, seed=0)
    assert u.shape == (16, dims) and np.all((u >= 0) & (u < 1))
    for j in range(dims):
        assert sorted((u[:, j] * 16).astype(int)) == list(range(16))
    assert np.array_equal(u, unit_samples("lhs", 16, dims, seed=0))
