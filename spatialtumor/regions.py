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
        given = {k for k in ("centre", "radius", "lower", "upper") if getattr(self, k) is not None}
        need = {"domain": set(), "sphere": {"centre", "radius"}, "box": {"lower", "upper"}}
        want = need[self.region]
        if given - want:
            raise ValueError(f'region = "{self.region}" takes no {", ".join(sorted(given - want))}')
        if want - given:
            raise ValueError(
                f'region = "{self.region}" needs {" and ".join(sorted(want - given))} [µm]'
            )
        if self.region == "box" and not all(
            a < b for a, b in zip(self.lower, self.upper, strict=True)
        ):
            raise ValueError(
                f"a box needs lower < upper on every axis, got {self.lower}, {self.upper}"
            )
        return self

    def outside(self, domain) -> tuple[str, str] | None:
        """``(key, message)`` when the region misses the domain ``(lower, upper)`` [µm]
        (a region larger than the domain, or partly outside it, is fine), else None."""
        lo, hi = (np.asarray(c, dtype=np.float64) for c in domain)
        box = f"the domain [{tuple(lo.tolist())}, {tuple(hi.tolist())}] µm"
        if self.region == "sphere":
            c = np.asarray(self.centre, dtype=np.float64)
            if not np.linalg.norm(np.clip(c, lo, hi) - c) < self.radius:
                return "centre", (
                    f"the sphere (centre {self.centre} µm, radius {self.radius} µm) lies "
                    f"outside {box}"
                )
        elif self.region == "box":
            a, b = np.asarray(self.lower), np.asarray(self.upper)
            if not bool(np.all((a < hi) & (b > lo))):
                return "lower", f"the box [{self.lower}, {self.upper}] µm lies outside {box}"
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
