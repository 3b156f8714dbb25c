"""A study's members: every (arm, design point, seed), checked against the base scenario.

A member is a pure function of ``(scenario, overrides, seed, backend)``. Its id is
``<arm>-s<seed>-<digest>``, the digest being a hash of the member's resolved scenario
(every value, defaults included, ``run.seed`` among them), so the same member always maps
to the same run folder and a changed member to a new one.
"""

from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from ..inputs import InputError, read_toml
from ..scenario import Scenario, ScenarioError, resolve_path, scenario_from_dict
from .design import design_points, grid_values
from .spec import StudyError, StudySpec, read_study_spec

DIGEST_CHARS = 10


@dataclass(frozen=True)
class Member:
    """One run of a study.

    Attributes
    ----------
    index : position in the study (arms × design points × seeds, in that order)
    id : folder name, ``<arm>-s<seed>-<digest>``
    arm : arm name
    seed : random seed of the run
    params : varied key → value
    overrides : every ``KEY=VALUE`` applied to the base scenario, in order
    """

    index: int
    id: str
    arm: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Study:
    """A validated study: its file, base scenario and members."""

    spec: StudySpec
    source: Path
    scenario_path: Path
    scenario_raw: dict[str, Any]
    members: tuple[Member, ...]
    param_keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.source.stem

    @property
    def arms(self) -> list[str]:
        return [name for name, _ in self.spec.arm_items()]

    def arm_overrides(self, arm: str) -> list[str]:
        """The study's ``set`` followed by the arm's ``set``."""
        arms = dict(self.spec.arm_items())
        return list(self.spec.set) + list(arms[arm].set)

    def describe(self) -> str:
        """``12 members (3 arms × 1 point × 4 seeds)``."""
        n_arms, n_seeds = len(self.arms), len(self.spec.seed_list())
        points = len(self.members) // max(n_arms * n_seeds, 1)
        return (
            f"{len(self.members)} members ({n_arms} arm{'s' * (n_arms != 1)} × "
            f"{points} point{'s' * (points != 1)} × {n_seeds} seed{'s' * (n_seeds != 1)})"
        )


def toml_value(value: Any) -> str:
    """A value as TOML text for a ``KEY=VALUE`` override (``0.1``, ``"lod"``, ``[1, 2]``)."""
    return tomli_w.dumps({"v": value}).strip()[len("v = ") :]


def override(key: str, value: Any) -> str:
    return f"{key}={toml_value(value)}"


def member_id(arm: str, seed: int, scenario: Scenario) -> str:
    """``<arm>-s<seed>-<digest of the resolved scenario>``."""
    digest = hashlib.sha256(scenario.resolved_toml().encode("utf-8")).hexdigest()
    return f"{arm}-s{seed}-{digest[:DIGEST_CHARS]}"


def resolve_scenario_path(spec: StudySpec, source: Path) -> Path:
    """The base scenario: a path relative to the study file, else a shipped name."""
    rel = (source.parent / spec.scenario).resolve()
    if rel.is_file():
        return rel
    try:
        return resolve_path(spec.scenario).resolve()
    except ScenarioError as exc:
        raise StudyError(str(source), "scenario", f"{spec.scenario}: {exc.message}") from None


def load_study(path: str | os.PathLike) -> Study:
    """Read a study file, check every key against its base scenario, expand the members.

    Raises
    ------
    StudyError
        one line naming the study file and the key (``vary.0.key: ...``).
    """
    source = Path(path)
    spec = read_study_spec(source)
    src = str(source)
    scenario_path = resolve_scenario_path(spec, source)
    try:
        raw = read_toml(scenario_path)
        scenario_from_dict(raw, str(scenario_path))
    except ScenarioError as exc:
        raise StudyError(src, "scenario", str(exc)) from None
    except InputError as exc:
        raise StudyError(src, "scenario", f"{scenario_path}: {exc.message}") from None
    checker = _Checker(raw, str(scenario_path), src)
    base = checker.overrides([], spec.set, "set")
    for name, arm in spec.arm_items():
        checker.overrides(base, arm.set, f"arms.{name}.set")
    for i, v in enumerate(spec.vary):
        values = grid_values(v)
        checker.key(base, v.key, f"vary.{i}.key", override(v.key, values[0]))
        for j, value in enumerate(values):
            if value in values[:j]:
                raise StudyError(src, f"vary.{i}.values.{j}", f"repeated value {value!r}")
            where = f"vary.{i}.values.{j}" if v.values is not None else f"vary.{i}"
            checker.value(base, v.key, value, where)
    if spec.sample is not None:
        for i, p in enumerate(spec.sample.params):
            checker.key(base, p.key, f"sample.params.{i}.key", override(p.key, p.low))
            for bound in ("low", "high"):
                value = getattr(p, bound)
                value = int(round(value)) if p.integer else value
                checker.value(base, p.key, value, f"sample.params.{i}.{bound}")
    if spec.fit is not None:
        for i, p in enumerate(spec.fit.params):
            checker.key(base, p.key, f"fit.params.{i}.key", override(p.key, p.low))
            for bound in ("low", "high"):
                checker.value(base, p.key, getattr(p, bound), f"fit.params.{i}.{bound}")
    points = design_points(spec.vary, spec.sample)
    param_keys = tuple(points[0]) if points else ()
    members: list[Member] = []
    seen: dict[str, int] = {}
    for name, arm in spec.arm_items():
        for point in points:
            for seed in spec.seed_list():
                index = len(members)
                m = checker.member(index, name, base + list(arm.set), point, seed)
                if m.id in seen:
                    raise StudyError(
                        src, "", f"members {seen[m.id]} and {index} are the same run ({m.id})"
                    )
                seen[m.id] = index
                members.append(m)
    return Study(
        spec=spec,
        source=source,
        scenario_path=scenario_path,
        scenario_raw=raw,
        members=tuple(members),
        param_keys=param_keys,
    )


