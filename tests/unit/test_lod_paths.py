"""The NumPy LOD sweep gives the same bits through its strided and transposed paths."""

from __future__ import annotations

import numpy as np
import pytest

from spatialtumor.backends import reference


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_transposed_path_equals_strided_path(axis, rng, monkeypatch):
    nf, shape = 2, (9, 10, 11)
    n = {"x": shape[2], "y": shape[1], "z": shape[0]}[axis]
    c = rng.random((nf,) + shape)
    cprime = rng.random((nf, n)) * 0.1
    inv = rng.random((nf, n)) + 0.5
    off, lo, hi = np.full(nf, -0.1), rng.random(nf), rng.random(nf)
    strided = c.copy()
    monkeypatch.setattr(reference, "TRANSPOSE_ELEMENTS", 1 << 40)
    reference.lod_sweep(strided, axis, cprime, inv, off, lo, hi)
    transposed = c.copy()
    monkeypatch.setattr(reference, "TRANSPOSE_ELEMENTS", 1)
    reference.lod_sweep(transposed, axis, cprime, inv, off, lo, hi)
    assert transposed.tobytes() == strided.tobytes()
    assert not np.array_equal(strided, c)
