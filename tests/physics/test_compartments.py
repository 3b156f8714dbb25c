"""Compartments: TR-BDF2 against exact solutions, the lymph node against a fine reference
integration of its own equations, and exact restart through a checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatialtumor.biology.lymph_node import LymphNode, LymphNodeParams
from spatialtumor.compartments import Compartment, tr_bdf2_step


def test_tr_bdf2_is_second_order_and_stiff_safe():
    """y' = −k y: error falls 4× per halving of the step; a stiff k Δt = 10⁴ stays bounded."""
    k = 0.3
    errors = []
    for h in (0.4, 0.2, 0.1):
        y, t = np.array([1.0]), 0.0
        while t < 4.0 - 1e-12:
            y = tr_bdf2_step(lambda t, y: -k * y, t, y, h)
            t += h
        errors.append(abs(y[0] - math.exp(-k * 4.0)))
    order = [math.log2(a / b) for a, b in zip(errors, errors[1:], strict=False)]
    assert all(1.9 < o < 2.1 for o in order), order
    y = tr_bdf2_step(lambda t, y: -1e4 * y, 0.0, np.array([1.0]), 1.0)
    assert abs(y[0]) < 1e-3  # L-stable: a very stiff mode is damped in one step


def test_linear_compartment_matches_the_exact_solution():
    """y₁' = J − a y₁, y₂' = b y₁ − c y₂ with a constant influx J (a delivered amount)."""
    a, b, c = 0.01, 0.02, 0.005
    comp = Compartment(
        "lin",
        ("y1", "y2"),
        {"y1": 2.0, "y2": 0.0},
        lambda t, y: np.array([-a * y[0], b * y[0] - c * y[1]]),
        max_substep=0.5,
    )
    dt, amount = 6.0, 3.0  # amount delivered before each step → J = amount / dt
    for _ in range(100):
        comp.deliver("y1", amount)
        comp.advance(dt)
    t = 600.0
    j = amount / dt
    y1_inf = j / a
    y1 = y1_inf + (2.0 - y1_inf) * math.exp(-a * t)
    # y2 = b ∫ y1: particular + homogeneous parts of y2' + c y2 = b y1
    y2 = b * y1_inf / c + b * (2.0 - y1_inf) / (c - a) * math.exp(-a * t)
    y2 += -(b * y1_inf / c + b * (2.0 - y1_inf) / (c - a)) * math.exp(-c * t)
    np.testing.assert_allclose(comp.y, [y1, y2], rtol=1e-6)
    assert comp.delivered[0] == pytest.approx(300.0)


def _rk4(f, y, t_end, h):
    n = int(round(t_end / h))
    h = t_end / n
    for i in range(n):
        t = i * h
        k1 = f(t, y)
        k2 = f(t + h / 2, y + h / 2 * k1)
        k3 = f(t + h / 2, y + h / 2 * k2)
        k4 = f(t + h, y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def test_lymph_node_matches_a_fine_reference():
    p = LymphNodeParams(initial_antigen=5e5, initial_primed=10.0, expansion_capacity=2e3)
    comp = LymphNode.build("ln", p)
    for _ in range(240):  # one day in 6-min steps
        comp.advance(6.0)
    ref = _rk4(comp.rhs, np.array([5e5, 10.0]), 1440.0, 0.05)
    np.testing.assert_allclose(comp.y, ref, rtol=1e-5)
    assert comp.output("effector_outflow") == pytest.approx(
        p.tumour_fraction * p.egress_rate * ref[1], rel=1e-5
    )
