"""Blow-up detection: fields and cell columns checked on a schedule, finite and bounded.

A :class:`Guard` is asked by :class:`~spatialtumor.Simulation` after every step whether it is
due (an integer modulo, nothing on the device); when due (every ``every`` diffusion steps,
and before any writer writes) it reduces the fields and every float cell column to one
number, the largest magnitude, on the backend, and copies that single number to the host.
NaN propagates through the reduction, so one comparison on the host tells whether anything
is non-finite or beyond ``limit``. Only then are the arrays searched (on the host) for what
blew up, and :class:`BlowUp` names the step, the time, the field or column and the value.
"""

from __future__ import annotations

import math

import numpy as np


class BlowUp(RuntimeError):
    """A field or cell column became non-finite or larger than the guard's limit.

    Attributes
    ----------
    step, time : diffusion step and simulated time [min] of the check that found it
    what : ``"field"`` or ``"cell column"``
    name : the field or column
    value : the offending value (NaN, ±inf, or the largest magnitude)
    limit : the guard's limit [units of the field or column]
    snapshot : the diagnostic snapshot written before stopping (None if none was)
    """

    def __init__(self, step: int, time: float, what: str, name: str, value: float, limit: float):
        self.step, self.time, self.what, self.name = int(step), float(time), what, name
        self.value, self.limit = float(value), float(limit)
        self.snapshot = None
        super().__init__(self._text())

    def _text(self) -> str:
        if math.isfinite(self.value):
            how = f"reached {self.value:.6g} (limit {self.limit:.3g})"
        else:
            how = f"became {self.value!r}"
        return (
            f"blow-up at step {self.step} (t = {self.time:g} min): {self.what} {self.name!r} {how}"
        )

    def __str__(self) -> str:
        text = self._text()
        if self.snapshot is not None:
            text += f"; diagnostic snapshot {self.snapshot}"
        return text


class Guard:
    """Checks every ``every`` diffusion steps (≥ 1), and before output, that all is bounded.

    Parameters
    ----------
    every : diffusion steps between checks
    limit : largest magnitude a field value or a float cell column value may reach
    """

    def __init__(self, every: int, limit: float = 1e15):
        if int(every) < 1:
            raise ValueError(f"every must be >= 1 step, got {every}")
        if not limit > 0:
            raise ValueError(f"limit must be > 0, got {limit}")
        self.every = int(every)
        self.limit = float(limit)

    @classmethod
    def every_minutes(cls, minutes: float, dt_diffusion: float, limit: float = 1e15) -> Guard:
        """A guard checking every ``minutes`` [min] of simulated time (whole steps, ≥ 1)."""
        return cls(max(1, int(round(minutes / dt_diffusion))), limit)

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def peak(self, sim) -> float:
        """The largest magnitude over the fields and float cell columns (NaN if any is NaN).

        One small reduction per array on the backend, one number copied to the host.
        """
        xp = sim.backend.xp
        v = sim.fields.values
        parts = [xp.max(v), -xp.min(v)] if v.size else []
        for _name, col in _float_columns(sim.population):
            parts += [xp.max(col), -xp.min(col)]
        if not parts:
            return 0.0
        top = xp.max(xp.stack([p.astype(xp.float64) for p in parts]))
        return float(sim.backend.asnumpy(top))

    def check(self, sim) -> None:
        """Raise :class:`BlowUp` when something is non-finite or beyond ``limit``."""
        peak = self.peak(sim)
        if peak <= self.limit:
            return
        raise self._locate(sim)

    def _locate(self, sim) -> BlowUp:
        """What blew up, found on the host (only after the cheap check failed)."""
        be = sim.backend
        values = be.asnumpy(sim.fields.values)
        arrays = [("field", n, values[i]) for i, n in enumerate(sim.fields.names)]
        arrays += [("cell column", n, be.asnumpy(c)) for n, c in _float_columns(sim.population)]
        for what, name, a in arrays:
            value = _worst(a, self.limit)
            if value is not None:
                return BlowUp(sim.step_index, sim.time, what, name, value, self.limit)
        return BlowUp(sim.step_index, sim.time, "field", "?", math.nan, self.limit)


def _float_columns(pop):
    """(name, rows [:size]) of every floating-point column of a population (none without)."""
    if pop is None or not getattr(pop, "size", 0):
        return []
    return [(name, col[: pop.size]) for name, col in pop.columns.items() if col.dtype.kind == "f"]


def _worst(a: np.ndarray, limit: float) -> float | None:
    """The first non-finite value of ``a``, else its largest magnitude if above ``limit``."""
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        return float(a[~finite].flat[0])
    top = float(np.max(np.abs(a))) if a.size else 0.0
    return top if top > limit else None
