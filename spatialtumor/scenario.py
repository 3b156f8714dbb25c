"""Scenario files: TOML validated by frozen pydantic models, with clear one-line errors.

A scenario error always names the file and the dotted key, e.g.
``scenarios/x.toml: fields.oxygen.difusivity: unknown key; allowed: boundary, decay, ...``.
"""

from __future__ import annotations

import copy
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .cells_spec import CellsSpec
from .clock import Clock
from .compartment_spec import CompartmentSpec, resolve_compartments
from .doses import TherapySpec, check_doses
from .inputs import MAX_DEPTH, InputError, check_depth, parse_value, read_toml
from .limits import MAX_MAGNITUDE, MAX_SEED, MIN_SPACING, duration_steps, first_out_of_range
from .spec_errors import SpecKeyError, describe_error
from .transport import explicit_stability_limit

FACE_NAMES = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
BUILTIN_DEFAULT = "default"


class ScenarioError(Exception):
    """A scenario that cannot run; ``str()`` is the one-line message shown to users."""

    def __init__(self, source: str, key: str, message: str):
        source, key, message = one_line(source), one_line(key, 200), one_line(message, 2000)
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` with control characters escaped (``\\n``), cut to ``limit`` characters."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


class Spec(BaseModel):
    """Base of every scenario table: immutable, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Number = float
Vec3 = tuple[float, float, float]


class RunSpec(Spec):
    stop: float = Field(1440.0, gt=0, description="simulated duration [min]")
    seed: int = Field(1, ge=0, le=MAX_SEED, description="random seed")
    precision: Literal["auto", "float32", "float64"] = Field(
        "auto", description="working precision; auto = float32 on GPU, float64 on CPU"
    )


class ClockSpec(Spec):
    dt_diffusion: float = Field(0.1, gt=0, description="diffusion step [min]")
    dt_mechanics: float = Field(0.1, gt=0, description="mechanics step [min]")
    dt_phenotype: float = Field(6.0, gt=0, description="phenotype step [min]")


class GridSpec(Spec):
    nx: int = Field(gt=0, description="voxels along x")
    ny: int = Field(gt=0, description="voxels along y")
    nz: int = Field(gt=0, description="voxels along z")
    spacing: float | Vec3 = Field(20.0, description="voxel edge [µm], or (dx, dy, dz)")
    origin: Vec3 | None = Field(
        None, description="lower corner (x, y, z) [µm]; default centres the domain on 0"
    )

    @field_validator("spacing")
    @classmethod
    def _positive(cls, v):
        vals = v if isinstance(v, tuple) else (v,)
        if any(not s >= MIN_SPACING for s in vals):
            raise ValueError(f"must be >= {MIN_SPACING} µm")
        return v

    @property
    def spacing_xyz(self) -> Vec3:
        s = self.spacing
        return tuple(s) if isinstance(s, tuple) else (s, s, s)

    @property
    def origin_xyz(self) -> Vec3:
        if self.origin is not None:
            return self.origin
        sp = self.spacing_xyz
        return (-sp[0] * self.nx / 2, -sp[1] * self.ny / 2, -sp[2] * self.nz / 2)

    @property
    def voxels(self) -> int:
        return self.nx * self.ny * self.nz


class FaceBoundarySpec(Spec):
    """Per-face boundary: a number is a Dirichlet wall value, "zero_flux" a closed wall."""

    x_min: float | Literal["zero_flux"] = "zero_flux"
    x_max: float | Literal["zero_flux"] = "zero_flux"
    y_min: float | Literal["zero_flux"] = "zero_flux"
    y_max: float | Literal["zero_flux"] = "zero_flux"
    z_min: float | Literal["zero_flux"] = "zero_flux"
    z_max: float | Literal["zero_flux"] = "zero_flux"


class NeutraliserSpec(Spec):
    """``neutralised_by = { field = "anti_tnf", rate = k }``: the field is removed at
    ``k a`` [1/min] where the drug field holds ``a``."""

    field: str = Field(description="the neutralising drug's field")
    rate: float = Field(gt=0, description="second-order binding rate k [1/(drug units·min)]")


class FieldSpec(Spec):
    preset: str | None = Field(
        None, description="named species whose diffusivity, decay and units are the defaults"
    )
    diffusivity: float = Field(ge=0, description="D [µm²/min]")
    decay: float = Field(0.0, ge=0, description="first-order decay λ [1/min]")
    initial: float = Field(0.0, ge=0, description="initial concentration [units]")
    units: str = Field("dimensionless", description="concentration units")
    boundary: float | Literal["zero_flux"] | FaceBoundarySpec = Field(
        "zero_flux", description="Dirichlet value on all faces, 'zero_flux', or a table per face"
    )
    solver: Literal["lod", "explicit"] = "lod"
    neutralised_by: NeutraliserSpec | None = Field(
        None, description="a drug field that binds and removes this one (e.g. an anti-TNF-α)"
    )

    def face_values(self) -> tuple[float | None, ...]:
        """Dirichlet value per face (x_min … z_max), None for zero flux."""
        b = self.boundary
        if isinstance(b, FaceBoundarySpec):
            vals = [getattr(b, f) for f in FACE_NAMES]
        else:
            vals = [b] * 6
        return tuple(None if v == "zero_flux" else float(v) for v in vals)


class SourceSpec(Spec):
    """A fixed region releasing or consuming one field (see ``RegionSource``)."""

    field: str
    shape: Literal["sphere", "box"] = "sphere"
    centre: Vec3 = (0.0, 0.0, 0.0)
    radius: float = Field(0.0, ge=0, description="[µm]")
    lower: Vec3 = (0.0, 0.0, 0.0)
    upper: Vec3 = (0.0, 0.0, 0.0)
    release: float = Field(0.0, ge=0, description="[units/min]")
    rate: float = Field(0.0, ge=0, description="secretion rate toward target [1/min]")
    target: float = Field(0.0, ge=0, description="[units]")
    uptake: float = Field(0.0, ge=0, description="[1/min]")


class VesselSpec(Spec):
    """Voxels that are blood vessels (entry sites of recruited cells): a sphere, a box, or
    a random fraction of the voxels (inside a box when ``lower``/``upper`` are given)."""

    shape: Literal["sphere", "box", "random"] = "sphere"
    centre: Vec3 = (0.0, 0.0, 0.0)
    radius: float = Field(0.0, ge=0, description="[µm]")
    lower: Vec3 | None = Field(None, description="box lower corner [µm]")
    upper: Vec3 | None = Field(None, description="box upper corner [µm]")
    fraction: float = Field(
        0.01, ge=0, le=1, description="share of the voxels that are vessels (random)"
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the random vessel layout (random)")

    @model_validator(mode="after")
    def _box(self):
        if self.shape == "box" and (self.lower is None or self.upper is None):
            raise ValueError("a box of vessels needs lower and upper")
        return self


class OutputSpec(Spec):
    every: float = Field(60.0, gt=0, description="snapshot interval [min]")
    checkpoint_every: float = Field(
        720.0, ge=0, description="checkpoint interval [min]; 0 = only at the end"
    )
    compression: bool = Field(False, description="gzip the datasets (smaller, slower)")


class BlowupSpec(Spec):
    """The check that stops a run whose fields or cell columns blow up (see ``guard.py``)."""

    check: bool = Field(True, description="check for values that blow up; false: never")
    every: float = Field(
        6.0, gt=0, description="simulated time between checks [min]; also before each snapshot"
    )
    limit: float = Field(
        MAX_MAGNITUDE,
        gt=0,
        description="largest magnitude a field or a float cell column may reach [its units]",
    )


class ScenarioSpec(Spec):
    title: str = ""
    description: str = ""
    run: RunSpec = RunSpec()
    clock: ClockSpec = ClockSpec()
    grid: GridSpec
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    sources: list[SourceSpec] = Field(default_factory=list)
    vessels: list[VesselSpec] = Field(default_factory=list)
    compartments: dict[str, CompartmentSpec] = Field(default_factory=dict)
    cells: CellsSpec | None = None
    therapy: TherapySpec = TherapySpec()
    output: OutputSpec = OutputSpec()
    blowup: BlowupSpec = BlowupSpec()

    @field_validator("compartments", mode="before")
    @classmethod
    def _compartments(cls, raw):
        return resolve_compartments(raw)

    @field_validator("fields", mode="before")
    @classmethod
    def _presets(cls, raw):
        from .species_presets import PRESETS, apply_preset

        if not isinstance(raw, dict):
            return raw
        out = {}
        for name, table in raw.items():
            if isinstance(table, dict) and "preset" in table:
                p = table["preset"]
                if not isinstance(p, str) or p not in PRESETS:
                    raise SpecKeyError(
                        f"fields.{name}.preset",
                        f"unknown preset {p!r}; presets: {', '.join(sorted(PRESETS))}",
                    )
                table = apply_preset(p, table)
            out[name] = table
        return out

    @model_validator(mode="after")
    def _has_fields(self):
        if not self.fields and self.cells is None:
            raise ValueError("a scenario needs at least one field or cells")
        return self


class Scenario:
    """A validated scenario with where it came from."""

    def __init__(self, spec: ScenarioSpec, source: str, raw: dict[str, Any]):
        self.spec = spec
        self.source = source
        self.raw = raw
        self.warnings: list[str] = accuracy_warnings(spec, source)

    @property
    def name(self) -> str:
        return Path(self.source).stem

    def resolved(self) -> dict[str, Any]:
        """Every value, defaults included, as plain TOML-able data."""
        data = _drop_none(self.spec.model_dump(mode="json"))
        data["grid"]["origin"] = list(self.spec.grid.origin_xyz)
        return data

    def resolved_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.resolved())


# --- loading ---------------------------------------------------------------------------


def shipped_scenarios() -> dict[str, Path]:
    """Scenario files shipped with the package (wheel) or the checkout, by name."""
    out: dict[str, Path] = {}
    for folder in _scenario_dirs():
        for p in sorted(folder.glob("*.toml")):
            out.setdefault(p.stem, p)
    return out


def _scenario_dirs() -> list[Path]:
    dirs = []
    try:
        pkg = resources.files("spatialtumor") / "scenarios"
        if pkg.is_dir():
            dirs.append(Path(str(pkg)))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover
        pass
    checkout = Path(__file__).resolve().parent.parent / "scenarios"
    if checkout.is_dir():
        dirs.append(checkout)
    return dirs


def resolve_path(name_or_path: str | os.PathLike | None) -> Path:
    """A file path, or the name of a shipped scenario (``None`` → the built-in default)."""
    if name_or_path is None:
        name_or_path = BUILTIN_DEFAULT
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = shipped_scenarios()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    raise ScenarioError(
        str(name_or_path),
        "",
        f"no such file, and no shipped scenario of that name "
        f"(shipped: {', '.join(sorted(shipped)) or 'none'})",
    )


def load_scenario(
    name_or_path: str | os.PathLike | None = None, overrides: list[str] | tuple = ()
) -> Scenario:
    """Read, override (``key.path=value``), validate and cross-check a scenario file."""
    path = resolve_path(name_or_path)
    source = str(path)
    try:
        raw = read_toml(path)
    except InputError as exc:
        raise ScenarioError(source, "", exc.message) from None
    return scenario_from_dict(raw, source, overrides)


def scenario_from_dict(raw: dict[str, Any], source: str, overrides=()) -> Scenario:
    """Validate and cross-check a scenario given as data (``overrides`` as for ``--set``)."""
    try:
        check_depth(raw)
    except InputError as exc:
        raise ScenarioError(source, "", exc.message) from None
    raw = copy.deepcopy(raw)
    for item in overrides:
        apply_override(raw, item, source)
    try:
        check_depth(raw)
    except InputError as exc:
        raise ScenarioError("--set", "", exc.message) from None
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc, source) from None
    except SpecKeyError as exc:
        raise ScenarioError(source, exc.key, exc.message) from None
    cross_check(spec, source)
    return Scenario(spec, source, raw)


def apply_override(raw: dict[str, Any], item: str, source: str = "--set") -> None:
    """Apply one ``dotted.key=value`` override; the value is parsed as TOML, else a string."""
    if "=" not in item:
        raise ScenarioError("--set", item, "expected KEY=VALUE, e.g. fields.oxygen.decay=0.2")
    key, text = item.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not all(p.strip() for p in parts):
        raise ScenarioError("--set", key, "a key is names joined by dots, e.g. fields.oxygen.decay")
    if len(parts) > MAX_DEPTH:
        raise ScenarioError("--set", key, f"more than {MAX_DEPTH} names deep")
    try:
        value = parse_value(text)
    except InputError as exc:
        raise ScenarioError("--set", key, exc.message) from None
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_list_index(node, part, ".".join(parts[: depth + 1]))]
            continue
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        elif not isinstance(nxt, (dict, list)):
            raise ScenarioError("--set", ".".join(parts[: depth + 1]), "is a value, not a table")
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, key)] = value
    else:
        node[last] = value


def _list_index(node: list, part: str, key: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError("--set", key, f"list index must be 0..{len(node) - 1}")
    return int(part)


def _first_error(exc: ValidationError, source: str) -> ScenarioError:
    return ScenarioError(source, *describe_error(exc, ScenarioSpec))


def cross_check(spec: ScenarioSpec, source: str) -> None:
    """Checks that span several keys: names, clocks, stability, memory."""
    bad = first_out_of_range(spec.model_dump())
    if bad is not None:
        raise ScenarioError(source, *bad)
    c = spec.clock
    try:
        Clock(c.dt_diffusion, c.dt_mechanics, c.dt_phenotype)
    except ValueError as exc:
        raise ScenarioError(source, "clock", str(exc)) from None
    steps = duration_steps(spec.run.stop, c.dt_diffusion)
    if isinstance(steps, str):
        raise ScenarioError(source, "run.stop", steps)
    for name, f in spec.fields.items():
        n = f.neutralised_by
        if n is not None and (n.field not in spec.fields or n.field == name):
            raise ScenarioError(
                source,
                f"fields.{name}.neutralised_by.field",
                f"needs another field of the scenario, not {n.field!r}; fields: {_names(spec)}",
            )
    for i, s in enumerate(spec.sources):
        if s.field not in spec.fields:
            raise ScenarioError(
                source, f"sources.{i}.field", f"unknown field {s.field!r}; fields: {_names(spec)}"
            )
    sp = spec.grid.spacing_xyz
    for name, f in spec.fields.items():
        if f.solver == "explicit":
            limit = explicit_stability_limit(f.diffusivity, sp, f.decay)
            if c.dt_diffusion > limit:
                raise ScenarioError(
                    source,
                    f"fields.{name}.solver",
                    f"explicit step unstable: clock.dt_diffusion = {c.dt_diffusion} min > "
                    f'{limit:.4g} min (1 / (2 D Σ 1/h²)); use solver = "lod" or a smaller step',
                )
    if spec.cells is not None:
        spec.cells.cross_check(spec, source)
    from .cells.kinds import CheckContext, KindError

    ctx = CheckContext(
        fields={n: f.units for n, f in spec.fields.items()},
        kinds={n: k.kind_class for n, k in (spec.cells.kinds.items() if spec.cells else ())},
        vessels=len(spec.vessels),
        compartments={n: c.model_class.outputs for n, c in spec.compartments.items()},
        domain=domain_corners(spec.grid),
        dirichlet_fields=tuple(
            n for n, f in spec.fields.items() if any(v is not None for v in f.face_values())
        ),
    )
    for name, c in spec.compartments.items():
        try:
            c.model_class.check(name, c.params, ctx)
        except KindError as exc:
            raise ScenarioError(source, f"compartments.{name}.{exc.key}", exc.message) from None
    bad = check_doses(spec.therapy, spec.compartments, spec.run.stop)
    if bad is None:
        from .pulses import check_pulses

        bad = check_pulses(spec.therapy.pulses, spec.fields, ctx.domain, spec.run.stop)
    if bad is None:
        from .cell_therapy import check_cell_therapies

        bad = check_cell_therapies(spec.therapy, ctx, spec.run.stop)
    if bad is not None:
        raise ScenarioError(source, *bad)
    need = estimate_bytes(spec, itemsize=4)
    have = host_memory_bytes()
    if need > have:
        raise ScenarioError(
            source,
            "grid",
            f"{spec.grid.nx}×{spec.grid.ny}×{spec.grid.nz} voxels × {len(spec.fields)} fields "
            f"needs about {need / 2**30:.1f} GiB even in float32, more than this machine's "
            f"{have / 2**30:.1f} GiB",
        )


def domain_corners(g: GridSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Lower and upper corners of the grid's domain [µm] (x, y, z)."""
    lower = tuple(float(v) for v in g.origin_xyz)
    n = (g.nx, g.ny, g.nz)
    upper = tuple(lo + k * h for lo, k, h in zip(lower, n, g.spacing_xyz, strict=True))
    return lower, upper


#: cells fill at most this fraction of a voxel (close packing), for the uptake estimate
PACKING = 0.74
#: dt·U above which the source/sink splitting error is worth a warning
SPLITTING_LIMIT = 0.25


def accuracy_warnings(spec: ScenarioSpec, source: str) -> list[str]:
    """Valid but inaccurate settings, one line each.

    The exchange step and the transport step are split (first order); their error grows
    with ``dt_diffusion · U``, U the largest uptake a voxel can see [1/min] (cells packed
    at 74 % of the voxel, or a fixed uptake region).
    """
    out = []
    dt = spec.clock.dt_diffusion
    for name in spec.fields:
        u = 0.0
        if spec.cells is not None:
            for k in spec.cells.kinds.values():
                tables = [k.body.exchange, *k.body.state_exchange.values()]
                for e in (t[name] for t in tables if name in t):
                    u = max(u, PACKING * (e.rate + e.uptake))
        for r in spec.sources:
            if r.field == name:
                u = max(u, r.rate + r.uptake)
        if dt * u > SPLITTING_LIMIT:
            out.append(
                f"{source}: clock.dt_diffusion: dt·U = {dt * u:.2g} for field {name!r} "
                f"(U up to {u:.3g} /min): the exchange/transport splitting error grows with it; "
                f"dt_diffusion <= {0.1 / u:.2g} min keeps dt·U <= 0.1"
            )
    return out


def _names(spec: ScenarioSpec) -> str:
    return ", ".join(spec.fields) or "none"


def estimate_bytes(spec: ScenarioSpec, itemsize: int) -> int:
    """Rough device bytes a run needs: fields + sources + uptake + scratch, and cells."""
    nf = max(len(spec.fields), 1)
    field_bytes = 4 * spec.grid.voxels * nf * itemsize
    cell_bytes = spec.cells.estimate_bytes(itemsize) if spec.cells is not None else 0
    return field_bytes + cell_bytes


def host_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 1 << 40


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
