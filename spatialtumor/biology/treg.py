"""Regulatory T cells: recruited by TGF-β and a chemokine, they release IL-10 and TGF-β
(their exchange table) and suppress CD8 T cells by contact (the CD8 kind lists them as
suppressors); they move, follow a chemokine and live a finite time (equations, values and
sources in docs/MODEL.md, "Regulatory T cells").

Recruitment at entry voxel ``v``: ``λ_v = (R/M) · c/(K_c + c) · T/(K_T + T)`` [cells/min]
with the chemokine ``c`` (``recruitment_field``) and TGF-β ``T`` there (a field that is not
named leaves its factor out).

Anti-CTLA-4 depletes them (``depletion = { field = "..." }``): the drug binds CTLA-4, which
regulatory T cells carry in abundance, at the rates of
:mod:`~spatialtumor.cells.occupancy`, and a bound cell dies at the extra rate
``k_dep θ`` (Fc-receptor-mediated killing by macrophages and NK cells).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..cells import CheckContext, Column, Kind, Observable, Rule, Stage
from ..cells.body import BodySpec
from ..cells.layer import mean_of
from ..cells.occupancy import OccupancyParams, bind_drug
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
    depletion: OccupancyParams | None = Field(
        None, description="an anti-CTLA-4 drug field binding CTLA-4 (None: no drug)"
    )
    depletion_rate: float = Field(
        1.0 / 1440.0, ge=0, description="extra death rate at full occupancy k_dep [1/min]"
    )


class Treg(Recruiting, Kind):
    """Regulatory T cells (``model = "treg"``)."""

    model = "treg"
    Params = TregParams
    Body = TregBody
    states = ("active",)
    colour = (0.34, 0.71, 0.91)
    description = "IL-10 and TGF-β release, contact suppression of CD8 T cells"
    columns = (Column("ctla4_bound", "float", (), 0.0, "1", "fraction of CTLA-4 bound by a drug"),)

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        ctx.field("params.tgfb_field", params.tgfb_field)
        if params.depletion is not None:
            ctx.field("params.depletion.field", params.depletion.field)
        cls.check_recruitment(params, ctx)

    def rules(self, layer):
        rules = [
            Rule(self.die, "phenotype", Stage.FATE, "Treg death"),
            self.recruitment_rule(layer),
        ]
        if self.params.depletion is not None:
            rules.insert(0, Rule(self.bind, "phenotype", Stage.SENSE, "anti-CTLA-4 binding"))
            layer.add_counter(f"{self.name}_depleted", f"{self.name}: depleted", "cells")
        return [r for r in rules if r is not None]

    def bind(self, ctx, events) -> None:
        bind_drug(ctx, self.index, "ctla4_bound", self.params.depletion)

    def recruitment_signals(self):
        p = self.params
        extra = [(p.tgfb_field, p.tgfb_half_saturation)] if p.tgfb_field else []
        return super().recruitment_signals() + extra

    def die(self, ctx, events) -> None:
        """Death at ``1/lifespan + k_dep θ`` (θ = 0 without a drug)."""
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index)
        u = ctx.uniform(pop["id"], "lifespan")
        natural = -math.expm1(-ctx.dt / p.lifespan)
        if p.depletion is None:
            events.remove(mine & (u < natural))
            return
        theta = pop["ctla4_bound"].astype(np.float64)
        dying = mine & (u < -xp.expm1(-(1.0 / p.lifespan + p.depletion_rate * theta) * ctx.dt))
        dying = events.remove(dying)
        ctx.layer.count(f"{self.name}_depleted", dying & (u >= natural))

    def observables(self, layer) -> list[Observable]:
        if self.params.depletion is None:
            return []
        pop = layer.population
        mine = pop["alive"] & (pop["kind"] == self.index)
        bound = float(
            pop.backend.asnumpy(mean_of(pop.xp, pop["ctla4_bound"], mine, layer.id_order()))
        )
        panel = f"{self.name}: CTLA-4 bound by the drug"
        return [Observable(f"{self.name}_ctla4_occupancy", bound, panel, "1")]
