"""Dendritic cells: take up antigen released by dying tumour cells, mature on IFN-γ or a
danger signal, and leave the tissue for a lymph-node compartment, carrying their antigen
there (equations, values and sources in docs/MODEL.md, "Dendritic cells").

States ``immature`` (take up antigen, move) and ``mature`` (stop taking up, leave). The
antigen load of a cell grows by what it takes up from the antigen field, ``u c V`` per
minute (``u`` its uptake rate in the field's exchange, ``c`` the concentration in its
voxel, ``V`` its volume), counted every mechanics step, so the field loses what the cells
gain. A mature cell leaves at rate ``k_exit`` and delivers its load to the lymph node.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..cells import CheckContext, Column, Kind, KindError, Observable, Rule, Stage
from ..cells.body import BodySpec, ExchangeSpec
from ..cells.layer import mean_of
from ..cells.recruitment import Recruiting, RecruitmentParams

IMMATURE, MATURE = 0, 1


class DendriticBody(BodySpec):
    """Dendritic-cell defaults of the keys every kind has."""

    radius: float = Field(6.0, gt=0, description="cell radius [µm]")
    adhesion: float = Field(0.0, ge=0, description="cell-cell adhesion [µm/min]")
    speed: float = Field(2.0, ge=0, description="motility speed [µm/min]")
    persistence: float = Field(5.0, gt=0, description="persistence time [min]")
    state_exchange: dict[str, dict[str, ExchangeSpec]] = Field(
        default_factory=lambda: {"mature": {}},
        description="mature cells take up nothing (their own table is empty)",
    )


class DendriticParams(RecruitmentParams):
    """Parameters of ``model = "dendritic"``."""

    antigen_field: str = Field("antigen", description="field of the antigen taken up")
    maturation_rate: float = Field(
        1.0e-3, ge=0, description="maturation at saturating signals k_mat [1/min]"
    )
    ifng_field: str | None = Field(None, description="IFN-γ field driving maturation")
    ifng_half_saturation: float = Field(0.1, gt=0, description="[IFN-γ units]")
    danger_field: str | None = Field(
        None, description="danger-signal field driving maturation (default: the antigen field)"
    )
    danger_half_saturation: float = Field(0.1, gt=0, description="[danger-field units]")
    exit_rate: float = Field(
        2.8e-3, ge=0, description="mature cells leave for the lymph node k_exit [1/min]"
    )
    lymph_node: str | None = Field(None, description="compartment receiving the antigen")
    lifespan: float = Field(10080.0, gt=0, description="mean lifespan in the tissue [min]")


class Dendritic(Recruiting, Kind):
    """Dendritic cells (``model = "dendritic"``)."""

    model = "dendritic"
    Params = DendriticParams
    Body = DendriticBody
    states = ("immature", "mature")
    colour = (0.80, 0.475, 0.655)
    description = "antigen uptake, maturation, migration to the lymph node"
    columns = (Column("antigen_load", np.float64, (), 0.0, "antigen·µm³", "antigen taken up"),)

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        ctx.field("params.antigen_field", params.antigen_field)
        ctx.field("params.ifng_field", params.ifng_field)
        ctx.field("params.danger_field", params.danger_field)
        cls.check_recruitment(params, ctx)
        ex = body.exchange.get(params.antigen_field)
        if ex is None or ex.uptake <= 0:
            raise KindError(
                f"exchange.{params.antigen_field}",
                "dendritic cells take up antigen: give an uptake rate [1/min]",
            )
        ctx.compartment("params.lymph_node", params.lymph_node)

    def rules(self, layer):
        p = self.params
        self._uptake = float(self.body.exchange[p.antigen_field].uptake)
        layer.add_counter(f"{self.name}_exited", f"{self.name}: left for the lymph node", "cells")
        layer.add_counter(
            f"{self.name}_antigen_delivered", f"{self.name}: antigen delivered", "antigen·µm³"
        )
        rules = [
            Rule(self.take_up, "mechanics", Stage.SENSE, "antigen uptake"),
            Rule(self.mature, "phenotype", Stage.STATE, "maturation"),
            Rule(self.leave, "phenotype", Stage.FATE, "exit to the lymph node, death"),
            self.recruitment_rule(layer),
        ]
        return [r for r in rules if r is not None]

    def take_up(self, ctx, events) -> None:
        """``load += u c V Δt`` for immature cells (what the field loses to them)."""
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index) & (pop["state"] == IMMATURE)
        c = xp.maximum(ctx.field_at(self.params.antigen_field), 0.0)
        gain = self._uptake * c * pop["volume"].astype(np.float64) * ctx.dt
        pop["antigen_load"][...] = pop["antigen_load"] + xp.where(mine, gain, 0.0)

    def mature(self, ctx, events) -> None:
        """immature → mature at ``k_mat (1 − (1 − H_γ)(1 − H_d))`` (either signal)."""
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index) & (pop["state"] == IMMATURE)
        quiet = xp.ones(pop.size, dtype=np.float64)
        signals = (
            (p.ifng_field, p.ifng_half_saturation),
            (p.danger_field or p.antigen_field, p.danger_half_saturation),
        )
        for field, half in signals:
            if field is not None:
                c = xp.maximum(ctx.field_at(field), 0.0)
                quiet = quiet * (1.0 - c / (half + c))
        rate = p.maturation_rate * (1.0 - quiet)
        u = ctx.uniform(pop["id"], "maturation")
        events.change_state(mine & (u < -xp.expm1(-rate * ctx.dt)), MATURE)

    def leave(self, ctx, events) -> None:
        """Mature cells leave at ``k_exit`` and deliver their load; all die at 1/lifespan."""
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        layer = ctx.layer
        mine = pop["alive"] & (pop["kind"] == self.index)
        u = ctx.uniform(pop["id"], "lifespan", 2)
        exiting = mine & (pop["state"] == MATURE) & (u[:, 0] < -math.expm1(-p.exit_rate * ctx.dt))
        exiting = events.remove(exiting)
        events.remove(mine & (u[:, 1] < -math.expm1(-ctx.dt / p.lifespan)))
        rows = xp.nonzero(exiting)[0]
        loads = pop["antigen_load"][rows]
        layer.count(f"{self.name}_exited", exiting)
        layer.count(f"{self.name}_antigen_delivered", loads, rows)
        # the lymph node receives the load of every exiting cell of the domain, summed in
        # id order (so a domain split over processes delivers the same number)
        load = layer.sum_by_id(pop["id"][rows], loads)
        if p.lymph_node is not None and load > 0:
            layer.compartments[p.lymph_node].deliver("antigen", load)

    def observables(self, layer) -> list[Observable]:
        pop = layer.population
        xp = pop.xp
        mine = pop["alive"] & (pop["kind"] == self.index)
        v = float(pop.backend.asnumpy(mean_of(xp, pop["antigen_load"], mine, layer.id_order())))
        return [Observable(f"{self.name}_load_mean", v, f"{self.name}: mean antigen load", "")]
