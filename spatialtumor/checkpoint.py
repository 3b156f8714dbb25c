"""Checkpoints: everything needed to continue a run bit for bit, written crash-safely.

A checkpoint is one HDF5 file ``RUN/checkpoints/checkpoint_<step>.h5`` written under a
temporary name and renamed into place, so a run killed at any moment leaves every
completed checkpoint readable. It holds the fields (all species, working dtype), the cell
population (every column, ids, id counter), the clocks (step counter), the seed, the
backend precision and the resolved scenario.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .output.atomic import atomic_path, remove_stale_temporaries

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORMAT = "spatialtumor-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not match."""


class CheckpointWriter:
    """Writes a checkpoint every ``every`` minutes (0: only at the end) and at the stop."""

    def __init__(self, run_dir: str | Path, every: float = 0.0, keep: int = 2):
        self.folder = Path(run_dir) / "checkpoints"
        if self.folder.is_dir():
            remove_stale_temporaries(self.folder)  # left by a run killed mid-write
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

    def _prune(self) -> None:
        """Keep the newest ``keep`` checkpoints (0 keeps all)."""
        if self.keep <= 0:
            return
        old = sorted(self.folder.glob("checkpoint_*.h5"))[: -self.keep]
        for p in old:
            p.unlink(missing_ok=True)

    def close(self) -> None:
        pass


def write_checkpoint(sim, path: str | Path) -> Path:
    """Write ``sim``'s complete state to ``path`` atomically; returns the path."""
    path = Path(path)
    be = sim.backend
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["spatialtumor_version"] = __version__
        f.attrs["step"] = sim.step_index
        f.attrs["time_min"] = float(sim.time)
        f.attrs["stop_min"] = float(sim.stop)
        f.attrs["seed"] = int(sim.info.seed)
        f.attrs["backend"] = be.name
        f.attrs["dtype"] = np.dtype(be.dtype).name
        f.attrs["scenario"] = sim.info.scenario_text
        f.attrs["scenario_path"] = sim.info.scenario_path
        f.attrs["field_names"] = list(sim.fields.names)
        f.create_dataset("fields", data=be.asnumpy(sim.fields.values))
        if sim.population is not None:
            _write_tree(f.create_group("population"), sim.population.state_dict())
        for name, proc in sim.stateful.items():
            _write_tree(f.create_group(f"process/{name}"), proc.state_dict())
    return path


def _write_tree(group, tree: dict) -> None:
    """Nested dict → HDF5: arrays as datasets, dicts as groups, the rest as JSON attributes."""
    for key, value in tree.items():
        if isinstance(value, dict):
            _write_tree(group.create_group(key), value)
        elif isinstance(value, np.ndarray):
            group.create_dataset(key, data=value)
        else:
            group.attrs[key] = json.dumps(value)


def _read_tree(group) -> dict:
    out = {k: json.loads(v) for k, v in group.attrs.items()}
    for key, item in group.items():
        out[key] = _read_tree(item) if isinstance(item, h5py.Group) else item[...]
    return out


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run folder, or None."""
    found = sorted((Path(run_dir) / "checkpoints").glob("checkpoint_*.h5"))
    return found[-1] if found else None


def read_checkpoint(path: str | Path) -> dict:
    """Everything in a checkpoint as host data."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a spatialtumor checkpoint")
            if int(f.attrs["format_version"]) > FORMAT_VERSION:
                raise CheckpointError(
                    f"{path}: checkpoint format {f.attrs['format_version']} is newer than this "
                    f"spatialtumor ({FORMAT_VERSION})"
                )
            data = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            data["fields"] = f["fields"][...]
            if "population" in f:
                data["population"] = _read_tree(f["population"])
            data["process"] = {n: _read_tree(g) for n, g in f.get("process", {}).items()}
    except (OSError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from None
    return data


def restore(sim, data: dict) -> None:
    """Load checkpoint ``data`` into a freshly built simulation of the same scenario."""
    names = [str(n) for n in data["field_names"]]
    if names != list(sim.fields.names):
        raise CheckpointError(f"checkpoint fields {names} do not match {list(sim.fields.names)}")
    sim.fields.values[...] = sim.backend.asarray(data["fields"])
    if "population" in data:
        if sim.population is None:
            raise CheckpointError("checkpoint has cells but the scenario has none")
        sim.population.load_state_dict(data["population"])
    for name, state in data["process"].items():
        sim.stateful[name].load_state_dict(state)
    sim.step_index = int(data["step"])


def resume_simulation(checkpoint, *, out_dir=None, stop=None, backend="auto", precision=None):
    """Rebuild a run from a checkpoint: returns ``(sim, scenario, run_dir)``.

    The run continues in the checkpoint's run folder unless ``out_dir`` is given; the
    working precision is the checkpoint's unless ``precision`` says otherwise (a different
    precision continues the run but can no longer reproduce it bit for bit).
    """
    from .build import build_simulation, make_backend
    from .scenario import scenario_from_dict

    checkpoint = Path(checkpoint)
    data = read_checkpoint(checkpoint)
    source = str(data.get("scenario_path") or checkpoint)
    scenario = scenario_from_dict(tomllib.loads(data["scenario"]), source)
    be = make_backend(backend, precision or str(data["dtype"]))
    run_dir = Path(out_dir) if out_dir else checkpoint.resolve().parent.parent
    sim = build_simulation(
        scenario,
        be,
        run_dir=run_dir,
        seed=int(data["seed"]),
        stop=float(data["stop_min"]) if stop is None else stop,
        resume_step=int(data["step"]),
    )
    restore(sim, data)
    return sim, scenario, run_dir
