"""Residual disease of the tumour kind: cells that survive therapy as a dormant, PD-L1-high
residual type, reactivate on TNF-α or VEGF (a wound, an infection) and then grow faster
with TNF-α, which kills cells of the primary type (Kottke et al. 2017; equations, values
and sources in docs/MODEL.md, "Residual disease").

Tumour states used here: ``live`` (primary type), ``dormant`` (residual type, out of cycle)
and ``residual`` (residual type, growing). Per phenotype step, as competing exponential
clocks (rates per minute)::

    live → dormant       k_in · H(s)                  s: the stress field (a drug), or 1
    dormant → residual   k_out · (1 − (1 − Hₙ(T))(1 − Hₙ(V)))   T: TNF-α, V: VEGF
    live: extra apoptosis k_T · H(T)                  TNF-α kills the primary type
    residual: division b_r f(O₂) (1 + g H(T))          TNF-α drives residual outgrowth

with ``H(c) = c/(K + c)`` and ``Hₙ(c) = cⁿ/(Kⁿ + cⁿ)`` (n > 1: a wound's or an
infection's levels reactivate, the trickle from a few engaged immune cells does not).
Dormant and residual cells sit at a higher PD-L1 set point; what they secrete (IL-6 rather
than the primary type's signals) is the scenario's ``state_exchange``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LIVE, DORMANT, RESIDUAL = 0, 4, 5


class ResidualParams(BaseModel):
    """``[cells.kinds.<tumour>.params.residual]``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    entry_rate: float = Field(
        0.0, ge=0, description="live → dormant at saturating stress k_in [1/min]"
    )
    stress_field: str | None = Field(
        None, description="field whose presence drives entry (a drug); None: a constant rate"
    )
    stress_half_saturation: float = Field(1.0, gt=0, description="K of the stress [its units]")
    reactivation_rate: float = Field(
        0.0, ge=0, description="dormant → residual at saturating TNF-α or VEGF k_out [1/min]"
    )
    tnf_field: str | None = Field(None, description="field holding TNF-α [ng/mL]")
    tnf_half_saturation: float = Field(0.1, gt=0, description="K_T of TNF-α [TNF units]")
    signal_hill: float = Field(
        1.0, ge=1, description="Hill coefficient n of TNF-α and VEGF in reactivation [1]"
    )
    vegf_field: str | None = Field(None, description="field holding VEGF [ng/mL]")
    vegf_half_saturation: float = Field(0.1, gt=0, description="K_V of VEGF [VEGF units]")
    tnf_kill_rate: float = Field(
        0.0, ge=0, description="extra apoptosis of the primary type at saturating TNF-α [1/min]"
    )
    birth_rate: float | None = Field(
        None, ge=0, description="division of residual cells at saturation b_r (None: b) [1/min]"
    )
    tnf_growth_boost: float = Field(
        0.0, ge=0, description="residual division × (1 + g H(T)) at TNF-α, g [1]"
    )
    pdl1_extra: float = Field(
        0.5, ge=0, description="PD-L1 added to the set point of dormant and residual cells [1]"
    )


def hill(xp, ctx, field: str | None, half: float, n: float = 1.0):
    """``cⁿ/(Kⁿ + cⁿ)`` of ``field`` in every row's voxel (0 without a field)."""
    if field is None:
        return 0.0
    c = xp.maximum(ctx.field_at(field), 0.0)
    if n == 1.0:
        return c / (half + c)
    x = (c / half) ** n
    return x / (1.0 + x)


def transitions(kind, ctx, events) -> None:
    """Entry into dormancy and reactivation (rates per minute, see the module docstring)."""
    r = kind.params.residual
    pop = ctx.population
    xp = ctx.xp
    state = pop["state"]
    mine = pop["alive"] & (pop["kind"] == kind.index)
    entry = r.entry_rate * (
        hill(xp, ctx, r.stress_field, r.stress_half_saturation)
        if r.stress_field is not None
        else 1.0
    )
    quiet_t = 1.0 - hill(xp, ctx, r.tnf_field, r.tnf_half_saturation, r.signal_hill)
    quiet_v = 1.0 - hill(xp, ctx, r.vegf_field, r.vegf_half_saturation, r.signal_hill)
    react = r.reactivation_rate * (1.0 - quiet_t * quiet_v)
    u = ctx.uniform(pop["id"], "dormancy")
    events.change_state(mine & (state == LIVE) & (u < ctx.probability(entry)), DORMANT)
    events.change_state(mine & (state == DORMANT) & (u < ctx.probability(react)), RESIDUAL)
