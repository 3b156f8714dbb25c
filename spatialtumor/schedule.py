"""Times of a repeated event of a scenario's schedule: ``at``, ``every``, ``count``.

Doses, pulses, radiation fractions and infusions share these keys and their checks; event
``k`` of a table is due at ``at + k·every``.
"""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Schedule(BaseModel):
    """``at`` [min], ``every`` [min] and ``count`` of one table (``event`` names it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: what one event is called in messages (singular, plural)
    event: ClassVar[tuple[str, str]] = ("event", "events")

    at: float = Field(description="time of the first event [min]")
    every: float = Field(0.0, description="interval between events [min]; 0: one event")
    count: int = Field(1, description="number of events")

    @field_validator("at")
    @classmethod
    def _at(cls, v):
        if v < 0:
            raise ValueError(f"{cls.event[0]} at {v} min is in the past: the run starts at 0 min")
        return v

    @field_validator("every")
    @classmethod
    def _every(cls, v):
        if v < 0:
            raise ValueError(f"the interval between {cls.event[1]} must be >= 0 min, got {v}")
        return v

    @field_validator("count")
    @classmethod
    def _count(cls, v):
        if v < 1:
            raise ValueError(f"count must be at least 1, got {v}")
        return v

    @model_validator(mode="after")
    def _repeated(self):
        if self.count > 1 and self.every == 0:
            raise ValueError(f"{self.count} {self.event[1]} need an interval: set every > 0 min")
        return self

    def times(self) -> list[float]:
        """Times of every event [min]."""
        return [self.at + k * self.every for k in range(self.count)]

    def due(self, step: int, per: int, dt: float) -> list[int]:
        """Events given by the phenotype step that ends at diffusion step ``step`` (``per``
        diffusion steps of ``dt`` [min] each): those with ``step − per < d ≤ step``,
        ``d = max(1, ⌈T/dt⌉)`` the diffusion step of their time ``T``, i.e. the step whose
        interval ``(t − Δt_p, t]`` holds ``T`` (an event at 0 min comes in the first)."""
        out = []
        for k, t in enumerate(self.times()):
            d = max(1, math.ceil(t / dt - 1e-9))
            if step - per < d <= step:
                out.append(k)
        return out
