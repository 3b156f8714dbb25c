"""Population plots: one curve per kind, counts that match the snapshots, therapy marks."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from spatialtumor.cli import cli
from spatialtumor.plots import population_figure, save_plots, therapy_events
from spatialtumor.runs import open_run, write_synthetic_run

THERAPY = """title = "Treated"
[[therapy.doses]]
into = "plasma"
label = "anti-PD-1"
amount = 200.0
at = 30.0
every = 60.0
count = 2
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_synthetic_run(
        tmp_path_factory.mktemp("run"), n_cells=200, times=(0.0, 60.0, 120.0), scenario=THERAPY
    )


def test_one_curve_per_kind(run_dir):
    run = open_run(run_dir)
    fig = population_figure(run)
    ax = fig.axes[0]
    kind_lines = [ln for ln in ax.get_lines() if ln.get_label() in run.kind_names]
    assert [ln.get_label() for ln in kind_lines] == list(run.kind_names)
    for ln in kind_lines:
        y = ln.get_ydata()
        assert len(y) == 3
        code = run.kind_names.index(ln.get_label())
        assert y[-1] == np.sum(run.last.cells["kind_code"] == code)
    titles = [a.get_title() for a in fig.axes if a.get_visible()]
    assert titles[:3] == ["Cells per kind", "Cells per kind and state", "Tumour size"]
    states = [ln.get_label() for ln in fig.axes[1].get_lines()]
    assert "tumour (necrotic)" in states and "cd8 (live)" in states
    # therapy doses at 30 and 90 min are marked on every panel
    for a in fig.axes[:4]:
        marks = [ln for ln in a.get_lines() if ln.get_color() == "tab:red"]
        assert sorted(ln.get_xdata()[0] for ln in marks) == [30.0, 90.0]
        assert marks[0].get_label() == "anti-PD-1"


def test_save_and_cli(run_dir, tmp_path):
    paths = save_plots(run_dir, tmp_path / "a", dpi=60)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert all(p.stat().st_size > 1000 for p in paths)
    r = CliRunner().invoke(
        cli, ["plot", str(run_dir), "--out", str(tmp_path / "b"), "--format", "png", "--dpi", "50"]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b" / "population.png").stat().st_size > 1000


def test_fields_only_run(tmp_path):
    from spatialtumor.output.snapshots import SnapshotData, write_snapshot

    (tmp_path / "snapshots").mkdir()
    for i, t in enumerate((0.0, 5.0)):
        d = SnapshotData(
            time=t,
            step=i,
            shape=(2, 3, 4),
            spacing=(1.0, 1.0, 1.0),
            origin=(0.0, 0.0, 0.0),
            fields={"a": np.full((2, 3, 4), 1.0 + i), "b": np.zeros((2, 3, 4))},
            species={"a": {"units": "nM"}},
        )
        write_snapshot(tmp_path / "snapshots" / f"snapshot_{i:06d}.h5", d, run_dir=tmp_path)
    fig = population_figure(tmp_path)
    visible = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["a: total in the domain", "b: total in the domain"]
    np.testing.assert_allclose(visible[0].get_lines()[0].get_ydata(), [24.0, 48.0])


def test_therapy_event_forms():
    assert therapy_events({}) == []
    doses = [
        {"into": "plasma", "amount": 1.0, "at": 50.0, "label": "x"},
        {"into": "ln", "amount": 2.0, "at": 10.0, "every": 30.0, "count": 2},
    ]
    ev = therapy_events({"therapy": {"doses": doses}})
    assert [(e.time, e.label) for e in ev] == [(10.0, "ln"), (40.0, "ln"), (50.0, "x")]
    assert therapy_events({"therapy": {"unknown": 1}}) == []
