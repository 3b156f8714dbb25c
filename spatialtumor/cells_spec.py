"""Scenario tables for cells: kinds, their parameters, and initial placements."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover
    from .scenario import ScenarioSpec


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Vec3 = tuple[float, float, float]


class ExchangeSpec(_Spec):
    """Secretion toward a target and uptake of one field by one cell (BioFVM)."""

    rate: float = Field(0.0, ge=0, description="secretion rate [1/min]")
    target: float = Field(0.0, ge=0, description="saturation density [field units]")
    uptake: float = Field(0.0, ge=0, description="uptake rate [1/min]")


class ChemotaxisSpec(_Spec):
    field: str
    bias: float = Field(
        0.5, ge=0, le=1, description="drift fraction: mean speed up the gradient = bias × speed"
    )


class GrowthSpec(_Spec):
    """Oxygen-dependent cycle and death (PhysiCell defaults, see docs/MODEL.md)."""

    oxygen_field: str = "oxygen"
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


class KindSpec(_Spec):
    radius: float = Field(8.412, gt=0, description="cell radius [µm] (PhysiCell volume 2494 µm³)")
    repulsion: float = Field(10.0, ge=0, description="cell-cell repulsion [µm/min]")
    adhesion: float = Field(0.4, ge=0, description="cell-cell adhesion [µm/min]")
    adhesion_distance: float = Field(
        1.25, ge=1, description="max adhesion distance relative to r_i + r_j"
    )
    speed: float = Field(0.0, ge=0, description="motility speed [µm/min]")
    persistence: float = Field(10.0, gt=0, description="persistence time [min]")
    chemotaxis: ChemotaxisSpec | None = None
    exchange: dict[str, ExchangeSpec] = Field(default_factory=dict)
    growth: GrowthSpec | None = None


class PlacementSpec(_Spec):
    kind: str
    shape: Literal["sphere", "shell", "box", "csv"]
    centre: Vec3 = (0.0, 0.0, 0.0)
    radius: float = Field(0.0, ge=0, description="sphere radius [µm]")
    inner_radius: float = Field(0.0, ge=0, description="shell inner radius [µm]")
    outer_radius: float = Field(0.0, ge=0, description="shell outer radius [µm]")
    lower: Vec3 = (0.0, 0.0, 0.0)
    upper: Vec3 = (0.0, 0.0, 0.0)
    count: int = Field(0, ge=0, description="cells to place (shell, box)")
    spacing: float | None = Field(None, gt=0, description="lattice spacing [µm] (sphere)")
    file: str | None = Field(None, description="CSV with columns x,y,z,kind[,radius]")


class CellsSpec(_Spec):
    kinds: dict[str, KindSpec]
    initial: list[PlacementSpec] = Field(default_factory=list)
    max_displacement: float = Field(
        0.5, gt=0, le=1, description="largest move per mechanics step, relative to radius"
    )
    capacity: int = Field(0, ge=0, description="initial capacity (0 = automatic)")

    def cross_check(self, spec: ScenarioSpec, source: str) -> None:
        from .scenario import ScenarioError

        fields = spec.fields
        for name, k in self.kinds.items():
            for f in k.exchange:
                if f not in fields:
                    raise ScenarioError(
                        source,
                        f"cells.kinds.{name}.exchange.{f}",
                        f"unknown field {f!r}; fields: {', '.join(fields) or 'none'}",
                    )
            if k.chemotaxis is not None and k.chemotaxis.field not in fields:
                raise ScenarioError(
                    source,
                    f"cells.kinds.{name}.chemotaxis.field",
                    f"unknown field {k.chemotaxis.field!r}; fields: {', '.join(fields) or 'none'}",
                )
            if k.growth is not None and k.growth.oxygen_field not in fields:
                raise ScenarioError(
                    source,
                    f"cells.kinds.{name}.growth.oxygen_field",
                    f"unknown field {k.growth.oxygen_field!r}; "
                    f"fields: {', '.join(fields) or 'none'}",
                )
        for i, p in enumerate(self.initial):
            if p.kind not in self.kinds and p.shape != "csv":
                raise ScenarioError(
                    source,
                    f"cells.initial.{i}.kind",
                    f"unknown kind {p.kind!r}; kinds: {', '.join(self.kinds)}",
                )
            if p.shape == "csv":
                if not p.file:
                    raise ScenarioError(
                        source, f"cells.initial.{i}.file", "csv placement needs a file"
                    )
                path = resolve_relative(p.file, source)
                if not path.is_file():
                    raise ScenarioError(source, f"cells.initial.{i}.file", f"no such file: {path}")
            if p.shape == "shell" and not p.outer_radius > p.inner_radius:
                raise ScenarioError(
                    source, f"cells.initial.{i}.outer_radius", "must be larger than inner_radius"
                )

    def estimate_bytes(self, itemsize: int) -> int:
        # about 24 columns per cell; the count is what is placed at start, times 4 for growth
        n = max(self.capacity, sum(p.count for p in self.initial))
        return 4 * n * 24 * itemsize


def resolve_relative(file: str, source: str) -> Path:
    """A path in a scenario is relative to the scenario file's folder."""
    p = Path(file)
    if p.is_absolute():
        return p
    return Path(source).resolve().parent / p
