"""Tumour cells: oxygen-dependent division and death, heritable antigen and MHC-I, and PD-L1
induced by IFN-γ (equations, values and sources in docs/MODEL.md).

Every phenotype step each live tumour cell faces three competing exponential clocks:
division at ``b f(O₂)``, apoptosis at ``a`` and necrosis at ``n g(O₂)``, all rates per
minute, so results do not depend on the step length. With ``R = b f + a + n g`` an event
happens with probability ``1 − exp(−R dt)``; which one is drawn in proportion to its rate.
Apoptotic cells (and cells dying an immunogenic death, state ``immunogenic``, entered when
a therapy kills them) are removed after a fixed duration, necrotic cells at a (slow)
clearance rate; dead cells keep their place but neither move nor (by default) exchange.

Antigen is drawn at seeding from N(mean, sd) clipped at 0 and passed to daughters with
Gaussian mutation noise; MHC-I is inherited and lost at a division with a fixed
probability; the CAR target (a surface antigen such as CD19 or HER2, read only by CAR-T
cells) is present at a fixed level on a share of the cells at seeding, inherited, and lost
by a daughter at a division with a fixed probability; PD-L1 relaxes toward
``basal + induced · Hill(IFN-γ)`` at a fixed rate.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import random as rnd
from ..cells import CheckContext, Column, Kind, Observable, Rule, Stage
from ..cells.layer import mean_of
from ..cells.occupancy import OccupancyParams, bind_drug
from . import residual as mrd
from .residual import ResidualParams


class TumourParams(BaseModel):
    """Parameters of ``model = "tumour"`` (``[cells.kinds.<name>.params]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    oxygen_field: str = Field("oxygen", description="field holding oxygen [mmHg]")
    birth_rate: float = Field(0.00072, ge=0, description="division rate at saturation [1/min]")
    proliferation_threshold: float = Field(5.0, ge=0, description="no division below [mmHg]")
    proliferation_saturation: float = Field(38.0, ge=0, description="full rate above [mmHg]")
    necrosis_threshold: float = Field(5.0, ge=0, description="necrosis starts below [mmHg]")
    necrosis_max: float = Field(2.5, ge=0, description="necrosis rate is maximal below [mmHg]")
    necrosis_rate: float = Field(1.0 / 360.0, ge=0, description="max necrosis rate [1/min]")
    apoptosis_rate: float = Field(5.31667e-5, ge=0, description="apoptosis rate [1/min]")
    apoptosis_duration: float = Field(
        516.0, gt=0, description="time an apoptotic cell stays before removal [min]"
    )
    necrotic_clearance: float = Field(
        1.0 / 86400.0, ge=0, description="removal rate of necrotic cells [1/min]"
    )
    antigen_mean: float = Field(1.0, ge=0, description="mean antigen at seeding [1]")
    antigen_sd: float = Field(0.25, ge=0, description="antigen spread at seeding [1]")
    antigen_mutation_sd: float = Field(
        0.0, ge=0, description="s.d. of the antigen change from mother to daughter [1]"
    )
    mhc_initial: float = Field(1.0, ge=0, le=1, description="mean MHC-I level at seeding [1]")
    mhc_sd: float = Field(
        0.0, ge=0, description="spread of MHC-I at seeding, clipped to [0, 1] [1]"
    )
    mhc_loss_probability: float = Field(
        0.0, ge=0, le=1, description="chance that a daughter loses MHC-I at division [1]"
    )
    ifng_field: str | None = Field(None, description="field holding IFN-γ (None: no induction)")
    pdl1_basal: float = Field(0.1, ge=0, description="PD-L1 without IFN-γ [1]")
    pdl1_induced: float = Field(0.9, ge=0, description="PD-L1 added at saturating IFN-γ [1]")
    pdl1_half_saturation: float = Field(
        0.1, gt=0, description="IFN-γ for half the induced PD-L1 [IFN-γ field units]"
    )
    pdl1_hill: float = Field(1.0, gt=0, description="Hill coefficient of PD-L1 induction [1]")
    pdl1_rate: float = Field(
        1.0 / 360.0, ge=0, description="rate PD-L1 approaches its IFN-γ set point [1/min]"
    )
    pdl1_blockade: OccupancyParams | None = Field(
        None, description="an anti-PD-L1 drug field binding PD-L1 (None: no drug)"
    )
    residual: ResidualParams | None = Field(
        None, description="dormant and residual types after therapy (None: primary type only)"
    )
    car_target_positive_fraction: float = Field(
        1.0, ge=0, le=1, description="share of cells carrying the CAR target at seeding [1]"
    )
    car_target_level: float = Field(
        1.0, ge=0, description="surface level of the CAR target on positive cells [1]"
    )
    car_target_loss_probability: float = Field(
        0.0, ge=0, le=1, description="chance that a daughter loses the CAR target at division [1]"
    )

    @model_validator(mode="after")
    def _ordered(self):
        if not self.proliferation_saturation > self.proliferation_threshold:
            raise ValueError("proliferation_saturation must exceed proliferation_threshold")
        if not self.necrosis_threshold > self.necrosis_max:
            raise ValueError("necrosis_threshold must exceed necrosis_max")
        return self


class Tumour(Kind):
    """Tumour cells (``model = "tumour"``)."""

    model = "tumour"
    Params = TumourParams
    states = ("live", "apoptotic", "necrotic", "immunogenic", "dormant", "residual")
    dead_states = ("apoptotic", "necrotic", "immunogenic")
    killed_state = "apoptotic"
    #: killed by a therapy with immunogenic death: dying like an apoptotic cell, releasing
    #: what the scenario's ``state_exchange.immunogenic`` gives (antigen, danger signals)
    immunogenic_state = "immunogenic"
    colour = (0.84, 0.37, 0.0)
    description = "oxygen-driven growth and death; antigen, MHC-I, PD-L1"
    columns = (
        Column("antigen", "float", (), 0.0, "1", "antigen level (heritable)"),
        Column("mhc", "float", (), 0.0, "1", "MHC-I level, 0 when lost (heritable)"),
        Column("pdl1", "float", (), 0.0, "1", "PD-L1 level (basal plus IFN-γ induced)"),
        Column("pdl1_blocked", "float", (), 0.0, "1", "fraction of PD-L1 bound by a drug"),
        Column("car_target", "float", (), 0.0, "1", "CAR target surface level (heritable)"),
    )

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        ctx.field("params.oxygen_field", params.oxygen_field)
        ctx.field("params.ifng_field", params.ifng_field)
        if params.pdl1_blockade is not None:
            ctx.field("params.pdl1_blockade.field", params.pdl1_blockade.field)
        r = params.residual
        if r is not None:
            for key in ("stress_field", "tnf_field", "vegf_field"):
                ctx.field(f"params.residual.{key}", getattr(r, key))

    def rules(self, layer):
        rules = [Rule(self.growth_and_death, "phenotype", Stage.FATE, "tumour growth and death")]
        if self.params.residual is not None:
            rule = Rule(self.dormancy, "phenotype", Stage.STATE, "dormancy and reactivation")
            rules.insert(0, rule)
        if self.params.ifng_field is not None:
            rules.insert(0, Rule(self.pdl1_response, "phenotype", Stage.STATE, "PD-L1 response"))
        if self.params.pdl1_blockade is not None:
            rules.insert(0, Rule(self.block_pdl1, "phenotype", Stage.SENSE, "anti-PD-L1 binding"))
        return rules

    def dormancy(self, ctx, events) -> None:
        """Entry into dormancy and reactivation (:mod:`~spatialtumor.biology.residual`)."""
        mrd.transitions(self, ctx, events)

    def living_types(self, pop):
        """Rows of this kind in a growing or dormant state (live, dormant, residual)."""
        state = pop["state"]
        growing = (state == mrd.LIVE) | (state == mrd.DORMANT) | (state == mrd.RESIDUAL)
        return pop["alive"] & (pop["kind"] == self.index) & growing

    def block_pdl1(self, ctx, events) -> None:
        """PD-L1 occupancy by the anti-PD-L1 field (:mod:`~spatialtumor.cells.occupancy`)."""
        bind_drug(ctx, self.index, "pdl1_blocked", self.params.pdl1_blockade)

    def pdl1_response(self, ctx, events) -> None:
        """``L ← L* + (L − L*) e^{−k dt}``, ``L* = basal + induced · Gⁿ/(Kⁿ + Gⁿ)``."""
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        g = xp.maximum(ctx.field_at(p.ifng_field), 0.0)
        gn = g**p.pdl1_hill
        target = p.pdl1_basal + p.pdl1_induced * gn / (p.pdl1_half_saturation**p.pdl1_hill + gn)
        if p.residual is not None:  # the residual types sit higher (PD-L1-high residual disease)
            resid = pop["state"] != mrd.LIVE
            target = target + xp.where(resid, p.residual.pdl1_extra, 0.0)
        mine = self.living_types(pop)
        level = pop["pdl1"]
        decay = math.exp(-p.pdl1_rate * ctx.dt)
        new = target + (level.astype(xp.float64) - target) * decay
        level[...] = xp.where(mine, new, level)

    def growth_and_death(self, ctx, events) -> None:
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        dt = ctx.dt
        state = pop["state"]
        alive = pop["alive"] & (pop["kind"] == self.index)
        o2 = ctx.field_at(p.oxygen_field)
        prolif = self._proliferation(xp, o2)
        necro = xp.clip((p.necrosis_threshold - o2) / (p.necrosis_threshold - p.necrosis_max), 0, 1)
        birth = p.birth_rate * prolif
        necrosis = p.necrosis_rate * necro
        apoptosis = p.apoptosis_rate
        if p.residual is None:
            live = alive & (state == 0) & events.free
        else:
            birth, apoptosis = self._residual_rates(ctx, state, prolif, birth)
            live = self.living_types(pop) & events.free
        total = birth + necrosis + apoptosis
        u = ctx.uniform(pop["id"], "death", 3)
        event = live & (u[:, 0] < -xp.expm1(-total * dt))
        pick = u[:, 1] * total
        events.change_state(event & (pick < apoptosis), 1)
        events.change_state(event & (pick >= apoptosis) & (pick < apoptosis + necrosis), 2)
        events.divide(event & (pick >= apoptosis + necrosis))
        dying = (state == 1) | (state == 3)
        cleared = alive & (
            (dying & (ctx.steps_in_state() >= ctx.steps(p.apoptosis_duration)))
            | ((state == 2) & (u[:, 2] < -math.expm1(-p.necrotic_clearance * dt)))
        )
        events.remove(cleared)

    def _residual_rates(self, ctx, state, prolif, birth):
        """Division and apoptosis [1/min] per row with residual disease: the primary type
        dies faster in TNF-α, dormant cells do not divide, residual ones divide at
        ``b_r f(O₂)(1 + g H(T))``."""
        p, r, xp = self.params, self.params.residual, ctx.xp
        h_t = mrd.hill(xp, ctx, r.tnf_field, r.tnf_half_saturation)
        b_r = p.birth_rate if r.birth_rate is None else r.birth_rate
        grown = b_r * prolif * (1.0 + r.tnf_growth_boost * h_t)
        birth = xp.where(state == mrd.RESIDUAL, grown, xp.where(state == mrd.LIVE, birth, 0.0))
        apoptosis = p.apoptosis_rate + xp.where(state == mrd.LIVE, r.tnf_kill_rate * h_t, 0.0)
        return birth, apoptosis

    def _proliferation(self, xp, o2):
        """``f(O₂)``: the share of the full division rate at oxygen ``o2`` [mmHg]."""
        p = self.params
        span = p.proliferation_saturation - p.proliferation_threshold
        return xp.clip((o2 - p.proliferation_threshold) / span, 0.0, 1.0)

    def cycling(self, ctx):
        """``f(O₂)`` of live and residual tumour cells (division rate over its saturated
        value), else 0 (dormant cells are out of cycle)."""
        pop = ctx.population
        state = pop["state"]
        live = pop["alive"] & (pop["kind"] == self.index)
        live = live & ((state == mrd.LIVE) | (state == mrd.RESIDUAL))
        f = self._proliferation(ctx.xp, ctx.field_at(self.params.oxygen_field))
        return ctx.xp.where(live, f, 0.0)

    # cells ------------------------------------------------------------------------------
    def initialise(self, layer, rows) -> None:
        p = self.params
        pop = layer.population
        xp = pop.xp
        ids = pop["id"][rows]
        z = rnd.normal(xp, layer.seed, layer.step, ids, "antigen", 2)
        pop["antigen"][rows] = xp.maximum(p.antigen_mean + p.antigen_sd * z[:, 0], 0.0)
        pop["mhc"][rows] = xp.clip(p.mhc_initial + p.mhc_sd * z[:, 1], 0.0, 1.0)
        pop["pdl1"][rows] = p.pdl1_basal
        u = rnd.uniform(xp, layer.seed, layer.step, ids, "car_target", None)
        positive = u < p.car_target_positive_fraction
        pop["car_target"][rows] = xp.where(positive, p.car_target_level, 0.0)

    def inherit(self, layer, mothers, daughters, step) -> None:
        p = self.params
        xp = layer.population.xp
        ids = layer.population["id"][mothers]
        if p.car_target_loss_probability > 0:
            u = rnd.uniform(xp, layer.seed, step, ids, "car_target_loss", None)
            lost = u < p.car_target_loss_probability
            daughters["car_target"][...] = xp.where(lost, 0.0, daughters["car_target"])
        if p.antigen_mutation_sd == 0 and p.mhc_loss_probability == 0:
            return
        z = rnd.normal(xp, layer.seed, step, ids, "inheritance", 2)
        a = daughters["antigen"].astype(xp.float64) + p.antigen_mutation_sd * z[:, 0]
        daughters["antigen"][...] = xp.maximum(a, 0.0)
        u = rnd.uniform(xp, layer.seed, step, ids, "mhc_loss", None)
        daughters["mhc"][...] = xp.where(u < p.mhc_loss_probability, 0.0, daughters["mhc"])

    def observables(self, layer) -> list[Observable]:
        pop = layer.population
        xp = pop.xp
        live = pop["alive"] & (pop["kind"] == self.index) & (pop["state"] == 0)
        stats = xp.stack(
            [mean_of(xp, pop[c], live, layer.id_order()) for c in ("antigen", "mhc", "pdl1")]
        )
        a, m, l_ = (float(v) for v in pop.backend.asnumpy(stats))
        panel = f"{self.name}: mean of live cells"
        return [
            Observable(f"{self.name}_antigen_mean", a, panel, "1"),
            Observable(f"{self.name}_mhc_mean", m, panel, "1"),
            Observable(f"{self.name}_pdl1_mean", l_, panel, "1"),
        ]
