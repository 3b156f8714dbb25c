"""Cytotoxic chemotherapy: ``[[therapy.chemotherapy]]`` items killing cells in proportion to
the exposure to a drug field (equations, values and sources in docs/MODEL.md,
"Chemotherapy").

::

    [[therapy.chemotherapy]]
    field = "doxorubicin"           # the drug's tissue field [nM], fed by a drug_pk compartment
    label = "doxorubicin"
    kill.tumour = { max_rate = 0.01, half_effect = 500.0, immunogenic = true }
    kill.t8 = { max_rate = 0.005, half_effect = 500.0, cycling_only = false }

A living cell of a named kind dies at the rate ``k = k_max · Cⁿ/(EC₅₀ⁿ + Cⁿ) · w`` [1/min],
``C`` the drug in its voxel, ``w`` its kind's cycling share (:meth:`Kind.cycling`, the
division rate now over its largest one; cells out of cycle, hypoxic or quiescent, are
spared) with ``cycling_only``, else ``w = 1`` (lymphodepletion). The schedule is the
``[[therapy.doses]]`` into the drug's compartment; the item keeps no state.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .cell_therapy import CellTherapy
from .cells.kinds import CheckContext, Kind, KindError, Rule, Stage


class ChemoKill(BaseModel):
    """The sensitivity of one kind to the drug (``kill.<kind> = { ... }``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_rate: float = Field(ge=0, description="kill rate at saturating drug k_max [1/min]")
    half_effect: float = Field(gt=0, description="drug for half the kill rate EC₅₀ [field units]")
    hill: float = Field(1.0, gt=0, description="Hill coefficient n of the exposure–kill curve [1]")
    cycling_only: bool = Field(
        True, description="scale the rate by the kind's cycling share (spare cells out of cycle)"
    )
    immunogenic: bool = Field(
        False, description="the kill is an immunogenic death (the kind's immunogenic state)"
    )

    def rate(self, xp, c):
        """``k_max Cⁿ/(EC₅₀ⁿ + Cⁿ)`` at drug ``c`` [1/min] (``c`` clipped at 0)."""
        cn = xp.maximum(c, 0.0) ** self.hill
        return self.max_rate * cn / (self.half_effect**self.hill + cn)


class ChemotherapySpec(CellTherapy):
    """One ``[[therapy.chemotherapy]]`` item: a drug field and the kinds it kills."""

    field: str = Field(description="the drug's tissue field [nM]")
    label: str = Field("", description="name of the drug on plots (default: the field)")
    kill: dict[str, ChemoKill] = Field(
        default_factory=dict, description="kind name → its sensitivity to the drug"
    )

    @property
    def name(self) -> str:
        return self.label or self.field

    def check(self, ctx: CheckContext, stop: float) -> None:
        ctx.field("field", self.field)
        if not self.kill:
            raise KindError("kill", "name at least one kind the drug kills: kill.<kind> = {...}")
        for kind, s in self.kill.items():
            cls = ctx.kind(f"kill.{kind}", kind)
            if s.cycling_only and cls.cycling is Kind.cycling:
                raise KindError(
                    f"kill.{kind}.cycling_only",
                    f"kind {kind!r} (model {cls.model!r}) has no cycling share to spare "
                    "cells out of cycle: set cycling_only = false",
                )
            if s.immunogenic and cls.immunogenic_state is None:
                raise KindError(
                    f"kill.{kind}.immunogenic",
                    f"kind {kind!r} (model {cls.model!r}) has no immunogenic death: "
                    "set immunogenic = false",
                )

    def build(self, sim, layer, name: str, index: int) -> list[Rule]:
        for k in self.kill:  # every named kind reports, so arms of a study share columns
            layer.add_counter(
                f"{k}_chemo_killed", f"{k}: killed by {self.name} per interval", "cells"
            )
        kinds = [(layer.by_name[k], s) for k, s in self.kill.items() if s.max_rate > 0]
        if not kinds:
            return []
        field = self.field
        draw = index  # one stream for every item; the item's index picks the draw

        def kill(ctx, events) -> None:
            """Each living cell of a named kind dies with ``1 − exp(−k dt)``, before its
            kind's own fate this step (a killed cell neither divides nor dies otherwise)."""
            pop = ctx.population
            xp = ctx.xp
            c = ctx.field_at(field)
            u = ctx.uniform(pop["id"], "chemotherapy", draw + 1)[:, draw]
            living = ctx.layer.living() & events.free
            for k, s in kinds:
                rate = s.rate(xp, c)
                if s.cycling_only:
                    rate = rate * k.cycling(ctx)
                hit = living & (pop["kind"] == k.index) & (u < ctx.probability(rate))
                rows = xp.nonzero(hit)[0]
                done = ctx.layer.kill(ctx, rows, cause="chemotherapy", immunogenic=s.immunogenic)
                ctx.layer.count(f"{k.name}_chemo_killed", done)

        return [Rule(kill, "phenotype", Stage.CONTACT, f"chemotherapy ({self.name})")]
