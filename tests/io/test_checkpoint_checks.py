"""Checkpoints (format 2) are verified and checked before a run resumes from them.

A corrupted checkpoint is refused or resumes to the same bits; an edited one (checksum
recomputed) is refused by the structural check; a resume keeps its scenario and seed and
never writes into another run's folder. Every refusal is one line, exit code 2.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.checkpoint import (
    CheckpointError,
    _read_node,
    _write_node,
    latest_checkpoint,
    read_checkpoint,
    resume_simulation,
)
from spatialtumor.checkpoint_check import DATA_DIGEST_ATTR, seal
from spatialtumor.cli import cli
from spatialtumor.scenario import scenario_from_dict

SMALL = {
    "run": {"stop": 4.0, "seed": 3},
    "clock": {"dt_diffusion": 0.2, "dt_mechanics": 0.4, "dt_phenotype": 0.8},
    "grid": {"nx": 8, "ny": 8, "nz": 6, "spacing": 20.0},
    "fields": {"oxygen": {"diffusivity": 1e5, "decay": 0.1, "initial": 38.0, "boundary": 38.0}},
    "cells": {
        "kinds": {
            "tumour": {
                "model": "tumour",
                "exchange": {"oxygen": {"uptake": 1.0}},
                "params": {"birth_rate": 0.05},
            },
            "bead": {"model": "inert", "radius": 5.0, "speed": 2.0},
        },
        "initial": [
            {"kind": "tumour", "shape": "sphere", "radius": 25.0},
            {"kind": "bead", "shape": "shell", "inner_radius": 30, "outer_radius": 45, "count": 10},
        ],
    },
    "output": {"every": 2.0, "checkpoint_every": 2.0},
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A run stopped at 2 min with a checkpoint at step 10, and the state its resume reaches."""
    root = tmp_path_factory.mktemp("ckpt")
    scn = scenario_from_dict(SMALL, "small.toml")
    sim = build_simulation(scn, make_backend("numpy", "float64"), run_dir=root / "run", stop=2.0)
    sim.run()
    ckpt = latest_checkpoint(root / "run")
    assert ckpt.name == "checkpoint_000000010.h5"
    keep = root / "clean.h5"
    shutil.copy(ckpt, keep)
    return {
        "root": root,
        "run": root / "run",
        "checkpoint": keep,
        "final": resume(keep, root / "r"),
    }


def state(sim):
    cells = {k: v.tobytes() for k, v in sim.population.to_host().items()}
    return sim.backend.asnumpy(sim.fields.values).tobytes(), cells


def resume(path, out):
    sim, _scn, _ = resume_simulation(path, out_dir=out, stop=4.0, backend="numpy")
    sim.run()
    return state(sim)


def invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error_line(res, expected=""):
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    assert expected in lines[0], lines[0]
    return lines[0]


def edited(src: Path, dest: Path, change, reseal: bool = True) -> Path:
    """A copy of a checkpoint with ``change(tree)`` applied and (by default) resealed."""
    with h5py.File(src, "r") as f:
        tree = _read_node(f, src.stat().st_size)
    change(tree)
    if reseal:
        seal(tree)
    with h5py.File(dest, "w") as f:
        _write_node(f, tree)
    return dest


def _pop(tree):
    return tree.groups["population"]


def _set_json(node, key, value):
    node.attrs[key] = json.dumps(value)


def _drop_column(tree, name):
    del _pop(tree).groups["columns"].datasets[name]
    del _pop(tree).groups["specs"].attrs[name]


def _nan_fields(tree):
    a, attrs = tree.datasets["fields"]
    tree.datasets["fields"] = (np.full_like(a, np.nan), attrs)


def _nan_position(tree):
    cols = _pop(tree).groups["columns"].datasets
    a, attrs = cols["position"]
    a = a.copy()
    a[3, 1] = np.inf
    cols["position"] = (a, attrs)


def _kind_code(tree):
    cols = _pop(tree).groups["columns"].datasets
    a, attrs = cols["kind"]
    cols["kind"] = (np.full_like(a, 7), attrs)


