"""``spatialtumor study plot``: mean ± spread per arm over time, and a response surface."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from spatialtumor.cli import cli

pytest.importorskip("matplotlib")


def test_plot_arms_and_response(swept_study):
    study, out = swept_study
    res = CliRunner().invoke(cli, ["study", "plot", str(out), "--format", "png"])
    assert res.exit_code == 0, res.output
    for name in ("arms", "response"):
        p = out / "plots" / f"{name}.png"
        assert f"wrote {p}" in res.output
        assert p.stat().st_size > 10_000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_response_surface_of_two_keys(swept_study):
    from spatialtumor.study.plots import response_figure
    from spatialtumor.study.table import read_table

    study, out = swept_study
    members = read_table(out, "members")
    fig = response_figure(members, ["fields.oxygen.decay", "seed"], "oxygen_total")
    assert len(fig.axes) == 3  # two arms and a colour bar


def test_plot_bad_options(swept_study):
    study, out = swept_study
    res = CliRunner().invoke(cli, ["study", "plot", str(out), "--column", "nope"])
    assert res.exit_code == 2 and "no column 'nope'" in res.output
    res = CliRunner().invoke(cli, ["study", "plot", str(out), "--params", "grid.nx"])
    assert res.exit_code == 2 and "grid.nx is not a swept key" in res.output
