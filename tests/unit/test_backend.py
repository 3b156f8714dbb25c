"""The backend value: choice, precision, fallback reasons, errors."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

import spatialtumor as st
from spatialtumor import backends
from spatialtumor.backends import BackendError, cupy_status, get_backend, reference

CUPY_OK, CUPY_WHY = cupy_status()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_backend_value(dtype):
    be = get_backend("numpy", dtype)
    assert be.name == "numpy"
    assert be.xp is np
    assert be.kernels is reference
    assert be.dtype == np.dtype(dtype)
    assert "CPU" in be.device
    assert be.reason == "asked for numpy"
    assert be.describe().startswith(f"numpy ({dtype}) on CPU")


def test_default_precision_is_float64_and_numpy_is_picked_by_name():
    assert get_backend("numpy").dtype == np.float64


def test_backend_is_frozen():
    be = get_backend("numpy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        be.name = "cupy"


def test_asarray_uses_working_dtype_and_asnumpy_returns_host_array():
    be = get_backend("numpy", "float32")
    a = be.asarray([1.0, 2.0])
    assert a.dtype == np.float32
    assert be.asarray([1, 2], dtype=np.int64).dtype == np.int64
    assert isinstance(be.asnumpy(a), np.ndarray)
    be.synchronize()  # a no-op on NumPy


@pytest.mark.parametrize("name", ["torch", "CUDA", "", "Numpy"])
def test_bad_backend_names_raise(name):
    with pytest.raises(BackendError, match=r"backend must be 'auto', 'numpy' or 'cupy'"):
        get_backend(name)


@pytest.mark.parametrize("dtype", ["float16", "double", "fp32", "Float32"])
def test_bad_precisions_raise(dtype):
    with pytest.raises(BackendError, match=r"precision must be one of \['float32', 'float64'\]"):
        get_backend("numpy", dtype)


def test_precision_is_checked_before_cupy_is_probed(monkeypatch):
    def probe():
        raise AssertionError("cupy probed before the precision was checked")

    monkeypatch.setattr(backends, "cupy_status", probe)
    with pytest.raises(BackendError, match="precision"):
        get_backend("cupy", "float16")


def test_backend_error_is_a_runtime_error():
    assert issubclass(BackendError, RuntimeError)
    assert st.BackendError is BackendError


def test_auto_falls_back_to_numpy_with_the_reason(monkeypatch):
    monkeypatch.setattr(backends, "cupy_status", lambda: (False, "cupy finds no CUDA device"))
    be = get_backend("auto", "float32")
    assert be.name == "numpy" and be.xp is np and be.dtype == np.float32
    assert "auto" in be.reason and "cupy finds no CUDA device" in be.reason
    assert "NumPy" in be.reason


def test_cupy_without_device_raises_clear_error(monkeypatch):
    monkeypatch.setattr(backends, "cupy_status", lambda: (False, "cupy finds no CUDA device"))
    with pytest.raises(BackendError, match=r"'cupy' requested but unusable: cupy finds no CUDA"):
        get_backend("cupy", "float64")


def test_cupy_status_explains_a_missing_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    usable, why = cupy_status()
    assert usable is False
    assert "cupy is not installed" in why


@pytest.mark.skipif(CUPY_OK, reason=f"CuPy works here: {CUPY_WHY}")
def test_auto_on_this_machine_is_numpy_and_says_why():
    be = get_backend("auto")
    assert be.name == "numpy"
    assert be.reason.startswith("auto: ") and CUPY_WHY in be.reason
    assert "cupy" in be.reason.lower()
    with pytest.raises(BackendError, match="cupy"):
        get_backend("cupy")


@pytest.mark.gpu
def test_cupy_backend_value_where_a_device_works():
    be = get_backend("cupy", "float32")
    assert be.name == "cupy" and be.dtype == np.float32
    assert be.reason == "asked for cupy"
    a = be.asarray(np.arange(3.0))
    assert type(a).__module__.startswith("cupy")
    np.testing.assert_array_equal(be.asnumpy(a), [0.0, 1.0, 2.0])
    assert get_backend("auto").name == "cupy"
