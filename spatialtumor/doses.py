"""Dosing schedules: ``[[therapy.doses]]`` tables giving amounts into compartments.

::

    [[therapy.doses]]
    into = "plasma"        # a compartment (its model's dose state, or ``state = "..."``)
    amount = 200.0         # [that state's units], e.g. mg of antibody
    at = 1440.0            # first dose [min]
    every = 30240.0        # [min] between doses (3 weeks); 0: a single dose
    count = 4              # doses in all

Dose ``k`` of a table is due at ``T = at + k·every``. The compartments advance on the
phenotype clock, interval by interval; a dose due in the interval ``[t, t + dt_phenotype)``
enters its compartment at a constant rate over that interval (an infusion of
``dt_phenotype`` minutes starting at or just before ``T``; amounts are conserved). Which
doses were given is checkpointed, so a run restarted in the middle of a schedule continues
it exactly.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .cells.kinds import Observable
from .chemotherapy import ChemotherapySpec
from .infusions import Infusions
from .pulses import PulseSpec
from .radiation import RadiationSpec
from .schedule import Schedule


class DoseSpec(Schedule):
    """One ``[[therapy.doses]]`` table."""

    event = ("dose", "doses")

    into: str = Field(description="compartment receiving the dose")
    state: str | None = Field(None, description="state dosed (default: the model's dose state)")
    amount: float = Field(description="amount per dose [the state's units]")
    label: str = Field("", description="name on plots (default: the compartment)")

    @field_validator("amount")
    @classmethod
    def _amount(cls, v):
        if not v > 0:
            raise ValueError(f"a dose must be a positive amount, got {v}")
        return v

    @property
    def name(self) -> str:
        return self.label or self.into


class TherapySpec(BaseModel):
    """The ``[therapy]`` table: doses into compartments and the cell therapies
    (:mod:`~spatialtumor.cell_therapy`), each a list of tables."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: the keys holding cell-therapy items, in the order their rules are added
    cell_keys: ClassVar[tuple[str, ...]] = ("radiation", "chemotherapy", "infusions")

    doses: list[DoseSpec] = Field(default_factory=list)
    pulses: list[PulseSpec] = Field(default_factory=list)
    radiation: list[RadiationSpec] = Field(default_factory=list)
    chemotherapy: list[ChemotherapySpec] = Field(default_factory=list)
    infusions: Infusions = Field(default_factory=list)


def dose_state(dose: DoseSpec, compartment_spec) -> str | None:
    """The state a dose enters: its own ``state`` or its compartment model's dose state."""
    return dose.state or getattr(compartment_spec.model_class, "dose_state", None)


def check_doses(therapy: TherapySpec, compartments: dict, stop: float) -> tuple[str, str] | None:
    """``(key, message)`` of the first dose naming an unknown compartment or state, or of
    the first one when every dose is due only after the run stops; None when all are fine."""
    for i, d in enumerate(therapy.doses):
        key = f"therapy.doses.{i}"
        if d.into not in compartments:
            known = ", ".join(compartments) or "none"
            return f"{key}.into", f"unknown compartment {d.into!r}; compartments: {known}"
        cls = compartments[d.into].model_class
        state = dose_state(d, compartments[d.into])
        if state is None:
            return (
                f"{key}.state",
                f"model {cls.model!r} has no dose state; name one of {cls.states}",
            )
        if state not in cls.states:
            states = ", ".join(cls.states)
            return f"{key}.state", f"model {cls.model!r} has no state {state!r}; states: {states}"
    late = [i for i, d in enumerate(therapy.doses) if d.at > stop]
    if late and len(late) == len(therapy.doses):
        # a schedule wholly after the stop is a unit slip; a late boost in a shortened run
        # (``--set run.stop=...``) is not
        d = therapy.doses[late[0]]
        return (
            f"therapy.doses.{late[0]}.at",
            f"first dose at {d.at} min comes after the run stops ({stop} min)",
        )
    return None


class Dosing:
    """The phenotype-clock process that delivers the doses of a schedule."""

    clock = "phenotype"

    def __init__(self, doses: list[DoseSpec], compartments: dict, states: list[str]):
        """``compartments``: name → Compartment; ``states``: the state each dose enters."""
        self.doses = list(doses)
        self.compartments = compartments
        self.states = list(states)
        self.given = np.zeros(len(self.doses), dtype=np.int64)

    def __call__(self, sim) -> None:
        """Deliver the doses due before the end of the interval that just ended (the
        compartments, run next, advance over it)."""
        step = sim.step_index
        dt = sim.clock.dt_diffusion
        for i, d in enumerate(self.doses):
            while self.given[i] < d.count:
                due = d.at + self.given[i] * d.every
                if math.ceil(due / dt - 1e-9) >= step:
                    break
                self.compartments[d.into].deliver(self.states[i], d.amount)
                self.given[i] += 1

    def observables(self) -> list[Observable]:
        out = [Observable("doses_given", float(self.given.sum()), "therapy: doses", "doses", True)]
        per: dict[tuple[str, str], float] = {}
        for d, state, n in zip(self.doses, self.states, self.given, strict=True):
            per[d.into, state] = per.get((d.into, state), 0.0) + float(n) * d.amount
        for (name, state), amount in per.items():
            units = self.compartments[name].units.get(state, "")
            panel = "therapy: amount dosed"
            out.append(Observable(f"{name}_{state}_dosed", amount, panel, units, True))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"given": self.given.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.given = np.asarray(state["given"], dtype=np.int64).copy()


def schedule_rows(scenario: dict) -> list[tuple[float, str, float]]:
    """Every dose of a resolved scenario's schedule as ``(time [min], label, amount)``, in
    time order (empty without one, or for a scenario written without schedules)."""
    raw = scenario.get("therapy") if isinstance(scenario, dict) else None
    if not raw:
        return []
    try:
        therapy = TherapySpec.model_validate(raw)
    except ValueError:
        return []
    from .cell_therapy import cell_therapy_items

    rows = [(t, d.name, d.amount) for d in therapy.doses for t in d.times()]
    rows += [(t, p.name, p.amount) for p in therapy.pulses for t in p.times()]
    rows += [row for _key, item in cell_therapy_items(therapy) for row in item.events()]
    return sorted(rows, key=lambda r: r[0])
