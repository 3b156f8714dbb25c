"""Offscreen rendering: size, content, kind colours and colour bar of the pictures."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from spatialtumor.render import (
    BAR_POSITION,
    BAR_SIZE,
    RenderError,
    RenderOptions,
    SceneRenderer,
    colour_table,
    render_run,
)
from spatialtumor.runs import open_run, write_synthetic_run

KINDS = {"tumour": (1.0, 0.0, 0.0), "cd8": (0.0, 0.8, 0.0), "macrophage": (0.0, 0.0, 1.0)}
W, H = 320, 240


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("run"), n_cells=400, times=(0.0, 60.0))


@pytest.fixture(scope="module")
def scene():
    pytest.importorskip("vtkmodules")
    s = SceneRenderer(RenderOptions(size=(W, H)))
    yield s
    s.close()


def _pixels_near(img: np.ndarray, rgb, tol: int = 6) -> int:
    target = np.rint(np.asarray(rgb) * 255).astype(int)
    return int(np.sum(np.all(np.abs(img.astype(int) - target) <= tol, axis=-1)))


def _draw(scene, snap, **options):
    scene.options = RenderOptions(size=(W, H), **options)
    scene.draw(snap)
    return scene.image()


def test_kind_colours_and_size(scene, run_dir):
    snap = open_run(run_dir).last
    img = _draw(scene, snap, kind_colours=KINDS, lighting=False, cells="all", field="none")
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert img.std() > 10  # not blank
    for kind, rgb in KINDS.items():
        assert _pixels_near(img, rgb) > 20, kind
    # no cells, no kind colours
    bare = _draw(scene, snap, kind_colours=KINDS, lighting=False, cells="none", field="none")
    assert all(_pixels_near(bare, rgb) == 0 for rgb in KINDS.values())


def test_colour_bar_shows_colour_map_ends(scene, run_dir):
    snap = open_run(run_dir).last
    x0, y0 = BAR_POSITION
    bw, bh = BAR_SIZE
    rows = slice(int(H * (1 - y0 - bh)), int(H * (1 - y0)) + 1)
    cols = slice(int(W * x0), int(W * (x0 + bw)) + 1)
    ends = colour_table("viridis")[[0, -1]]
    img = _draw(scene, snap, field="oxygen", cells="none")
    bar = img[rows, cols]
    for rgb in ends:
        assert _pixels_near(bar, rgb, tol=10) >= 5, rgb
    # the slice itself is viridis too; without a field the bar region holds neither end
    img = _draw(scene, snap, field="none", cells="none")
    assert all(_pixels_near(img[rows, cols], rgb, tol=10) == 0 for rgb in ends)


def test_render_run_writes_frames_and_movie(run_dir, tmp_path):
    pytest.importorskip("vtkmodules")
    res = render_run(
        run_dir, RenderOptions(size=(W, H)), snapshot="all", out_dir=tmp_path, movie="gif"
    )
    assert [p.name for p in res.frames] == ["snapshot_000000.png", "snapshot_000001.png"]
    for p in res.frames:
        with Image.open(p) as im:
            assert im.size == (W, H)
            a = np.asarray(im.convert("RGB"))
        assert len(np.unique(a.reshape(-1, 3), axis=0)) > 50
    assert res.movie is not None and res.movie.stat().st_size > 0
    with Image.open(res.movie) as im:
        assert im.n_frames == 2
    names = {c[0] for c in res.classes}
    assert names == {"tumour", "cd8", "macrophage"}


def test_bad_options(run_dir):
    with pytest.raises(RenderError, match="camera"):
        RenderOptions(camera="under").check()
    with pytest.raises(RenderError, match="size"):
        RenderOptions(size=(4, 4)).check()


def test_cli_headless(run_dir, tmp_path):
    """``spatialtumor render`` with no display picks an offscreen window by itself."""
    pytest.importorskip("vtkmodules")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "VTK_DEFAULT_OPENGL_WINDOW")
    }
    code = "from spatialtumor.cli import main; main()"
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "render",
            str(run_dir),
            "--snapshot",
            "1",
            "--size",
            "200x150",
            "--out",
            str(tmp_path),
            "--camera",
            "top",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    with Image.open(tmp_path / "snapshot_000001.png") as im:
        assert im.size == (200, 150)
        assert np.asarray(im).std() > 10
