"""One-line messages for pydantic validation errors: the dotted key and what is wrong.

Shared by scenario files and the kinds' parameter tables, so every mistake reads alike:
``fields.oxygen.difusivity: unknown key; allowed: boundary, decay, …``.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError


class SpecKeyError(Exception):
    """A value that cannot be used, found while validating: ``key`` is the full dotted key.

    Raised from validators (it is no ValueError, so pydantic lets it through) and turned
    into a one-line scenario error naming the file.
    """

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


def describe_error(exc: ValidationError, model: type[BaseModel], prefix: str = ""):
    """``(key, message)`` of the first error of ``exc`` raised validating ``model``.

    ``prefix`` (e.g. ``cells.kinds.t8.params``) is put in front of the key.
    """
    errors = exc.errors()
    # a misspelt key also makes the right one "missing": report the misspelling
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    # pydantic appends the union member / tag to the location; keep only real keys
    keys = [str(p) for p in loc if not _is_type_tag(p)]
    key = ".".join(([prefix] if prefix else []) + keys)
    etype = err["type"]
    if etype == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        msg = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif etype == "missing":
        msg = "required key is missing"
    else:
        got = err.get("input")
        shown = repr(got) if not isinstance(got, dict) else "a table"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        text = err["msg"].removeprefix("Value error, ")
        msg = f"{text} (got {shown})"
    return key, msg


def validate_table(model: type[BaseModel], data: Any, prefix: str):
    """``model.model_validate(data)``, or :class:`SpecKeyError` naming the full key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecKeyError(*describe_error(exc, model, prefix)) from None


def _is_type_tag(part) -> bool:
    return isinstance(part, str) and (
        part in ("float", "int", "str", "bool") or "[" in part or part.endswith("Spec")
    )


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Keys allowed in the table at ``loc``, found by walking the model tree."""
    node: Any = model
    for part in loc:
        if _is_type_tag(part):
            continue
        if isinstance(node, tuple):  # ("dict" | "list", inner model): part is a key / index
            node = node[1]
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return []
        info = node.model_fields.get(str(part))
        if info is None:
            return []
        node = _model_in(info.annotation)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return sorted(node.model_fields)
    return []


def _model_in(annotation):
    """The model inside an annotation: a model, ("dict", model), ("list", model) or None."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        inner = _model_in(args[1])
        return ("dict", inner) if inner is not None else None
    if origin is list and args:
        inner = _model_in(args[0])
        return ("list", inner) if inner is not None else None
    for a in args:
        m = _model_in(a)
        if m is not None:
            return m
    return None
