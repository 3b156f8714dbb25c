"""Checkpoints: everything needed to continue a run bit for bit, written crash-safely.

A checkpoint is one HDF5 file ``RUN/checkpoints/checkpoint_<step>.h5`` written under a
temporary name and renamed into place, so a run killed at any moment leaves every
completed checkpoint readable. It holds the fields (all species, working dtype), the cell
population (every column, ids, id counter), the clocks (step counter), the seed, the
backend precision and the resolved scenario, and (format 2) a SHA-256 checksum of all of
it: a checkpoint is read whole, verified and checked against its scenario
(:mod:`spatialtumor.checkpoint_check`) before anything is restored.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .checkpoint_check import (
    MAX_GROUP_DEPTH,
    CheckpointError,
    Node,
    StreamedArray,
    check_contents,
    check_root,
    check_run_folder,
    first_difference,
    seal,
    verify,
)
from .grid import block
from .output.atomic import atomic_path, remove_stale_temporaries

FORMAT = "spatialtumor-checkpoint"
FORMAT_VERSION = 2
#: the ranks' part files of checkpoints written in parts (``RUN/checkpoints/parts``)
PARTS_DIR = "parts"
PART_FORMAT = "spatialtumor-checkpoint-part"


def part_name(step: int, rank: int) -> str:
    """File name of ``rank``'s part of the checkpoint at ``step``."""
    return f"checkpoint_{step:09d}.r{rank:04d}.h5"


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "CheckpointWriter",
    "latest_checkpoint",
    "read_checkpoint",
    "restore",
    "resume_simulation",
    "write_checkpoint",
]


class CheckpointWriter:
    """Writes a checkpoint every ``every`` minutes (0: only at the end) and at the stop."""

    def __init__(self, run_dir: str | Path, every: float = 0.0, keep: int = 2):
        self.folder = Path(run_dir) / "checkpoints"
        if self.folder.is_dir():
            remove_stale_temporaries(self.folder)  # left by a run killed mid-write
            remove_stale_temporaries(self.folder / PARTS_DIR)
        self.every = float(every)
        self.keep = int(keep)
        self.last_written = -1

    def due(self, sim) -> bool:
        if sim.step_index == self.last_written:
            return False
        if sim.step_index >= sim.stop_step:
            return True
        if self.every <= 0 or sim.step_index == 0:
            return False
        n = max(sim.clock.steps(self.every), 1)
        return sim.step_index % n == 0

    def write(self, sim) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = write_checkpoint(sim, self.folder / f"checkpoint_{sim.step_index:09d}.h5")
        self.last_written = sim.step_index
        self._prune()
        return path

    def begin_parts(self, step: int) -> str:
        """Before the ranks write their parts of the checkpoint at ``step``: drop an earlier
        checkpoint of that step (its file, then its parts). Returns the parts folder."""
        parts = self.folder / PARTS_DIR
        parts.mkdir(parents=True, exist_ok=True)
        self._remove(self.folder / f"checkpoint_{step:09d}.h5")
        return str(parts)

    def write_master(self, sim, parts) -> Path:
        """Once every rank's part is in place (``parts``: ``(file relative to the
        checkpoints folder, offset, shape)`` in rank order), write the checkpoint file over
        them; ``sim`` is the whole domain (its field values are not read)."""
        path = self.folder / f"checkpoint_{sim.step_index:09d}.h5"
        write_checkpoint(sim, path, parts=parts)
        self.last_written = sim.step_index
        self._prune()
        return path

    def _remove(self, path: Path) -> None:
        """Delete a checkpoint file and the part files of its step."""
        path.unlink(missing_ok=True)
        for p in (self.folder / PARTS_DIR).glob(f"{path.stem}.r*.h5"):
            p.unlink(missing_ok=True)

    def _prune(self) -> None:
        """Keep the newest ``keep`` checkpoints (0 keeps all), with their part files."""
        if self.keep <= 0:
            return
        old = sorted(self.folder.glob("checkpoint_*.h5"))[: -self.keep]
        for p in old:
            self._remove(p)

    def close(self) -> None:
        pass


