"""Tumour mask and signed distance: a ball, a torus (non-convex: its centre is outside), a
hollow ball (the enclosed cavity is inside), and the distance transform against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from _cells import HALF, ball

from spatialtumor.metrics.geometry import distance_to, tumour_geometry

BOX = ((-HALF,) * 3, (HALF,) * 3)
H = 16.8  # one tumour-cell diameter [µm]


def test_distance_transform_matches_brute_force(backend, rng):
    xp = backend.xp
    feature = rng.random((7, 9, 11)) < 0.04
    feature[3, 4, 5] = True
    d = backend.asnumpy(distance_to(xp, xp.asarray(feature), 2.5))
    src = np.argwhere(feature) * 2.5
    every = np.argwhere(np.ones_like(feature)) * 2.5
    brute = np.sqrt(((every[:, None] - src[None]) ** 2).sum(-1)).min(axis=1).reshape(d.shape)
    np.testing.assert_allclose(d, brute, atol=1e-12)


def test_ball_depth_is_distance_to_the_sphere(backend):
    """Depth ≈ R − |p| for the mask's equivalent radius R: within 11 µm (about one
    tumour-cell diameter) everywhere, within 6 µm near the surface."""
    centres = ball(150.0)
    geo = tumour_geometry(centres, *BOX, H, reach=100.0, backend=backend)
    r_eq = geo.equivalent_radius
    assert 140.0 < r_eq < 158.0  # outermost centres at 150 µm
    rng = np.random.default_rng(5)
    u = rng.normal(size=(2000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r = rng.uniform(0.0, 240.0, 2000)
    depth = backend.asnumpy(geo.depth_at(backend.xp.asarray(u * r[:, None])))
    err = depth - (r_eq - r)
    assert np.max(np.abs(err)) < 11.0
    near = np.abs(r - r_eq) < 30.0
    assert np.max(np.abs(err[near])) < 6.0
    assert abs(geo.thickness - r_eq) < 11.0
    # region volume of the centre (depth > 50 µm) ≈ the ball of radius R − 50
    v = geo.region_volume(50.0, np.inf)
    assert v == pytest.approx(4 / 3 * np.pi * (r_eq - 50.0) ** 3, rel=0.15)


def test_far_outside_is_minus_infinity():
    geo = tumour_geometry(ball(60.0), *BOX, H, reach=50.0)
    d = geo.depth_at(np.array([[0.0, 0.0, 0.0], [290.0, 0.0, 0.0]]))
    assert d[0] > 40.0 and d[1] == -np.inf


def test_torus_centre_is_outside():
    """Not a radial measure: the centre of a torus (tube radius 45 µm around a 120 µm
    circle) lies in its hole, 75 µm from the tube, and the tube's centre line is deep."""
    g = np.arange(-200.0, 200.0, 15.0)
    p = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    p += np.random.default_rng(1).uniform(-2.0, 2.0, p.shape)
    rho = np.hypot(p[:, 0], p[:, 1])
    torus = p[(rho - 120.0) ** 2 + p[:, 2] ** 2 <= 45.0**2]
    geo = tumour_geometry(torus, *BOX, H, reach=100.0)
    centre, tube = geo.depth_at(np.array([[0.0, 0.0, 0.0], [120.0, 0.0, 0.0]]))
    assert -85.0 < centre < -55.0
    assert 30.0 < tube < 50.0


def test_enclosed_cavity_is_inside():
    shell = ball(150.0)
    shell = shell[np.linalg.norm(shell, axis=1) > 80.0]
    filled = tumour_geometry(shell, *BOX, H, reach=100.0)
    open_ = tumour_geometry(shell, *BOX, H, reach=100.0, cavities=False)
    origin = np.zeros((1, 3))
    assert filled.depth_at(origin)[0] > 120.0
    assert open_.depth_at(origin)[0] < -60.0
