"""Three nested clocks (diffusion ≤ mechanics ≤ phenotype) counted in integer steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .limits import MAX_STEPS


@dataclass(frozen=True)
class Clock:
    """Time steps [min]; ``dt_mechanics`` and ``dt_phenotype`` are integer multiples.

    Time is ``step * dt_diffusion`` with an integer step counter, so it never drifts.
    """

    dt_diffusion: float
    dt_mechanics: float
    dt_phenotype: float

    def __post_init__(self):
        for name in ("dt_diffusion", "dt_mechanics", "dt_phenotype"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be > 0 and finite, got {value}")
        ratio("dt_mechanics", self.dt_mechanics, "dt_diffusion", self.dt_diffusion)
        ratio("dt_phenotype", self.dt_phenotype, "dt_mechanics", self.dt_mechanics)
        ratio("dt_phenotype", self.dt_phenotype, "dt_diffusion", self.dt_diffusion)

    @property
    def mechanics_every(self) -> int:
        """Diffusion steps per mechanics step."""
        return ratio("dt_mechanics", self.dt_mechanics, "dt_diffusion", self.dt_diffusion)

    @property
    def phenotype_every(self) -> int:
        """Diffusion steps per phenotype step."""
        return ratio("dt_phenotype", self.dt_phenotype, "dt_diffusion", self.dt_diffusion)

    def steps(self, duration: float) -> int:
        """Number of diffusion steps covering ``duration`` [min] (rounded to the nearest).

        Durations beyond any run (more than ``MAX_STEPS`` steps, or infinite) count as
        ``MAX_STEPS + 1`` steps: never reached.
        """
        n = duration / self.dt_diffusion
        if not abs(n) <= MAX_STEPS:
            if n != n:
                raise ValueError(f"duration must be a number of minutes, got {duration}")
            return MAX_STEPS + 1 if n > 0 else -(MAX_STEPS + 1)
        return int(round(n))

    def time(self, step: int) -> float:
        return step * self.dt_diffusion


def ratio(big_name: str, big: float, small_name: str, small: float) -> int:
    """``big / small`` as an integer ≥ 1, or a ValueError naming both clocks."""
    r = big / small
    if not r <= MAX_STEPS:
        raise ValueError(
            f"{big_name} ({big:g} min) is {r:.3g} times {small_name} ({small:g} min); "
            f"at most {MAX_STEPS:,}"
        )
    n = int(round(r))
    if n < 1 or abs(r - n) > 1e-9 * max(1.0, r):
        raise ValueError(
            f"{big_name} ({big} min) must be an integer multiple (>= 1) of "
            f"{small_name} ({small} min)"
        )
    return n
