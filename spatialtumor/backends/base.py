"""The backend value: which array module, which kernels, which precision, which device."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class Backend:
    """Everything below the CLI asks this object how to compute.

    Attributes
    ----------
    name : "numpy" or "cupy"
    xp : the array module (``numpy`` or ``cupy``)
    kernels : object whose methods have the signatures of ``spatialtumor.backends.reference``
    dtype : working floating-point dtype of fields and agent columns
    device : human-readable device description
    reason : why this backend was chosen (reported by ``spatialtumor run`` and ``info``)
    """

    name: str
    xp: ModuleType
    kernels: Any
    dtype: np.dtype
    device: str
    reason: str = ""

    def asnumpy(self, array) -> np.ndarray:
        """Copy an array to the host (only writers, diagnostics and checks call this)."""
        if self.name == "cupy":
            return self.xp.asnumpy(array)
        return np.asarray(array)

    def asarray(self, array, dtype=None):
        """Move a host array to the backend (working dtype unless ``dtype`` is given)."""
        return self.xp.asarray(array, dtype=self.dtype if dtype is None else dtype)

    def synchronize(self) -> None:
        """Wait for queued device work (for timing); a no-op on NumPy."""
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()

    def describe(self) -> str:
        return f"{self.name} ({np.dtype(self.dtype).name}) on {self.device}"
