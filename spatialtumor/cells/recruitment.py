"""Cells entering the tissue at entry voxels: the domain boundary or vessel voxels.

Each phenotype step, entry voxel ``v`` of ``M`` receives ``n_v ~ Poisson(λ_v Δt)`` new
cells with ``λ_v = (R / M) · Π_i h_i(c_i,v)`` [cells/min]: ``R`` the kind's total recruitment
rate at saturating signals and ``h_i(c) = c / (K_i + c)`` of each signal field in that voxel
(1 without a signal). New cells are placed uniformly inside their voxel. Draws are
counter-based, keyed by the voxel index, so they do not depend on the order of anything.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

FACES = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
SITE_WORDS = ("boundary", "vessels", *FACES)
#: ranks of the cells entering one voxel in one step are keyed in this many bits
RANK_BITS = 20


def entry_mask(grid, sites, vessels=None) -> np.ndarray:
    """(nz, ny, nx) bool host mask of the entry voxels named by ``sites``.

    ``sites`` holds "boundary" (every outer voxel), face names ("x_min" … "z_max") and
    "vessels" (the scenario's vessel voxels, ``vessels`` a mask).
    """
    nz, ny, nx = grid.shape
    mask = np.zeros((nz, ny, nx), dtype=bool)
    for s in sites:
        if s == "boundary":
            s_faces = FACES
        elif s == "vessels":
            if vessels is not None:
                mask |= np.asarray(vessels, dtype=bool)
            continue
        else:
            s_faces = (s,)
        for f in s_faces:
            axis, side = f.split("_")
            index = 0 if side == "min" else -1
            if axis == "x":
                mask[:, :, index] = True
            elif axis == "y":
                mask[:, index, :] = True
            else:
                mask[index, :, :] = True
    return mask


def poisson_counts(xp, u, mean, mean_max: float):
    """Poisson numbers with ``mean`` by inversion of the uniforms ``u`` (both (M,)).

    The count is the smallest k with ``u < F(k)``; ``mean_max`` (≥ every mean, a host
    number) bounds the search at ``mean_max + 12 √mean_max + 12`` terms, beyond which the
    tail probability is below 10⁻²⁰.
    """
    terms = int(math.ceil(mean_max + 12.0 * math.sqrt(mean_max) + 12.0))
    if terms >= 1 << RANK_BITS:
        raise ValueError(f"{mean_max:.3g} cells per entry voxel and step: too many to draw")
    p = xp.exp(-mean)
    cdf = p.copy()
    k = xp.zeros(u.shape, dtype=np.int64)
    for i in range(1, terms + 1):
        more = u >= cdf
        if not bool(xp.any(more)):
            break
        k = k + more
        p = p * mean / i
        cdf = cdf + p
    return k


def recruit(ctx, events, kind: int, sites, rate: float, signal=None, half: float = 1.0) -> int:
    """Record new cells of kind code ``kind`` entering at ``sites`` (flat voxel indices).

    Parameters
    ----------
    ctx : StepContext of the phenotype step
    events : the layer's Events
    kind : kind code of the new cells
    sites : (M,) int64 device array of entry voxels
    rate : total rate at saturating signals [cells/min]
    signal : field name modulating the rate by ``c/(K + c)``, a list of
        ``(field, K)`` pairs whose factors multiply, or None
    half : K [field units] of a single ``signal``

    Returns
    -------
    number of cells recorded (host int)
    """
    xp = ctx.xp
    m = int(sites.shape[0])
    if m == 0 or rate <= 0:
        return 0
    grid = ctx.fields.grid
    lam = xp.full(m, rate / m, dtype=np.float64)
    signals = [(signal, half)] if isinstance(signal, str) else list(signal or ())
    for field, k in signals:
        c = ctx.fields[field].reshape(-1)[sites].astype(np.float64)
        c = xp.maximum(c, 0.0)
        lam = lam * c / (k + c)
    # keys hold the voxel and the kind, so kinds entering at one voxel draw independently
    key = sites.astype(np.int64) * 128 + int(kind)
    u = ctx.uniform(key, "recruitment")
    n = poisson_counts(xp, u, lam * ctx.dt, rate / m * ctx.dt)
    total = int(xp.sum(n))
    if total == 0:
        return 0
    ends = xp.cumsum(n)
    which = xp.searchsorted(ends, xp.arange(total, dtype=np.int64), side="right")
    rank = xp.arange(total, dtype=np.int64) - (ends[which] - n[which])
    voxel = sites[which]
    key = ((voxel << RANK_BITS) + rank) * 128 + int(kind)
    uu = ctx.uniform(key, "recruitment_position", 3)
    nz, ny, nx = grid.shape
    i = voxel % nx
    j = (voxel // nx) % ny
    k = voxel // (nx * ny)
    ijk = xp.stack([i, j, k], axis=1).astype(np.float64)
    lower = xp.asarray(grid.origin, dtype=np.float64)
    spacing = xp.asarray(grid.spacing, dtype=np.float64)
    positions = lower + (ijk + uu) * spacing
    events.spawn(kind, positions)
    return total


def site_voxels(xp, grid, sites, vessels=None):
    """Flat indices (int64, device) of the entry voxels named by ``sites``."""
    return xp.asarray(np.flatnonzero(entry_mask(grid, sites, vessels).ravel()), dtype=np.int64)


class RecruitmentParams(BaseModel):
    """The recruitment keys a kind's parameters share (a base of its ``Params``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    recruitment_rate: float = Field(
        0.0, ge=0, description="cells entering per minute at saturating signals [cells/min]"
    )
    recruitment_field: str | None = Field(
        None, description="field scaling recruitment by c/(K + c) (None: constant)"
    )
    recruitment_half_saturation: float = Field(
        1.0, gt=0, description="K of the recruitment signal [field units]"
    )
    recruitment_sites: list[str] = Field(
        default_factory=lambda: ["boundary"],
        description='entry voxels: "boundary", face names (x_min … z_max), "vessels"',
    )

    @field_validator("recruitment_sites")
    @classmethod
    def _sites(cls, v):
        bad = [s for s in v if s not in SITE_WORDS]
        if bad:
            raise ValueError(f"unknown entry site {bad[0]!r}; sites: {', '.join(SITE_WORDS)}")
        return v


