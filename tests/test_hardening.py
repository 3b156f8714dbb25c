"""Bad input of every class found by trying spatialtumor as a new user (and a fuzzer) would:
one ``error:`` line, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from click.testing import CliRunner

from spatialtumor.cli import cli
from spatialtumor.inputs import MAX_DEPTH, InputError, bracket_depth, decode_text, parse_toml

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DEFAULT = (SCENARIOS / "default.toml").read_text(encoding="utf-8")


def invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error_line(res, expected: str = "") -> str:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output and "np.float64" not in lines[0], lines[0]
    assert expected in lines[0], lines[0]
    return lines[0]


def files_of(folder: Path) -> dict:
    """Every file under ``folder`` with its size and modification time."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


# --- scenario bytes ------------------------------------------------------------------------

FILES = {
    "binary": (bytes(range(256)) * 4, "a binary file (NUL byte at offset 0"),
    "UTF-16": (DEFAULT.encode("utf-16"), "UTF-16 text (byte-order mark ff fe); save it as UTF-8"),
    "UTF-16 BE": (codecs.BOM_UTF16_BE + DEFAULT.encode("utf-16-be"), "UTF-16 text"),
    "UTF-32": (DEFAULT.encode("utf-32"), "UTF-32 text"),
    "flipped byte": (DEFAULT.encode()[:200] + b"\xc3\x28" + DEFAULT.encode()[202:], "not UTF-8"),
    "latin-1": (b"# 5 \xb5m\n" + DEFAULT.encode(), "not UTF-8 text: byte 0xb5 at offset 4"),
    "2000-deep array": (
        (DEFAULT + "\nx = " + "[" * 2000 + "]" * 2000 + "\n").encode(),
        f"arrays or inline tables nested more than {MAX_DEPTH} deep",
    ),
    "600-deep inline table": (
        (DEFAULT + "\nx = " + "{ a = " * 600 + "1" + " }" * 600 + "\n").encode(),
        "nested more than",
    ),
    "deep dotted key": ((DEFAULT + "\n" + "k." * 500 + "k = 1\n").encode(), "nested more than"),
    "huge integer": ((DEFAULT + "\nx = " + "9" * 5000 + "\n").encode(), "integer of too many"),
    "too large": (b"#" * (5 * 2**20), "larger than 4 MiB"),
}


