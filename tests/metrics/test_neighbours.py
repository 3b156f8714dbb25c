"""Nearest neighbours and pairs within a cutoff against brute force, and the nearest-
neighbour distance of a Poisson pattern against its analytic mean."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatialtumor.metrics.neighbours import nearest, pairs_within


def _brute(q, p, same=False):
    d = np.sqrt(((q[:, None] - p[None]) ** 2).sum(-1))
    if same:
        np.fill_diagonal(d, np.inf)
    return d


@pytest.mark.parametrize("same", [False, True])
def test_nearest_matches_brute_force(backend, same):
    rng = np.random.default_rng(2)
    # a dense cluster, a few far points and queries spread over a larger box
    p = np.concatenate([rng.normal(250.0, 25.0, (1500, 3)), rng.uniform(0, 500, (15, 3))])
    q = p if same else rng.uniform(-100.0, 600.0, (700, 3))
    d, i = nearest(backend.xp.asarray(q), backend.xp.asarray(p), backend=backend, same=same)
    d, i = backend.asnumpy(d), backend.asnumpy(i)
    ref = _brute(q, p, same)
    np.testing.assert_allclose(d, ref.min(axis=1), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ref[np.arange(len(q)), i], d, atol=1e-9)


def test_nearest_without_points(numpy_backend):
    q = np.zeros((3, 3))
    d, i = nearest(q, np.zeros((0, 3)), backend=numpy_backend)
    assert np.all(np.isinf(d)) and np.all(i == -1)
    d, i = nearest(q[:1], q[:1], backend=numpy_backend, same=True)
    assert np.isinf(d[0]) and i[0] == -1


def test_pairs_within_match_brute_force(backend):
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 300, (800, 3))
    b = np.concatenate([rng.uniform(0, 300, (900, 3)), rng.normal(150, 10, (300, 3))])
    xp = backend.xp
    for same, other in ((False, b), (True, a)):
        got = set()
        for i, j, delta in pairs_within(
            xp.asarray(a), xp.asarray(other), 30.0, backend=backend, same=same
        ):
            i, j, delta = (backend.asnumpy(v) for v in (i, j, delta))
            np.testing.assert_allclose(delta, other[j] - a[i], atol=1e-12)
            got |= set(zip(i.tolist(), j.tolist(), strict=True))
        ref = _brute(a, other, same) <= 30.0
        assert got == set(zip(*np.nonzero(ref), strict=True))


def test_poisson_nearest_neighbour_mean():
    """Mean distance to the nearest point of a Poisson pattern of intensity λ:
    Γ(4/3) (3 / (4πλ))^(1/3) (Chandrasekhar 1943). Queries at least 100 µm (five mean
    distances) from the walls, so the walls do not lengthen their distances."""
    rng = np.random.default_rng(11)
    side, n = 1000.0, 20000
    lam = n / side**3
    expected = math.gamma(4.0 / 3.0) * (3.0 / (4.0 * math.pi * lam)) ** (1.0 / 3.0)
    pts = rng.uniform(0.0, side, (n, 3))
    inner = np.all((pts > 100.0) & (pts < side - 100.0), axis=1)
    d_same, _ = nearest(pts, pts, same=True)
    assert np.mean(d_same[inner]) == pytest.approx(expected, rel=0.015)
    other = rng.uniform(100.0, side - 100.0, (8000, 3))
    d_cross, _ = nearest(other, pts)
    assert np.mean(d_cross) == pytest.approx(expected, rel=0.015)
