"""One GPU per rank: the local rank picks its CUDA device."""

from __future__ import annotations

from .comm import MPIError


def select_device(world, backend: str) -> None:
    """Make device ``local_rank`` current for the CuPy backend (no-op for NumPy or one rank).

    Raises :class:`MPIError` when this node has fewer devices than ranks (``cupy`` asked
    for), and is a no-op under ``auto`` when CuPy is absent or sees no device.
    """
    if backend == "numpy" or world.size <= 1:
        return
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001 - no cupy, no driver: the backend choice reports it
        if backend == "cupy":
            count = 0
        else:
            return
    if count == 0 and backend == "auto":
        return
    if count < world.local_size:
        raise MPIError(
            f"device count below rank count: {count} CUDA device(s) on this node for "
            f"{world.local_size} ranks; start at most {count} ranks per node"
        )
    cupy.cuda.Device(world.local_rank).use()
