"""Study files: TOML validated by frozen pydantic models, with one-line errors naming the key.

A study names a base scenario, the seeds, the arms (named sets of overrides) and the
parameters to vary (grids of values and random or Latin-hypercube samples), all as
``--set``-style dotted keys of the scenario. Every member of a study is
``scenario + set + arm.set + varied values + run.seed``; see ``docs/STUDY.md``.
"""

from __future__ import annotations

import os
import re
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..inputs import InputError, read_toml

#: arm names become folder names: letters, digits, ``_``, ``-`` and ``.``
ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_ARM = "base"


class StudyError(ValueError):
    """A study that cannot run; ``str()`` is the one-line message shown to users."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SeedRange(_Spec):
    """``seeds = { start = 1, count = 4 }`` → seeds 1, 2, 3, 4."""

    start: int = Field(1, ge=0, description="first seed")
    count: int = Field(description="number of seeds")


class ArmSpec(_Spec):
    """A named set of overrides applied to every member of the arm."""

    description: str = ""
    set: list[str] = Field(default_factory=list, description="KEY=VALUE overrides")


class VarySpec(_Spec):
    """One varied key: a list of ``values``, or ``num`` points from ``start`` to ``stop``."""

    key: str = Field(description="dotted scenario key, as for --set")
    values: list[Any] | None = Field(None, description="the values to try (any TOML value)")
    start: float | None = Field(None, description="first grid point")
    stop: float | None = Field(None, description="last grid point (included)")
    num: int | None = Field(None, description="number of grid points")
    scale: Literal["linear", "log"] = Field("linear", description="grid spacing")


class SampleParamSpec(_Spec):
    """One sampled key, drawn in ``[low, high]``."""

    key: str = Field(description="dotted scenario key")
    low: float = Field(description="lower bound")
    high: float = Field(description="upper bound")
    scale: Literal["linear", "log"] = Field("linear", description="uniform in value or log")
    integer: bool = Field(False, description="round to whole numbers")


class SampleSpec(_Spec):
    """Random or Latin-hypercube points in a box of parameters."""

    method: Literal["random", "lhs"] = Field("lhs", description="sampling design")
    count: int = Field(description="number of points")
    seed: int = Field(0, ge=0, description="seed of the design (not of the runs)")
    params: list[SampleParamSpec] = Field(description="the sampled keys")


class FitParamSpec(_Spec):
    """One fitted key and its search interval."""

    key: str = Field(description="dotted scenario key")
    low: float = Field(description="lower bound")
    high: float = Field(description="upper bound")
    scale: Literal["linear", "log"] = Field("log", description="search in value or log")
    num: int = Field(5, ge=2, description="grid points (sampler = 'grid' only)")


class FitSpec(_Spec):
    """Calibration of ``params`` to a target table (``spatialtumor study fit``)."""

    target: str | None = Field(None, description="CSV/Parquet target table, relative path")
    columns: list[str] = Field(description="time-series columns compared with the target")
    time_column: str = Field("time_min", description="time column of the target [min]")
    loss: Literal["sse", "relative", "log"] = Field("log", description="misfit per point")
    arm: str | None = Field(None, description="arm whose overrides apply (default: first)")
    seeds: list[int] | None = Field(None, description="seeds per trial (default: the study's)")
    trials: int = Field(20, ge=1, description="number of trials")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna sampler")
    seed: int = Field(0, ge=0, description="seed of the sampler")
    batch: int = Field(0, ge=0, description="trials run at once (0 = one per job)")
    params: list[FitParamSpec] = Field(description="the fitted keys")


class StudySpec(_Spec):
    title: str = ""
    description: str = ""
    scenario: str = Field(description="base scenario: a path relative to the study or a name")
    set: list[str] = Field(default_factory=list, description="overrides for every member")
    seeds: list[int] | SeedRange = Field([1], description="a list, or {start, count}")
    backend: Literal["auto", "numpy", "cupy"] = "auto"
    precision: Literal["auto", "float32", "float64"] | None = None
    arms: dict[str, ArmSpec] = Field(default_factory=dict)
    vary: list[VarySpec] = Field(default_factory=list)
    sample: SampleSpec | None = None
    fit: FitSpec | None = None

    def seed_list(self) -> list[int]:
        """The seeds, in order."""
        s = self.seeds
        if isinstance(s, SeedRange):
            return list(range(s.start, s.start + s.count))
        return list(s)

    def arm_items(self) -> list[tuple[str, ArmSpec]]:
        """(name, arm) pairs in file order; one arm named ``base`` when none is given."""
        return list(self.arms.items()) or [(DEFAULT_ARM, ArmSpec())]


# --- reading ---------------------------------------------------------------------------


def read_study_spec(path: str | os.PathLike) -> StudySpec:
    """Read and validate a study file (structure only; keys are checked by ``load_study``).

    Raises
    ------
    StudyError
        naming the file and the first wrong key.
    """
    source = str(path)
    try:
        raw = read_toml(path)
    except InputError as exc:
        raise StudyError(source, "", exc.message) from None
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise first_error(exc, source) from None
    check_spec(spec, source)
    return spec


def check_spec(spec: StudySpec, source: str) -> None:
    """Checks pydantic cannot express: empty ranges, exclusive choices, names."""
    seeds = spec.seed_list()
    if not seeds:
        raise StudyError(source, "seeds", "is empty; give at least one seed")
    if any(s < 0 for s in seeds):
        raise StudyError(source, "seeds", f"seeds must be >= 0, got {seeds}")
    if len(set(seeds)) != len(seeds):
        raise StudyError(source, "seeds", f"repeated seeds in {seeds}")
    for name in spec.arms:
        if not ARM_NAME.match(name):
            raise StudyError(
                source, f"arms.{name}", "arm names use letters, digits, '_', '-' and '.' only"
            )
    keys: list[tuple[str, str]] = []
    for i, v in enumerate(spec.vary):
        where = f"vary.{i}"
        keys.append((f"{where}.key", v.key))
        grid = (v.start, v.stop, v.num)
        if v.values is not None:
            if any(g is not None for g in grid):
                raise StudyError(source, where, "give either values or start/stop/num, not both")
            if not v.values:
                raise StudyError(source, f"{where}.values", "is empty; give at least one value")
            for j, value in enumerate(v.values):
                if not _plain_value(value):
                    raise StudyError(
                        source,
                        f"{where}.values.{j}",
                        "values must be numbers, strings, booleans or lists of them",
                    )
        else:
            missing = [n for n, g in zip(("start", "stop", "num"), grid, strict=True) if g is None]
            if missing:
                raise StudyError(
                    source, where, f"needs values, or start, stop and num (missing: {missing[0]})"
                )
            if v.num < 1:
                raise StudyError(source, f"{where}.num", f"empty range: num = {v.num}")
            if v.scale == "log" and (v.start <= 0 or v.stop <= 0):
                raise StudyError(source, where, "a log grid needs start > 0 and stop > 0")
    if spec.sample is not None:
        s = spec.sample
        if s.count < 1:
            raise StudyError(source, "sample.count", f"empty sample: count = {s.count}")
        if not s.params:
            raise StudyError(source, "sample.params", "is empty; give at least one key")
        for i, p in enumerate(s.params):
            keys.append((f"sample.params.{i}.key", p.key))
            _check_interval(p.low, p.high, p.scale, source, f"sample.params.{i}")
    seen: dict[str, str] = {}
    for where, key in keys:
        if key in seen:
            raise StudyError(source, where, f"{key} is already varied at {seen[key]}")
        seen[key] = where
    if spec.fit is not None:
        _check_fit(spec, source)


def _check_fit(spec: StudySpec, source: str) -> None:
    f = spec.fit
    assert f is not None
    if not f.columns:
        raise StudyError(source, "fit.columns", "is empty; name at least one column")
    if not f.params:
        raise StudyError(source, "fit.params", "is empty; give at least one key")
    if f.seeds is not None and not f.seeds:
        raise StudyError(source, "fit.seeds", "is empty; give at least one seed")
    if f.arm is not None and f.arm not in dict(spec.arm_items()):
        arms = ", ".join(n for n, _ in spec.arm_items())
        raise StudyError(source, "fit.arm", f"unknown arm {f.arm!r}; arms: {arms}")
    for i, p in enumerate(f.params):
        _check_interval(p.low, p.high, p.scale, source, f"fit.params.{i}")
    names = [p.key for p in f.params]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise StudyError(source, f"fit.params.{i}.key", f"{name} is listed twice")


def _check_interval(low: float, high: float, scale: str, source: str, where: str) -> None:
    if not high > low:
        raise StudyError(source, where, f"empty range: high ({high}) must exceed low ({low})")
    if scale == "log" and low <= 0:
        raise StudyError(source, f"{where}.low", "a log scale needs low > 0")


def _plain_value(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_plain_value(v) for v in value)
    return False


# --- pydantic errors → one line ----------------------------------------------------------


def first_error(exc: ValidationError, source: str) -> StudyError:
    """The first validation error as a :class:`StudyError` naming its dotted key."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    keys = [str(p) for p in loc if not _is_type_tag(p)]
    etype = err["type"]
    if etype == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        msg = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif etype == "missing":
        msg = "required key is missing"
    else:
        got = err.get("input")
        shown = "a table" if isinstance(got, dict) else repr(got)
        msg = f"{str(err['msg']).removeprefix('Value error, ')} (got {shown})"
    return StudyError(source, ".".join(keys), msg)


def _is_type_tag(part: Any) -> bool:
    return isinstance(part, str) and (
        part in ("float", "int", "str", "bool", "list", "dict")
        or "[" in part
        or part.endswith("Spec")
        or part == "SeedRange"
    )


def _allowed_keys(loc: tuple) -> list[str]:
    """Keys allowed in the table at ``loc`` of a study file."""
    node: Any = StudySpec
    for part in loc:
        if _is_type_tag(part) or isinstance(part, int):
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return []
        info = node.model_fields.get(str(part))
        if info is None:  # a dict key (an arm name)
            continue
        node = _model_in(info.annotation)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return sorted(node.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
