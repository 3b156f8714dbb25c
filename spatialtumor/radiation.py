"""Radiation therapy: ``[[therapy.radiation]]`` fractions of dose killing cells by the
linear-quadratic (LQ) model, each kind by its own radiosensitivity, inside a region.

::

    [[therapy.radiation]]
    dose = 2.0              # [Gy] per fraction
    at = 1440.0             # first fraction [min]
    every = 1440.0          # [min] between fractions; 0: a single fraction
    count = 5               # fractions in all
    region = "sphere"       # "domain" (default) | "sphere" | "box"
    centre = [0.0, 0.0, 0.0]   # [µm] (sphere)
    radius = 150.0          # [µm] (sphere); a box gives lower and upper [µm]
    sensitivity.t8 = { alpha = 0.5, beta = 0.0 }   # [1/Gy], [1/Gy²]: override by kind name
    immunogenic = true      # killed tumour cells die an immunogenic death

Fraction ``k`` is due at ``T_k = at + k·every`` and is delivered, instantaneously, at the
phenotype step whose interval ``(t − Δt_p, t]`` holds ``T_k`` (a fraction at 0 min at the
first phenotype step). Every living cell of kind K inside the region survives a fraction of
dose D with probability ``S = exp(−α_K D − β_K D²)``; ``m`` fractions falling in one step
act as ``S^m``. One counter-based uniform per cell, item and step decides; a cell that does
not survive is killed through :meth:`~spatialtumor.cells.layer.CellLayer.kill` (tumour
cells enter ``immunogenic`` when ``immunogenic`` is true, else ``apoptotic``; kinds with no
killed state are removed). Nothing is kept between steps: what happens at a step follows
from its time, so a restarted run continues a schedule exactly. Defaults of α and β by kind
model, with their sources, are in :data:`DEFAULT_SENSITIVITY` and docs/MODEL.md
("Radiation").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .cell_therapy import CellTherapy
from .cells.kinds import CheckContext, KindError, Rule, Stage
from .regions import RegionSpec
from .schedule import Schedule

LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Radiosensitivity:
    """LQ parameters of one kind model: ``alpha`` [1/Gy], ``beta`` [1/Gy²], and where the
    values come from (short; full references in docs/MODEL.md)."""

    alpha: float
    beta: float
    source: str


#: defaults by kind *model*; a scenario overrides them by kind name (``sensitivity``)
DEFAULT_SENSITIVITY: dict[str, Radiosensitivity] = {
    "tumour": Radiosensitivity(
        0.3,
        0.03,
        "α/β = 10 Gy of most carcinomas (Thames 1990; van Leeuwen 2018); α = 0.3 /Gy a "
        "modelling choice (SF2 = 0.49)",
    ),
    "cd8": Radiosensitivity(
        math.log(10.0) / 3.34,
        0.0,
        "CD8+ T cells, exponential survival with D10 = 3.34 Gy (Nakamura 1990): α = 0.69 /Gy",
    ),
    "car_t": Radiosensitivity(
        math.log(10.0) / 3.34,
        0.0,
        "engineered T cells as CD8+ T cells (Nakamura 1990); a modelling choice",
    ),
    "treg": Radiosensitivity(
        math.log(10.0) / 3.13,
        0.0,
        "CD4+ T cells, D10 = 3.13 Gy (Nakamura 1990): α = 0.74 /Gy",
    ),
    "nk": Radiosensitivity(
        math.log(10.0) / 3.34,
        0.0,
        "as CD8+ T cells: NK cells at least as radiosensitive as T cells (Falcke 2018); a "
        "modelling choice",
    ),
    "macrophage": Radiosensitivity(
        0.05,
        0.005,
        "monocytes the most radioresistant immune cells (Falcke 2018); values (SF2 = 0.89) "
        "a modelling choice",
    ),
    "dendritic": Radiosensitivity(
        0.05,
        0.005,
        "as macrophages (monocyte-derived, radioresistant; Falcke 2018); a modelling choice",
    ),
    "inert": Radiosensitivity(0.0, 0.0, "inert cells: no effect"),
}


class SensitivitySpec(BaseModel):
    """``sensitivity.<kind> = { alpha = ..., beta = ... }``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    alpha: float = Field(ge=0, description="linear LQ coefficient α [1/Gy]")
    beta: float = Field(ge=0, description="quadratic LQ coefficient β [1/Gy²]")