def make_member(
    study: Study, index: int, arm: str, params: dict[str, Any], seed: int, prefix: str = ""
) -> Member:
    """A member outside the study's own list (fit trials, synthetic targets).

    ``prefix`` replaces the arm name in the id (e.g. ``fit``), so these runs never mix
    with the study's own members.
    """
    checker = _Checker(study.scenario_raw, str(study.scenario_path), str(study.source))
    return checker.member(index, arm, study.arm_overrides(arm), params, seed, prefix=prefix)


class _Checker:
    """Applies overrides to the base scenario and turns scenario errors into study errors."""

    def __init__(self, raw: dict[str, Any], scenario_source: str, study_source: str):
        self.raw = raw
        self.scn_source = scenario_source
        self.src = study_source

    def _try(self, overrides: list[str]) -> Scenario | ScenarioError:
        try:
            return scenario_from_dict(self.raw, self.scn_source, overrides)
        except ScenarioError as exc:
            return exc

    def _fail(self, where: str, exc: ScenarioError, prefix: str = "") -> StudyError:
        msg = f"{exc.key}: {exc.message}" if exc.key else exc.message
        return StudyError(self.src, where, prefix + msg)

    def overrides(self, base: list[str], items: list[str], where: str) -> list[str]:
        """``base + items`` after checking each item in turn."""
        out = list(base)
        for j, item in enumerate(items):
            out.append(item)
            got = self._try(out)
            if isinstance(got, ScenarioError) and "=" in item:
                self.key(out[:-1], item.split("=", 1)[0].strip(), f"{where}.{j}", item)
            if isinstance(got, ScenarioError):
                raise self._fail(f"{where}.{j}", got)
        return out

    def key(self, base: list[str], key: str, where: str, item: str | None = None) -> None:
        """The key must name a value of the resolved scenario.

        A key the resolved scenario lacks (an optional table left out) is accepted only
        when ``item`` (``KEY=VALUE``) makes a valid scenario.
        """
        got = self._try(base)
        assert not isinstance(got, ScenarioError)
        resolved = got.resolved()
        node: Any = resolved
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                if item is not None and not isinstance(self._try(base + [item]), ScenarioError):
                    return
                parent = ".".join(parts[:depth]) or "the scenario"
                has = sorted(node) if isinstance(node, dict) else []
                if isinstance(node, list):
                    listed = f"; {parent} has items 0..{len(node) - 1}"
                elif has:
                    listed = f"; {parent} has: {', '.join(has)}"
                else:
                    listed = ""
                raise StudyError(self.src, where, f"{key}: not a key of the scenario{listed}")

    def value(self, base: list[str], key: str, value: Any, where: str) -> None:
        got = self._try(base + [override(key, value)])
        if isinstance(got, ScenarioError):
            shown = f"{key} = {toml_value(value)}"
            if got.key == key:
                raise StudyError(self.src, where, f"{shown}: {got.message}")
            raise self._fail(where, got, prefix=f"{shown}: ")

    def member(
        self,
        index: int,
        arm: str,
        base: list[str],
        params: dict[str, Any],
        seed: int,
        prefix: str = "",
    ) -> Member:
        overrides = tuple(base + [override(k, v) for k, v in params.items()])
        overrides += (f"run.seed={int(seed)}",)
        got = self._try(list(overrides))
        if isinstance(got, ScenarioError):
            shown = ", ".join(f"{k}={toml_value(v)}" for k, v in params.items())
            where = f"member {index} (arm {arm}, seed {seed}" + (f", {shown})" if shown else ")")
            raise self._fail(where, got)
        return Member(
            index=index,
            id=member_id(prefix or arm, seed, got),
            arm=arm,
            seed=int(seed),
            params=copy.deepcopy(params),
            overrides=overrides,
        )
