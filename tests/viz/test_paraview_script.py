"""viz/paraview_open.py under ParaView's pvbatch writes a screenshot of a run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spatialtumor.runs import write_synthetic_run
from tests._pvbatch import pvbatch

SCRIPT = Path(__file__).resolve().parents[2] / "viz" / "paraview_open.py"
pytestmark = [
    pytest.mark.paraview,
    pytest.mark.skipif(
        shutil.which("pvbatch") is None or shutil.which("xvfb-run") is None,
        reason="needs pvbatch (ParaView) and xvfb-run",
    ),
]


def _pvbatch(*args, tries: int = 2):
    """Run the script; a second try covers an X server that was not ready in time."""
    p = pvbatch(SCRIPT, *args, tries=tries)
    if p.returncode == 0:
        return p
    raise AssertionError(
        f"pvbatch failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    )


def test_screenshot(tmp_path):
    run = write_synthetic_run(tmp_path / "run", n_cells=300, times=(0.0, 60.0))
    shot = tmp_path / "shot.png"
    _pvbatch(run, "--screenshot", shot, "--size", "400x300", "--kinds", "tumour,cd8,macrophage")
    with Image.open(shot) as im:
        assert im.size == (400, 300)
        img = np.asarray(im.convert("RGB")).astype(int)
    assert img.std() > 10
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 100
    # tumour cells are drawn in vermillion (213, 94, 0), shaded
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    assert np.sum((r > 120) & (r > 1.8 * g) & (b < 40)) > 50