def write_checkpoint(sim, path: str | Path, parts=None) -> Path:
    """Write ``sim``'s complete state to ``path`` atomically, sealed; returns the path.

    With ``parts`` (``(file, offset, shape)`` per rank, files relative to ``path``'s
    folder, already written by :func:`write_part`) ``/fields`` is a virtual dataset over
    the parts' slabs, and its checksum is computed reading it back plane by plane.
    """
    path = Path(path)
    tree = checkpoint_tree(sim, fields=parts is None)
    if parts is None:
        seal(tree)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            _write_node(f, tree)
        return path
    be = sim.backend
    shape = (len(sim.fields.names), *tuple(sim.grid.shape))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        layout = h5py.VirtualLayout(shape=shape, dtype=be.dtype)
        for file, offset, slab in parts:
            layout[(slice(None), *block(offset, slab))] = h5py.VirtualSource(
                file, "fields", shape=(shape[0], *slab)
            )
        ds = f.create_virtual_dataset("fields", layout, fillvalue=np.nan)
        tree.datasets["fields"] = (StreamedArray(tmp, "fields", shape, be.dtype, dataset=ds), {})
        seal(tree)
        _write_node(f, tree)
    return path


def write_part(path: str | Path, values: np.ndarray, *, step: int, rank: int, ranks: int, offset):
    """One rank's slab ``(n_species, …)`` of the checkpoint at ``step``, written atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = PART_FORMAT
        f.attrs["step"] = int(step)
        f.attrs["rank"] = int(rank)
        f.attrs["ranks"] = int(ranks)
        f.attrs["offset_zyx"] = np.asarray(offset, dtype=np.int64)
        f.create_dataset("fields", data=np.ascontiguousarray(values))
    return path


def checkpoint_tree(sim, fields: bool = True) -> Node:
    """The content of a checkpoint of ``sim`` as host data (before sealing)."""
    be = sim.backend
    root = Node()
    root.attrs.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        spatialtumor_version=__version__,
        step=int(sim.step_index),
        time_min=float(sim.time),
        stop_min=float(sim.stop),
        seed=int(sim.info.seed),
        backend=str(be.name),
        dtype=np.dtype(be.dtype).name,
        scenario=str(sim.info.scenario_text),
        scenario_path=str(sim.info.scenario_path),
        field_names=[str(n) for n in sim.fields.names],
    )
    if fields:
        root.datasets["fields"] = (np.ascontiguousarray(be.asnumpy(sim.fields.values)), {})
    if sim.population is not None:
        root.groups["population"] = _state_node(sim.population.state_dict())
    if sim.stateful:
        root.groups["process"] = Node(
            groups={name: _state_node(proc.state_dict()) for name, proc in sim.stateful.items()}
        )
    return root


def _state_node(tree: dict) -> Node:
    """Nested dict → Node: arrays as datasets, dicts as groups, the rest as JSON attributes."""
    node = Node()
    for key, value in tree.items():
        if isinstance(value, dict):
            node.groups[key] = _state_node(value)
        elif isinstance(value, np.ndarray):
            node.datasets[key] = (np.ascontiguousarray(value), {})
        else:
            node.attrs[key] = json.dumps(value)
    return node


def _state_dict(node: Node) -> dict:
    """Node → nested dict (inverse of :func:`_state_node`; attributes already checked JSON)."""
    out = {k: json.loads(_text(v)) for k, v in node.attrs.items()}
    out.update({k: a for k, (a, _attrs) in node.datasets.items()})
    out.update({k: _state_dict(g) for k, g in node.groups.items()})
    return out


def _write_node(group, node: Node) -> None:
    for k, v in node.attrs.items():
        group.attrs[k] = v
    for name, (array, attrs) in node.datasets.items():
        # a virtual dataset (fields over part files) is created before the tree is sealed
        ds = group[name] if name in group else group.create_dataset(name, data=array)
        for k, v in attrs.items():
            ds.attrs[k] = v
    for name, sub in node.groups.items():
        _write_node(group.create_group(name), sub)


def _read_node(group, budget: int, depth: int = 0) -> Node:
    """An HDF5 group → Node; refuses datasets larger than the file (no giant allocations)."""
    if depth > MAX_GROUP_DEPTH:
        raise CheckpointError(f"{group.name}: groups nested deeper than a checkpoint has")
    node = Node(attrs={_name(k, group): group.attrs[k] for k in group.attrs})
    for name, item in group.items():
        name = _name(name, group)
        if isinstance(item, h5py.Group):
            node.groups[name] = _read_node(item, budget, depth + 1)
        elif isinstance(item, h5py.Dataset):
            if item.dtype.kind not in "biuf":
                raise CheckpointError(f"{item.name}: unexpected data type {item.dtype}")
            attrs = {_name(k, item): item.attrs[k] for k in item.attrs}
            if item.is_virtual:  # fields over the ranks' part files: read by planes
                node.datasets[name] = (_streamed(item), attrs)
                continue
            if item.nbytes > budget:
                raise CheckpointError(
                    f"{item.name}: claims {item.nbytes} bytes, more than the file holds"
                )
            node.datasets[name] = (item[()], attrs)
        else:  # pragma: no cover - links to nothing, committed types
            raise CheckpointError(f"{group.name}/{name}: damaged (neither group nor dataset)")
    return node


def _streamed(item) -> StreamedArray:
    """A virtual dataset of a checkpoint (its ``/fields``) as a :class:`StreamedArray`, once
    every part file it maps exists and is large enough for its slab."""
    if item.name != "/fields":
        raise CheckpointError(f"{item.name}: a virtual dataset where a checkpoint has data")
    folder = Path(item.file.filename).parent
    for vds in item.virtual_sources():
        part = folder / vds.file_name
        need = int(np.prod(vds.src_space.shape)) * item.dtype.itemsize
        if not part.is_file():
            raise CheckpointError(f"{item.name}: part file {part} is missing")
        if need > part.stat().st_size:
            raise CheckpointError(f"{item.name}: part file {part} is shorter than its slab")
    return StreamedArray(item.file.filename, item.name, item.shape, item.dtype)


def _name(name, obj) -> str:
    if not isinstance(name, str):
        raise CheckpointError(f"{obj.name}: holds a name that is not text ({name!r})")
    return name


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run folder, or None."""
    found = sorted((Path(run_dir) / "checkpoints").glob("checkpoint_*.h5"))
    return found[-1] if found else None


