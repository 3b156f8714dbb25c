"""``spatialtumor metrics RUN``: a short real run with T cells, a run of hand-placed cells
with a known answer per snapshot, and bad input → one line naming the option, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from _cells import ball, cells, in_shell, write_run
from click.testing import CliRunner

from spatialtumor.cli import cli
from spatialtumor.metrics import COLUMNS, read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "physics"))
from _immune import scenario, simulation  # noqa: E402


@pytest.fixture(scope="module")
def immune_run(tmp_path_factory):
    """30 min of a small tumour with 60 CD8 T cells around it (16³ voxels of 20 µm)."""
    run_dir = tmp_path_factory.mktemp("metrics") / "immune"
    raw = scenario(3, t_cells=60, run={"stop": 30.0})
    raw["output"] = {"every": 15.0}
    simulation(raw, run_dir=run_dir).run()
    return run_dir


@pytest.fixture(scope="module")
def known_run(tmp_path_factory):
    """Snapshot 0: T cells in the tumour centre, 1: at the margin, 2: none."""
    tumour = ball(150.0)
    snaps = [
        cells(tumour, in_shell(60, 0.0, 80.0), 0),
        cells(tumour, in_shell(600, 120.0, 180.0), 1),
        cells(tumour, np.zeros((0, 3)), 2),
    ]
    return write_run(tmp_path_factory.mktemp("metrics") / "known", snaps)


def _invoke(*args):
    return CliRunner().invoke(cli, ["metrics", *map(str, args)])


def test_metrics_of_a_run_with_t_cells(immune_run):
    res = _invoke(immune_run, "--backend", "numpy")
    assert res.exit_code == 0, res.output
    table = immune_run / "metrics.csv"
    assert f"→ {table}" in res.output and "t = 30 min: t8 " in res.output
    assert (immune_run / "plots" / "metrics.png").stat().st_size > 10_000
    df = read_metrics(table)
    assert tuple(df.columns) == COLUMNS
    assert sorted(set(df["snapshot"])) == [0, 1, 2]
    assert sorted(set(df["time_min"])) == [0.0, 15.0, 30.0]
    for q in ("immunotype", "density_2d", "infiltration_depth_mean", "nn_mean", "ripley_k", "pcf"):
        assert q in set(df["quantity"]), q
    last = df[df["snapshot"] == 2]
    itype = last[last["quantity"] == "immunotype"]
    assert list(itype["kind"]) == ["t8"]
    assert itype["label"].iloc[0] in ("inflamed", "excluded", "desert")
    nn = last[(last["quantity"] == "nn_mean") & (last["kind"] == "t8")]
    assert set(nn["other"]) == {"t8", "tumour"} and np.all(nn["value"] > 0)
    k = last[(last["quantity"] == "ripley_k") & (last["other"] == "tumour")]
    assert list(k["r_um"]) == [10.0 * i for i in range(1, 11)]
    assert np.all(np.diff(k["value"].to_numpy()) >= 0)


def test_options_and_output_path(immune_run, tmp_path):
    out = tmp_path / "m.csv"
    res = _invoke(
        immune_run, "--snapshot", "last", "--margin", "60", "--radii", "20,40",
        "--out", out, "--no-plot", "--immune", "t8", "--tumour", "tumour", "--backend", "numpy",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    df = read_metrics(out)
    assert set(df["snapshot"]) == {2}
    assert sorted(set(df.loc[df["quantity"] == "ripley_k", "r_um"])) == [20.0, 40.0]
    res = _invoke(immune_run, "--snapshot", "0,2", "--out", out, "--backend", "numpy")
    assert res.exit_code == 0, res.output
    assert out.with_suffix(".png").is_file()  # the plot goes beside a table given by --out
    assert set(read_metrics(out)["snapshot"]) == {0, 2}


def test_known_answers_through_the_command(known_run):
    res = _invoke(known_run, "--no-plot", "--backend", "numpy")
    assert res.exit_code == 0, res.output
    df = read_metrics(known_run / "metrics.csv")
    itype = df[df["quantity"] == "immunotype"].sort_values("snapshot")
    assert list(itype["label"]) == ["inflamed", "excluded", "desert"]
    assert "t = 120 min: t8 desert" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--immune", "nk"], "error: --immune: unknown kind 'nk'; kinds in the run: tumour, t8"),
        (["--tumour", "t8,blob"], "error: --tumour: unknown kind 'blob'"),
        (["--immune", "tumour"], "error: --immune: kind 'tumour' is also a tumour kind"),
        (["--margin", "-50"], "error: --margin: must be a positive width in µm"),
        (["--margin", "wide"], "error: --margin: must be a number of µm"),
        (["--radii", "10:900:10"], "error: --radii: the largest radius (900 µm)"),
        (["--radii", "30,20"], "error: --radii: radii must increase"),
        (["--section-thickness", "-1"], "error: --section-thickness: must be ≥ 0 µm"),
        (["--snapshot", "7"], "error: --snapshot: no snapshot 7; the run has 0, 1, 2"),
        (["--backend", "gpu"], "error: --backend: must be auto, numpy or cupy"),
        (["--margn", "50"], "error: No such option '--margn'"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(known_run, args, message):
    res = _invoke(known_run, *args, "--no-plot")
    assert res.exit_code == 2, res.output
    assert res.output.startswith(message), res.output
    assert res.output.count("\n") == 1


def test_a_folder_that_is_not_a_run(tmp_path):
    res = _invoke(tmp_path)
    assert res.exit_code == 2
    assert res.output.startswith(f"error: RUN: {tmp_path} holds no snapshots")
    assert res.output.count("\n") == 1
    res = _invoke(tmp_path / "missing")
    assert (
        res.exit_code == 2 and res.output == f"error: RUN: {tmp_path / 'missing'} is not a folder\n"
    )
