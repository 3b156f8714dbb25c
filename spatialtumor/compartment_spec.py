"""Scenario tables of compartments: ``[compartments.<name>] model = "..."`` and ``params``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer

from .spec_errors import SpecKeyError, validate_table


class CompartmentSpec(BaseModel):
    """One resolved compartment table; written back flat (``model`` and ``params``)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: str
    params: Any

    @model_serializer(mode="plain")
    def _flat(self, info):
        mode = "json" if info.mode_is_json() else "python"
        return {"model": self.model, "params": self.params.model_dump(mode=mode)}

    @property
    def model_class(self):
        from .biology import COMPARTMENTS

        return COMPARTMENTS.get(self.model)


def resolve_compartments(raw: Any) -> Any:
    """Validate every ``[compartments.<name>]`` table (before-validator of the scenario)."""
    from .biology import COMPARTMENTS

    if not isinstance(raw, dict):
        return raw
    out = {}
    models = ", ".join(COMPARTMENTS.models())
    for name, table in raw.items():
        key = f"compartments.{name}"
        if isinstance(table, CompartmentSpec):
            out[name] = table
            continue
        if not isinstance(table, dict):
            raise SpecKeyError(key, "expected a table")
        extra = sorted(set(table) - {"model", "params"})
        if extra:
            raise SpecKeyError(f"{key}.{extra[0]}", "unknown key; allowed: model, params")
        model = table.get("model")
        if model is None:
            raise SpecKeyError(f"{key}.model", f"required key is missing; models: {models}")
        if not isinstance(model, str) or model not in COMPARTMENTS:
            raise SpecKeyError(f"{key}.model", f"unknown model {model!r}; models: {models}")
        cls = COMPARTMENTS.get(model)
        params = validate_table(cls.Params, table.get("params", {}), f"{key}.params")
        out[name] = CompartmentSpec(model=model, params=params)
    return out
