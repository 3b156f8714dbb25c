"""Persistent random walk: ensemble MSD and chemotactic drift against exact formulas."""

from __future__ import annotations

import numpy as np
import pytest

from spatialtumor.agents import CellKind, Population
from spatialtumor.fields import Fields, Species
from spatialtumor.grid import Grid
from spatialtumor.mechanics import Mechanics, update_directions


def msd_discrete(n, v, dt, tau):
    """⟨|x_n − x_0|²⟩ after n steps of length v dt whose directions are renewed with
    probability p = dt/τ per step: ⟨d_m·d_l⟩ = (1 − p)^|m−l|, so
    MSD_n = (v dt)² [n + 2 Σ_{l=1}^{n−1} (n − l) q^l], q = 1 − p."""
    q = 1.0 - dt / tau
    lag = np.arange(1, n)
    return (v * dt) ** 2 * (n + 2.0 * np.sum((n - lag) * q**lag))


def msd_continuous(t, v, tau):
    """Ornstein–Fürth / persistent random walk: 2 v² τ [t − τ (1 − e^{−t/τ})]."""
    return 2 * v**2 * tau * (t - tau * (1 - np.exp(-t / tau)))


def drift_fraction(b):
    """E[ê·normalise((1 − b) u + b ê)] for u uniform on the sphere (closed form).

    With a = 1 − b and s = |w|² = a² + b² + 2ab μ (μ = u·ê uniform on [−1, 1]):
    E = 1/(8ab²) [⅔ s^{3/2} + 2 (b² − a²) s^{1/2}] between s = (a − b)² and s = 1.
    """
    a = 1.0 - b

    def prim(r):  # r = √s
        return (2.0 / 3.0) * r**3 + 2.0 * (b * b - a * a) * r

    return (prim(1.0) - prim(abs(a - b))) / (8.0 * a * b * b)


def walkers(backend, n, kind, lower, upper, start):
    pop = Population(backend, (kind,), capacity=n)
    pop.add_cells(kind.name, np.tile(start, (n, 1)))
    return pop


def test_discrete_formula_is_close_to_the_continuous_one():
    for t in (5.0, 20.0, 50.0):
        rel = msd_discrete(int(round(t / 0.1)), 1.0, 0.1, 10.0) / msd_continuous(t, 1.0, 10.0)
        assert abs(rel - 1) < 0.01


def test_ensemble_msd_matches_persistent_random_walk(backend):
    v, tau, dt = 1.0, 10.0, 0.1
    kind = CellKind("t", radius=5.0, repulsion=0.0, adhesion=0.0, speed=v, persistence=tau)
    n = 10_000
    pop = walkers(backend, n, kind, None, None, (0.0, 0.0, 0.0))
    mech = Mechanics(pop, (-1000,) * 3, (1000,) * 3, dt=dt, seed=11)
    checks = {50: None, 200: None, 500: None}
    for s in range(1, 501):
        mech.step(s)
        if s in checks:
            p = backend.asnumpy(pop["position"])
            checks[s] = float(np.mean(np.sum(p * p, axis=1)))
    for s, measured in checks.items():
        expect = msd_discrete(s, v, dt, tau)
        assert measured == pytest.approx(expect, rel=0.05), (s, measured, expect)
    # a walk without persistence (τ → dt) would be far off: the test can fail
    assert checks[500] > 2 * msd_discrete(500, v, dt, dt)


def test_drift_fraction_formula_against_sampling():
    xp = np
    n = 200_000
    ids = np.arange(n, dtype=np.int64)
    for b in (0.2, 0.5, 0.8):
        d = np.zeros((n, 3))
        g = np.tile([[0.0, 0.0, 3.0]], (n, 1))
        update_directions(
            xp,
            d,
            ids,
            np.zeros(n, np.int64),
            np.ones(n, bool),
            dt=0.1,
            persistence=np.array([1.0]),
            bias=np.array([b]),
            gradient=g,
            seed=1,
            step=0,
        )
        assert np.allclose(np.linalg.norm(d, axis=1), 1)
        assert d[:, 2].mean() == pytest.approx(drift_fraction(b), abs=0.004)
    assert drift_fraction(0.5) == pytest.approx(2.0 / 3.0)
    assert drift_fraction(1e-9) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("bias", [0.2, 0.5, 0.9])
def test_chemotactic_drift_in_a_linear_gradient(backend, bias):
    """Mean velocity up a linear gradient is bias × speed (the bias is the drift fraction)."""
    v, tau, dt = 2.0, 5.0, 0.5
    grid = Grid(backend, (3, 3, 50), spacing=20.0)  # x from 0 to 1000 µm
    fields = Fields(grid, signal=Species(diffusivity=0.0))
    x = backend.asarray(grid.centres("x"))
    fields.values[0] = 0.01 * x[None, None, :]  # ∇c = (0.01, 0, 0) per µm
    kind = CellKind(
        "t",
        radius=5.0,
        repulsion=0.0,
        adhesion=0.0,
        speed=v,
        persistence=tau,
        chemotaxis_field="signal",
        chemotaxis_bias=bias,
    )
    n, steps = 4000, 200
    pop = walkers(backend, n, kind, None, None, (300.0, 30.0, 30.0))
    mech = Mechanics(pop, grid.origin, grid.upper, dt=dt, seed=5, fields=fields, walls="clamp")
    y0 = backend.asnumpy(pop["position"]).copy()
    for s in range(steps):
        mech.step(s)
    disp = backend.asnumpy(pop["position"]) - y0
    drift = disp[:, 0].mean() / (steps * dt)
    print(f"bias {bias}: drift {drift:.4f} µm/min, bias × speed {bias * v:.4f} µm/min")
    assert drift == pytest.approx(v * bias, rel=0.05)


def test_direction_weight_inverts_drift_fraction():
    from spatialtumor.mechanics import direction_weight
    from spatialtumor.mechanics import drift_fraction as package_drift

    for b in (0.05, 0.2, 0.5, 2.0 / 3.0, 0.9, 0.99):
        w = direction_weight(b)
        assert package_drift(w) == pytest.approx(b, abs=1e-12)
        assert drift_fraction(w) == pytest.approx(b, abs=1e-12)  # the test's own closed form
    assert direction_weight(0.0) == 0.0 and direction_weight(1.0) == 1.0
    with pytest.raises(ValueError):
        direction_weight(1.5)
