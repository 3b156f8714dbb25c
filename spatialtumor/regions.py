"""A region of the domain named in a scenario: the whole domain, a sphere or a box.

Voxels belong to a region when their centre does; cells when their position does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Vec3 = tuple[float, float, float]


class RegionSpec(BaseModel):
    """``region = "domain" | "sphere" | "box"`` with its ``centre``/``radius`` or
    ``lower``/``upper`` corners [µm]."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    region: Literal["domain", "sphere", "box"] = Field("domain", description="where")
    centre: Vec3 | None = Field(None, description="sphere centre (x, y, z) [µm]")
    radius: float | None = Field(None, gt=0, description="sphere radius [µm]")
    lower: Vec3 | None = Field(None, description="box lower corner (x, y, z) [µm]")
    upper: Vec3 | None = Field(None, description="box upper corner (x, y, z) [µm]")

    @model_validator(mode="after")
    def _complete(self):
        if self.region == "sphere" and (self.centre is None or self.radius is None):
            raise ValueError('region = "sphere" needs centre and radius [µm]')
        if self.region == "box":
            if self.lower is None or self.upper is None:
                raise ValueError('region = "box" needs lower and upper corners [µm]')
            if any(lo >= hi for lo, hi in zip(self.lower, self.upper, strict=True)):
                raise ValueError("a box's lower corner must lie below its upper one on every axis")
        return self

    def outside(self, domain) -> str | None:
        """Why the region misses the domain ``(lower, upper)`` [µm], or None if it meets it."""
        lo, hi = (np.asarray(c, dtype=np.float64) for c in domain)
        if self.region == "sphere":
            nearest = np.clip(np.asarray(self.centre), lo, hi)
            if np.sum((nearest - np.asarray(self.centre)) ** 2) > self.radius**2:
                return f"the sphere at {self.centre} µm, radius {self.radius} µm, misses the domain"
        elif self.region == "box":
            if np.any(np.asarray(self.upper) < lo) or np.any(np.asarray(self.lower) > hi):
                return f"the box {self.lower}..{self.upper} µm misses the domain"
        return None

    def contains(self, xp, positions):
        """(N,) bool: which of ``positions`` (N, 3) [µm] lie in the region."""
        if self.region == "domain":
            return xp.ones(positions.shape[0], dtype=bool)
        p = positions.astype(np.float64)
        if self.region == "sphere":
            d = p - xp.asarray(self.centre, dtype=np.float64)
            return xp.sum(d * d, axis=1) <= self.radius**2
        lo = xp.asarray(self.lower, dtype=np.float64)
        hi = xp.asarray(self.upper, dtype=np.float64)
        return xp.all((p >= lo) & (p <= hi), axis=1)

    def mask(self, grid) -> np.ndarray:
        """(nz, ny, nx) bool host mask of the voxels whose centre is in the region."""
        z, y, x = np.meshgrid(
            grid.centres("z"), grid.centres("y"), grid.centres("x"), indexing="ij"
        )
        centres = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
        return self.contains(np, centres).reshape(grid.shape)

    def describe(self) -> str:
        if self.region == "sphere":
            return f"sphere at {self.centre} µm, radius {self.radius} µm"
        if self.region == "box":
            return f"box {self.lower}..{self.upper} µm"
        return "whole domain"
