"""Pulses of a field on the schedule: a wound or an infection releasing cytokines, an
intratumoural injection (``[[therapy.pulses]]``).

::

    [[therapy.pulses]]
    field = "tnf"            # the field that gains the amount
    amount = 5.0e6           # [field units · µm³] per pulse, spread evenly over the region
    at = 1440.0              # start of the first pulse [min]
    duration = 60.0          # [min] over which each pulse enters at a constant rate
    every = 0.0              # [min] between pulse starts; 0: one pulse
    count = 1
    region = "sphere"        # "domain" (default), "sphere" (centre, radius) or "box"
    centre = [0.0, 0.0, 0.0]
    radius = 100.0

Each diffusion step adds to the source of every voxel of the region the share of the amount
due in that step (the overlap of the step with the pulse), so the field gains exactly
``amount`` per pulse, whatever the step. What is due follows from the time alone: nothing is
checkpointed.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from .regions import RegionSpec
from .schedule import Schedule


class PulseSpec(RegionSpec, Schedule):
    """One ``[[therapy.pulses]]`` table (``times()``: the start of every pulse)."""

    event = ("a pulse", "pulses")

    field: str = Field(description="field receiving the pulse")
    amount: float = Field(description="amount per pulse [field units · µm³]")
    duration: float = Field(60.0, description="length of each pulse [min]")
    label: str = Field("", description="name on plots (default: the field)")

    @field_validator("amount", "duration")
    @classmethod
    def _positive(cls, v, info):
        if not v > 0:
            raise ValueError(f"{info.field_name} must be positive, got {v}")
        return v

    @property
    def name(self) -> str:
        return self.label or f"{self.field} pulse"


def check_pulses(pulses: list[PulseSpec], fields, domain, stop: float):
    """``(key, message)`` of the first pulse that cannot run, or None."""
    for i, p in enumerate(pulses):
        key = f"therapy.pulses.{i}"
        if p.field not in fields:
            return f"{key}.field", f"unknown field {p.field!r}; fields: {', '.join(fields)}"
        why = p.outside(domain) if domain is not None else None
        if why is not None:
            return f"{key}.{why[0]}", why[1]
    if pulses and all(p.at > stop for p in pulses):
        return "therapy.pulses.0.at", (
            f"first pulse at {pulses[0].at} min comes after the run stops ({stop} min)"
        )
    return None


class FieldPulses:
    """Source depositor of every ``[[therapy.pulses]]`` table of a run."""

    def __init__(self, sim, pulses: list[PulseSpec]):
        grid = sim.grid
        xp = sim.backend.xp
        self.pulses = []
        for p in pulses:
            mask = p.mask(grid).ravel()
            n = sim.total(int(mask.sum()))  # the region's voxels in the whole domain
            if n == 0:
                raise ValueError(f"pulse of {p.field!r}: its region holds no voxel centre")
            voxels = xp.asarray(np.flatnonzero(mask), dtype=np.int64)
            # release [units/min] in each voxel while the pulse is on
            rate = p.amount / (p.duration * n * grid.voxel_volume)
            self.pulses.append((p, sim.fields.index(p.field), voxels, rate))

    def deposit(self, sim, source, uptake) -> None:
        dt = sim.clock.dt_diffusion
        t0 = sim.time
        t1 = t0 + dt
        for p, f, voxels, rate in self.pulses:
            on = sum(max(0.0, min(t1, s + p.duration) - max(t0, s)) for s in p.times())
            if on > 0:
                s = source[f].reshape(-1)
                s[voxels] += rate * on / dt
