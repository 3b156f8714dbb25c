"""Checkpoint integrity: the checksum over everything a checkpoint holds, and the structural
check of what it holds against the scenario stored in it.

A checkpoint is read into a :class:`Node` tree (attributes, datasets, groups) before anything
is restored. :func:`seal` (at write) and :func:`verify` (at read) compute the same digest of
the tree: the SHA-256 of a *manifest* listing every attribute (canonical JSON) and every
dataset (dtype, shape and the SHA-256 of its bytes), so a corrupted byte anywhere that
changes what is read is refused, while one that changes nothing read (free space, padding)
resumes to the same bits. :func:`check_contents` then checks the structure (every required
attribute and dataset, types, shapes against the stored scenario, finite values, step ≥ 0,
sizes), so an edited checkpoint whose checksum was recomputed is refused with one line too.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .limits import MAX_SEED, MAX_STEPS

CHECKSUM_ATTR = "checksum"  # root attribute: "sha256:<hex>" of the manifest
DATA_DIGEST_ATTR = "sha256"  # dataset attribute: hex SHA-256 of the dataset's bytes
#: most cells a checkpoint may hold
MAX_CELLS = 10**9
#: deepest group nesting a checkpoint has (/population/specs, /process/cells/counters)
MAX_GROUP_DEPTH = 4

REQUIRED_ROOT = {
    "format": str,
    "format_version": int,
    "spatialtumor_version": str,
    "step": int,
    "time_min": float,
    "stop_min": float,
    "seed": int,
    "backend": str,
    "dtype": str,
    "scenario": str,
    "scenario_path": str,
    "field_names": list,
    CHECKSUM_ATTR: str,
}
POPULATION_ATTRS = {
    "kind_names": list,
    "rank_tag": int,
    "next_id": int,
    "size": int,
    "ids_sorted": bool,
}
BASE_COLUMNS = ("id", "kind", "position", "radius", "volume", "age", "state", "alive", "active")


class CheckpointError(Exception):
    """A checkpoint that cannot be read, is corrupted, or does not match; one line."""


@dataclass
class Node:
    """One HDF5 group as host data: attributes, datasets (array, attributes), subgroups."""

    attrs: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, Node] = field(default_factory=dict)


# --- checksum ------------------------------------------------------------------------------


class StreamedArray:
    """A large dataset read plane by plane, never whole: the fields of a checkpoint written in
    parts (a virtual dataset over the ranks' part files).

    ``dataset`` is an open h5py dataset (while the checkpoint is being written), or None to
    open ``file`` for every access. Indexing reads only the selection (a rank's slab).
    """

    def __init__(self, file, name: str, shape, dtype, dataset=None):
        self.file, self.name, self.dataset = str(file), name, dataset
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        self.size = int(np.prod(self.shape))

    def _with(self, read):
        if self.dataset is not None:
            return read(self.dataset)
        import h5py

        with h5py.File(self.file, "r") as f:
            return read(f[self.name])

    def __getitem__(self, index) -> np.ndarray:
        return self._with(lambda ds: ds[index])

    def planes(self):
        """``(index, plane)`` over the leading two axes, in C order (one plane held)."""
        lead = self.shape[:2]

        def gen(ds):
            for index in np.ndindex(*lead):
                yield index, ds[index]

        if self.dataset is not None:
            yield from gen(self.dataset)
            return
        import h5py

        with h5py.File(self.file, "r") as f:
            yield from gen(f[self.name])

    def digest(self) -> str:
        h = hashlib.sha256()
        for _, plane in self.planes():
            h.update(np.ascontiguousarray(plane).view(np.uint8).reshape(-1))
        return h.hexdigest()


def data_digest(array: np.ndarray) -> str:
    """Hex SHA-256 of an array's bytes in C order."""
    if isinstance(array, StreamedArray):
        return array.digest()
    a = np.ascontiguousarray(array)
    return hashlib.sha256(a.view(np.uint8).reshape(-1) if a.size else b"").hexdigest()


def canonical(value: Any) -> str:
    """Canonical JSON of an attribute value as written or as read back by h5py."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def manifest(node: Node, path: str = "/") -> list[str]:
    """Lines naming every attribute and dataset of ``node`` (sorted), checksums excluded."""
    lines = []
    for name in sorted(node.attrs):
        if path == "/" and name == CHECKSUM_ATTR:
            continue
        lines.append(f"A {path} {name} {canonical(node.attrs[name])}")
    for name in sorted(node.datasets):
        array, attrs = node.datasets[name]
        dpath = f"{path.rstrip('/')}/{name}"
        shape = json.dumps(list(array.shape))
        lines.append(f"D {dpath} {array.dtype.str} {shape} {data_digest(array)}")
        for a in sorted(attrs):
            if a != DATA_DIGEST_ATTR:
                lines.append(f"A {dpath} {a} {canonical(attrs[a])}")
    for name in sorted(node.groups):
        lines += manifest(node.groups[name], f"{path.rstrip('/')}/{name}")
    return lines


def tree_digest(node: Node) -> str:
    return "sha256:" + hashlib.sha256("\n".join(manifest(node)).encode("utf-8")).hexdigest()


def seal(node: Node) -> None:
    """Add the dataset digests and the root checksum to a tree about to be written."""
    _add_data_digests(node)
    node.attrs[CHECKSUM_ATTR] = tree_digest(node)


def _add_data_digests(node: Node) -> None:
    for array, attrs in node.datasets.values():
        attrs[DATA_DIGEST_ATTR] = data_digest(array)
    for g in node.groups.values():
        _add_data_digests(g)


def verify(node: Node, where: str) -> None:
    """Raise :class:`CheckpointError` when the tree does not match its checksums."""
    _verify_data(node, "", where)
    stored = node.attrs.get(CHECKSUM_ATTR)
    if not isinstance(stored, str):
        raise CheckpointError(f"{where}: no checksum (attribute '{CHECKSUM_ATTR}' is missing)")
    if stored != tree_digest(node):
        raise CheckpointError(
            f"{where}: attributes or layout do not match the checksum: the file is corrupted "
            "or was edited"
        )


def _verify_data(node: Node, path: str, where: str) -> None:
    for name, (array, attrs) in sorted(node.datasets.items()):
        stored = attrs.get(DATA_DIGEST_ATTR)
        if stored is None:
            raise CheckpointError(f"{where}: {path}/{name}: no checksum")
        if str(_plain(stored)) != data_digest(array):
            raise CheckpointError(
                f"{where}: {path}/{name}: data do not match their checksum: the file is "
                "corrupted or was edited"
            )
    for name, g in sorted(node.groups.items()):
        _verify_data(g, f"{path}/{name}", where)


# --- structure -----------------------------------------------------------------------------


def check_root(node: Node, where: str) -> dict[str, Any]:
    """Every required root attribute, of the right type; returns them as plain values."""
    out = {}
    for name, kind in REQUIRED_ROOT.items():
        if name not in node.attrs:
            raise CheckpointError(f"{where}: attribute '{name}' is missing")
        out[name] = _typed(node.attrs[name], kind, f"{where}: attribute '{name}'")
    if not all(isinstance(n, str) for n in out["field_names"]):
        raise CheckpointError(f"{where}: attribute 'field_names' must be a list of names")
    return out


def _typed(value: Any, kind: type, what: str) -> Any:
    v = _plain(value)
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if kind is int and isinstance(v, bool) or not isinstance(v, kind):
        raise CheckpointError(f"{what} must be {_kind_name(kind)}, got {_short(v)}")
    if kind is float and not math.isfinite(v):
        raise CheckpointError(f"{what} must be finite, got {v!r}")
    return v


def _kind_name(kind: type) -> str:
    return {str: "text", int: "an integer", float: "a number", list: "a list", bool: "true/false"}[
        kind
    ]


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_contents(attrs: dict[str, Any], node: Node, scenario, where: str) -> None:
    """Check a checkpoint's contents against the scenario stored in it (one line on failure).

    ``attrs`` are the checked root attributes (:func:`check_root`), ``scenario`` the
    :class:`~spatialtumor.scenario.Scenario` parsed from ``attrs["scenario"]``.
    """
    from .clock import Clock

    spec = scenario.spec
    dtype = attrs["dtype"]
    if dtype not in ("float32", "float64"):
        raise CheckpointError(
            f"{where}: attribute 'dtype' must be float32 or float64, not {dtype!r}"
        )
    step = attrs["step"]
    if not 0 <= step <= MAX_STEPS:
        raise CheckpointError(f"{where}: attribute 'step' must be in 0..{MAX_STEPS:,}, got {step}")
    c = spec.clock
    clock = Clock(c.dt_diffusion, c.dt_mechanics, c.dt_phenotype)
    t = clock.time(step)
    if abs(attrs["time_min"] - t) > 1e-9 * max(1.0, abs(t)):
        raise CheckpointError(
            f"{where}: attribute 'time_min' ({attrs['time_min']:g} min) is not step {step} × "
            f"dt_diffusion {c.dt_diffusion:g} min"
        )
    if not attrs["stop_min"] > 0:
        raise CheckpointError(f"{where}: attribute 'stop_min' must be > 0")
    if not 0 <= attrs["seed"] <= MAX_SEED:
        raise CheckpointError(f"{where}: attribute 'seed' must be in 0..{MAX_SEED}")
    names = list(spec.fields)
    if attrs["field_names"] != names:
        raise CheckpointError(
            f"{where}: field names {attrs['field_names']} are not the scenario's {names}"
        )
    if "fields" not in node.datasets:
        raise CheckpointError(f"{where}: dataset /fields is missing")
    values = node.datasets["fields"][0]
    g = spec.grid
    shape = (len(names), g.nz, g.ny, g.nx)
    if values.shape != shape:
        raise CheckpointError(
            f"{where}: /fields has shape {values.shape}; the scenario's grid needs {shape} "
            "(species, nz, ny, nx)"
        )
    if values.dtype != np.dtype(dtype):
        raise CheckpointError(f"{where}: /fields is {values.dtype}, attribute 'dtype' says {dtype}")
    _check_finite(values, f"{where}: /fields", names)
    if spec.cells is not None:
        if "population" not in node.groups:
            raise CheckpointError(f"{where}: group /population is missing (the scenario has cells)")
        kinds = list(spec.cells.kinds)
        _check_population(node.groups["population"], kinds, f"{where}: /population")
    elif "population" in node.groups:
        raise CheckpointError(f"{where}: holds /population but the scenario has no cells")
    _check_process(
        node.groups.get("process", Node()),
        where,
        spec.cells is not None,
        {f"compartment_{n}": c.model_class.states for n, c in spec.compartments.items()},
        len(spec.therapy.doses),
    )


def _check_finite(values: np.ndarray, what: str, names=None) -> None:
    if values.dtype.kind != "f":
        return
    if isinstance(values, StreamedArray):
        for index, plane in values.planes():
            finite = np.isfinite(plane)
            if not finite.all():
                rest = np.unravel_index(int(np.argmin(finite)), plane.shape)
                voxel = tuple(int(i) for i in (*index[1:], *rest))
                raise CheckpointError(
                    f"{what}: field {names[index[0]]!r} at voxel {voxel} holds "
                    f"{float(plane[rest])!r}; values must be finite"
                )
        return
    finite = np.isfinite(values)
    if finite.all():
        return
    first = np.unravel_index(int(np.argmin(finite)), values.shape)
    bad = values[first]
    if names is not None:
        where = f"field {names[first[0]]!r} at voxel {tuple(int(i) for i in first[1:])}"
    else:
        where = f"row {int(first[0])}"
    raise CheckpointError(f"{what}: {where} holds {float(bad)!r}; values must be finite")


def _json_attrs(node: Node, what: str) -> dict[str, Any]:
    out = {}
    for k, v in node.attrs.items():
        text = _plain(v)
        try:
            out[k] = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):
            out[k] = None
        if out[k] is None and text != "null":
            raise CheckpointError(f"{what}: attribute '{k}' is not JSON: {_short(text)}")
    return out


def _check_population(node: Node, kinds: list[str], what: str) -> None:
    attrs = _json_attrs(node, what)
    for name, kind in POPULATION_ATTRS.items():
        if name not in attrs:
            raise CheckpointError(f"{what}: attribute '{name}' is missing")
        _typed(attrs[name], kind, f"{what}: attribute '{name}'")
    size = attrs["size"]
    if not 0 <= size <= MAX_CELLS:
        raise CheckpointError(f"{what}: attribute 'size' must be in 0..{MAX_CELLS:,}, got {size}")
    if attrs["kind_names"] != kinds:
        raise CheckpointError(
            f"{what}: kind names {attrs['kind_names']} are not the scenario's kinds {kinds}"
        )
    if attrs["next_id"] < 0 or attrs["rank_tag"] < 0:
        raise CheckpointError(f"{what}: attributes 'next_id' and 'rank_tag' must be >= 0")
    for group in ("specs", "columns"):
        if group not in node.groups:
            raise CheckpointError(f"{what}: group '{group}' is missing")
    specs = _json_attrs(node.groups["specs"], f"{what}/specs")
    columns = node.groups["columns"].datasets
    for name in BASE_COLUMNS:
        if name not in specs or name not in columns:
            raise CheckpointError(f"{what}: column '{name}' is missing")
    if set(specs) != set(columns):
        odd = sorted(set(specs) ^ set(columns))
        raise CheckpointError(f"{what}: columns and their specs differ ({', '.join(odd)})")
    for name, spec in specs.items():
        cwhat = f"{what}/columns/{name}"
        try:
            dt, shape = np.dtype(spec[0]), tuple(int(n) for n in spec[1])
            ok = len(spec) == 3 and dt.kind in "biuf" and all(n >= 0 for n in shape)
        except (TypeError, ValueError, IndexError, KeyError):
            ok = False
        if not ok:
            raise CheckpointError(f"{what}/specs: '{name}' is not [dtype, shape, fill]")
        array = columns[name][0]
        if array.shape != (size,) + shape or array.dtype != dt:
            raise CheckpointError(
                f"{cwhat}: {array.dtype} {array.shape}; expected {dt} {(size,) + shape} "
                f"(size {size})"
            )
        _check_finite(array, cwhat)
    kind = columns["kind"][0]
    if size and (kind.min() < 0 or kind.max() >= len(kinds)):
        raise CheckpointError(f"{what}/columns/kind: codes must be in 0..{len(kinds) - 1}")
    if size and columns["state"][0].min() < 0:
        raise CheckpointError(f"{what}/columns/state: codes must be >= 0")


def _check_process(
    node: Node, where: str, has_cells: bool, compartments=None, doses: int = 0
) -> None:
    compartments = compartments or {}
    allowed = ({"cells"} if has_cells else set()) | set(compartments)
    allowed |= {"dosing"} if doses else set()
    for name in [*compartments, *(["dosing"] if doses else [])]:
        if name not in node.groups:
            raise CheckpointError(f"{where}: /process/{name} is missing")
    for name, g in node.groups.items():
        if name not in allowed:
            raise CheckpointError(f"{where}: /process/{name} belongs to no process of this run")
        if name in compartments:
            _check_compartment(g, f"{where}: /process/{name}", len(compartments[name]))
            continue
        if name == "dosing":
            _check_dosing(g, f"{where}: /process/dosing", doses)
            continue
        for sub, sg in g.groups.items():
            values = _json_attrs(sg, f"{where}: /process/{name}/{sub}")
            for k, v in values.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise CheckpointError(
                        f"{where}: /process/{name}/{sub}: '{k}' must be a finite number"
                    )


def _check_dosing(g: Node, what: str, doses: int) -> None:
    """The schedule's state: doses given per table (integers ≥ 0)."""
    if "given" not in g.datasets:
        raise CheckpointError(f"{what}: dataset 'given' is missing")
    a = g.datasets["given"][0]
    if a.shape != (doses,) or a.dtype.kind != "i":
        raise CheckpointError(f"{what}/given: {a.dtype} {a.shape}; expected ({doses},) integers")
    if np.any(a < 0):
        raise CheckpointError(f"{what}/given: values must be >= 0")


def _check_compartment(g: Node, what: str, n_states: int) -> None:
    """A compartment's state: vectors y, pending, delivered of its states, finite; a time."""
    for key in ("y", "pending", "delivered"):
        if key not in g.datasets:
            raise CheckpointError(f"{what}: dataset '{key}' is missing")
        a = g.datasets[key][0]
        if a.shape != (n_states,) or a.dtype.kind != "f":
            raise CheckpointError(
                f"{what}/{key}: {a.dtype} {a.shape}; expected ({n_states},) floats"
            )
        _check_finite(a, f"{what}/{key}")
    t = _json_attrs(g, what).get("time")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise CheckpointError(f"{what}: attribute 'time' must be a finite number >= 0")


# --- what a resume may change --------------------------------------------------------------


def first_difference(a: Any, b: Any, key: str = "") -> tuple[str, Any, Any] | None:
    """``(key, a-value, b-value)`` of the first place two resolved scenarios differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            sub = f"{key}.{k}" if key else str(k)
            if k not in a or k not in b:
                return sub, a.get(k), b.get(k)
            d = first_difference(a[k], b[k], sub)
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = first_difference(x, y, f"{key}.{i}" if key else str(i))
            if d is not None:
                return d
        return None
    return None if a == b else (key, a, b)


def check_run_folder(run_dir: Path, scenario_text: str, seed: int, where: str) -> None:
    """Refuse to resume into a folder that holds another run's output.

    A folder is this run's when its snapshots (all readable) and checkpoints were made from
    the same resolved scenario and seed. An empty or missing folder is fine.
    """
    import h5py

    from .output.atomic import TMP_SUFFIX
    from .output.reader import list_snapshots

    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise CheckpointError(f"--out: {run_dir} is a file, not a run folder")
    entries = [
        p for p in run_dir.iterdir() if not (p.name.startswith(".") and p.name.endswith(TMP_SUFFIX))
    ]
    if not entries:
        return
    files = list(list_snapshots(run_dir))
    files += sorted((run_dir / "checkpoints").glob("checkpoint_*.h5"))
    if not files:
        raise CheckpointError(
            f"{where}: run folder {run_dir} is not empty and holds no snapshot or checkpoint of "
            "this run; resume into an empty --out"
        )
    for p in files:
        try:
            with h5py.File(p, "r") as f:
                text, their_seed = _plain(f.attrs["scenario"]), _plain(f.attrs["seed"])
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one line
            raise CheckpointError(
                f"{where}: {p} in the run folder is unreadable ({type(exc).__name__}); "
                "remove it or resume into an empty --out"
            ) from None
        if text != scenario_text or their_seed != seed:
            raise CheckpointError(
                f"{where}: run folder {run_dir} belongs to another run ({p.name} was made from a "
                "different scenario or seed); resume into an empty --out"
            )