def _grid(tree):
    tree.attrs["scenario"] = str(tree.attrs["scenario"]).replace("nx = 8", "nx = 9")


def _counter(tree):
    cnt = tree.groups["process"].groups["cells"].groups["counters"]
    cnt.attrs["kills"] = "NaN"


EDITS = {
    "no scenario": (lambda t: t.attrs.pop("scenario"), "attribute 'scenario' is missing"),
    "no step": (lambda t: t.attrs.pop("step"), "attribute 'step' is missing"),
    "step -7": (lambda t: t.attrs.update(step=-7), "attribute 'step' must be in 0..999,999,999"),
    "step text": (lambda t: t.attrs.update(step="10"), "attribute 'step' must be an integer"),
    "time off": (lambda t: t.attrs.update(time_min=3.0), "is not step 10 × dt_diffusion 0.2"),
    "non-TOML scenario": (
        lambda t: t.attrs.update(scenario="grid = [[["),
        "stored scenario: not valid TOML",
    ),
    "invalid scenario": (
        lambda t: t.attrs.update(scenario=str(t.attrs["scenario"]).replace("nx = 8", "nx = -8")),
        "stored scenario: small.toml: grid.nx: Input should be greater than 0",
    ),
    "grid differs from fields": (_grid, "/fields has shape (1, 6, 8, 8); the scenario's grid"),
    "field names": (lambda t: t.attrs.update(field_names=["o2"]), "field names ['o2'] are not"),
    "dtype": (lambda t: t.attrs.update(dtype="float16"), "'dtype' must be float32 or float64"),
    "all fields NaN": (_nan_fields, "field 'oxygen' at voxel (0, 0, 0) holds nan"),
    "no population": (lambda t: t.groups.pop("population"), "group /population is missing"),
    "no position": (lambda t: _drop_column(t, "position"), "column 'position' is missing"),
    "infinite position": (_nan_position, "/population/columns/position: row 3 holds inf"),
    "size 1000000000": (
        lambda t: _set_json(_pop(t), "size", 1000000000),
        "(29,); expected bool (1000000000,) (size 1000000000)",
    ),
    "size text": (
        lambda t: _set_json(_pop(t), "size", "1000000000"),
        "attribute 'size' must be an integer, got '1000000000'",
    ),
    "non-JSON population": (
        lambda t: _pop(t).attrs.update(kind_names="[tumour"),
        "/population: attribute 'kind_names' is not JSON",
    ),
    "kind names": (lambda t: _set_json(_pop(t), "kind_names", ["a", "b"]), "kind names ['a'"),
    "kind codes": (_kind_code, "/population/columns/kind: codes must be in 0..1"),
    "counter": (_counter, "/process/cells/counters: "),
    "unknown process": (
        lambda t: t.groups["process"].groups.update(x=t.groups["process"].groups["cells"]),
        "/process/x belongs to no process of this run",
    ),
    "format 1": (
        lambda t: t.attrs.update(format_version=1),
        "checkpoint format 1 carries no checksum and cannot be verified",
    ),
    "format 3": (lambda t: t.attrs.update(format_version=3), "checkpoint format 3 is not"),
    "not a checkpoint": (lambda t: t.attrs.update(format="x"), "not a spatialtumor checkpoint"),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_edited_checkpoint_is_refused_in_one_line(made, tmp_path, case):
    change, expected = EDITS[case]
    bad = edited(made["checkpoint"], tmp_path / "bad.h5", change)
    with pytest.raises(CheckpointError, match=None) as info:
        read_checkpoint(bad)
    assert expected in str(info.value) and "\n" not in str(info.value), str(info.value)
    out = tmp_path / "out"
    line = one_error_line(invoke(["run", "--resume", bad, "--out", out]), expected)
    assert line.startswith(f"error: {bad}: ")
    assert not out.exists()


def test_checksum_follows_the_documented_recipe(made):
    """docs/FORMAT.md §6, with nothing but h5py, hashlib and json."""
    import hashlib

    def canon(v):
        if isinstance(v, np.ndarray):
            v = [x.decode() if isinstance(x, bytes) else x for x in v.tolist()]
        elif isinstance(v, np.generic):
            v = v.item()
        return json.dumps(v, sort_keys=True, separators=(",", ":"))

    def lines(g, path):
        out = [f"A {path} {k} {canon(g.attrs[k])}" for k in sorted(g.attrs) if k != "checksum"]
        groups = []
        for name in sorted(g):
            item, sub = g[name], f"{path.rstrip('/')}/{name}"
            if isinstance(item, h5py.Group):
                groups.append((item, sub))
                continue
            a = item[()]
            digest = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
            assert item.attrs["sha256"] == digest
            out.append(f"D {sub} {a.dtype.str} {json.dumps(list(a.shape))} {digest}")
            out += [f"A {sub} {k} {canon(item.attrs[k])}" for k in sorted(item.attrs)]
            out = [ln for ln in out if not ln.startswith(f"A {sub} sha256 ")]
        for item, sub in groups:
            out += lines(item, sub)
        return out

    with h5py.File(made["checkpoint"]) as f:
        text = "\n".join(lines(f, "/")).encode()
        assert f.attrs["checksum"] == "sha256:" + hashlib.sha256(text).hexdigest()


def test_edit_without_new_checksum_is_refused(made, tmp_path):
    bad = tmp_path / "bad.h5"
    shutil.copy(made["checkpoint"], bad)
    with h5py.File(bad, "r+") as f:
        f.attrs["step"] = 5
    with pytest.raises(CheckpointError, match="attributes or layout do not match the checksum"):
        read_checkpoint(bad)
    shutil.copy(made["checkpoint"], bad)
    with h5py.File(bad, "r+") as f:
        f["fields"][0, 0, 0, 0] = 1.0
    with pytest.raises(CheckpointError, match="/fields: data do not match their checksum"):
        read_checkpoint(bad)
    shutil.copy(made["checkpoint"], bad)
    with h5py.File(bad, "r+") as f:
        del f["fields"].attrs[DATA_DIGEST_ATTR]
    with pytest.raises(CheckpointError, match="/fields: no checksum"):
        read_checkpoint(bad)


def test_not_hdf5_and_truncated(made, tmp_path):
    for name, data in {
        "text.h5": b"not hdf5",
        "empty.h5": b"",
        "half.h5": made["checkpoint"].read_bytes()[:10000],
    }.items():
        p = tmp_path / name
        p.write_bytes(data)
        one_error_line(invoke(["run", "--resume", p, "--out", tmp_path / "o"]), "unreadable")
        assert not (tmp_path / "o").exists()


def test_random_corruptions_are_refused_or_resume_identically(made, tmp_path):
    """Any byte range overwritten: refused, or the resumed run ends bit for bit the same."""
    clean = made["checkpoint"].read_bytes()
    rng = random.Random(7)
    refused = identical = 0
    for i in range(150):
        data = bytearray(clean)
        n = rng.choice([1, 1, 2, 4, 8, 16, 16, 64, 512])
        at = rng.randrange(len(data) - n)
        data[at : at + n] = bytes(rng.randrange(256) for _ in range(n))
        bad = tmp_path / f"bad{i}.h5"
        bad.write_bytes(bytes(data))
        try:
            got = resume(bad, tmp_path / f"out{i}")
        except CheckpointError as exc:
            assert "\n" not in str(exc)
            refused += 1
        else:
            assert got == made["final"], f"bytes {at}..{at + n} changed the resumed run"
            identical += 1
        bad.unlink()
    print(f"150 corruptions: {refused} refused, {identical} resumed bit-identically")
    assert refused > 50 and refused + identical == 150


# --- what a resume may change ----------------------------------------------------------------


@pytest.fixture
def run_copy(made, tmp_path):
    """A fresh copy of the run folder (a resume writes into it) and its checkpoint."""
    run = tmp_path / "run"
    shutil.copytree(made["run"], run)
    return run, run / "checkpoints" / "checkpoint_000000010.h5"


def files_of(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_resume_refuses_another_seed_scenario_or_set(run_copy, tmp_path):
    run, ckpt = run_copy
    before = files_of(run)
    scn = tmp_path / "other.toml"
    scn.write_text("[grid]\nnx = 4\nny = 4\nnz = 4\n[fields.o]\ndiffusivity = 1.0\n")
    cases = [
        (["--seed", "4"], "error: --seed: 4 differs from the checkpoint's seed 3"),
        (["--set", "fields.oxygen.decay=0.2"], "error: --set: fields.oxygen.decay: 0.2 differs"),
        (["--set", "fields.oxygen.decay=inf"], "fields.oxygen.decay: Input should be a finite"),
        ([scn], f"error: {scn}: run.stop: 1440.0 differs from the checkpoint's 4.0"),
        (["--stop", "1"], "error: --stop: 1 min is not after the checkpoint's time 2 min"),
        (["--stop", "inf"], "error: --stop: must be a finite number of minutes > 0"),
    ]
    for extra, expected in cases:
        args = ["run", *extra[:1], "--resume", ckpt, *extra[1:]] if extra[0] == scn else None
        args = args or ["run", "--resume", ckpt, *extra]
        one_error_line(invoke(args), expected)
    assert files_of(run) == before


def test_resume_accepts_what_leaves_the_run_as_it_is(run_copy, made):
    run, ckpt = run_copy
    scn = run.parent / "small.toml"
    import tomli_w

    scn.write_text(tomli_w.dumps(SMALL))
    args = ["run", scn, "--resume", ckpt, "--seed", "3", "--set", "fields.oxygen.decay=0.1"]
    res = invoke([*args, "--stop", "4", "--backend", "numpy", "--quiet"])
    assert res.exit_code == 0, res.output
    # the stored scenario names its source; the copy in small.toml has the same content
    with h5py.File(latest_checkpoint(run)) as f:
        assert int(f.attrs["step"]) == 20


def test_resume_into_another_runs_folder_is_refused(run_copy, tmp_path):
    run, ckpt = run_copy
    other = tmp_path / "other"
    res = invoke(["run", "diffusion", "--out", other, "--stop", "0.1", "--backend", "numpy"])
    assert res.exit_code == 0, res.output
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    for folder, expected in (
        (other, f"error: --out: run folder {other} belongs to another run"),
        (junk, "holds no snapshot or checkpoint of this run"),
    ):
        before = files_of(folder)
        args = ["run", "--resume", ckpt, "--out", folder, "--stop", "4"]
        one_error_line(invoke(args), expected)
        assert files_of(folder) == before


def test_resume_into_an_empty_folder_continues_the_run(run_copy, tmp_path, made):
    _run, ckpt = run_copy
    sim, _scn, out = resume_simulation(ckpt, out_dir=tmp_path / "fork", backend="numpy", stop=4.0)
    sim.run()
    assert state(sim) == made["final"] and out == tmp_path / "fork"


def test_finished_run_needs_a_later_stop(tmp_path):
    scn = scenario_from_dict(SMALL, "small.toml")
    sim = build_simulation(
        scn, make_backend("numpy", "float64"), run_dir=tmp_path / "run", stop=0.4
    )
    sim.run()
    ckpt = latest_checkpoint(tmp_path / "run")
    one_error_line(invoke(["run", "--resume", ckpt]), "the checkpoint is at the run's end")
    res = invoke(["run", "--resume", ckpt, "--stop", "0.8", "--backend", "numpy", "--quiet"])
    assert res.exit_code == 0, res.output


def test_resume_in_another_precision_converts_cell_columns(run_copy):
    _run, ckpt = run_copy
    args = ["--precision", "float32", "--backend", "numpy", "--stop", "4"]
    res = invoke(["run", "--resume", ckpt, *args])
    assert res.exit_code == 0, res.output
    assert "numpy (float32)" in res.output
