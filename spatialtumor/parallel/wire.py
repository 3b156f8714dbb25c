"""Moving blocks of a backend array through MPI buffers (host memory)."""

from __future__ import annotations

import numpy as np


def to_wire(backend, array) -> np.ndarray:
    """A C-contiguous host copy (or view) of ``array`` to hand to MPI.

    CuPy arrays are staged through the host here; a CUDA-aware MPI could take them
    directly (after a stream synchronisation), which this first version does not do.
    """
    return np.ascontiguousarray(backend.asnumpy(array))


def from_wire(backend, host: np.ndarray, out) -> None:
    """Copy a received host buffer into ``out`` (a backend array or view of the same shape)."""
    out[...] = host if backend.name == "numpy" else backend.xp.asarray(host)