def read_checkpoint(path: str | Path) -> dict:
    """Everything in a checkpoint as host data, verified and checked.

    Returns the root attributes, ``fields``, ``population`` (a population state dict, runs
    with cells), ``process`` (name → state dict) and ``scenario_object`` (the stored
    scenario, validated). Raises :class:`CheckpointError` (one line naming the file and what
    is wrong) for a file that is unreadable, of another format, corrupted (checksum) or
    inconsistent with its own scenario.
    """
    path = Path(path)
    where = str(path)
    try:
        budget = path.stat().st_size
        with h5py.File(path, "r") as f:
            _check_format(f, where)
            tree = _read_node(f, budget)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file raises anything; one line
        raise CheckpointError(f"{where}: unreadable checkpoint ({_why(exc)})") from None
    try:
        verify(tree, where)
        attrs = check_root(tree, where)
        scenario = _stored_scenario(attrs, where)
        check_contents(attrs, tree, scenario, where)
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise CheckpointError(f"{where}: malformed checkpoint ({_why(exc)})") from None
    data = dict(attrs)
    data["fields"] = tree.datasets["fields"][0]
    if "population" in tree.groups:
        data["population"] = _state_dict(tree.groups["population"])
    process = tree.groups.get("process", Node())
    data["process"] = {name: _state_dict(g) for name, g in process.groups.items()}
    data["scenario_object"] = scenario
    return data


def _check_format(f, where: str) -> None:
    fmt = f.attrs.get("format")
    if fmt is None or _text(fmt) != FORMAT:
        raise CheckpointError(f"{where}: not a spatialtumor checkpoint")
    version = f.attrs.get("format_version")
    if not isinstance(version, (int, np.integer)):
        raise CheckpointError(f"{where}: attribute 'format_version' is missing or not an integer")
    if version == 1:
        raise CheckpointError(
            f"{where}: checkpoint format 1 carries no checksum and cannot be verified; this "
            f"spatialtumor resumes format {FORMAT_VERSION}: rerun from the scenario, or resume "
            "with the version that wrote it"
        )
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{where}: checkpoint format {int(version)} is not this spatialtumor's "
            f"({FORMAT_VERSION})"
        )


def _stored_scenario(attrs: dict, where: str):
    from .inputs import InputError, parse_toml
    from .scenario import ScenarioError, scenario_from_dict

    source = attrs["scenario_path"] or where
    try:
        return scenario_from_dict(parse_toml(attrs["scenario"]), source)
    except InputError as exc:
        raise CheckpointError(f"{where}: stored scenario: {exc.message}") from None
    except ScenarioError as exc:
        raise CheckpointError(f"{where}: stored scenario: {exc}") from None


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def restore(sim, data: dict) -> None:
    """Load checkpoint ``data`` into a freshly built simulation of the same scenario.

    Float columns saved in another precision than the simulation's are converted (the run
    continues, but no longer reproduces the original bit for bit).
    """
    names = [str(n) for n in data["field_names"]]
    if names != list(sim.fields.names):
        raise CheckpointError(f"checkpoint fields {names} do not match {list(sim.fields.names)}")
    state = data.get("population")
    if state is not None:
        if sim.population is None:
            raise CheckpointError("checkpoint has cells but the scenario has none")
        state = _in_precision(state, sim.population.specs)
    try:
        whole = data["fields"]  # an array, or a StreamedArray read by slab (parts)
        part = getattr(sim, "field_slice", None)  # a rank's slab of a decomposed run
        sim.fields.values[...] = sim.backend.asarray(whole[()] if part is None else whole[part])
        if state is not None:
            sim.population.load_state_dict(state)
        for name, st in data["process"].items():
            sim.stateful[name].load_state_dict(st)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint does not fit this run: {_why(exc)}") from None
    sim.step_index = int(data["step"])


