"""Clocks: diffusion ≤ mechanics ≤ phenotype, integer ratios, integer step counter."""

from __future__ import annotations

import pytest

import spatialtumor as st


def test_physicell_clocks_nest_with_integer_ratios():
    clock = st.Clock(dt_diffusion=0.01, dt_mechanics=0.1, dt_phenotype=6.0)  # min
    assert clock.mechanics_every == 10
    assert clock.phenotype_every == 600
    assert isinstance(clock.mechanics_every, int)


def test_equal_clocks_are_allowed():
    clock = st.Clock(0.5, 0.5, 0.5)
    assert clock.mechanics_every == clock.phenotype_every == 1


def test_time_is_step_times_dt_without_drift():
    clock = st.Clock(0.01, 0.1, 6.0)
    assert clock.time(0) == 0.0
    assert clock.time(144_000) == pytest.approx(1440.0, rel=1e-15)  # one day
    assert clock.steps(1440.0) == 144_000
    assert clock.steps(0.014) == 1  # rounded to the nearest step
    assert clock.steps(0.016) == 2


@pytest.mark.parametrize(
    "dts, match",
    [
        (
            (0.01, 0.015, 6.0),
            r"dt_mechanics \(0.015 min\) must be an integer multiple .* "
            r"of dt_diffusion \(0.01 min\)",
        ),
        (
            (0.01, 0.1, 0.25),
            r"dt_phenotype \(0.25 min\) must be an integer multiple .* "
            r"of dt_mechanics \(0.1 min\)",
        ),
        ((0.1, 0.05, 6.0), r"dt_mechanics \(0.05 min\) must be an integer multiple \(>= 1\)"),
        ((0.01, 0.1, 0.05), r"dt_phenotype \(0.05 min\)"),
        ((0.0, 0.1, 6.0), "dt_diffusion must be > 0"),
        ((0.01, -0.1, 6.0), "dt_mechanics must be > 0"),
        ((0.01, 0.1, float("nan")), "dt_phenotype must be > 0"),
    ],
)
def test_non_nesting_clocks_are_refused_with_names(dts, match):
    with pytest.raises(ValueError, match=match):
        st.Clock(*dts)


def test_clock_is_frozen():
    clock = st.Clock(0.01, 0.1, 6.0)
    with pytest.raises(AttributeError):
        clock.dt_diffusion = 0.02
