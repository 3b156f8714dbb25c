"""Per-voxel source S [units/min] and uptake U [1/min] arrays, rebuilt every diffusion step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import Fields


@dataclass(frozen=True)
class RegionSource:
    """A fixed sphere or box that releases or takes up one species.

    ``dc/dt = rate (target - c) - uptake c`` inside the region (rate, uptake [1/min]); with
    no target, ``dc/dt = release - uptake c`` (release [units/min]).
    """

    field: str
    shape: str  # "sphere" | "box"
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)  # sphere centre (x, y, z) [µm]
    radius: float = 0.0  # sphere radius [µm]
    lower: tuple[float, float, float] = (0.0, 0.0, 0.0)  # box lower corner [µm]
    upper: tuple[float, float, float] = (0.0, 0.0, 0.0)  # box upper corner [µm]
    release: float = 0.0  # [units/min]
    rate: float = 0.0  # secretion rate toward target [1/min]
    target: float = 0.0  # [units]
    uptake: float = 0.0  # [1/min]

    def mask(self, grid) -> np.ndarray:
        """Boolean (nz, ny, nx) host mask of the voxel centres inside the region."""
        z, y, x = np.meshgrid(
            grid.centres("z"), grid.centres("y"), grid.centres("x"), indexing="ij"
        )
        if self.shape == "sphere":
            cx, cy, cz = self.centre
            return (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= self.radius**2
        lo, hi = self.lower, self.upper
        return (
            (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (z >= lo[2]) & (z <= hi[2])
        )


class SourceTerms:
    """Holds S and U for all species; static region terms plus whatever cells deposit.

    ``assemble(sim)`` is called once per diffusion step: it restores the static terms and
    lets each registered depositor (the cell exchange) add its share.
    """

    def __init__(self, fields: Fields, regions: list[RegionSource] | tuple = ()):
        grid = fields.grid
        nf = len(fields)
        self.fields = fields
        self.regions = tuple(regions)
        self.depositors: list = []
        s0 = np.zeros((nf,) + grid.shape)
        u0 = np.zeros((nf,) + grid.shape)
        for r in self.regions:
            f = fields.index(r.field)
            m = r.mask(grid)
            s0[f][m] += r.release + r.rate * r.target
            u0[f][m] += r.rate + r.uptake
        self.static = bool(np.any(s0) or np.any(u0))
        be = grid.backend
        self.static_source = be.asarray(s0) if self.static else None
        self.static_uptake = be.asarray(u0) if self.static else None
        self.source = grid.zeros((nf,))
        self.uptake = grid.zeros((nf,))

    @property
    def active(self) -> bool:
        return self.static or bool(self.depositors)

    def assemble(self, sim) -> None:
        if not self.active:
            return
        if self.static:
            self.source[...] = self.static_source
            self.uptake[...] = self.static_uptake
        else:
            self.source.fill(0)
            self.uptake.fill(0)
        for d in self.depositors:
            d.deposit(sim, self.source, self.uptake)


class Neutralisation:
    """A drug field ``a`` binding and removing a field ``c``: ``dc/dt = … − k a c``, the
    term added to the implicit uptake of ``c`` every diffusion step.

    The drug is taken to be in excess (an antibody at nM against a cytokine at pM), so the
    binding does not deplete it.
    """

    def __init__(self, fields: Fields, target: str, drug: str, rate: float):
        self.target = fields.index(target)
        self.drug = fields.index(drug)
        self.rate = float(rate)
        self.xp = fields.grid.backend.xp
        self._scratch = fields.grid.zeros(())  # one field, reused every step

    def deposit(self, sim, source, uptake) -> None:
        k = self._scratch
        self.xp.maximum(sim.fields.values[self.drug], 0, out=k)
        k *= self.rate
        uptake[self.target] += k
