"""Wall-clock split of a run into its parts, for benchmarks (off unless asked for).

``timer = StepTimer(backend)`` then ``with timer("transport"): ...`` adds the seconds spent
to ``timer.seconds["transport"]``; on a GPU the device is synchronised before each reading,
so the split is honest (and the run slower). Parts nest: an inner part is also counted in
the outer one.
"""

from __future__ import annotations

import time
from contextlib import contextmanager


class StepTimer:
    """Accumulated wall seconds per named part."""

    def __init__(self, backend):
        self.backend = backend
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextmanager
    def __call__(self, name: str):
        self.backend.synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.backend.synchronize()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.calls[name] = self.calls.get(name, 0) + 1


@contextmanager
def _nothing():
    yield


def part(timer: StepTimer | None, name: str):
    """``timer(name)`` when timing, else a context that does nothing."""
    return _nothing() if timer is None else timer(name)
