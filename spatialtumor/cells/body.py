"""Scenario tables every cell kind has: size, mechanics, motility and exchange with fields.

A kind module may subclass :class:`BodySpec` to change the defaults for its cells (a T cell
is smaller and faster than a tumour cell); the keys stay the same for every kind.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ExchangeSpec(_Spec):
    """Secretion toward a target, release and uptake of one field by one cell (BioFVM)."""

    rate: float = Field(0.0, ge=0, description="secretion rate [1/min]")
    target: float = Field(0.0, ge=0, description="saturation density [field units]")
    uptake: float = Field(0.0, ge=0, description="uptake rate [1/min]")
    release: float = Field(
        0.0, ge=0, description="amount released per cell [field units · µm³/min]"
    )


class ChemotaxisSpec(_Spec):
    field: str
    bias: float = Field(
        0.5, ge=0, le=1, description="drift fraction: mean speed up the gradient = bias × speed"
    )


class BodySpec(_Spec):
    """The keys of ``[cells.kinds.<name>]`` besides ``model`` and ``params``."""

    radius: float = Field(8.412, gt=0, description="cell radius [µm] (PhysiCell volume 2494 µm³)")
    repulsion: float = Field(10.0, ge=0, description="cell-cell repulsion [µm/min]")
    adhesion: float = Field(0.4, ge=0, description="cell-cell adhesion [µm/min]")
    adhesion_distance: float = Field(
        1.25, ge=1, description="max adhesion distance relative to r_i + r_j"
    )
    speed: float = Field(0.0, ge=0, description="motility speed [µm/min]")
    persistence: float = Field(10.0, gt=0, description="persistence time [min]")
    chemotaxis: ChemotaxisSpec | None = None
    exchange: dict[str, ExchangeSpec] = Field(
        default_factory=dict, description="secretion/uptake per field in every living state"
    )
    state_exchange: dict[str, dict[str, ExchangeSpec]] = Field(
        default_factory=dict,
        description="per state name: secretion/uptake per field replacing `exchange` there",
    )