def _in_precision(state: dict, specs: dict) -> dict:
    """The population state with float columns in the dtypes of the built population."""
    out = dict(state, specs=dict(state["specs"]), columns=dict(state["columns"]))
    for name, (dt, shape, fill) in state["specs"].items():
        want = specs.get(name, (None,))[0]
        have = np.dtype(dt)
        if want is not None and want != have and want.kind == have.kind == "f":
            out["specs"][name] = (want.str, shape, fill)
            out["columns"][name] = state["columns"][name].astype(want)
    return out


def resume_simulation(
    checkpoint,
    *,
    out_dir=None,
    stop=None,
    backend="auto",
    precision=None,
    seed=None,
    scenario=None,
    overrides=(),
    world=None,
    split="auto",
    write="parts",
):
    """Rebuild a run from a checkpoint: returns ``(sim, scenario, run_dir)``.

    The run continues in the checkpoint's run folder unless ``out_dir`` is given (an empty
    or new folder, or one holding this same run); the working precision is the
    checkpoint's unless ``precision`` says otherwise (a different precision continues the
    run but can no longer reproduce it bit for bit); ``stop`` [min] may move the end.
    ``seed``, ``scenario`` (a file or shipped name) and ``overrides`` (``--set``) are
    accepted only when they leave the run as it is: a resumed run keeps its scenario and
    seed. ``world`` and ``split`` decompose the resumed run over MPI ranks (every rank reads
    the checkpoint, which holds the whole domain, and keeps its slab); ``write`` is how
    they write their output ("parts" or "gathered").
    """
    from .build import build_simulation, make_backend
    from .limits import duration_steps
    from .scenario import load_scenario, scenario_from_dict

    checkpoint = Path(checkpoint)
    where = str(checkpoint)
    data = read_checkpoint(checkpoint)
    scn = data["scenario_object"]
    if seed is not None and int(seed) != data["seed"]:
        raise CheckpointError(
            f"--seed: {seed} differs from the checkpoint's seed {data['seed']}; a resumed run "
            "keeps its seed"
        )
    if scenario is not None or overrides:
        if scenario is not None:
            given = load_scenario(scenario, list(overrides))
        else:
            given = scenario_from_dict(scn.raw, scn.source, list(overrides))
        diff = first_difference(scn.resolved(), given.resolved())
        if diff is not None:
            key, theirs, ours = diff
            who = given.source if scenario is not None else "--set"
            raise CheckpointError(
                f"{who}: {key}: {_shown(ours)} differs from the checkpoint's {_shown(theirs)}; "
                "a resumed run keeps its scenario (--stop, --out, --backend and --precision "
                "may change)"
            )
    dt = scn.spec.clock.dt_diffusion
    target = data["stop_min"] if stop is None else float(stop)
    steps = duration_steps(target, dt)
    if isinstance(steps, str):
        raise CheckpointError(f"{'--stop' if stop is not None else where}: {steps}")
    if steps <= data["step"] and stop is None:
        raise CheckpointError(
            f"{where}: the checkpoint is at the run's end (t = {data['time_min']:g} min); give a "
            "later --stop to continue it"
        )
    if steps <= data["step"]:
        raise CheckpointError(
            f"--stop: {target:g} min is not after the checkpoint's time {data['time_min']:g} min; "
            "give a later --stop to continue"
        )
    if out_dir is not None:
        run_dir = Path(out_dir)
    else:
        folder = checkpoint.resolve().parent
        if folder.name != "checkpoints":
            raise CheckpointError(
                f"{where}: not inside a run folder's checkpoints/; say where to write with --out"
            )
        run_dir = folder.parent
    check_run_folder(run_dir, data["scenario"], data["seed"], "--out" if out_dir else where)
    if world is not None and world.size > 1:
        world.comm.Barrier()  # every rank has looked before rank 0 writes there
    be = make_backend(backend, precision or str(data["dtype"]))
    sim = build_simulation(
        scn,
        be,
        run_dir=run_dir,
        seed=int(data["seed"]),
        stop=target,
        resume_step=int(data["step"]),
        world=world,
        split=split,
        write=write,
    )
    restore(sim, data)
    if hasattr(sim, "restored"):
        sim.restored()
    return sim, scn, run_dir


def _shown(value) -> str:
    text = "(absent)" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
