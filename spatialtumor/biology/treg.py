"""Regulatory T cells: recruited by TGF-β and a chemokine, they release IL-10 and TGF-β
(their exchange table) and suppress CD8 T cells by contact (the CD8 kind lists them as
suppressors); they move, follow a chemokine and live a finite time (equations, values and
sources in docs/MODEL.md, "Regulatory T cells").

Recruitment at entry voxel ``v``: ``λ_v = (R/M) · c/(K_c + c) · T/(K_T + T)`` [cells/min]
with the chemokine ``c`` (``recruitment_field``) and TGF-β ``T`` there (a field that is not
named leaves its factor out).
"""

from __future__ import annotations

import math

from pydantic import Field

from ..cells import CheckContext, Kind, Rule, Stage
from ..cells.body import BodySpec
from ..cells.recruitment import Recruiting, RecruitmentParams


class TregBody(BodySpec):
    """Regulatory T-cell defaults of the keys every kind has."""

    radius: float = Field(5.0, gt=0, description="cell radius [µm]")
    adhesion: float = Field(0.0, ge=0, description="cell-cell adhesion [µm/min]")
    speed: float = Field(4.0, ge=0, description="motility speed [µm/min]")
    persistence: float = Field(3.0, gt=0, description="persistence time [min]")


class TregParams(RecruitmentParams):
    """Parameters of ``model = "treg"``."""

    lifespan: float = Field(14400.0, gt=0, description="mean lifespan [min] (10 days)")
    tgfb_field: str | None = Field(None, description="TGF-β scaling recruitment")
    tgfb_half_saturation: float = Field(1.0, gt=0, description="K_T [TGF-β units]")


class Treg(Recruiting, Kind):
    """Regulatory T cells (``model = "treg"``)."""

    model = "treg"
    Params = TregParams
    Body = TregBody
    states = ("active",)
    colour = (0.34, 0.71, 0.91)
    description = "IL-10 and TGF-β release, contact suppression of CD8 T cells"

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        ctx.field("params.tgfb_field", params.tgfb_field)
        cls.check_recruitment(params, ctx)

    def rules(self, layer):
        rules = [
            Rule(self.die, "phenotype", Stage.FATE, "Treg death"),
            self.recruitment_rule(layer),
        ]
        return [r for r in rules if r is not None]

    def recruitment_signals(self):
        p = self.params
        extra = [(p.tgfb_field, p.tgfb_half_saturation)] if p.tgfb_field else []
        return super().recruitment_signals() + extra

    def die(self, ctx, events) -> None:
        pop = ctx.population
        mine = pop["alive"] & (pop["kind"] == self.index)
        u = ctx.uniform(pop["id"], "lifespan")
        events.remove(mine & (u < -math.expm1(-ctx.dt / self.params.lifespan)))
