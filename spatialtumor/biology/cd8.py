"""CD8 T cells: recruitment, search, recognition on contact, serial killing braked by
PD-1/PD-L1, IFN-γ and IL-2 release when engaged, IL-2-driven proliferation, exhaustion and a
finite lifespan (equations, values and sources in docs/MODEL.md).

States: ``searching`` (moving, chemotaxis up the chemokine), ``engaged`` (attached to one
target; does not move) and ``exhausted`` (moves, never attaches). On the mechanics clock a
searching cell attaches to a recognised target in contact at rate ``k_on s φ(d)`` (competing
clocks over its partners; ``s`` the target's recognition, ``φ`` the contact distance
factor); an engaged cell kills at ``k_kill (1 − E) s / (1 + (B/K)ⁿ)`` with ``B = PD-L1 ×
free PD-1``, and detaches at ``k_off`` or when its target dies or moves away. A kill raises
the exhaustion ``E`` by ``e_kill`` and frees the T cell to search again (serial killing);
engagement raises ``E`` at ``1/T_E``. Every rule is a rate per unit time.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, model_validator

from ..cells import CheckContext, Column, Kind, Observable, Rule, Stage
from ..cells.body import BodySpec
from ..cells.contacts import find_partners, make_buffers
from ..cells.killing import AttachParams, attach_and_kill, contact_reach, target_table
from ..cells.kinds import suppressor_table
from ..cells.layer import mean_of
from ..cells.occupancy import OccupancyParams, bind_drug
from ..cells.recruitment import Recruiting, RecruitmentParams

SEARCHING, ENGAGED, EXHAUSTED = 0, 1, 2


class CD8Body(BodySpec):
    """CD8 T-cell defaults of the keys every kind has."""

    radius: float = Field(5.0, gt=0, description="cell radius [µm] (effector ≈ 700 µm³)")
    repulsion: float = Field(10.0, ge=0, description="cell-cell repulsion [µm/min]")
    adhesion: float = Field(0.0, ge=0, description="cell-cell adhesion [µm/min]")
    speed: float = Field(4.0, ge=0, description="motility speed when searching [µm/min]")
    persistence: float = Field(3.0, gt=0, description="persistence time [min]")


class CD8Params(AttachParams, RecruitmentParams):
    """Parameters of ``model = "cd8"`` (``[cells.kinds.<name>.params]``); the targets must
    carry antigen, MHC-I and PD-L1."""

    recognition_threshold: float = Field(
        0.5, ge=0, description="presented antigen (antigen × MHC-I) below which s = 0 [1]"
    )
    recognition_saturation: float = Field(
        2.0, gt=0, description="presented antigen at which s = 1 [1]"
    )
    pd1: float = Field(1.0, ge=0, description="PD-1 level of new T cells [1]")
    pd1_half_inhibition: float = Field(
        0.707, gt=0, description="PD-L1 × free PD-1 that halves the killing rate [1]"
    )
    pd1_hill: float = Field(2.0, gt=0, description="Hill coefficient of the PD-1 brake [1]")
    exhaustion_per_kill: float = Field(0.1, ge=0, description="exhaustion added per kill [1]")
    exhaustion_time: float = Field(
        8640.0, gt=0, description="time engaged that exhausts a T cell, T_E [min]"
    )
    lifespan: float = Field(10080.0, gt=0, description="mean lifespan [min] (7 days)")
    proliferation_rate: float = Field(
        1.0 / 480.0, ge=0, description="division rate at saturating IL-2 [1/min]"
    )
    division_limit: int = Field(
        4, ge=0, description="divisions a T cell (and its line) may make in the tissue"
    )
    il2_field: str | None = Field(None, description="field holding IL-2 (None: no division)")
    il2_half_saturation: float = Field(
        0.15, gt=0, description="IL-2 for half the division rate [IL-2 field units]"
    )
    recruitment_from: str | None = Field(
        None,
        description='"<compartment>.<output>" setting the recruitment rate [cells/min] '
        "instead of recruitment_rate (e.g. a lymph node's effector outflow)",
    )
    tgfb_field: str | None = Field(None, description="field holding TGF-β (None: no effect)")
    tgfb_half_inhibition: float = Field(
        3.5, gt=0, description="TGF-β that halves killing and division [TGF-β units]"
    )
    il10_field: str | None = Field(None, description="field holding IL-10 (None: no effect)")
    il10_half_inhibition: float = Field(
        10.0, gt=0, description="IL-10 that halves killing and division [IL-10 units]"
    )
    il6_field: str | None = Field(None, description="field holding IL-6 (None: no effect)")
    il6_half_inhibition: float = Field(
        0.1, gt=0, description="IL-6 that halves killing and division [IL-6 units]"
    )
    suppressors: list[str] = Field(
        default_factory=list,
        description='kinds ("treg") or kind states ("tam/m2") that suppress by contact',
    )
    suppressor_half_inhibition: float = Field(
        0.09, gt=0, description="suppressor contacts that halve killing and division [cells]"
    )
    exhaustion_suppression_boost: float = Field(
        1.0, ge=0, description="exhaustion rises (1 + b (1 − f)) times faster when suppressed"
    )
    pd1_blockade: OccupancyParams | None = Field(
        None, description="an anti-PD-1 drug field binding PD-1 (None: no drug)"
    )

    @model_validator(mode="after")
    def _ordered(self):
        if not self.recognition_saturation > self.recognition_threshold:
            raise ValueError("recognition_saturation must exceed recognition_threshold")
        return self


class CD8(Recruiting, Kind):
    """CD8 T cells (``model = "cd8"``)."""

    model = "cd8"
    Params = CD8Params
    Body = CD8Body
    states = ("searching", "engaged", "exhausted")
    immobile_states = ("engaged",)
    colour = (0.0, 0.45, 0.70)
    description = "cytotoxic T cells: contact killing, PD-1 brake, exhaustion, IL-2 division"
    #: columns the target kinds must carry (read by recognition and the PD-1 brake)
    target_columns: tuple[str, ...] = ("antigen", "mhc", "pdl1", "pdl1_blocked")
    columns = (
        Column("target_id", np.int64, (), -1, "1", "id of the attached target, -1 if none"),
        # float64 whatever the working precision: small increments per step must not round away
        Column("contact_time", np.float64, (), 0.0, "min", "time attached to the current target"),
        Column("kills", np.int32, (), 0, "1", "targets killed by this cell"),
        Column("divisions", np.int16, (), 0, "1", "divisions since the line entered the tissue"),
        Column("exhaustion", np.float64, (), 0.0, "1", "exhaustion E (killing scales as 1 − E)"),
        Column("pd1", "float", (), 0.0, "1", "PD-1 level"),
        Column("pd1_blocked", "float", (), 0.0, "1", "fraction of PD-1 blocked by a drug"),
    )

    @classmethod
    def check(cls, name, params, body, ctx: CheckContext) -> None:
        for i, t in enumerate(params.targets):
            ctx.kind(f"params.targets.{i}", t, columns=cls.target_columns)
        for i, s in enumerate(params.suppressors):
            ctx.kind_state(f"params.suppressors.{i}", s)
        ctx.field("params.il2_field", params.il2_field)
        ctx.field("params.tgfb_field", params.tgfb_field)
        ctx.field("params.il10_field", params.il10_field)
        ctx.field("params.il6_field", params.il6_field)
        ctx.output("params.recruitment_from", params.recruitment_from)
        if params.pd1_blockade is not None:
            ctx.field("params.pd1_blockade.field", params.pd1_blockade.field)
        cls.check_recruitment(params, ctx)

    def contact_distance(self, kinds) -> float:
        return contact_reach(self, kinds, self.params.targets)

    # set-up -----------------------------------------------------------------------------
    def rules(self, layer):
        p = self.params
        self._is_target = target_table(layer, p.targets)
        self._buffers = make_buffers()
        self._buffers2 = make_buffers()
        layer.add_counter(f"{self.name}_kills", f"{self.name}: kills per interval", "cells")
        layer.add_counter(
            f"{self.name}_engaged_time", f"{self.name}: time attached per interval", "cells·min"
        )
        layer.add_counter(f"{self.name}_recruited", f"{self.name}: recruited per interval", "cells")
        rules = [
            Rule(self.engage, "mechanics", Stage.CONTACT, "T-cell attachment and killing"),
            Rule(self.exhaust, "phenotype", Stage.STATE, "T-cell exhaustion"),
            Rule(self.live_and_divide, "phenotype", Stage.FATE, "T-cell death and division"),
        ]
        if p.pd1_blockade is not None:
            rules.insert(0, Rule(self.block_pd1, "phenotype", Stage.SENSE, "anti-PD-1 binding"))
        recruiting = self.recruitment_rule(
            layer, p.recruitment_rate > 0 or bool(p.recruitment_from)
        )
        if recruiting is not None:
            rules.append(recruiting)
        self._suppressor = suppressor_table(layer, p.suppressors)
        return rules

    def phenotype_contacts(self) -> bool:
        return self._suppressor is not None  # suppressors in contact brake division

    def initialise(self, layer, rows) -> None:
        pop = layer.population
        pop["pd1"][rows] = self.params.pd1

    def inherit(self, layer, mothers, daughters, step) -> None:
        pop = layer.population
        pop["divisions"][mothers] = pop["divisions"][mothers] + 1
        daughters["divisions"][...] = pop["divisions"][mothers]
        daughters["state"][...] = SEARCHING
        daughters["target_id"][...] = -1
        daughters["contact_time"][...] = 0.0
        daughters["kills"][...] = 0

    # rules ------------------------------------------------------------------------------
    def recognition(self, pop, xp):
        """Recognition ``s`` of every row: a ramp of antigen × MHC-I, 0 for non-targets."""
        p = self.params
        if not p.targets:
            return xp.zeros(pop.size, dtype=np.float64)
        shown = pop["antigen"].astype(np.float64) * pop["mhc"]
        span = p.recognition_saturation - p.recognition_threshold
        s = xp.clip((shown - p.recognition_threshold) / span, 0.0, 1.0)
        return s * self._is_target[pop["kind"].astype(np.int64)]

    def engage(self, ctx, events):
        """Killing and detachment of engaged cells, then attachment of searching cells;
        returns the :class:`~spatialtumor.cells.killing.Engagement` of the step."""
        p = self.params
        layer = ctx.layer
        pop = ctx.population
        xp = ctx.xp
        dt = ctx.dt
        s = self.recognition(pop, xp) * layer.living()
        damp = self.suppression(ctx)

        def kill_rate(rows, t):
            pd1_free = pop["pd1"][rows] * (1.0 - pop["pd1_blocked"][rows])
            pdl1_free = pop["pdl1"][t].astype(np.float64) * (1.0 - pop["pdl1_blocked"][t])
            b = pdl1_free * pd1_free
            brake = 1.0 / (1.0 + (b / p.pd1_half_inhibition) ** p.pd1_hill)
            vigour = xp.maximum(1.0 - pop["exhaustion"][rows], 0.0)
            return p.kill_rate * vigour * s[t] * brake * damp[rows]

        # a cell exhausted since the last phenotype step does not attach any more
        e = attach_and_kill(
            ctx,
            events,
            self,
            searching=SEARCHING,
            engaged=ENGAGED,
            weight=s,
            can_attach=pop["exhaustion"] < 1.0,
            kill_rate=kill_rate,
            buffers=self._buffers,
        )
        rows = e.rows
        if int(rows.shape[0]):
            layer.count(f"{self.name}_kills", e.killed)
            # every engaged cell with a valid target spent this step attached (the kill rate
            # per attached cell is kills / engaged time); those leaving do so at its end
            layer.count(f"{self.name}_engaged_time", dt * e.ok, rows)
            stay = ~e.leave
            pop["contact_time"][rows] = xp.where(stay, pop["contact_time"][rows] + dt, 0.0)
            faster = 1.0 + p.exhaustion_suppression_boost * (1.0 - damp[rows])
            gain = xp.where(e.ok, dt / p.exhaustion_time * faster, 0.0)
            gain = gain + e.killed * p.exhaustion_per_kill
            pop["exhaustion"][rows] = pop["exhaustion"][rows] + gain
            pop["kills"][rows] = pop["kills"][rows] + e.killed
        if int(e.attached.shape[0]):
            pop["contact_time"][e.attached] = 0.0
        return e

    def block_pd1(self, ctx, events) -> None:
        """PD-1 occupancy by the anti-PD-1 field (:mod:`~spatialtumor.cells.occupancy`)."""
        bind_drug(ctx, self.index, "pd1_blocked", self.params.pd1_blockade)

    def suppression(self, ctx):
        """Factor ``f`` (N,) scaling killing and division:
        ``f = 1/(1 + T/K_T) · 1/(1 + I/K_I) · 1/(1 + L/K_L) · 1/(1 + n/K_n)`` with TGF-β
        ``T``, IL-10 ``I``, IL-6 ``L`` in the cell's voxel and ``n`` the suppressor cells in
        contact (Σ φ(d))."""
        p = self.params
        xp = ctx.xp
        pop = ctx.population
        f = xp.ones(pop.size, dtype=np.float64)
        if p.tgfb_field is not None:
            f = f / (1.0 + xp.maximum(ctx.field_at(p.tgfb_field), 0.0) / p.tgfb_half_inhibition)
        if p.il10_field is not None:
            f = f / (1.0 + xp.maximum(ctx.field_at(p.il10_field), 0.0) / p.il10_half_inhibition)
        if p.il6_field is not None:
            f = f / (1.0 + xp.maximum(ctx.field_at(p.il6_field), 0.0) / p.il6_half_inhibition)
        if self._suppressor is not None:
            mine = xp.nonzero(pop["alive"] & (pop["kind"] == self.index))[0]
            if int(mine.shape[0]):
                w = self._suppressor(pop, xp)
                found = find_partners(
                    ctx, mine, w, p.contact_full, p.contact_max, "suppression", self._buffers2
                )
                f[mine] = f[mine] / (1.0 + found.weight / p.suppressor_half_inhibition)
        return f

    def exhaust(self, ctx, events) -> None:
        """Cells whose exhaustion reached 1 become exhausted (and let go of their target)."""
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index) & (pop["state"] != EXHAUSTED)
        tired = mine & (pop["exhaustion"] >= 1.0)
        took = events.change_state(tired, EXHAUSTED)
        pop["target_id"][...] = xp.where(took, -1, pop["target_id"])

    def live_and_divide(self, ctx, events) -> None:
        """Death at ``1/lifespan``; division at ``k_p (1 − E) IL2/(K + IL2)`` while the line
        has made fewer than ``division_limit`` divisions."""
        p = self.params
        pop = ctx.population
        xp = ctx.xp
        mine = pop["alive"] & (pop["kind"] == self.index)
        u = ctx.uniform(pop["id"], "lifespan", 2)
        events.remove(mine & (u[:, 0] < -math.expm1(-ctx.dt / p.lifespan)))
        if p.il2_field is None or p.proliferation_rate == 0:
            return
        il2 = xp.maximum(ctx.field_at(p.il2_field), 0.0)
        vigour = xp.maximum(1.0 - pop["exhaustion"], 0.0) * self.suppression(ctx)
        rate = p.proliferation_rate * vigour * il2 / (p.il2_half_saturation + il2)
        able = mine & (pop["state"] != EXHAUSTED) & (pop["divisions"] < p.division_limit)
        events.divide(able & (u[:, 1] < -xp.expm1(-rate * ctx.dt)))

    def recruitment_rate(self, ctx) -> float:
        p = self.params
        if p.recruitment_from:
            return ctx.layer.compartment_output(p.recruitment_from)
        return p.recruitment_rate

    # output -----------------------------------------------------------------------------
    def observables(self, layer) -> list[Observable]:
        pop = layer.population
        xp = pop.xp
        mine = pop["alive"] & (pop["kind"] == self.index)
        attached = xp.sum((mine & (pop["state"] == ENGAGED)).astype(np.float64))
        order = layer.id_order()
        stats = xp.stack(
            [
                attached,
                mean_of(xp, pop["exhaustion"], mine, order),
                mean_of(xp, pop["pd1_blocked"], mine, order),
            ]
        )
        a, e, b = (float(v) for v in pop.backend.asnumpy(stats))
        out = [
            Observable(f"{self.name}_attached", a, f"{self.name}: attached to a target", "cells"),
            Observable(f"{self.name}_exhaustion_mean", e, f"{self.name}: mean exhaustion", "1"),
        ]
        if self.params.pd1_blockade is not None:
            panel = f"{self.name}: PD-1 occupied by the drug"
            out.append(Observable(f"{self.name}_pd1_occupancy", b, panel, "1"))
        return out