class Recruiting:
    """Mixin of a :class:`~spatialtumor.cells.Kind` whose ``Params`` derive from
    :class:`RecruitmentParams`: checks, the recruitment rule and its counter."""

    @staticmethod
    def check_recruitment(params, ctx) -> None:
        from .kinds import KindError

        ctx.field("params.recruitment_field", params.recruitment_field)
        if "vessels" in params.recruitment_sites and ctx.vessels == 0:
            raise KindError("params.recruitment_sites", "names vessels but the scenario has none")

    def recruitment_rule(self, layer, enabled: bool | None = None):
        """The rule recording new cells (None when the kind recruits none)."""
        from .kinds import Rule, Stage

        p = self.params
        self._sites = site_voxels(
            layer.population.xp, layer.fields.grid, p.recruitment_sites, layer.vessels
        )
        if not (p.recruitment_rate > 0 if enabled is None else enabled):
            return None
        layer.add_counter(f"{self.name}_recruited", f"{self.name}: recruited per interval", "cells")
        return Rule(self.recruit, "phenotype", Stage.RECRUIT, f"{self.name} recruitment")

    def recruitment_rate(self, ctx) -> float:
        """Total rate at saturating signals [cells/min] (a kind may read a compartment)."""
        return self.params.recruitment_rate

    def recruitment_signals(self) -> list[tuple[str, float]]:
        """``(field, K)`` pairs whose Hill factors scale the rate at each entry voxel."""
        p = self.params
        if p.recruitment_field is None:
            return []
        return [(p.recruitment_field, p.recruitment_half_saturation)]

    def recruit(self, ctx, events) -> None:
        n = recruit(
            ctx,
            events,
            self.index,
            self._sites,
            self.recruitment_rate(ctx),
            self.recruitment_signals(),
        )
        if n:
            ctx.layer.count(f"{self.name}_recruited", float(n))
