"""Infusions of cells: ``[[therapy.infusions]]`` tables putting N cells of a kind into the
tissue at given times (adoptive cell therapy, e.g. CAR-T cells).

::

    [[therapy.infusions]]
    kind = "cart"          # a kind of the scenario (any model; CAR-T normally)
    cells = 200            # cells per infusion
    at = 720.0             # first infusion [min]
    every = 0.0            # [min] between infusions; 0: one infusion
    count = 1              # infusions in all
    site = "point"         # "boundary", a face ("x_min" … "z_max"), "vessels" or "point"
    centre = [0.0, 150.0, 0.0]   # [µm], for site = "point"
    radius = 40.0          # [µm], for site = "point": cells placed uniformly in the ball

Infusion ``k`` of a table is due at ``T = at + k·every``, in diffusion step
``d = max(1, ⌈T/Δt_d⌉)``; it is delivered by the phenotype step ending at step ``S`` with
``S − P < d ≤ S`` (``P`` diffusion steps per phenotype step), i.e. the step whose interval
``(t − Δt_p, t]`` holds ``T`` (an infusion at 0 min enters in the first phenotype step).
Cells are placed uniformly in the ball (``point``) or in a uniformly chosen entry voxel
(``boundary``, faces, ``vessels``), from counter-based draws keyed by (table, infusion,
rank of the cell), so the same schedule puts the same cells in the same places. Nothing is
kept between steps: the time decides, and a run restarted from a checkpoint continues the
schedule exactly.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, Field, field_validator, model_validator

from .cell_therapy import CellTherapy
from .cells.kinds import CheckContext, KindError, Rule, Stage
from .cells.recruitment import FACES, SITE_WORDS, site_voxels
from .schedule import Schedule
from .spec_errors import SpecKeyError

INFUSION_SITES = (*SITE_WORDS, "point")
#: bits of the position keys holding the rank of a cell and the infusion of a table
RANK_BITS = 24
DOSE_BITS = 16


class InfusionSpec(CellTherapy, Schedule):
    """One ``[[therapy.infusions]]`` table."""

    event = ("infusion", "infusions")

    kind: str = Field(description="kind of the infused cells")
    cells: int = Field(description="cells per infusion")
    site: str = Field("boundary", description='"boundary", a face, "vessels" or "point"')
    centre: tuple[float, float, float] | None = Field(
        None, description='centre of the ball the cells enter, site = "point" [µm]'
    )
    radius: float | None = Field(
        None, description='radius of the ball the cells enter, site = "point" [µm]'
    )
    label: str = Field("", description="name on plots (default: the kind)")

    @field_validator("cells")
    @classmethod
    def _cells(cls, v):
        if v < 1:
            raise ValueError("an infusion must give a positive number of cells")
        if v >= 1 << RANK_BITS:
            raise ValueError(f"at most {(1 << RANK_BITS) - 1:,} cells per infusion")
        return v

    @field_validator("count")
    @classmethod
    def _count_bits(cls, v):
        if v >= 1 << DOSE_BITS:
            raise ValueError(f"at most {(1 << DOSE_BITS) - 1:,} infusions per table")
        return v

    @field_validator("site")
    @classmethod
    def _site(cls, v):
        if v not in INFUSION_SITES:
            raise ValueError(f"unknown site {v!r}; sites: {', '.join(INFUSION_SITES)}")
        return v

    @field_validator("radius")
    @classmethod
    def _radius(cls, v):
        if v is not None and not v > 0:
            raise ValueError("the radius of the ball must be > 0 µm")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.site != "point" and (self.centre is not None or self.radius is not None):
            raise ValueError(
                f'centre and radius place cells only with site = "point", not {self.site!r}'
            )
        return self

    # scenario time -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.label or f"{self.kind} infusion"

    def check(self, ctx: CheckContext, stop: float) -> None:
        ctx.kind("kind", self.kind)
        if self.at > stop:
            raise KindError(
                "at", f"first infusion at {self.at} min comes after the run stops ({stop} min)"
            )
        if self.site == "vessels" and ctx.vessels == 0:
            raise KindError("site", "names vessels but the scenario has none")
        if self.site == "point":
            if self.centre is None:
                raise KindError("centre", 'site = "point" needs the centre of the ball [µm]')
            if self.radius is None:
                raise KindError("radius", 'site = "point" needs the radius of the ball [µm]')
            if ctx.domain is not None:
                lo, hi = ctx.domain
                c, r = self.centre, self.radius
                if any(not (a + r < x and x + r < b) for x, a, b in zip(c, lo, hi, strict=True)):
                    raise KindError(
                        "centre",
                        f"the ball of radius {r} µm around {list(c)} µm reaches outside the "
                        f"domain {list(lo)}–{list(hi)} µm",
                    )

    def events(self) -> list[tuple[float, str, float]]:
        return [(t, self.name, float(self.cells)) for t in self.times()]

    # run time ------------------------------------------------------------------------------
    def positions(self, xp, ctx, table: int, dose: int, voxels, grid):
        """(cells, 3) float64 positions [µm] of infusion ``dose`` of table ``table``."""
        n = self.cells
        rank = xp.arange(n, dtype=np.int64)
        key = (((np.int64(table) << DOSE_BITS) + dose) << RANK_BITS) + rank
        u = ctx.uniform(key, "infusion_position", 4)
        if self.site == "point":
            # uniform in the ball: radius R u^(1/3), direction uniform on the sphere
            z = 2.0 * u[:, 1] - 1.0
            phi = 2.0 * math.pi * u[:, 2]
            s = xp.sqrt(xp.maximum(0.0, 1.0 - z * z))
            direction = xp.stack([s * xp.cos(phi), s * xp.sin(phi), z], axis=1)
            r = self.radius * xp.cbrt(u[:, 0])
            return xp.asarray(self.centre, dtype=np.float64) + r[:, None] * direction
        m = int(voxels.shape[0])
        pick = xp.minimum((u[:, 0] * m).astype(np.int64), m - 1)
        voxel = voxels[pick]
        nz, ny, nx = grid.global_shape
        ijk = xp.stack([voxel % nx, (voxel // nx) % ny, voxel // (nx * ny)], axis=1)
        lower = xp.asarray(grid.global_origin, dtype=np.float64)
        spacing = xp.asarray(grid.spacing, dtype=np.float64)
        return lower + (ijk.astype(np.float64) + u[:, 1:]) * spacing

    def build(self, sim, layer, name: str, index: int) -> list[Rule]:
        kind = layer.by_name[self.kind]
        table = index
        counter = f"{kind.name}_infused"
        layer.add_counter(counter, f"{kind.name}: infused per interval", "cells")
        xp = layer.population.xp
        grid = layer.fields.grid
        voxels = None
        if self.site != "point":
            # the entry voxels of the whole domain, on every rank of a split run alike
            local = site_voxels(xp, grid, [self.site], layer.vessels).index
            voxels = sim.gather_indices(local)
            if int(voxels.shape[0]) == 0:
                raise ValueError(f"therapy.infusions.{table}: site {self.site!r} has no voxels")

        def infuse(ctx, events) -> None:
            clock = ctx.sim.clock
            for k in self.due(ctx.step, clock.phenotype_every, clock.dt_diffusion):
                # every process draws the whole infusion and keeps the cells it owns
                positions = self.positions(xp, ctx, table, k, voxels, grid)
                mine = layer.own_positions(positions)
                places = np.flatnonzero(ctx.population.backend.asnumpy(mine))
                events.spawn(kind.index, positions[mine], places.astype(np.int64))
                layer.count(counter, float(places.size))

        return [Rule(infuse, "phenotype", Stage.RECRUIT, f"{self.name} ({name})")]


def _same_place(a: InfusionSpec, b: InfusionSpec) -> bool:
    """Whether two infusions put cells into the same place (or places that overlap)."""
    if a.site == "point" or b.site == "point":
        if a.site != b.site or a.centre is None or b.centre is None:
            return False
        if a.radius is None or b.radius is None:
            return False
        return math.dist(a.centre, b.centre) < a.radius + b.radius
    faces = {s: {s} for s in FACES} | {"boundary": set(FACES), "vessels": {"vessels"}}
    return bool(faces[a.site] & faces[b.site])


def _common_time(a: list[float], b: list[float]) -> float | None:
    """A time [min] of ``b`` equal (to 1e-9 min) to one of ``a`` (both sorted), or None."""
    ta, tb = np.asarray(a), np.asarray(b)
    i = np.clip(np.searchsorted(ta, tb), 1, max(len(ta) - 1, 1))
    near = np.minimum(np.abs(ta[i - 1] - tb), np.abs(ta[np.minimum(i, len(ta) - 1)] - tb))
    hit = np.flatnonzero(near <= 1e-9 * np.maximum(1.0, np.abs(tb)))
    return float(tb[hit[0]]) if hit.size else None


def _no_overlap(items: list[InfusionSpec]) -> list[InfusionSpec]:
    """Refuse two infusions of one kind at the same place and time."""
    for j, b in enumerate(items):
        for i, a in enumerate(items[:j]):
            if a.kind != b.kind or not _same_place(a, b):
                continue
            t = _common_time(a.times(), b.times())
            if t is not None:
                raise SpecKeyError(
                    f"therapy.infusions.{j}",
                    f"infuses {b.kind!r} at {t} min where infusion {i} does at the same "
                    f"time ({a.site} and {b.site}): that is one infusion written twice, "
                    "and the second would double the dose; give one table with cells = "
                    f"{a.cells + b.cells}, or different times or places",
                )
    return items


#: the type of ``TherapySpec.infusions``: the tables, checked against each other
Infusions = Annotated[list[InfusionSpec], AfterValidator(_no_overlap)]
