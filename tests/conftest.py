"""Shared fixtures: one test body runs on every backend available here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spatialtumor.backends import cupy_status, get_backend, kernel_source

CUPY_OK, CUPY_WHY = cupy_status()
BACKENDS = ["numpy"] + (["cupy"] if CUPY_OK else [])


def pytest_addoption(parser):
    parser.addoption(
        "--prepared",
        default=None,
        metavar="FOLDER",
        help="work done ahead of a GPU run by benchmarks/gpu_prepare.py: kernels/ (compiled "
        "modules) and reference/ (NumPy results), each used only where its sources match",
    )


def pytest_configure(config):
    folder = config.getoption("--prepared", default=None)
    if folder:
        import _prepared

        _prepared.FOLDER = Path(folder)
        kernel_source.use_prebuilt(Path(folder) / "kernels")


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
