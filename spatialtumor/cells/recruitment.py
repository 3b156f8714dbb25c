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
    "vessels" (the scenario's vessel voxels, ``vessels`` a mask). On a sub-box of a larger
    grid (a rank's slab) the faces are those of the whole domain that the box touches.
    """
    nz, ny, nx = grid.shape
    mask = np.zeros((nz, ny, nx), dtype=bool)
    offset = getattr(grid, "offset", (0, 0, 0))
    whole = getattr(grid, "global_shape", grid.shape)
    reaches = {  # (touches the min face, touches the max face) per axis
        a: (offset[i] == 0, offset[i] + grid.shape[i] == whole[i]) for i, a in enumerate("zyx")
    }
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
            if not reaches[axis][side == "max"]:
                continue
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


def recruit(
    ctx, events, kind: int, sites, rate: float, signal=None, half: float = 1.0, entries=None
) -> int:
    """Record new cells of kind code ``kind`` entering at ``sites`` (flat voxel indices).

    Parameters
    ----------
    ctx : StepContext of the phenotype step
    events : the layer's Events
    kind : kind code of the new cells
    sites : (M,) int64 device array of entry voxels, or :class:`EntrySites`
    rate : total rate at saturating signals [cells/min]
    signal : field name modulating the rate by ``c/(K + c)``, a list of
        ``(field, K)`` pairs whose factors multiply, or None
    half : K [field units] of a single ``signal``
    entries : entry voxels of the whole domain (default: ``sites`` holds them all)

    Returns
    -------
    number of cells recorded (host int)
    """
    xp = ctx.xp
    grid = ctx.fields.grid
    if not isinstance(sites, EntrySites):
        sites = EntrySites.of(xp, grid, sites)
    m = int(sites.local.shape[0])
    whole = sites.total if entries is None else int(entries)
    if whole == 0 or rate <= 0:
        return 0
    every = rate / whole  # [cells/min] per entry voxel of the whole domain
    signals = [(signal, half)] if isinstance(signal, str) else list(signal or ())
    lam = xp.full(m, every, dtype=np.float64)
    for field, k in signals:
        c = ctx.fields[field].reshape(-1)[sites.local].astype(np.float64)
        c = xp.maximum(c, 0.0)
        lam = lam * c / (k + c)
    # keys hold the voxel of the whole grid and the kind, so kinds entering at one voxel
    # draw independently, and a voxel draws alike however the domain is split
    key = sites.index * 128 + int(kind)
    u = ctx.uniform(key, "recruitment")
    n = poisson_counts(xp, u, lam * ctx.dt, every * ctx.dt)
    total = int(xp.sum(n))
    if total == 0:
        return 0
    ends = xp.cumsum(n)
    which = xp.searchsorted(ends, xp.arange(total, dtype=np.int64), side="right")
    rank = xp.arange(total, dtype=np.int64) - (ends[which] - n[which])
    voxel = sites.index[which]
    place = (voxel << RANK_BITS) + rank
    uu = ctx.uniform(place * 128 + int(kind), "recruitment_position", 3)
    nz, ny, nx = grid.global_shape
    i = voxel % nx
    j = (voxel // nx) % ny
    k = voxel // (nx * ny)
    ijk = xp.stack([i, j, k], axis=1).astype(np.float64)
    lower = xp.asarray(grid.global_origin, dtype=np.float64)
    spacing = xp.asarray(grid.spacing, dtype=np.float64)
    positions = lower + (ijk + uu) * spacing
    events.spawn(kind, positions, ctx.population.backend.asnumpy(place).astype(np.int64))
    return total


class EntrySites:
    """Entry voxels of a grid (or of a rank's slab of the whole grid).

    Attributes
    ----------
    local : (M,) int64 device — flat indices into the grid's own voxels
    index : (M,) int64 device — the same voxels' flat indices in the whole grid (increasing)
    total : entry voxels of this grid (the whole domain's count is the caller's to sum)
    """

    def __init__(self, local, index):
        self.local, self.index = local, index
        self.total = int(local.shape[0])

    @classmethod
    def of(cls, xp, grid, local):
        """Sites from flat indices ``local`` (int64, device) into ``grid``'s voxels."""
        local = xp.asarray(local, dtype=np.int64)
        nz, ny, nx = grid.shape
        if tuple(grid.shape) == tuple(grid.global_shape):
            return cls(local, local)
        kz, jy, ix = grid.offset
        _gz, gy, gx = grid.global_shape
        k, j, i = local // (nx * ny) + kz, (local // nx) % ny + jy, local % nx + ix
        return cls(local, (k * gy + j) * gx + i)


def site_voxels(xp, grid, sites, vessels=None) -> EntrySites:
    """The entry voxels named by ``sites`` (:class:`EntrySites`)."""
    local = np.flatnonzero(entry_mask(grid, sites, vessels).ravel())
    return EntrySites.of(xp, grid, xp.asarray(local, dtype=np.int64))


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
        self._entries = None
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
        sites = self._sites
        if self._entries is None:  # entry voxels of the whole domain (summed over ranks)
            self._entries = ctx.sim.total(sites.total)
        n = recruit(
            ctx,
            events,
            self.index,
            sites,
            self.recruitment_rate(ctx),
            self.recruitment_signals(),
            entries=self._entries,
        )
        if n:
            ctx.layer.count(f"{self.name}_recruited", float(n))
