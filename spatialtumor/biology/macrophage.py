"""Macrophages: M0 → M1 on IFN-γ, → M2 on IL-10, TGF-β or hypoxia, reversible, as rates;
M1 cells eat dead cells and kill tumour cells by contact; M2 (tumour-associated) cells
release IL-10 and TGF-β (their exchange table) and suppress CD8 T cells nearby (the CD8
kind lists them as suppressors). Equations, values and sources in docs/MODEL.md,
"Macrophages".

From each state a cell leaves by competing clocks at the rates

    to M1:  r₁ = k₁ G/(K_G + G)
    to M2:  r₂ = k₂ [1 − (1 − H_I)(1 − H_T)(1 − H_O)]
    to M0:  r₀ = k₀ (loss of polarisation)

with ``H_I = I/(K_I + I)`` (IL-10), ``H_T = T/(K_T + T)`` (TGF-β) and the hypoxia signal
``H_O = clamp((p_h − O₂)/p_h, 0, 1)``, all in the cell's voxel; an M0 cell can go to M1 or
M2, an M1 cell to M2 or M0, an M2 cell to M1 or M0.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..cells import CheckContext, Kind, Observable, Rule, Stage
from ..cells.body import BodySpec
from ..cells.contacts import make_buffers
from ..cells.killing import ContactParams, contact_reach, strike, target_table
from ..cells.recruitment import Recruiting, RecruitmentParams

M0, M1, M2 = 0, 1, 2


class MacrophageBody(BodySpec):
    """Macrophage defaults of the keys every kind has."""

    radius: float = Field(10.0, gt=0, description="cell radius [µm]")
    adhesion: float = Field(0.0, ge=0, description="cell-cell adhesion [µm/min]")
    speed: float = Field(1.5, ge=0, description="motility speed [µm/min]")
    persistence: float = Field(5.0, gt=0, description="persistence time [min]")


class MacrophageParams(ContactParams, RecruitmentParams):
    """Parameters of ``model = "macrophage"``."""

    m1_rate: float = Field(1.0 / 720.0, ge=0, description="k₁ at saturating IFN-γ [1/min]")
    m2_rate: float = Field(1.7e-4, ge=0, description="k₂ at saturating M2 signals [1/min]")
    m0_rate: float = Field(1.0 / 2880.0, ge=0, description="k₀, loss of polarisation [1/min]")
    ifng_field: str | None = Field(None, description="field holding IFN-γ")
    ifng_half_saturation: float = Field(0.1, gt=0, description="K_G [IFN-γ units]")
    il10_field: str | None = Field(None, description="field holding IL-10")
    il10_half_saturation: float = Field(0.3, gt=0, description="K_I [IL-10 units]")
    tgfb_field: str | None = Field(None, description="field holding TGF-β")
    tgfb_half_saturation: float = Field(1.75, gt=0, description="K_T [TGF-β units]")
    oxygen_field: str | None = Field(None, description="field holding oxygen (hypoxia → M2)")
    hypoxia_threshold: float = Field(7.5, gt=0, description="p_h [mmHg] (≈ 0.01 mM)")
    kill_rate: float = Field(
        2.3e-4, ge=0, description="M1 killing of a live target in contact [1/min]"
    )
    phagocytosis_rate: float = Field(
        0.17, ge=0, description="M1 removal of a dead cell in contact [1/min]"
    )
    lifespan: float = Field(28800.0, gt=0, description="mean lifespan [min] (20 days)")


class Macrophage(Recruiting, Kind):
    """Macrophages (``model = "macrophage"``)."""

    model = "macrophage"
    Params = MacrophageParams
    Body = MacrophageBody
    states = ("m0", "m1", "m2")
    colour = (0.90, 0.62, 0.0)
    description = "M0/M1/M2 polarisation; M1 eat dead cells and kill; M2 suppress"

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        for key in ("ifng_field", "il10_field", "tgfb_field", "oxygen_field"):
            ctx.field(f"params.{key}", getattr(params, key))
        for i, t in enumerate(params.targets):
            ctx.kind(f"params.targets.{i}", t)
        cls.check_recruitment(params, ctx)

    def contact_distance(self, kinds) -> float:
        return contact_reach(self, kinds)  # dead cells of any kind are eaten

    def rules(self, layer):
        p = self.params
        self._is_target = target_table(layer, p.targets)
        self._buffers = (make_buffers(), make_buffers())
        layer.add_counter(f"{self.name}_kills", f"{self.name}: kills per interval", "cells")
        layer.add_counter(f"{self.name}_eaten", f"{self.name}: dead cells eaten", "cells")
        rules = [
            Rule(self.act, "mechanics", Stage.CONTACT, "phagocytosis and killing by M1"),
            Rule(self.polarise, "phenotype", Stage.STATE, "M0/M1/M2 polarisation"),
            Rule(self.die, "phenotype", Stage.FATE, "macrophage death"),
            self.recruitment_rule(layer),
        ]
        return [r for r in rules if r is not None]

    # rules ------------------------------------------------------------------------------
    def signals(self, ctx):
        """``(r₁, r₂, r₀)`` of every in-use row [1/min]."""
        p = self.params
        xp = ctx.xp

        def hill(field, half):
            if field is None:
                return 0.0
            c = xp.maximum(ctx.field_at(field), 0.0)
            return c / (half + c)

        r1 = p.m1_rate * hill(p.ifng_field, p.ifng_half_saturation)
        calm = (1.0 - hill(p.il10_field, p.il10_half_saturation)) * (
            1.0 - hill(p.tgfb_field, p.tgfb_half_saturation)
        )
        if p.oxygen_field is not None:
            o2 = ctx.field_at(p.oxygen_field)
            calm = calm * (1.0 - xp.clip((p.hypoxia_threshold - o2) / p.hypoxia_threshold, 0, 1))
        r2 = p.m2_rate * (1.0 - calm)
        n = ctx.population.size
        r1 = xp.broadcast_to(xp.asarray(r1, dtype=np.float64), (n,))
        r2 = xp.broadcast_to(xp.asarray(r2, dtype=np.float64), (n,))
        return r1, r2, xp.full(n, p.m0_rate)

    def polarise(self, ctx, events) -> None:
        """Competing clocks from each state (see the module docstring)."""
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index)
        state = pop["state"]
        r1, r2, r0 = self.signals(ctx)
        to1 = xp.where(state == M1, 0.0, r1)
        to2 = xp.where(state == M2, 0.0, r2)
        to0 = xp.where(state == M0, 0.0, r0)
        total = to1 + to2 + to0
        u = ctx.uniform(pop["id"], "polarisation", 2)
        event = mine & (u[:, 0] < -xp.expm1(-total * ctx.dt))
        pick = u[:, 1] * total
        new = xp.where(pick < to1, M1, xp.where(pick < to1 + to2, M2, M0))
        events.change_state(event, new)

    def act(self, ctx, events) -> None:
        """M1 cells eat a dead cell or kill a live target in contact (one of each per step)."""
        p = self.params
        layer = ctx.layer
        pop = ctx.population
        xp = ctx.xp
        mine = layer.own(pop["alive"] & (pop["kind"] == self.index) & (pop["state"] == M1))
        m1 = xp.nonzero(mine)[0]
        split = layer.remote_kills is not None  # targets may be other processes' cells
        if int(m1.shape[0]) == 0 and not split:
            return
        living = layer.living()
        dead = (pop["alive"] & ~living).astype(np.float64)
        kw = dict(contact_full=p.contact_full, contact_max=p.contact_max)
        if p.phagocytosis_rate > 0:
            eaters, eaten = strike(
                ctx,
                m1,
                dead,
                p.phagocytosis_rate,
                stream="phagocytosis",
                buffers=self._buffers[0],
                **kw,
            )
            if split:  # decided by the owners of the eaten cells (collective)
                ok = xp.ones(int(eaters.shape[0]), dtype=bool)
                ids = pop["id"][eaters]
                done = layer.remote_kills(ctx, eaters, eaten, ids, ok, self.name, eat=True)
                layer.count(f"{self.name}_eaten", done)
            elif int(eaten.shape[0]):
                gone = xp.zeros(pop.size, dtype=bool)
                gone[eaten] = True
                pop.kill(gone)  # the row goes at the next compaction
                layer.count(f"{self.name}_eaten", gone)
        if p.kill_rate > 0:
            live = living & pop["alive"]
            w = self._is_target[pop["kind"].astype(np.int64)] * live
            killers, victims = strike(
                ctx,
                m1,
                w,
                p.kill_rate,
                stream="macrophage_kill",
                buffers=self._buffers[1],
                **kw,
            )
            if split:
                ok = xp.ones(int(killers.shape[0]), dtype=bool)
                ids = pop["id"][killers]
                done = layer.remote_kills(ctx, killers, victims, ids, ok, self.name)
                layer.count(f"{self.name}_kills", done)
            elif int(victims.shape[0]):
                done = layer.kill(ctx, victims, killers=killers, cause=self.name)
                layer.count(f"{self.name}_kills", done)

    def die(self, ctx, events) -> None:
        pop = ctx.population
        mine = pop["alive"] & (pop["kind"] == self.index)
        u = ctx.uniform(pop["id"], "lifespan")
        events.remove(mine & (u < -math.expm1(-ctx.dt / self.params.lifespan)))

    def observables(self, layer) -> list[Observable]:
        return []