@pytest.mark.parametrize("case", sorted(FILES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_unreadable_scenario_files(tmp_path, case, command):
    data, expected = FILES[case]
    scn = tmp_path / "s.toml"
    scn.write_bytes(data)
    out = tmp_path / "r"
    args = [command, scn] + (["--out", out, "--backend", "numpy"] if command == "run" else [])
    line = one_error_line(invoke(args), expected)
    assert line.startswith(f"error: {scn}: ")
    assert not out.exists()


def test_utf8_bom_is_accepted(tmp_path):
    scn = tmp_path / "s.toml"
    scn.write_bytes(codecs.BOM_UTF8 + DEFAULT.encode())
    assert invoke(["validate", scn, "--quiet"]).exit_code == 0


def test_reading_helpers():
    assert bracket_depth('a = "[[[[" # [[[\nb = [[1]]\n')[0] == 2
    assert bracket_depth("a = '''[[[''' \nb = {c = [1]}")[0] == 2
    assert bracket_depth('a = "\\"[[["')[0] == 0
    with pytest.raises(InputError, match="UTF-16"):
        decode_text(codecs.BOM_UTF16_LE + b"a\x00")
    with pytest.raises(InputError, match="not valid TOML"):
        parse_toml("a = [")
    assert parse_toml("a = [[1], [2]]") == {"a": [[1], [2]]}


# --- numbers and options -------------------------------------------------------------------

SETS = {
    "dt_mechanics 1e308": ("clock.dt_mechanics=1e308", "clock.dt_mechanics: 1e+308 is larger"),
    "dt_diffusion 5e-324": ("clock.dt_diffusion=5e-324", "clock: dt_mechanics (0.1 min) is inf"),
    "dt_phenotype huge ratio": ("clock.dt_phenotype=6e7", "clock: dt_phenotype (6e+07 min) is"),
    "stop 1e308": ("run.stop=1e308", "run.stop: 1e+308 is larger in magnitude than 1e+15"),
    "stop too many steps": ("run.stop=1e14", "run.stop: 1e+14 min is 5e+15 diffusion steps"),
    "stop below a step": ("run.stop=0.001", "run.stop: 0.001 min is shorter than one diffusion"),
    "decay inf": ("fields.oxygen.decay=inf", "fields.oxygen.decay: Input should be a finite"),
    "decay nan": ("fields.oxygen.decay=nan", "fields.oxygen.decay: Input should be a finite"),
    "boundary 1e308": ("fields.oxygen.boundary=1e308", "fields.oxygen.boundary: 1e+308 is"),
    "initial 1e200": ("fields.oxygen.initial=1e200", "fields.oxygen.initial: 1e+200 is larger"),
    "diffusivity 1e300": ("fields.oxygen.diffusivity=1e300", "fields.oxygen.diffusivity: 1e+300"),
    "seed too large": ("run.seed=99999999999999999999", "run.seed: Input should be less than"),
    "seed negative": ("run.seed=-1", "run.seed: Input should be greater than or equal to 0"),
    "spacing tiny": ("grid.spacing=1e-9", "grid.spacing: must be >= 0.001 µm"),
    "placement radius 1e30": ("cells.initial.0.radius=1e30", "cells.initial.0.radius: 1e+30"),
    "placement radius 1e14": (
        "cells.initial.0.radius=1e14",
        "at spacing 16.824 µm holds far more than 1e18",
    ),
    "huge cells": ("cells.kinds.tumour.radius=1e10", "radius: 1e+10 µm is larger than the domain"),
    "tiny cells": ("cells.kinds.tumour.radius=1e-300", "holds far more than 1e18 cells"),
    "sphere outside": ("cells.initial.0.centre=[1000.0, 0.0, 0.0]", "the sphere's centre (1000"),
    "sphere on nz = 1": ("grid.nz=1", "cells.initial.0: places a cell at (-8.412, -24.2834"),
    "empty key part": ("fields..decay=1", "--set: fields..decay: a key is names joined by dots"),
    "deep value": ("title=" + "[" * 50 + "]" * 50, "--set: title: arrays or inline tables nested"),
    "deep key": ("a." * 40 + "b=1", "more than 32 names deep"),
}


@pytest.mark.parametrize("case", sorted(SETS))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_numbers_are_refused_by_validate_and_run(tmp_path, case, command):
    item, expected = SETS[case]
    out = tmp_path / "r"
    args = [command, "default", "--set", item]
    args += ["--out", out, "--backend", "numpy", "--stop", "0.02"] if command == "run" else []
    one_error_line(invoke(args), expected)
    assert not out.exists()


OPTIONS = {
    "stop inf": (["--stop", "inf"], "error: --stop: must be a finite number of minutes > 0"),
    "stop nan": (["--stop", "nan"], "error: --stop: must be a finite number of minutes > 0"),
    "stop -5": (["--stop", "-5"], "error: --stop: must be a finite number of minutes > 0"),
    "stop 0": (["--stop", "0"], "error: --stop: must be a finite number of minutes > 0"),
    "stop text": (["--stop", "ten"], "error: --stop: 'ten' is not a number of minutes"),
    "stop too long": (["--stop", "1e14"], "error: --stop: 1e+14 min is 5e+15 diffusion steps"),
    "stop below a step": (["--stop", "0.001"], "error: --stop: 0.001 min is shorter than one"),
    "seed huge": (["--seed", "99999999999999999999"], "error: --seed: must be in 0..9223372"),
    "seed -1": (["--seed", "-1"], "error: --seed: must be in 0..9223372036854775807, got -1"),
    "seed text": (["--seed", "x"], "error: --seed: 'x' is not an integer"),
    "unknown option": (["--stopp", "3"], "error: --stopp: no such option of"),
    "missing value": (["--stop"], "error: --stop: Option '--stop' requires an argument"),
    "bad choice": (["--backend", "gpu"], "error: --backend: 'gpu' is not one of"),
    "missing checkpoint": (["--resume", "none.h5"], "error: --resume: File 'none.h5' does not"),
}


@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_bad_options(tmp_path, case):
    opts, expected = OPTIONS[case]
    out = tmp_path / "r"
    res = invoke(["run", "default", "--out", out, "--backend", "numpy", *opts])
    one_error_line(res, expected)
    assert not out.exists()


def test_usage_errors_are_one_line():
    one_error_line(invoke(["rnu"]), "error: cli: No such command 'rnu'")
    one_error_line(invoke(["validate"]), "error: SCENARIO: missing argument")
    one_error_line(invoke(["validate", "default", "--set"]), "--set: Option '--set' requires")
    one_error_line(invoke(["info", "/no/such/run"]), "error: RUN_DIR: Path '/no/such/run'")


def test_out_must_be_a_new_or_empty_folder(tmp_path):
    file = tmp_path / "file"
    file.write_text("keep")
    one_error_line(invoke(["run", "diffusion", "--out", file]), "--out: ")
    one_error_line(invoke(["run", "diffusion", "--out", file / "sub"]), "--out: cannot create")
    assert file.read_text() == "keep"


def test_bad_input_leaves_an_existing_run_folder_alone(tmp_path):
    run = tmp_path / "run"
    res = invoke(["run", "diffusion", "--out", run, "--backend", "numpy", "--stop", "0.1"])
    assert res.exit_code == 0, res.output
    before = files_of(run)
    for args in (
        ["--stop", "inf"],
        ["--seed", "-1"],
        ["--set", "fields.oxygen.decay=inf"],
        ["--set", "clock.dt_mechanics=1e308"],
        [],  # a good scenario, but the folder is not empty
    ):
        line = one_error_line(invoke(["run", "diffusion", "--out", run, *args]))
        assert line.startswith("error: ")
    assert files_of(run) == before


# --- validate runs run's checks --------------------------------------------------------------

CELLS = DEFAULT.replace('shape = "sphere"\nradius = 100.0', 'shape = "csv"\nfile = "cells.csv"')
CSV = {
    "unknown kind": ("x,y,z,kind\n0,0,0,tumor\n", "line 2: unknown kind 'tumor'"),
    "1e400": ("x,y,z,kind\n1e400,0,0,tumour\n", "line 2: column 'x' is not a number: '1e400'"),
    "unterminated quote": ('x,y,z,kind\n"0,0,0,tumour\n', "EOF inside string"),
    "outside": ("x,y,z,kind\n0,0,900,tumour\n", "line 2: cell at (0.0, 0.0, 900.0) µm is outside"),
    "not UTF-8": ("x,y,z,kind\n0,0,0,tumour\n".encode("utf-16"), "UTF-16 text"),
    "empty": ("", "No columns to parse from file"),
}


@pytest.mark.parametrize("case", sorted(CSV))
def test_validate_reads_the_csv_as_run_does(tmp_path, case):
    csv, expected = CSV[case]
    (tmp_path / "cells.csv").write_bytes(csv if isinstance(csv, bytes) else csv.encode())
    scn = tmp_path / "s.toml"
    scn.write_text(CELLS)
    line = one_error_line(invoke(["validate", scn]), expected)
    assert "cells.initial.0.file" in line
    one_error_line(invoke(["run", scn, "--out", tmp_path / "r", "--backend", "numpy"]), expected)
    assert not (tmp_path / "r").exists()


def test_good_csv_validates_and_runs(tmp_path):
    (tmp_path / "cells.csv").write_text("x,y,z,kind\n0,0,0,tumour\n20,0,0,tumour\n")
    scn = tmp_path / "s.toml"
    scn.write_text(CELLS)
    assert invoke(["validate", scn, "--quiet"]).exit_code == 0
    res = invoke(["run", scn, "--out", tmp_path / "r", "--backend", "numpy", "--stop", "0.02"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    "item",
    [
        "cells.initial.0.centre=[300.0, 0.0, 0.0]",
        "grid.nz=2",
        "cells.initial.0.radius=400",
        "cells.initial.0.spacing=1e-3",
    ],
)
def test_validate_refuses_what_run_refuses(tmp_path, item):
    v = invoke(["validate", "default", "--set", item])
    r = invoke(["run", "default", "--set", item, "--out", tmp_path / "r", "--backend", "numpy"])
    assert one_error_line(v) == one_error_line(r)
    assert not (tmp_path / "r").exists()


def test_enormous_source_is_refused():
    one_error_line(
        invoke(["validate", "diffusion", "--set", "sources.0.release=1e300"]),
        "sources.0.release: 1e+300 is larger in magnitude than 1e+15",
    )


def test_shell_and_box_must_fit_the_domain():
    one_error_line(
        invoke(["validate", "immune_surveillance", "--set", "cells.initial.1.outer_radius=300"]),
        "cells.initial.1: the shell of radius 300 µm around (0, 0, 0) µm spans",
    )
    box = ["--set", "cells.initial.0.shape=box", "--set", "cells.initial.0.count=5"]
    up = ["--set", "cells.initial.0.upper=[500.0, 1.0, 1.0]"]
    one_error_line(invoke(["validate", "default", *box, *up]), "the box (0, 0, 0)..(500, 1, 1)")
    down = ["--set", "cells.initial.0.lower=[2.0, 2.0, 2.0]"]
    one_error_line(invoke(["validate", "default", *box, *down]), "box upper (0, 0, 0) is below")
    empty = ["--set", "cells.initial.0.shape=box", "--set", "cells.initial.0.count=0"]
    one_error_line(invoke(["validate", "default", *empty, *down]), "box upper (0, 0, 0) is below")
