"""The tumour-draining lymph node: antigen brought by mature dendritic cells primes CD8 T
cells, which expand and leave; a share of them reaches the tissue (equations, values and
sources in docs/MODEL.md, "Lymph node").

States: ``antigen`` A [antigen amount, the units of the antigen field × µm³] presented by
mature dendritic cells, and ``primed`` P [cells] antigen-specific effector T cells::

    dA/dt = J_A(t) − δ_A A
    dP/dt = σ A / (K_A + A) + ρ P (1 − P / P_max) − (φ + δ_P) P

``J_A`` is the antigen the dendritic cells deliver (``deliver("antigen", amount)``). The
output ``effector_outflow = f_T φ P`` [cells/min] is the rate at which primed cells enter
the tissue; a CD8 kind reads it with ``recruitment_from = "<name>.effector_outflow"``.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..compartments import Compartment, CompartmentModel


class LymphNodeParams(BaseModel):
    """Parameters of ``model = "lymph_node"`` (``[compartments.<name>.params]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    antigen_decay: float = Field(
        1.0 / 2880.0, ge=0, description="loss of presented antigen δ_A [1/min] (t½ ≈ 1.4 d)"
    )
    priming_rate: float = Field(
        0.02, ge=0, description="T cells primed per minute at saturating antigen σ [cells/min]"
    )
    antigen_half_saturation: float = Field(
        1.0e5, gt=0, description="antigen for half the priming rate K_A [antigen amount]"
    )
    expansion_rate: float = Field(
        1.44e-3, ge=0, description="clonal expansion ρ [1/min] (one division per 8 h)"
    )
    expansion_capacity: float = Field(
        1.0e5, gt=0, description="primed cells at which expansion stops P_max [cells]"
    )
    egress_rate: float = Field(
        6.94e-4, ge=0, description="rate primed cells leave the node φ [1/min] (1/day)"
    )
    death_rate: float = Field(
        1.39e-4, ge=0, description="death of primed cells in the node δ_P [1/min] (1/(5 d))"
    )
    tumour_fraction: float = Field(
        0.05, ge=0, le=1, description="share of the leaving cells that reach this tissue f_T"
    )
    checkpoint_from: str | None = Field(
        None,
        description='"<compartment>.<output>" giving an anti-CTLA-4 concentration [nM]',
    )
    checkpoint_half_saturation: float = Field(
        5.0, gt=0, description="concentration at half CTLA-4 occupancy K [nM]"
    )
    checkpoint_priming_boost: float = Field(
        1.0, ge=0, description="priming rises (1 + b θ) times at occupancy θ, b [1]"
    )
    initial_antigen: float = Field(0.0, ge=0, description="A at the start [antigen amount]")
    initial_primed: float = Field(0.0, ge=0, description="P at the start [cells]")
    max_substep: float = Field(1.0, gt=0, description="longest internal ODE step [min]")


class LymphNode(CompartmentModel):
    model = "lymph_node"
    Params = LymphNodeParams
    states = ("antigen", "primed")
    outputs = ("effector_outflow",)
    #: a vaccine (peptide or antigen-loaded dendritic cells) is a dose of presented antigen
    dose_state = "antigen"

    @classmethod
    def check(cls, name, params, ctx) -> None:
        ctx.output("params.checkpoint_from", params.checkpoint_from)

    @classmethod
    def build(cls, name: str, p: LymphNodeParams) -> Compartment:
        link = {"boost": lambda: 1.0}

        def rhs(t, y):
            a, c = y
            return np.array(
                [
                    -p.antigen_decay * a,
                    link["boost"]() * p.priming_rate * a / (p.antigen_half_saturation + a)
                    + p.expansion_rate * c * (1.0 - c / p.expansion_capacity)
                    - (p.egress_rate + p.death_rate) * c,
                ]
            )

        comp = Compartment(
            name,
            cls.states,
            {"antigen": p.initial_antigen, "primed": p.initial_primed},
            rhs,
            units={"antigen": "antigen·µm³", "primed": "cells"},
            max_substep=p.max_substep,
            outputs={"effector_outflow": lambda y: p.tumour_fraction * p.egress_rate * y[1]},
        )
        comp.link = link
        return comp

    @classmethod
    def attach(cls, sim, comp: Compartment, p: LymphNodeParams, vessels) -> None:
        """Read the anti-CTLA-4 concentration of ``checkpoint_from`` (held over each step)."""
        if p.checkpoint_from is None:
            return
        source, _, out = p.checkpoint_from.partition(".")

        def boost() -> float:
            c = max(sim.compartments[source].output(out), 0.0)
            return 1.0 + p.checkpoint_priming_boost * c / (c + p.checkpoint_half_saturation)

        comp.link["boost"] = boost