class RadiationSpec(CellTherapy, RegionSpec, Schedule):
    """One ``[[therapy.radiation]]`` table: a schedule of fractions to a region."""

    event = ("fraction", "fractions")

    dose: float = Field(description="dose per fraction [Gy]")
    label: str = Field("", description="name on plots and of the fraction counter")
    sensitivity: dict[str, SensitivitySpec] = Field(
        default_factory=dict, description="α, β by kind name, overriding the model defaults"
    )
    immunogenic: bool = Field(True, description="killed cells die an immunogenic death")

    @field_validator("dose")
    @classmethod
    def _dose(cls, v):
        if not v > 0:
            raise ValueError(f"a fraction must be a positive dose [Gy], got {v}")
        return v

    @field_validator("label")
    @classmethod
    def _label(cls, v):
        if v and not LABEL.match(v):
            raise ValueError(
                f"label {v!r} names a time-series column: letters, digits and _, "
                "starting with a letter"
            )
        return v

    # schedule ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.label or "radiation"

    def events(self) -> list[tuple[float, str, float]]:
        return [(t, self.name, self.dose) for t in self.times()]

    # scenario checks --------------------------------------------------------------------
    def lq(self, kind: str, model: str) -> tuple[float, float] | None:
        """``(α, β)`` of kind ``kind`` of model ``model``: its override, else the model's
        default, else None."""
        if kind in self.sensitivity:
            s = self.sensitivity[kind]
            return s.alpha, s.beta
        d = DEFAULT_SENSITIVITY.get(model)
        return None if d is None else (d.alpha, d.beta)

    def check(self, ctx: CheckContext, stop: float) -> None:
        for name in self.sensitivity:
            if name not in ctx.kinds:
                raise KindError(
                    f"sensitivity.{name}", f"unknown kind {name!r}; kinds: {', '.join(ctx.kinds)}"
                )
        for name, cls in ctx.kinds.items():
            if self.lq(name, cls.model) is None:
                raise KindError(
                    "sensitivity",
                    f"kind {name!r} (model {cls.model!r}) has no default radiosensitivity: give "
                    f"sensitivity.{name} = {{ alpha = ..., beta = ... }}",
                )
        why = self.outside(ctx.domain) if ctx.domain is not None else None
        if why is not None:
            raise KindError(*why)
        if self.at > stop:
            raise KindError(
                "at", f"first fraction at {self.at} min comes after the run stops ({stop} min)"
            )

    # run time ---------------------------------------------------------------------------
    def build(self, sim, layer, name: str, index: int) -> list[Rule]:
        kinds = layer.kinds
        alpha = np.array([self.lq(k.name, k.model)[0] for k in kinds], dtype=np.float64)
        beta = np.array([self.lq(k.name, k.model)[1] for k in kinds], dtype=np.float64)
        xp = layer.population.xp
        #: −ln S per fraction, by kind code
        log_kill = xp.asarray(alpha * self.dose + beta * self.dose**2)
        draw = index  # one stream for every table; the table's index picks the draw
        fractions = f"{self.name}_fractions"
        layer.add_counter(fractions, "therapy: radiation fractions", "fractions", shared=True)
        for k in kinds:
            layer.add_counter(f"{k.name}_irradiated", "radiation: cells irradiated", "cells")
            layer.add_counter(f"{k.name}_radiation_killed", "radiation: cells killed", "cells")

        def irradiate(ctx, events) -> None:
            clock = ctx.sim.clock
            m = len(self.due(ctx.step, clock.phenotype_every, clock.dt_diffusion))
            if m == 0:
                return
            ctx.layer.count(fractions, float(m))
            pop = ctx.population
            xp = ctx.xp
            hit = ctx.layer.own(ctx.layer.living() & self.contains(xp, pop["position"]))
            kind = pop["kind"].astype(np.int64)
            u = ctx.uniform(pop["id"], "radiation", draw + 1)[:, draw]
            dies = hit & (u < -xp.expm1(-m * log_kill[kind]))
            targets = xp.nonzero(dies)[0]
            done = ctx.layer.kill(ctx, targets, cause="radiation", immunogenic=self.immunogenic)
            killed_kind = kind[targets][done]
            for k in ctx.layer.kinds:
                ctx.layer.count(f"{k.name}_irradiated", hit & (kind == k.index))
                ctx.layer.count(f"{k.name}_radiation_killed", killed_kind == k.index)

        return [Rule(irradiate, "phenotype", Stage.SENSE, f"radiation ({name})")]
