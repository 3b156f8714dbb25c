"""Shared fixtures: one test body runs on every backend available here."""

from __future__ import annotations

import numpy as np
import pytest

from spatialtumor.backends import cupy_status, get_backend

CUPY_OK, CUPY_WHY = cupy_status()
BACKENDS = ["numpy"] + (["cupy"] if CUPY_OK else [])


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason=f"no usable CUDA device: {CUPY_WHY}")
    for item in items:
        if "gpu" in item.keywords and not CUPY_OK:
            item.add_marker(skip_gpu)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """float64 backend of each available kind."""
    return get_backend(request.param, "float64")


@pytest.fixture
def numpy_backend():
    return get_backend("numpy", "float64")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
