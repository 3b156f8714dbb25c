"""Load a run folder into Python: snapshots as pandas DataFrames, fields as NumPy arrays.

::

    import spatialtumor as st

    run = st.open_run("runs/demo")
    len(run.snapshots), run.times                 # number of snapshots, their times [min]
    last = run.snapshots[-1]
    last.time, last.step                          # [min], diffusion step
    last.cells                                    # DataFrame: id, x, y, z [µm], kind, state, ...
    last.fields["oxygen"]                         # (nz, ny, nx) array [mmHg]
    run.timeseries                                # DataFrame of RUN/timeseries.csv

Snapshots are read lazily: nothing but the file list is touched until a snapshot's
attributes, cells or fields are asked for, and each of those is read once and cached. Only
numpy, h5py and pandas are imported (never CuPy or VTK).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .output.reader import GridGeometry, _plain, check_format, list_snapshots, read_geometry
from .output.timeseries import TIMESERIES_NAME, read_columns_info, read_timeseries
from .output.vocabulary import CellVocabulary
from .output.xdmf import SIDECAR_NAME

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_AXES3 = ("x", "y", "z")


class RunError(ValueError):
    """The path is not a run folder (or holds no snapshot)."""


def cells_frame(columns: dict[str, np.ndarray], vocabulary: CellVocabulary | Sequence[str]):
    """Cell columns of a snapshot → pandas DataFrame (one row per cell).

    ``position`` becomes ``x``, ``y``, ``z`` [µm]; other (N, 3) columns ``<name>_x`` …;
    (N, k) columns ``<name>_0`` …; ``kind`` holds kind names (categorical) and ``kind_code``
    the integer code; ``state`` holds the state names of each cell's kind (categorical) and
    ``state_code`` the code. ``vocabulary`` is the snapshot's :class:`CellVocabulary` (a
    list of kind names is read as a format-1 vocabulary).
    """
    import pandas as pd

    vocab = (
        vocabulary
        if isinstance(vocabulary, CellVocabulary)
        else CellVocabulary.v1(tuple(vocabulary))
    )
    data: dict[str, Any] = {}
    kinds = np.asarray(columns["kind"], dtype=np.int64) if "kind" in columns else None
    for name, a in columns.items():
        a = np.asarray(a)
        if a.ndim == 2:
            labels = _AXES3 if a.shape[1] == 3 else tuple(str(i) for i in range(a.shape[1]))
            for i, lab in enumerate(labels):
                data[lab if name == "position" else f"{name}_{lab}"] = a[:, i]
        elif name == "kind":
            codes = a.astype(np.int64)
            top = max(len(vocab.kind_names), int(codes.max(initial=-1)) + 1)
            names = [vocab.kind_name(c) for c in range(top)]
            data["kind"] = pd.Categorical.from_codes(codes, categories=names)
            data["kind_code"] = codes
        elif name == "state":
            codes = a.astype(np.int64)
            k = kinds if kinds is not None else np.zeros_like(codes)
            data["state"] = _state_names(vocab, k, codes)
            data["state_code"] = codes
        else:
            data[name] = a
    first = [c for c in ("id", "x", "y", "z", "kind", "state", "radius") if c in data]
    order = first + [c for c in data if c not in first]
    return pd.DataFrame({c: data[c] for c in order})


def _state_names(vocab: CellVocabulary, kind, state):
    """Categorical of each cell's state name (its kind's vocabulary), without a loop over cells."""
    import pandas as pd

    per_class = [s for states in vocab.kind_states for s in states]
    cats = list(dict.fromkeys(per_class))
    cls = vocab.class_codes(kind, state).astype(np.int64)
    lookup = np.array([cats.index(s) for s in per_class] + [-1], dtype=np.int64)
    codes = lookup[np.where(cls >= 0, cls, len(per_class))]
    unknown = codes < 0
    if np.any(unknown):  # codes the vocabulary does not name: "state<code>"
        extra = sorted(set(np.asarray(state)[unknown].tolist()))
        for c in extra:
            name = f"state{int(c)}"
            if name not in cats:
                cats.append(name)
            codes[unknown & (np.asarray(state) == c)] = cats.index(name)
    return pd.Categorical.from_codes(codes, categories=cats)


class RunSnapshot:
    """One snapshot of a run, read on first use.

    Attributes
    ----------
    path : the ``snapshot_NNNNNN.h5`` file
    index : its number in the run (``NNNNNN``)
    """

    def __init__(self, path: Path, index: int):
        self.path = Path(path)
        self.index = int(index)

    def __repr__(self) -> str:
        return f"RunSnapshot({self.path.name}, time={self.time:g} min, cells={self.n_cells})"

    @cached_property
    def _header(self) -> dict[str, Any]:
        with h5py.File(self.path, "r") as f:
            check_format(f)
            cg = f["cells"] if "cells" in f else None
            return {
                "attrs": {k: _plain(v) for k, v in f.attrs.items()},
                "grid": read_geometry(f),
                "species": {
                    n: {k: _plain(v) for k, v in ds.attrs.items()} for n, ds in f["fields"].items()
                },
                "vocabulary": CellVocabulary.read(
                    cg, int(f.attrs["format_version"]), str(_plain(f.attrs.get("scenario", "")))
                ),
                "n_cells": int(cg.attrs.get("count", 0)) if cg else 0,
                "has_population": bool(cg.attrs.get("has_population", False)) if cg else False,
                "columns": list(cg) if cg else [],
            }

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (seed, backend, dtype, versions, scenario, …)."""
        return self._header["attrs"]

    @property
    def time(self) -> float:
        """Simulated time [min]."""
        return float(self.attrs["time_min"])

    @property
    def step(self) -> int:
        """Diffusion step index."""
        return int(self.attrs["step"])

    @property
    def grid(self) -> GridGeometry:
        """Voxel geometry (shape (nz, ny, nx), spacing and origin [µm])."""
        return self._header["grid"]

    @property
    def field_names(self) -> list[str]:
        return list(self._header["species"])

    @property
    def units(self) -> dict[str, str]:
        """Field name → concentration units."""
        return {n: str(a.get("units", "")) for n, a in self._header["species"].items()}

    @property
    def species(self) -> dict[str, dict[str, Any]]:
        """Field name → attributes (units, diffusivity [µm²/min], decay [1/min], …)."""
        return self._header["species"]

    @property
    def vocabulary(self) -> CellVocabulary:
        """What the kind and state codes mean (names, models, states, colours, owners)."""
        return self._header["vocabulary"]

    @property
    def kind_names(self) -> tuple[str, ...]:
        """Cell kind code → name."""
        return self.vocabulary.kind_names

    @property
    def has_population(self) -> bool:
        return self._header["has_population"]

    @property
    def n_cells(self) -> int:
        """Number of cells stored in the snapshot."""
        return self._header["n_cells"]

    def field(self, name: str) -> np.ndarray:
        """One field as an (nz, ny, nx) array [its units]; read once, then cached."""
        cache = self.__dict__.setdefault("_field_cache", {})
        if name not in cache:
            with h5py.File(self.path, "r") as f:
                if name not in f["fields"]:
                    raise KeyError(
                        f"{self.path} has no field {name!r}; fields: {list(f['fields'])}"
                    )
                cache[name] = f["fields"][name][()]
        return cache[name]

    @property
    def fields(self) -> dict[str, np.ndarray]:
        """Field name → (nz, ny, nx) array [its units] (all fields, read on first use)."""
        return {n: self.field(n) for n in self.field_names}

    def column(self, name: str) -> np.ndarray | None:
        """One cell column (``None`` when absent), read alone unless all are loaded."""
        if "columns" in self.__dict__:
            return self.__dict__["columns"].get(name)
        cache = self.__dict__.setdefault("_column_cache", {})
        if name not in cache:
            with h5py.File(self.path, "r") as f:
                ds = f["cells"].get(name) if "cells" in f else None
                if ds is None:
                    cache[name] = None
                else:
                    a = ds[()]
                    cache[name] = a.astype(bool) if ds.attrs.get("bool", False) else a
        return cache[name]

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """Raw cell columns: name → (N,) or (N, k) array (``active`` as bool)."""
        out: dict[str, np.ndarray] = {}
        with h5py.File(self.path, "r") as f:
            if "cells" in f:
                for name, ds in f["cells"].items():
                    a = ds[()]
                    out[name] = a.astype(bool) if ds.attrs.get("bool", False) else a
        return out

    @cached_property
    def cells(self):
        """Cells as a pandas DataFrame (see :func:`cells_frame`); empty without cells."""
        return cells_frame(self.columns, self.vocabulary)

    def counts(self) -> dict[str, int]:
        """Cells per ``"<kind>/<state>"`` (and per kind when there is no state column)."""
        kind = self.column("kind")
        if kind is None:
            return {}
        kinds = np.asarray(kind, dtype=np.int64)
        vocab = self.vocabulary
        state = self.column("state")
        if state is not None:
            states = np.asarray(state, dtype=np.int64)
            code = kinds * 256 + states
            uniq, n = np.unique(code, return_counts=True)
            out = {}
            for c, k in zip(uniq, n, strict=True):
                kn = vocab.kind_name(int(c // 256))
                out[f"{kn}/{vocab.state_name(int(c // 256), int(c % 256))}"] = int(k)
            return out
        uniq, n = np.unique(kinds, return_counts=True)
        return {vocab.kind_name(int(c)): int(k) for c, k in zip(uniq, n, strict=True)}


class SnapshotList(Sequence):
    """The snapshots of a run, in order; items are :class:`RunSnapshot` (read lazily)."""

    def __init__(self, items: list[RunSnapshot]):
        self._items = list(items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SnapshotList(self._items[i])
        return self._items[i]

    def __iter__(self) -> Iterator[RunSnapshot]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"SnapshotList({len(self)} snapshots)"

    @property
    def times(self) -> np.ndarray:
        """Snapshot times [min]."""
        return np.array([s.time for s in self._items], dtype=np.float64)

    def at_time(self, t: float) -> RunSnapshot:
        """The snapshot closest to time ``t`` [min]."""
        if not self._items:
            raise IndexError("the run has no snapshots")
        return self._items[int(np.argmin(np.abs(self.times - float(t))))]


@dataclass
class Run:
    """A run folder opened for reading (see :func:`open_run`).

    Attributes
    ----------
    path : the run folder
    snapshots : the snapshots, lazily read
    """

    path: Path
    snapshots: SnapshotList

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, {len(self.snapshots)} snapshots)"

    @property
    def times(self) -> np.ndarray:
        """Snapshot times [min]."""
        return self.snapshots.times

    @property
    def first(self) -> RunSnapshot:
        return self.snapshots[0]

    @property
    def last(self) -> RunSnapshot:
        return self.snapshots[-1]

    @property
    def grid(self) -> GridGeometry:
        """Voxel geometry of the run (that of its first snapshot)."""
        return self.first.grid

    @property
    def kind_names(self) -> tuple[str, ...]:
        """Cell kind names of the run (from its last snapshot)."""
        return self.last.kind_names

    @property
    def vocabulary(self) -> CellVocabulary:
        """What the kind and state codes mean (from the last snapshot)."""
        return self.last.vocabulary

    @property
    def field_names(self) -> list[str]:
        return self.first.field_names

    @property
    def units(self) -> dict[str, str]:
        return self.first.units

    @property
    def has_population(self) -> bool:
        return self.first.has_population

    @property
    def sidecar(self) -> Path:
        """The XDMF file to open in ParaView."""
        return self.path / SIDECAR_NAME

    @property
    def scenario_text(self) -> str:
        """The resolved scenario (TOML) the run was made from."""
        return str(self.first.attrs.get("scenario", ""))

    @cached_property
    def scenario(self) -> dict[str, Any]:
        """The resolved scenario as a dict (empty if it cannot be parsed)."""
        try:
            return tomllib.loads(self.scenario_text)
        except (tomllib.TOMLDecodeError, TypeError):
            return {}

    @property
    def extra(self) -> dict[str, Any]:
        """Free-form run information stored with the snapshots."""
        try:
            return json.loads(self.first.attrs.get("extra", "{}") or "{}")
        except json.JSONDecodeError:
            return {}

    @cached_property
    def timeseries(self):
        """``RUN/timeseries.csv`` as a pandas DataFrame (empty when the run has none)."""
        import pandas as pd

        path = self.path / TIMESERIES_NAME
        if not path.exists():
            return pd.DataFrame()
        return pd.DataFrame(read_timeseries(path))

    @cached_property
    def timeseries_columns(self) -> dict[str, dict[str, Any]]:
        """Column → {"panel", "units", "counter"} of the time series' reported quantities."""
        return read_columns_info(self.path)


def open_run(path: str | os.PathLike) -> Run:
    """Open a run folder (or its ``run.xdmf``, or one of its snapshot files' folder).

    Parameters
    ----------
    path : the run folder written by ``spatialtumor run``

    Returns
    -------
    Run
        with ``.snapshots`` (lazy list of :class:`RunSnapshot`), ``.timeseries``, ``.grid``…

    Raises
    ------
    RunError
        when the folder holds no snapshot.
    """
    p = Path(path)
    if p.is_file():
        p = p.parent.parent if p.parent.name == "snapshots" else p.parent
    if p.name == "snapshots" and not (p / "snapshots").is_dir():
        p = p.parent
    if not p.is_dir():
        raise RunError(f"{p} is not a run folder")
    files = list_snapshots(p)
    if not files:
        raise RunError(f"{p} holds no snapshots (expected {p}/snapshots/snapshot_NNNNNN.h5)")
    items = [RunSnapshot(f, int(f.stem.split("_")[-1])) for f in files]
    return Run(path=p, snapshots=SnapshotList(items))


def write_synthetic_run(
    run_dir: str | os.PathLike,
    *,
    n_cells: int = 500,
    kinds: Sequence[str] = ("tumour", "cd8", "macrophage"),
    times: Sequence[float] = (0.0, 60.0, 120.0),
    shape: tuple[int, int, int] = (16, 16, 16),
    spacing: float = 20.0,
    seed: int = 0,
    growth: float = 0.2,
    scenario: str = 'title = "Synthetic run"\n',
) -> Path:
    """Write a small run folder with the real snapshot writer (for tests and benchmarks).

    Tumour cells (kind 0, model "tumour": states live, apoptotic, necrotic) fill a ball
    around the centre whose core is necrotic and whose rim holds a few apoptotic cells; the
    other kinds (model "inert", state live) sit in a shell around it. An
    ``oxygen`` field [mmHg] falls from 38 at the walls towards the centre. The number of
    cells grows by ``growth`` (fraction) per snapshot; ``timeseries.csv`` and ``run.xdmf``
    are written too.

    Parameters
    ----------
    n_cells : cells in the first snapshot
    times : snapshot times [min]
    shape : (nz, ny, nx) voxels
    spacing : voxel edge [µm]; the domain is centred on the origin
    """
    from .output.snapshots import SnapshotData, snapshot_name, write_snapshot
    from .output.vocabulary import V1_STATES
    from .output.xdmf import write_sidecar

    run_dir = Path(run_dir)
    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    sp = (float(spacing),) * 3
    origin = tuple(-0.5 * n * spacing for n in (nx, ny, nz))
    half = 0.5 * min(nx, ny, nz) * spacing
    entries, rows = [], []
    z, y, x = np.meshgrid(
        *(o + spacing * (np.arange(n) + 0.5) for o, n in zip(origin[::-1], shape, strict=True)),
        indexing="ij",
    )
    r_vox = np.sqrt(x * x + y * y + z * z)
    kinds = tuple(kinds)
    vocabulary = CellVocabulary(
        kind_names=kinds,
        kind_models=("tumour",) + ("inert",) * (len(kinds) - 1),
        kind_states=(V1_STATES,) + (("live",),) * (len(kinds) - 1),
        kind_colours=((0.84, 0.37, 0.0),) + (None,) * (len(kinds) - 1),
    )
    for i, t in enumerate(times):
        n = int(round(n_cells * (1.0 + growth) ** i))
        n_t = n if len(kinds) == 1 else int(0.7 * n)
        r_t = 0.45 * half * (n_t / max(n_cells, 1)) ** (1 / 3)
        u = rng.normal(size=(n, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        rad = np.empty(n)
        rad[:n_t] = r_t * rng.random(n_t) ** (1 / 3)
        rad[n_t:] = r_t * (1.1 + 0.3 * rng.random(n - n_t))
        pos = u * rad[:, None]
        kind = np.zeros(n, dtype=np.int16)
        if len(kinds) > 1:
            kind[n_t:] = 1 + rng.integers(0, len(kinds) - 1, n - n_t)
        state = np.zeros(n, dtype=np.int8)
        tum = kind == 0
        state[tum & (rad < 0.45 * r_t)] = 2
        state[tum & (rad >= 0.45 * r_t) & (rng.random(n) < 0.05)] = 1
        radius = np.where(kind == 0, 8.412, 6.0) * rng.uniform(0.9, 1.1, n)
        oxygen = 38.0 - 30.0 * np.exp(-((r_vox / (0.6 * half)) ** 2)) * (1 + 0.2 * i)
        oxygen = np.clip(oxygen, 0.0, None)
        cells = {
            "id": np.arange(n, dtype=np.int64) + 100000 * i,
            "kind": kind,
            "position": pos,
            "radius": radius,
            "volume": 4.0 / 3.0 * np.pi * radius**3,
            "age": rng.uniform(0.0, 600.0, n),
            "state": state,
            "active": state == 0,
        }
        data = SnapshotData(
            time=float(t),
            step=int(round(t / 0.02)),
            shape=tuple(shape),
            spacing=sp,
            origin=origin,
            fields={"oxygen": oxygen},
            species={"oxygen": {"units": "mmHg", "diffusivity": 1e5, "decay": 0.1}},
            cells=cells,
            kind_names=kinds,
            vocabulary=vocabulary,
            attrs={
                "seed": seed,
                "backend": "numpy",
                "device": "cpu",
                "dtype": "float64",
                "scenario": scenario,
                "scenario_path": "<synthetic>",
                "extra": "{}",
            },
        )
        path = run_dir / "snapshots" / snapshot_name(i)
        entries.append(write_snapshot(path, data, run_dir=run_dir, index=i))
        row = {
            "step": data.step,
            "time_min": float(t),
            "oxygen_total": float(oxygen.sum() * spacing**3),
            "oxygen_min": float(oxygen.min()),
            "oxygen_max": float(oxygen.max()),
            "oxygen_mean": float(oxygen.mean()),
            "cells_total": n,
        }
        for c, k in enumerate(kinds):
            row[f"cells_{k}"] = int(np.sum(kind == c))
        rows.append(row)
    write_sidecar(run_dir, entries)
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(repr(r[h]) for h in header) for r in rows]
    (run_dir / TIMESERIES_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir
