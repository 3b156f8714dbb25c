"""CAR-T cells: T cells carrying a chimeric antigen receptor that recognises one surface
antigen of their targets (the tumour's ``car_target`` column, CD19- or HER2-like)
independently of MHC-I and of the peptide antigen CD8 T cells see. They kill on contact
like CD8 T cells (attachment, killing braked by PD-1/PD-L1, detachment, serial killing,
exhaustion), expand while stimulated by their antigen, and contract or persist: effector
cells die at ``1/lifespan``, unstimulated ones become long-lived memory cells that return
to the hunt when they meet their antigen again (equations, values and sources in
docs/MODEL.md, "CAR-T cells").

States ``searching``, ``engaged`` (attached; does not move), ``exhausted`` (moves, never
attaches) and ``memory`` (moves, does not attach, long-lived). The stimulation ``σ`` is 1
while a cell is attached to a recognised target and decays as ``e^{−t/τ_σ}`` once it lets
go; a cell divides at ``k_exp σ (1 − E)₊`` (plus the CD8 IL-2 term when ``il2_field`` is
set) while its line has made fewer than ``division_limit`` divisions, and a searching cell
becomes memory at ``k_mem (1 − σ)``. Every rule is a rate per unit time. The cells usually
enter through ``[[therapy.infusions]]`` (:mod:`spatialtumor.infusions`).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..cells import Column, Observable, Rule, Stage
from ..cells.contacts import find_partners, make_buffers
from ..cells.layer import mean_of
from .cd8 import CD8, ENGAGED, EXHAUSTED, SEARCHING, CD8Params

MEMORY = 3


class CarTParams(CD8Params):
    """Parameters of ``model = "car_t"`` (``[cells.kinds.<name>.params]``): those of
    ``cd8`` with recognition read from the targets' ``car_target`` column, and the keys of
    antigen-driven expansion and memory. The targets must carry ``car_target`` and PD-L1."""

    recognition_threshold: float = Field(
        0.2, ge=0, description="CAR target level below which s = 0 [1]"
    )
    recognition_saturation: float = Field(
        0.8, gt=0, description="CAR target level at which s = 1 [1]"
    )
    kill_rate: float = Field(0.1, ge=0, description="killing rate while attached [1/min]")
    expansion_rate: float = Field(
        1.0 / 720.0, ge=0, description="division rate at full stimulation, k_exp [1/min]"
    )
    stimulation_time: float = Field(
        720.0, gt=0, description="decay time of the stimulation after contact, τ_σ [min]"
    )
    division_limit: int = Field(
        10, ge=0, description="divisions a CAR-T cell (and its line) may make in the tissue"
    )
    memory_rate: float = Field(
        1.0 / 2880.0, ge=0, description="searching → memory at full rest, k_mem [1/min]"
    )
    memory_lifespan: float = Field(
        259200.0, gt=0, description="mean lifespan of memory cells [min] (180 days)"
    )
    reactivation_rate: float = Field(
        0.2, ge=0, description="memory → searching in contact with its antigen [1/min]"
    )


class CarT(CD8):
    """CAR-T cells (``model = "car_t"``)."""

    model = "car_t"
    Params = CarTParams
    states = ("searching", "engaged", "exhausted", "memory")
    immobile_states = ("engaged",)
    colour = (0.80, 0.47, 0.74)
    description = "CAR T cells: MHC-independent killing, antigen-driven expansion, memory"
    target_columns = ("car_target", "pdl1", "pdl1_blocked")
    columns = (
        *CD8.columns,
        Column("stimulation", np.float64, (), 0.0, "1", "antigen stimulation σ (1 attached)"),
    )

    def rules(self, layer):
        rules = super().rules(layer)
        self._buffers3 = make_buffers()
        layer.add_counter(f"{self.name}_divisions", f"{self.name}: divisions per interval", "cells")
        layer.add_counter(
            f"{self.name}_memory_formed", f"{self.name}: entering memory per interval", "cells"
        )
        layer.add_counter(
            f"{self.name}_reactivated", f"{self.name}: memory reactivated per interval", "cells"
        )
        rules.append(Rule(self.rest, "phenotype", Stage.STATE, "CAR-T stimulation and memory"))
        return rules

    def phenotype_contacts(self) -> bool:
        return self.params.reactivation_rate > 0 or super().phenotype_contacts()

    # rules ------------------------------------------------------------------------------
    def recognition(self, pop, xp):
        """Recognition ``s``: a ramp of the target's CAR antigen level, 0 for non-targets
        (MHC-I and the peptide antigen play no part)."""
        p = self.params
        if not p.targets:
            return xp.zeros(pop.size, dtype=np.float64)
        span = p.recognition_saturation - p.recognition_threshold
        level = pop["car_target"].astype(np.float64)
        s = xp.clip((level - p.recognition_threshold) / span, 0.0, 1.0)
        return s * self._is_target[pop["kind"].astype(np.int64)]

    def engage(self, ctx, events):
        """CD8 attachment and killing; cells that spent the step attached to a recognised
        target, or attached in it, are fully stimulated (σ = 1)."""
        e = super().engage(ctx, events)
        sigma = ctx.population["stimulation"]
        if int(e.rows.shape[0]):
            sigma[e.rows] = ctx.xp.where(e.ok, 1.0, sigma[e.rows])
        if int(e.attached.shape[0]):
            sigma[e.attached] = 1.0
        return e

    def rest(self, ctx, events) -> None:
        """Stimulation decays off target; searching cells enter memory at ``k_mem (1 − σ)``;
        memory cells in contact with a recognised target return to searching at
        ``k_react s φ(d)`` (competing clocks over the partners)."""
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index)
        off = mine & (pop["state"] != ENGAGED)
        decay = math.exp(-ctx.dt / p.stimulation_time)
        sigma = pop["stimulation"]
        sigma[...] = xp.where(off, sigma * decay, sigma)
        u = ctx.uniform(pop["id"], "car_t_fate", 3)
        rate = p.memory_rate * (1.0 - sigma)
        resting = mine & (pop["state"] == SEARCHING) & (u[:, 2] < ctx.probability(rate))
        took = events.change_state(resting, MEMORY)
        ctx.layer.count(f"{self.name}_memory_formed", took)
        query = xp.nonzero(mine & (pop["state"] == MEMORY))[0]
        if int(query.shape[0]) and p.reactivation_rate > 0:
            s = self.recognition(pop, xp) * ctx.layer.living()
            found = find_partners(
                ctx,
                query,
                s,
                p.contact_full,
                p.contact_max,
                "car_t_reactivation",
                self._buffers3,
            )
            back = query[found.attached(p.reactivation_rate * ctx.dt)]
            if int(back.shape[0]):
                mask = xp.zeros(pop.size, dtype=bool)
                mask[back] = True
                took = events.change_state(mask, SEARCHING)
                ctx.layer.count(f"{self.name}_reactivated", took)

    def live_and_divide(self, ctx, events) -> None:
        """Death at ``1/lifespan`` (memory cells at ``1/memory_lifespan``); division at
        ``(k_exp σ + k_p IL2/(K + IL2)) (1 − E)₊ f`` while the line has made fewer than
        ``division_limit`` divisions and the cell is neither exhausted nor memory."""
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index)
        state = pop["state"]
        u = ctx.uniform(pop["id"], "car_t_fate", 3)
        death = xp.where(state == MEMORY, 1.0 / p.memory_lifespan, 1.0 / p.lifespan)
        events.remove(mine & (u[:, 0] < ctx.probability(death)))
        rate = p.expansion_rate * pop["stimulation"]
        if p.il2_field is not None and p.proliferation_rate > 0:
            il2 = xp.maximum(ctx.field_at(p.il2_field), 0.0)
            rate = rate + p.proliferation_rate * il2 / (p.il2_half_saturation + il2)
        rate = rate * xp.maximum(1.0 - pop["exhaustion"], 0.0) * self.suppression(ctx)
        able = mine & (state != EXHAUSTED) & (state != MEMORY)
        able = able & (pop["divisions"] < p.division_limit)
        took = events.divide(able & (u[:, 1] < ctx.probability(rate)))
        ctx.layer.count(f"{self.name}_divisions", took)

    # output -----------------------------------------------------------------------------
    def observables(self, layer) -> list[Observable]:
        out = super().observables(layer)
        pop = layer.population
        xp = pop.xp
        living = layer.living()
        s = self.recognition(pop, xp)
        is_target = self._is_target[pop["kind"].astype(np.int64)] & living
        mine = pop["alive"] & (pop["kind"] == self.index)
        stats = xp.stack(
            [
                xp.sum((is_target & (s > 0)).astype(np.float64)),
                xp.sum((is_target & (s <= 0)).astype(np.float64)),
                mean_of(xp, pop["stimulation"], mine, layer.id_order()),
            ]
        )
        pos, neg, sig = (float(v) for v in pop.backend.asnumpy(stats))
        panel = f"{self.name}: living targets by CAR antigen"
        out += [
            Observable(f"{self.name}_targets_positive", pos, panel, "cells"),
            Observable(f"{self.name}_targets_negative", neg, panel, "cells"),
            Observable(f"{self.name}_stimulation_mean", sig, f"{self.name}: mean stimulation", "1"),
        ]
        return out
