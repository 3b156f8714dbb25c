"""Scenario tables for cells: kinds (selected by ``model``), their parameters, placements."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from .spec_errors import SpecKeyError, validate_table

if TYPE_CHECKING:  # pragma: no cover
    from .scenario import ScenarioSpec


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Vec3 = tuple[float, float, float]


class KindSpec(BaseModel):
    """One resolved ``[cells.kinds.<name>]`` table: the model, its body and its parameters.

    Written back (resolved scenarios, output files) as one flat table:
    ``model``, the body keys, and ``params``.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: str
    body: Any
    params: Any

    @model_serializer(mode="plain")
    def _flat(self, info):
        mode = "json" if info.mode_is_json() else "python"
        out = {"model": self.model}
        out.update(self.body.model_dump(mode=mode))
        out["params"] = self.params.model_dump(mode=mode)
        return out

    @property
    def kind_class(self):
        from .biology import KINDS

        return KINDS.get(self.model)


def resolve_kind(name: str, table: Any) -> KindSpec:
    """Validate one kind table: ``model`` selects the plug-in, which validates the rest."""
    from .biology import KINDS

    key = f"cells.kinds.{name}"
    if not isinstance(table, dict):
        raise SpecKeyError(key, "expected a table")
    models = ", ".join(KINDS.models())
    if "model" not in table:
        raise SpecKeyError(f"{key}.model", f"required key is missing; models: {models}")
    model = table["model"]
    if not isinstance(model, str) or model not in KINDS:
        raise SpecKeyError(f"{key}.model", f"unknown model {model!r}; models: {models}")
    cls = KINDS.get(model)
    body = {k: v for k, v in table.items() if k not in ("model", "params")}
    params = table.get("params", {})
    if not isinstance(params, dict):
        raise SpecKeyError(f"{key}.params", "expected a table")
    return KindSpec(
        model=model,
        body=validate_table(cls.Body, body, key),
        params=validate_table(cls.Params, params, f"{key}.params"),
    )


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

    @field_validator("kinds", mode="before")
    @classmethod
    def _resolve_kinds(cls, raw):
        if not isinstance(raw, dict):
            return raw
        return {
            name: (k if isinstance(k, KindSpec) else resolve_kind(str(name), k))
            for name, k in raw.items()
        }

    def cross_check(self, spec: ScenarioSpec, source: str) -> None:
        from .cells.kinds import CheckContext, KindError
        from .scenario import ScenarioError

        fields = spec.fields
        known = ", ".join(fields) or "none"
        ctx = CheckContext(
            fields={n: f.units for n, f in fields.items()},
            kinds={n: k.kind_class for n, k in self.kinds.items()},
            vessels=len(spec.vessels),
            compartments={n: c.model_class.outputs for n, c in spec.compartments.items()},
        )
        for name, k in self.kinds.items():
            key = f"cells.kinds.{name}"
            body = k.body
            tables = [(f"{key}.exchange", body.exchange)] + [
                (f"{key}.state_exchange.{s}", t) for s, t in body.state_exchange.items()
            ]
            for prefix, table in tables:
                for f in table:
                    if f not in fields:
                        raise ScenarioError(
                            source, f"{prefix}.{f}", f"unknown field {f!r}; fields: {known}"
                        )
            states = k.kind_class.states
            for s in body.state_exchange:
                if s not in states:
                    raise ScenarioError(
                        source,
                        f"{key}.state_exchange.{s}",
                        f"model {k.model!r} has no state {s!r}; states: {', '.join(states)}",
                    )
            if body.chemotaxis is not None and body.chemotaxis.field not in fields:
                raise ScenarioError(
                    source,
                    f"{key}.chemotaxis.field",
                    f"unknown field {body.chemotaxis.field!r}; fields: {known}",
                )
            try:
                k.kind_class.check(name, k.params, body, ctx)
            except KindError as exc:
                raise ScenarioError(source, f"{key}.{exc.key}", exc.message) from None
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
        # inside the domain, not too many, CSV contents: what building the run would find
        from .cells_check import PlacementError, check_placements

        try:
            check_placements(spec, source)
        except PlacementError as exc:
            raise ScenarioError(source, exc.key, exc.message) from None

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
