"""Natural killer cells: kill targets that lack MHC-I ("missing self") by contact, with a
limited number of kills, release IFN-γ while attached, are inhibited by TGF-β and IL-6, and
live a finite time (equations, values and sources in docs/MODEL.md, "NK cells").

States ``searching``, ``engaged`` (attached to one target, does not move) and ``spent``
(used up its kills: moves, never attaches). A searching cell attaches to a target in
contact at rate ``k_on m φ(d)`` with the missing-self signal
``m = clamp((θ − MHC-I)/θ, 0, 1)``; attached, it kills at
``k_kill m / ((1 + T/K_T)(1 + L/K_L))`` (TGF-β ``T``, IL-6 ``L``) and detaches at
``k_off``, after a kill, or when the target dies or goes. After ``kill_capacity`` kills it is spent.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..cells import CheckContext, Column, Kind, Observable, Rule, Stage
from ..cells.body import BodySpec
from ..cells.contacts import make_buffers
from ..cells.killing import AttachParams, attach_and_kill, contact_reach, target_table
from ..cells.recruitment import Recruiting, RecruitmentParams

SEARCHING, ENGAGED, SPENT = 0, 1, 2


class NKBody(BodySpec):
    """NK-cell defaults of the keys every kind has."""

    radius: float = Field(4.5, gt=0, description="cell radius [µm]")
    adhesion: float = Field(0.0, ge=0, description="cell-cell adhesion [µm/min]")
    speed: float = Field(4.0, ge=0, description="motility speed when searching [µm/min]")
    persistence: float = Field(5.0, gt=0, description="persistence time [min]")


class NKParams(AttachParams, RecruitmentParams):
    """Parameters of ``model = "nk"``; the targets must carry MHC-I."""

    mhc_threshold: float = Field(
        0.5, gt=0, description="MHC-I at and above which a target inhibits NK cells fully θ [1]"
    )
    kill_rate: float = Field(0.03, ge=0, description="killing rate while attached k_kill [1/min]")
    detach_rate: float = Field(1.0 / 15.0, ge=0, description="detachment k_off [1/min]")
    kill_capacity: int = Field(5, ge=1, description="kills before a cell is spent [1]")
    tgfb_field: str | None = Field(None, description="field holding TGF-β (None: no effect)")
    tgfb_half_inhibition: float = Field(3.5, gt=0, description="K_T [TGF-β units]")
    il6_field: str | None = Field(None, description="field holding IL-6 (None: no effect)")
    il6_half_inhibition: float = Field(0.1, gt=0, description="K_L [IL-6 units]")
    lifespan: float = Field(20000.0, gt=0, description="mean lifespan [min] (≈ 14 days)")


class NK(Recruiting, Kind):
    """NK cells (``model = "nk"``)."""

    model = "nk"
    Params = NKParams
    Body = NKBody
    states = ("searching", "engaged", "spent")
    immobile_states = ("engaged",)
    colour = (0.0, 0.62, 0.45)
    description = "missing-self killing by contact, limited serial killing"
    columns = (
        Column("target_id", np.int64, (), -1, "1", "id of the attached target, -1 if none"),
        Column("kills", np.int32, (), 0, "1", "targets killed by this cell"),
    )

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        for i, t in enumerate(params.targets):
            ctx.kind(f"params.targets.{i}", t, columns=("mhc",))
        ctx.field("params.tgfb_field", params.tgfb_field)
        ctx.field("params.il6_field", params.il6_field)
        cls.check_recruitment(params, ctx)

    def contact_distance(self, kinds) -> float:
        return contact_reach(self, kinds, self.params.targets)

    def rules(self, layer):
        p = self.params
        self._is_target = target_table(layer, p.targets)
        self._buffers = make_buffers()
        layer.add_counter(f"{self.name}_kills", f"{self.name}: kills per interval", "cells")
        layer.add_counter(
            f"{self.name}_engaged_time", f"{self.name}: time attached per interval", "cells·min"
        )
        rules = [
            Rule(self.engage, "mechanics", Stage.CONTACT, "NK attachment and killing"),
            Rule(self.die, "phenotype", Stage.FATE, "NK death"),
            self.recruitment_rule(layer),
        ]
        return [r for r in rules if r is not None]

    def inherit(self, layer, mothers, daughters, step) -> None:
        daughters["state"][...] = SEARCHING
        daughters["target_id"][...] = -1
        daughters["kills"][...] = 0

    def missing_self(self, pop, xp):
        """``m = clamp((θ − MHC-I)/θ, 0, 1)`` of every row, 0 for non-targets."""
        m = xp.clip((self.params.mhc_threshold - pop["mhc"]) / self.params.mhc_threshold, 0, 1)
        return m.astype(np.float64) * self._is_target[pop["kind"].astype(np.int64)]

    def engage(self, ctx, events) -> None:
        p = self.params
        layer = ctx.layer
        pop = ctx.population
        xp = ctx.xp
        w = self.missing_self(pop, xp) * layer.living()
        damp = xp.ones(pop.size, dtype=np.float64)
        if p.tgfb_field is not None:
            damp = 1.0 / (
                1.0 + xp.maximum(ctx.field_at(p.tgfb_field), 0.0) / p.tgfb_half_inhibition
            )
        if p.il6_field is not None:  # IL-6 of residual disease blunts NK killing
            damp = damp / (1.0 + xp.maximum(ctx.field_at(p.il6_field), 0.0) / p.il6_half_inhibition)

        def kill_rate(rows, t):
            return p.kill_rate * w[t] * damp[rows]

        e = attach_and_kill(
            ctx,
            events,
            self,
            searching=SEARCHING,
            engaged=ENGAGED,
            weight=w,
            can_attach=pop["kills"] < p.kill_capacity,
            kill_rate=kill_rate,
            buffers=self._buffers,
        )
        rows = e.rows
        if int(rows.shape[0]):
            layer.count(f"{self.name}_kills", e.killed)
            layer.count(f"{self.name}_engaged_time", ctx.dt * e.ok, rows)
            pop["kills"][rows] = pop["kills"][rows] + e.killed

    def die(self, ctx, events) -> None:
        """Cells that used up their kills are spent; all die at ``1/lifespan``."""
        p = self.params
        pop = ctx.population
        mine = pop["alive"] & (pop["kind"] == self.index)
        used = mine & (pop["state"] == SEARCHING) & (pop["kills"] >= p.kill_capacity)
        events.change_state(used, SPENT)
        u = ctx.uniform(pop["id"], "lifespan")
        events.remove(mine & (u < -math.expm1(-ctx.dt / p.lifespan)))

    def observables(self, layer) -> list[Observable]:
        pop = layer.population
        xp = pop.xp
        attached = (pop["alive"] & (pop["kind"] == self.index) & (pop["state"] == ENGAGED)).sum()
        a = float(pop.backend.asnumpy(xp.asarray(attached)))
        return [
            Observable(f"{self.name}_attached", a, f"{self.name}: attached to a target", "cells")
        ]
