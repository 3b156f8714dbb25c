"""Regulatory T cells: recruited by TGF-β and a chemokine, they release IL-10 and TGF-β
(their exchange table) and suppress CD8 T cells by contact (the CD8 kind lists them as
suppressors); they move, follow a chemokine and live a finite time (equations, values and
sources in docs/MODEL.md, "Regulatory T cells").

Recruitment at entry voxel ``v``: ``λ_v = (R/M) · c/(K_c + c) · T/(K_T + T)`` [cells/min]
with the chemokine ``c`` and TGF-β ``T`` there (a missing field leaves its factor out).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..cells import CheckContext, Kind, KindError, Rule, Stage
from ..cells.body import BodySpec
from ..cells.recruitment import SITE_WORDS, recruit, site_voxels


class TregBody(BodySpec):
    """Regulatory T-cell defaults of the keys every kind has."""

    radius: float = Field(5.0, gt=0, description="cell radius [µm]")
    adhesion: float = Field(0.0, ge=0, description="cell-cell adhesion [µm/min]")
    speed: float = Field(4.0, ge=0, description="motility speed [µm/min]")
    persistence: float = Field(3.0, gt=0, description="persistence time [min]")


class TregParams(BaseModel):
    """Parameters of ``model = "treg"``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lifespan: float = Field(14400.0, gt=0, description="mean lifespan [min] (10 days)")
    recruitment_rate: float = Field(0.0, ge=0, description="cells entering [cells/min]")
    chemokine_field: str | None = Field(None, description="chemokine scaling recruitment")
    chemokine_half_saturation: float = Field(1.0, gt=0, description="K_c [chemokine units]")
    tgfb_field: str | None = Field(None, description="TGF-β scaling recruitment")
    tgfb_half_saturation: float = Field(1.0, gt=0, description="K_T [TGF-β units]")
    recruitment_sites: list[str] = Field(default_factory=lambda: ["boundary"])

    @field_validator("recruitment_sites")
    @classmethod
    def _sites(cls, v):
        bad = [s for s in v if s not in SITE_WORDS]
        if bad:
            raise ValueError(f"unknown entry site {bad[0]!r}; sites: {', '.join(SITE_WORDS)}")
        return v


class Treg(Kind):
    """Regulatory T cells (``model = "treg"``)."""

    model = "treg"
    Params = TregParams
    Body = TregBody
    states = ("active",)
    colour = (0.34, 0.71, 0.91)
    description = "IL-10 and TGF-β release, contact suppression of CD8 T cells"

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        ctx.field("params.chemokine_field", params.chemokine_field)
        ctx.field("params.tgfb_field", params.tgfb_field)
        if "vessels" in params.recruitment_sites and ctx.vessels == 0:
            raise KindError("params.recruitment_sites", "names vessels but the scenario has none")

    def rules(self, layer):
        p = self.params
        self._sites = site_voxels(
            layer.population.xp, layer.fields.grid, p.recruitment_sites, layer.vessels
        )
        rules = [Rule(self.die, "phenotype", Stage.FATE, "Treg death")]
        if p.recruitment_rate > 0:
            layer.add_counter(f"{self.name}_recruited", f"{self.name}: recruited", "cells")
            rules.append(Rule(self.recruit, "phenotype", Stage.RECRUIT, "Treg recruitment"))
        return rules

    def die(self, ctx, events) -> None:
        pop = ctx.population
        mine = pop["alive"] & (pop["kind"] == self.index)
        u = ctx.uniform(pop["id"], "lifespan")
        events.remove(mine & (u < -math.expm1(-ctx.dt / self.params.lifespan)))

    def recruit(self, ctx, events) -> None:
        p = self.params
        signals = [
            (f, k)
            for f, k in (
                (p.chemokine_field, p.chemokine_half_saturation),
                (p.tgfb_field, p.tgfb_half_saturation),
            )
            if f is not None
        ]
        n = recruit(ctx, events, self.index, self._sites, p.recruitment_rate, signals)
        if n:
            ctx.layer.count(f"{self.name}_recruited", float(n))
