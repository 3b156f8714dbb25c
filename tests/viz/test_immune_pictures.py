"""Pictures of a run with T cells: own colour and legend entries named from the snapshot,
in the offscreen renderer and in ParaView's script."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.runs import open_run
from spatialtumor.scenario import load_scenario
from tests._pvbatch import pvbatch

SCRIPT = Path(__file__).resolve().parents[2] / "viz" / "paraview_open.py"
T8_COLOUR = (0.0, 0.45, 0.70)  # the cd8 kind's colour


@pytest.fixture(scope="module")
def immune_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("immune") / "run"
    scn = load_scenario("immune_surveillance", ["run.stop=30", "output.every=30"])
    sim = build_simulation(scn, make_backend("numpy", "float64"), run_dir=run_dir)
    sim.run()
    return run_dir


def test_render_shows_t_cells_in_their_colour_with_legend(immune_run):
    pytest.importorskip("vtkmodules")
    from spatialtumor.render import RenderOptions, SceneRenderer

    snap = open_run(immune_run).last
    scene = SceneRenderer(RenderOptions(size=(480, 360), lighting=False, cells="all", field="none"))
    try:
        classes = scene.draw(snap)
        img = scene.image()
    finally:
        scene.close()
    kinds = {c[0] for c in classes}
    assert kinds == {"tumour", "t8", "dc"}
    labels = {(c[0], c[1]) for c in classes}
    assert ("t8", "searching") in labels and ("tumour", "live") in labels
    t8 = [c for c in classes if c[0] == "t8" and c[1] == "searching"][0]
    assert np.allclose(t8[2], T8_COLOUR)
    target = np.rint(np.asarray(T8_COLOUR) * 255).astype(int)
    near = np.all(np.abs(img.astype(int) - target) <= 8, axis=-1)
    assert near.sum() > 50


@pytest.mark.paraview
@pytest.mark.skipif(
    shutil.which("pvbatch") is None or shutil.which("xvfb-run") is None,
    reason="needs pvbatch (ParaView) and xvfb-run",
)
@pytest.mark.parametrize("colour_by", ["kind", "kind_state"])
def test_paraview_legend_names_the_kinds(immune_run, tmp_path, colour_by):
    shot = tmp_path / "shot.png"
    args = [immune_run, "--screenshot", shot, "--size", "400x300", "--colour-by", colour_by]
    p = pvbatch(SCRIPT, *args)
    assert p.returncode == 0, p.stderr[-3000:]
    legend = [ln for ln in p.stdout.splitlines() if ln.startswith("legend: ")][0]
    names = legend.removeprefix("legend: ").split(", ")
    if colour_by == "kind":
        assert names == ["tumour", "t8", "dc"]
    else:
        assert names == [
            "tumour/live",
            "tumour/apoptotic",
            "tumour/necrotic",
            "tumour/immunogenic",
            "tumour/dormant",
            "tumour/residual",
            "t8/searching",
            "t8/engaged",
            "t8/exhausted",
            "dc/immature",
            "dc/mature",
        ]
    assert shot.is_file()


def test_plot_draws_the_reported_quantities(immune_run, tmp_path):
    pytest.importorskip("matplotlib")
    from spatialtumor.plots import population_figure, run_curves

    curves = run_curves(immune_run)
    assert {
        "t8: kills per interval",
        "t8: attached to a target",
        "tumour: mean of live cells",
    } <= set(curves.reported)
    assert set(curves.reported["tumour: mean of live cells"]) == {
        "tumour_antigen_mean",
        "tumour_mhc_mean",
        "tumour_pdl1_mean",
    }
    assert curves.reported["t8: kills per interval"]["t8_kills"][0] == 0
    fig = population_figure(immune_run)
    assert fig.get_suptitle().startswith("Immune surveillance")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert "t8: kills per interval" in titles and "Tumour size" in titles
    assert ("t8", "searching") in curves.states


def test_every_kind_and_state_has_its_colour_and_legend(tmp_path):
    """A run with tumour, CD8, macrophages and Tregs: every (kind, state) drawn gets its own
    legend entry named from the snapshot, and the kinds their own colours."""
    pytest.importorskip("vtkmodules")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "physics"))
    from _immune import simulation
    from test_tme import _suppressed

    from spatialtumor.render import RenderOptions, SceneRenderer, kind_colours

    raw = _suppressed(1, True)
    raw["run"]["stop"] = 60.0
    sim = simulation(raw, run_dir=tmp_path / "run")
    sim.run()
    snap = open_run(tmp_path / "run").last
    scene = SceneRenderer(RenderOptions(size=(320, 240), cells="all", field="none"))
    try:
        classes = scene.draw(snap)
    finally:
        scene.close()
    drawn = {(c[0], c[1]) for c in classes}
    counts = snap.counts()
    assert drawn == {tuple(k.split("/")) for k in counts}
    assert {"tam", "treg", "t8", "tumour"} <= {k for k, _ in drawn}
    colours = kind_colours(snap.vocabulary)
    assert len(set(colours.values())) == len(colours)
