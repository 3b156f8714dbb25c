"""HDF5 snapshots: one self-describing file per output time, written crash-safely.

Layout (``format = "spatialtumor-snapshot"``, ``format_version = 2``; see ``docs/FORMAT.md``)::

    /                 attrs: format, format_version, time_min, step, snapshot_index, seed,
                             backend, device, dtype, dt_diffusion_min, versions, created,
                             scenario, scenario_path, extra
    /grid             attrs: shape_zyx, spacing_xyz, origin_xyz, first_centre_xyz,
                             offset_zyx, voxel_volume
    /fields/<name>    (nz, ny, nx) values on voxel centres; attrs units, diffusivity, decay, …
    /cells/<column>   (N,) or (N, k) per cell column; group attrs count, kind_names,
                      kind_models, kind_states, kind_colours, class_names, column_owners, …
    /xdmf/connectivity  (N,) int64 0..N-1, the Polyvertex topology used by the sidecar
    /xdmf/kind_state  (N,) int16 index into class_names ("<kind>/<state>") for ParaView
    /xdmf/components/<column>_<c>  (N,) component c of an (N, k) cell column with k ∉ {3, 9}

Each file is written under a hidden temporary name in the same folder, flushed, fsynced,
closed and then renamed into place (``os.replace``); the sidecar ``run.xdmf`` is rewritten
the same way afterwards and lists only completed snapshots.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .atomic import atomic_path, remove_stale_temporaries
from .reader import FORMAT, FORMAT_VERSION, snapshot_files
from .schedule import Schedule
from .vocabulary import CellVocabulary
from .xdmf import SIDECAR_NAME, SidecarEntry, describe_snapshot, read_entry, write_sidecar

SNAPSHOT_DIR = "snapshots"
#: part files of snapshots written by several MPI ranks (``spatialtumor.output.parts``)
PARTS_DIR = "parts"
EXISTING_POLICIES = ("error", "overwrite", "append")


def snapshot_name(index: int) -> str:
    """File name of snapshot number ``index`` (``snapshot_000000.h5``, ...)."""
    return f"snapshot_{index:06d}.h5"


@dataclass
class SnapshotData:
    """Everything one snapshot file holds, on the host.

    Attributes
    ----------
    time : simulated time [min]
    step : diffusion step index
    shape : (nz, ny, nx)
    spacing : (dx, dy, dz) [µm]
    origin : lower corner of the domain (x, y, z) [µm]
    offset : (kz, jy, ix) position of this box in a global grid [voxels]
    fields : name → (nz, ny, nx) array [species units]
    species : name → attributes of the dataset (units, diffusivity [µm²/min], decay [1/min], …)
    cells : column → (N,) or (N, k) array, or ``None`` when the run has no population
    kind_names : kind code → name
    attrs : further root attributes (run description, versions)
    vocabulary : names of the kind and state codes, colours, column owners and units
    """

    time: float
    step: int
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    offset: tuple[int, int, int] = (0, 0, 0)
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    species: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: dict[str, np.ndarray] | None = None
    kind_names: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    vocabulary: CellVocabulary | None = None


def _versions() -> dict[str, str]:
    from .. import __version__

    return {
        "spatialtumor_version": __version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "hdf5_version": h5py.version.hdf5_version,
    }


def _species_attrs(sp) -> dict[str, Any]:
    faces = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
    return {
        "units": str(sp.units),
        "diffusivity": float(sp.diffusivity),
        "decay": float(sp.decay),
        "solver": str(sp.solver),
        "boundary": json.dumps(dict(zip(faces, sp.boundary.values(), strict=True))),
    }


def _check_cells(columns: dict[str, Any]) -> dict[str, np.ndarray]:
    """Host copies of the cell columns, validated: same N, position (N, 3)."""
    cols = {str(k): np.ascontiguousarray(np.asarray(v)) for k, v in columns.items()}
    if "position" not in cols:
        raise ValueError("cell population has no 'position' column")
    n = cols["position"].shape[0]
    if cols["position"].shape != (n, 3):
        raise ValueError(f"cell 'position' must be (N, 3), got {cols['position'].shape}")
    for name, a in cols.items():
        if a.ndim not in (1, 2) or a.shape[0] != n:
            raise ValueError(
                f"cell column {name!r} has shape {a.shape}; expected ({n},) or ({n}, k)"
            )
        if a.dtype.kind not in "biuf":
            raise ValueError(f"cell column {name!r} has unsupported dtype {a.dtype}")
    return cols


def snapshot_from_sim(sim, *, arrays: bool = True) -> SnapshotData:
    """Copy the state of a :class:`~spatialtumor.Simulation` to the host.

    ``arrays=False`` copies only the description (attributes, geometry, species, the cells'
    vocabulary): its ``fields`` map every name to None and ``cells`` is an empty dict when
    the run has a population (what a snapshot written in parts needs on rank 0).
    """
    g = sim.grid
    values = sim.backend.asnumpy(sim.fields.values) if arrays else None
    names = list(sim.fields.names)
    cells = None
    kind_names: tuple[str, ...] = ()
    vocabulary = None
    pop = sim.population
    if pop is not None:
        cells = _check_cells(pop.to_host()) if arrays else {}
        kind_names = tuple(str(k) for k in getattr(pop, "kind_names", ()))
        vocabulary = CellVocabulary.of_population(pop)
    info = sim.info
    attrs = {
        "seed": int(info.seed),
        "backend": str(sim.backend.name),
        "device": str(sim.backend.device),
        "dtype": str(np.dtype(sim.backend.dtype).name),
        "backend_description": str(sim.backend.describe()),
        "dt_diffusion_min": float(sim.clock.dt_diffusion),
        "scenario": str(info.scenario_text),
        "scenario_path": str(info.scenario_path),
        "extra": json.dumps(info.extra, default=str, sort_keys=True),
    }
    return SnapshotData(
        time=float(sim.time),
        step=int(sim.step_index),
        shape=tuple(g.shape),
        spacing=tuple(float(v) for v in g.spacing),
        origin=tuple(float(v) for v in g.origin),
        offset=tuple(int(v) for v in g.offset),
        fields={n: None if values is None else values[i] for i, n in enumerate(names)},
        species={n: _species_attrs(sim.fields.species[n]) for n in names},
        cells=cells,
        kind_names=kind_names,
        attrs=attrs,
        vocabulary=vocabulary,
    )


def _strings(values) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=h5py.string_dtype())


def write_header(f: h5py.File, data: SnapshotData, index: int) -> None:
    """The root attributes and the ``/grid`` group of a snapshot file."""
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["time_min"] = float(data.time)
    f.attrs["step"] = int(data.step)
    f.attrs["snapshot_index"] = int(index)
    for k, v in {**data.attrs, **_versions()}.items():
        f.attrs[k] = v
    f.attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    f.attrs["field_names"] = _strings(data.fields)

    spacing = np.asarray(data.spacing, dtype=np.float64)
    origin = np.asarray(data.origin, dtype=np.float64)
    g = f.create_group("grid")
    g.attrs["shape_zyx"] = np.asarray(data.shape, dtype=np.int64)
    g.attrs["spacing_xyz"] = spacing
    g.attrs["origin_xyz"] = origin
    g.attrs["first_centre_xyz"] = origin + 0.5 * spacing
    g.attrs["offset_zyx"] = np.asarray(data.offset, dtype=np.int64)
    g.attrs["voxel_volume"] = float(np.prod(spacing))


def cells_group(f: h5py.File, data: SnapshotData, n: int) -> tuple[h5py.Group, CellVocabulary]:
    """The ``/cells`` group with its attributes (``n`` cells); returns it and its vocabulary."""
    cg = f.create_group("cells", track_order=True)
    cg.attrs["has_population"] = data.cells is not None
    cg.attrs["count"] = int(n)
    vocab = data.vocabulary
    if vocab is None or vocab.kind_names != tuple(data.kind_names):
        vocab = CellVocabulary.v1(data.kind_names)  # columns given without their meaning
    vocab.write(cg)
    return cg, vocab


def write_cell_columns(f, cg, cols, vocab, put, first: int = 0) -> None:
    """The cell columns into ``cg`` and the ``/xdmf`` helpers (connectivity numbered from
    ``first``: the row of the first cell in the whole snapshot)."""
    n = int(cols["position"].shape[0]) if cols else 0
    for name, a in cols.items():
        ds = put(cg, name, a.astype(np.uint8) if a.dtype == np.bool_ else a)
        if a.dtype == np.bool_:
            ds.attrs["bool"] = True
    xg = f.create_group("xdmf")
    xg.create_dataset("connectivity", data=np.arange(first, first + n, dtype=np.int64))
    if "kind" in cols:
        state = cols.get("state", np.zeros(n, dtype=np.int8))
        put(xg, "kind_state", vocab.class_codes(cols["kind"], state))
    # XDMF readers disagree on "Matrix" attributes: (N, k) columns other than vectors
    # (k = 3) and tensors (k = 9) are also stored one component per dataset for the sidecar
    split = {k: a for k, a in cols.items() if a.ndim == 2 and a.shape[1] not in (3, 9)}
    if split:
        comp = xg.create_group("components", track_order=True)
        for name, a in split.items():
            a = a.astype(np.uint8) if a.dtype == np.bool_ else a
            for c in range(a.shape[1]):
                put(comp, f"{name}_{c}", np.ascontiguousarray(a[:, c]))


def dataset_writer(compression: str | None, compression_opts: int | None):
    """``put(group, name, array)``: a dataset, compressed as asked when not empty."""
    opts = {}
    if compression is not None:
        opts = {"compression": compression, "compression_opts": compression_opts}

    def put(group: h5py.Group, name: str, array: np.ndarray) -> h5py.Dataset:
        return group.create_dataset(name, data=array, **(opts if array.size else {}))

    return put


def write_snapshot_file(
    f: h5py.File,
    data: SnapshotData,
    *,
    index: int = 0,
    compression: str | None = None,
    compression_opts: int | None = None,
) -> None:
    """Write ``data`` into an open, empty HDF5 file (layout of ``docs/FORMAT.md``)."""
    put = dataset_writer(compression, compression_opts)
    write_header(f, data, index)
    fg = f.create_group("fields", track_order=True)
    for name, values in data.fields.items():
        if tuple(values.shape) != tuple(data.shape):
            raise ValueError(f"field {name!r} has shape {values.shape}, grid is {data.shape}")
        ds = put(fg, name, np.ascontiguousarray(values))
        for k, v in data.species.get(name, {}).items():
            ds.attrs[k] = v

    cols = data.cells or {}
    n = int(cols["position"].shape[0]) if cols else 0
    cg, vocab = cells_group(f, data, n)
    if data.cells is not None:
        write_cell_columns(f, cg, cols, vocab, put)


def write_snapshot(
    path: str | os.PathLike,
    data: SnapshotData,
    *,
    run_dir: str | os.PathLike | None = None,
    index: int = 0,
    compression: str | None = None,
    compression_opts: int | None = None,
) -> SidecarEntry:
    """Write one snapshot file atomically and return its sidecar entry.

    The file appears at ``path`` only once it is complete (temporary name, fsync,
    ``os.replace``). ``run_dir`` (default: the parent of ``path``'s folder) is what the
    entry's relative file name is relative to.
    """
    path = Path(path)
    run_dir = Path(run_dir) if run_dir is not None else path.parent.parent
    rel = Path(os.path.relpath(path, run_dir)).as_posix()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            write_snapshot_file(
                f, data, index=index, compression=compression, compression_opts=compression_opts
            )
            f.flush()
            entry = describe_snapshot(f, rel)
    return entry


class SnapshotWriter:
    """Writes ``RUN/snapshots/snapshot_NNNNNN.h5`` and keeps ``RUN/run.xdmf`` up to date.

    Parameters
    ----------
    run_dir : the run folder (created if missing)
    every : interval between snapshots [min] of simulated time, rounded to whole diffusion
        steps; the stop step is always written too
    compression : ``None`` (default, fastest), ``"gzip"`` or ``"lzf"``
    compression_opts : gzip level 0–9
    existing : what to do if the folder already holds snapshots: ``"error"`` (default),
        ``"overwrite"`` (delete them and the sidecar first) or ``"append"`` (continue a
        restarted run: keep those older than the first step written, drop the others)
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        every: float = 60.0,
        *,
        compression: str | None = None,
        compression_opts: int | None = None,
        existing: str = "error",
    ):
        if existing not in EXISTING_POLICIES:
            raise ValueError(f"existing must be one of {EXISTING_POLICIES}, got {existing!r}")
        if compression not in (None, "gzip", "lzf"):
            raise ValueError(f"compression must be None, 'gzip' or 'lzf', got {compression!r}")
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / SNAPSHOT_DIR
        self.schedule = Schedule(every)
        self.compression = compression
        self.compression_opts = compression_opts
        self.entries: list[SidecarEntry] = []
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)
        remove_stale_temporaries(self.run_dir)
        remove_stale_temporaries(self.folder / PARTS_DIR)
        found = snapshot_files(self.folder)
        sidecar = self.run_dir / SIDECAR_NAME
        if existing == "error" and (found or sidecar.exists()):
            raise FileExistsError(
                f"{self.run_dir} already holds snapshots; choose another folder, or overwrite "
                "or append explicitly"
            )
        if existing == "overwrite":
            for _, p in found:
                p.unlink()
            sidecar.unlink(missing_ok=True)
            found = []
            from .parts import remove_parts

            remove_parts(self.folder)
        self._existing = found  # (index, path), reconciled at the first write
        self.next_index = found[-1][0] + 1 if found else 0

    @property
    def every(self) -> float:
        """Interval between snapshots [min]."""
        return self.schedule.every

    def due(self, sim) -> bool:
        return self.schedule.due(sim)

    def _adopt_existing(self, step: int) -> None:
        """Keep earlier snapshots of a restarted run that precede ``step``; drop the rest."""
        kept = []
        for index, p in self._existing:
            try:
                entry = read_entry(self.run_dir, p)
            except (OSError, KeyError) as exc:
                raise RuntimeError(f"cannot append to {self.run_dir}: {p} is unreadable") from exc
            if entry.step < step:
                kept.append((index, entry))
            else:
                p.unlink()
        self.entries = [e for _, e in kept]
        self.next_index = kept[-1][0] + 1 if kept else 0
        self._existing = []
        from .parts import remove_parts

        remove_parts(self.folder, self.next_index)  # the parts of the snapshots dropped

    def write(self, sim, *, diagnostic: str | None = None) -> Path:
        """Write the current state; return the snapshot path.

        ``diagnostic`` (the reason a run stopped, e.g. a blow-up) marks the snapshot as a
        diagnostic one: root attribute ``diagnostic`` holds the reason.
        """
        if self._existing:
            self._adopt_existing(int(sim.step_index))
        data = snapshot_from_sim(sim)
        if diagnostic is not None:
            data.attrs["diagnostic"] = str(diagnostic)
        path = self.folder / snapshot_name(self.next_index)
        entry = write_snapshot(
            path,
            data,
            run_dir=self.run_dir,
            index=self.next_index,
            compression=self.compression,
            compression_opts=self.compression_opts,
        )
        self.entries.append(entry)
        write_sidecar(self.run_dir, self.entries)
        self.next_index += 1
        self.schedule.mark(sim)
        return path

    def begin_parts(self, step: int) -> tuple[int, str, str | None, int | None]:
        """Before the ranks write their parts of the snapshot at ``step``: reconcile a
        restarted folder and drop stale part files of this and later snapshot numbers.
        Returns ``(index, snapshots folder, compression, compression_opts)``."""
        from .parts import remove_parts

        if self._existing:
            self._adopt_existing(int(step))
        remove_parts(self.folder, self.next_index)
        return self.next_index, str(self.folder), self.compression, self.compression_opts

    def write_master(self, sim, parts) -> Path:
        """Once every rank's part is in place (``parts``: :class:`~.parts.PartInfo` in rank
        order), write the snapshot file over them and the sidecar; ``sim`` is the whole
        domain's description (its field values are not read). Returns the snapshot path."""
        from .parts import write_master

        data = snapshot_from_sim(sim, arrays=False)
        path = self.folder / snapshot_name(self.next_index)
        entry = write_master(path, data, parts, run_dir=self.run_dir, index=self.next_index)
        self.entries.append(entry)
        write_sidecar(self.run_dir, self.entries)
        self.next_index += 1
        self.schedule.mark(sim)
        return path

    def write_diagnostic(self, sim, reason: str) -> Path:
        """Write the state a run stopped in, marked ``diagnostic = reason``; return its path."""
        return self.write(sim, diagnostic=reason)

    def close(self) -> None:
        """Nothing is held open between snapshots, so there is nothing to release."""
