"""Receptor occupancy by a drug field: binding and unbinding as rates per unit time.

A receptor on a cell binds the drug of concentration ``c`` [nM] in its voxel at
``k_on c`` and lets go at ``k_off``, so its bound fraction θ obeys
``dθ/dt = k_on c (1 − θ) − k_off θ``. With ``c`` constant over a step the solution is exact:
``θ ← θ* + (θ − θ*) e^{−(k_on c + k_off) dt}``, ``θ* = k_on c / (k_on c + k_off)``; the
equilibrium is the Langmuir isotherm ``c / (c + K_D)``, ``K_D = k_off / k_on``. Receptors
are few against the drug, so binding does not deplete the field.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OccupancyParams(BaseModel):
    """Binding keys of a drug against one receptor (a field of a kind's parameters)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    field: str = Field(description="field holding the drug [nM]")
    on_rate: float = Field(
        6.0e-3, gt=0, description="k_on [1/(nM·min)] (10⁵ /M/s, a typical antibody)"
    )
    off_rate: float = Field(
        1.8e-2, ge=0, description="k_off [1/min] (K_D = k_off/k_on = 3 nM, nivolumab)"
    )


def occupancy_step(xp, bound, concentration, p: OccupancyParams, dt: float):
    """The bound fraction θ after ``dt`` [min] (float64), exact for a constant ``c``."""
    c = xp.maximum(concentration, 0.0)
    rate = p.on_rate * c + p.off_rate
    eq = xp.where(rate > 0, p.on_rate * c / xp.maximum(rate, 1e-300), 0.0)
    return eq + (bound.astype(xp.float64) - eq) * xp.exp(-rate * dt)


def bind_drug(ctx, kind_index: int, column: str, p: OccupancyParams) -> None:
    """Advance the bound fraction in ``column`` of the living cells of one kind over the
    step, at the drug concentration in each cell's voxel (a rule body)."""
    pop = ctx.population
    xp = ctx.xp
    mine = pop["alive"] & (pop["kind"] == kind_index)
    col = pop[column]
    col[...] = xp.where(mine, occupancy_step(xp, col, ctx.field_at(p.field), p, ctx.dt), col)
