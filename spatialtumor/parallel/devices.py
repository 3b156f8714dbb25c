"""One GPU per rank: the local rank picks its CUDA device, and no two ranks share one."""

from __future__ import annotations

import socket

from .comm import MPIError


def select_device(world, backend: str) -> None:
    """Make device ``local_rank mod count`` current for the CuPy backend (no-op for NumPy or
    one rank).

    Ranks that each see their own GPUs (``CUDA_VISIBLE_DEVICES`` set per task, as Slurm's
    ``--gpus-per-task`` does) are accepted even when each sees one; what is refused is two
    ranks on the same physical device, told apart by host name and PCI bus id. Raises
    :class:`MPIError` then (``cupy`` asked for, or ``auto`` with devices present); a no-op
    under ``auto`` when CuPy is absent or sees no device.
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
    if count == 0:
        raise _too_few(0, world.local_size)
    device = world.local_rank % count
    if world.comm is None:  # nobody to compare with: the node's count must do
        if count < world.local_size:
            raise _too_few(count, world.local_size)
    else:
        where = (socket.gethostname(), cupy.cuda.runtime.deviceGetPCIBusId(device))
        seen = world.comm.allgather(where)
        if len(set(seen)) < len(seen):
            raise _too_few(count, world.local_size, shared=where if seen.count(where) > 1 else None)
    cupy.cuda.Device(device).use()


def _too_few(count: int, ranks: int, shared=None) -> MPIError:
    which = f"; GPU {shared[1]} on {shared[0]} would be shared" if shared else ""
    return MPIError(
        f"device count below rank count: {count} CUDA device(s) visible to each of the "
        f"{ranks} ranks on this node{which}; start one rank per GPU"
    )
