"""Backends: NumPy everywhere, CuPy where a CUDA device really works.

``cupy`` is imported only inside :func:`cupy_status` and ``cupy_kernels`` so that
``import spatialtumor`` works on any machine.
"""

from __future__ import annotations

import platform

import numpy as np

from . import reference
from .base import DTYPES, Backend

__all__ = ["Backend", "get_backend", "cupy_status", "BackendError"]


class BackendError(RuntimeError):
    """The requested backend cannot be used here."""


def cupy_status() -> tuple[bool, str]:
    """Return ``(usable, explanation)`` for CuPy on this machine.

    Usable means: cupy imports, a device is visible, and a tiny kernel really runs.
    """
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        return False, f"cupy is not installed ({type(exc).__name__}: {exc})"
    try:
        if not cupy.cuda.is_available():
            return False, "cupy is installed but finds no CUDA device"
        probe = cupy.arange(4, dtype=cupy.float32) * 2
        if float(probe.sum()) != 12.0:
            return False, "cupy is installed but a test computation gave a wrong result"
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return True, f"CUDA device {cupy.cuda.Device().id}: {name}"
    except Exception as exc:
        return False, f"cupy is installed but the CUDA device does not work ({exc})"


def _cpu_name() -> str:
    return f"CPU ({platform.machine() or 'unknown'}, NumPy {np.__version__})"


def get_backend(name: str = "auto", dtype: str = "float64") -> Backend:
    """Make the backend value.

    Parameters
    ----------
    name : "auto", "numpy" or "cupy". ``auto`` picks CuPy only when a device really works.
    dtype : "float32" or "float64", the working precision of fields and cells.
    """
    if dtype not in DTYPES:
        raise BackendError(f"precision must be one of {sorted(DTYPES)}, not {dtype!r}")
    np_dtype = np.dtype(DTYPES[dtype])
    if name not in ("auto", "numpy", "cupy"):
        raise BackendError(f"backend must be 'auto', 'numpy' or 'cupy', not {name!r}")
    if name == "numpy":
        return Backend("numpy", np, reference, np_dtype, _cpu_name(), "asked for numpy")
    usable, why = cupy_status()
    if name == "cupy" and not usable:
        raise BackendError(f"backend 'cupy' requested but unusable: {why}")
    if usable:
        import cupy

        from .cupy_kernels import CupyKernels

        reason = "asked for cupy" if name == "cupy" else f"auto: {why}"
        return Backend("cupy", cupy, CupyKernels(), np_dtype, why, reason)
    return Backend("numpy", np, reference, np_dtype, _cpu_name(), f"auto: {why}; using NumPy")
