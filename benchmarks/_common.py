"""Shared benchmark helpers: device timing and this machine's measured copy bandwidth."""

from __future__ import annotations

import time

import numpy as np


def time_calls(backend, fn, repeats: int, warmup: int = 2) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn()`` [s], after ``warmup`` calls.

    On CuPy each call is bracketed by CUDA events on the current stream (device time, no
    host synchronisation inside the measured region); on NumPy by ``perf_counter``.
    """
    for _ in range(warmup):
        fn()
    backend.synchronize()
    samples = []
    if backend.name == "cupy":
        cp = backend.xp
        events = [(cp.cuda.Event(), cp.cuda.Event()) for _ in range(repeats)]
        for start, stop in events:
            start.record()
            fn()
            stop.record()
        events[-1][1].synchronize()
        samples = [cp.cuda.get_elapsed_time(a, b) * 1e-3 for a, b in events]
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    return samples


def copy_bandwidth(backend, nbytes: int | None = None, repeats: int = 10) -> float:
    """Measured copy bandwidth of this device [bytes/s], counting bytes read plus written.

    A large array copy (1 GiB on a GPU, 256 MiB on the host) into a preallocated buffer;
    the median of ``repeats`` copies. This is the practical ceiling a memory-bound kernel
    can approach, measured rather than taken from a datasheet.
    """
    if nbytes is None:
        nbytes = 2**30 if backend.name == "cupy" else 2**28
    xp = backend.xp
    n = nbytes // 4
    a = xp.arange(n, dtype=xp.float32)  # not zeros: real data, every page touched
    b = xp.empty_like(a)

    def copy():
        xp.copyto(b, a)

    times = time_calls(backend, copy, repeats, warmup=2)
    return 2.0 * n * 4 / float(np.median(times))


def device_summary(backend) -> str:
    """One line naming the backend, device and precision."""
    return backend.describe()
