"""Known answers: hand-placed T cells all in the tumour centre → inflamed, all at the margin
→ excluded, none (or too few at the margin) → desert; the thresholds and the 3D → 2D rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _cells import VOCABULARY, ball, cells, in_shell

from spatialtumor.metrics import (
    CENTRE_INFLAMED,
    MARGIN_EXCLUDED,
    Immunotype,
    MetricsOptions,
    classify,
    section_density,
    select_kinds,
    snapshot_metrics,
)

TUMOUR = ball(150.0)  # surface ≈ 150 µm: margin (w = 100 µm) ≈ 100–200 µm from the centre
KINDS = select_kinds(VOCABULARY)
CASES = {
    # 60 T cells within 80 µm of the centre: ≈ 210 cells/mm² in the centre
    "core": (in_shell(60, 0.0, 80.0), Immunotype.INFLAMED),
    # 600 T cells 120–180 µm from the centre: none in the centre, ≈ 290/mm² at the margin
    "margin": (in_shell(600, 120.0, 180.0), Immunotype.EXCLUDED),
    # 100 at the margin: ≈ 50/mm², below 200
    "sparse margin": (in_shell(100, 120.0, 180.0), Immunotype.DESERT),
    "none": (np.zeros((0, 3)), Immunotype.DESERT),
}


def _value(rows, quantity, region=""):
    (row,) = [r for r in rows if r["quantity"] == quantity and r["region"] == region]
    return row


@pytest.mark.parametrize("case", list(CASES))
def test_hand_placed_cells_get_their_immunotype(backend, case):
    t_cells, expected = CASES[case]
    rows = snapshot_metrics(cells(TUMOUR, t_cells), KINDS, MetricsOptions(), backend)
    row = _value(rows, "immunotype")
    assert row["label"] == expected.value and row["kind"] == "t8"
    assert row["value"] == expected.code
    centre = _value(rows, "density_2d", "centre")["value"]
    margin = _value(rows, "density_2d", "margin")["value"]
    n_centre = _value(rows, "cells", "centre")["value"]
    n_margin = _value(rows, "cells", "margin")["value"]
    if case == "core":
        assert n_centre == 60 and centre > 150.0
    elif case == "margin":
        assert n_centre == 0 and centre == 0.0 and n_margin == 600 and margin > 250.0
    elif case == "sparse margin":
        assert n_margin == 100 and 30.0 < margin < 70.0
    else:
        assert centre == margin == 0.0
    assert _value(rows, "tumour_cells")["value"] == len(TUMOUR)


def test_densities_by_hand():
    """N_V = count / region volume; N_A = N_V (τ + D) with τ = 4 µm and D = 10 µm."""
    rows = snapshot_metrics(cells(TUMOUR, CASES["margin"][0]), KINDS, MetricsOptions())
    volume = _value(rows, "region_volume", "margin")["value"]  # µm³
    per_mm3 = _value(rows, "density_3d", "margin")["value"]
    assert per_mm3 == pytest.approx(600 / (volume * 1e-9))
    assert _value(rows, "density_2d", "margin")["value"] == pytest.approx(per_mm3 * 14e-3)
    # the band of width 100 µm around a sphere of radius ≈ 150 µm
    assert volume == pytest.approx(4 / 3 * math.pi * (200.0**3 - 100.0**3), rel=0.15)


def test_infiltration_depth_of_hand_placed_cells():
    rows = snapshot_metrics(cells(TUMOUR, CASES["core"][0]), KINDS, MetricsOptions())
    assert _value(rows, "infiltration_fraction")["value"] == 1.0
    assert 60.0 < _value(rows, "infiltration_depth_mean")["value"] < 150.0
    rows = snapshot_metrics(cells(TUMOUR, CASES["none"][0]), KINDS, MetricsOptions())
    assert math.isnan(_value(rows, "infiltration_fraction")["value"])


def test_no_tumour_is_undetermined():
    rows = snapshot_metrics(cells(np.zeros((0, 3)), in_shell(10, 0, 50)), KINDS, MetricsOptions())
    assert _value(rows, "immunotype")["label"] == "undetermined"
    assert math.isnan(_value(rows, "immunotype")["value"])


def test_thresholds():
    assert (CENTRE_INFLAMED, MARGIN_EXCLUDED) == (100.0, 200.0)
    assert classify(100.1, 0.0) is Immunotype.INFLAMED
    assert classify(100.0, 200.1) is Immunotype.EXCLUDED
    assert classify(99.0, 200.0) is Immunotype.DESERT
    assert classify(math.nan, 500.0) is Immunotype.UNDETERMINED
    assert section_density(1.0e4, 4.0, 10.0) == pytest.approx(140.0)
