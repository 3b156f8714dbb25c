"""Snapshots written in parts: every MPI rank writes its slab (and its cells) to a part file,
rank 0 writes the snapshot file, whose datasets are HDF5 virtual datasets over the parts.

Layout (see ``docs/FORMAT.md`` §2a)::

    RUN/snapshots/snapshot_000012.h5                the snapshot (attributes as always, VDS data)
    RUN/snapshots/parts/snapshot_000012.r0003.h5    rank 3's part of it

A part file holds ``/fields/<species>`` (the rank's slab, ``shape_zyx`` at ``offset_zyx`` of
the whole grid), ``/cells/<column>`` (the rank's cells in id order) and the ``/xdmf`` helpers
of those rows; its root attributes say where it belongs. The snapshot file maps the slabs
into the whole ``(nz, ny, nx)`` fields and concatenates the cells, rank by rank, through
virtual datasets whose source files are named relative to the snapshot's folder, so HDF5
(h5py, ParaView) reads it as an ordinary snapshot and a run folder can be moved.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..grid import block
from .atomic import atomic_path, remove_stale_temporaries
from .snapshots import (
    PARTS_DIR,
    SnapshotData,
    cells_group,
    dataset_writer,
    write_cell_columns,
    write_header,
)
from .xdmf import SidecarEntry, describe_snapshot

PART_FORMAT = "spatialtumor-snapshot-part"
PART_FORMAT_VERSION = 1
PART_PATTERN = re.compile(r"^snapshot_(\d{6,})\.r(\d{4,})\.h5$")


def part_name(index: int, rank: int) -> str:
    """File name of ``rank``'s part of snapshot ``index`` (``snapshot_000012.r0003.h5``)."""
    return f"snapshot_{index:06d}.r{rank:04d}.h5"


@dataclass(frozen=True)
class PartInfo:
    """One rank's part of a snapshot, as the snapshot file maps it.

    Attributes
    ----------
    file : the part file, relative to the snapshot's folder, POSIX separators
    offset : (kz, jy, ix) of the slab in the whole grid [voxels]
    shape : (nz, ny, nx) of the slab [voxels]
    n_cells : rows of cells in the part
    """

    file: str
    offset: tuple[int, int, int]
    shape: tuple[int, int, int]
    n_cells: int


def part_files(folder: str | os.PathLike) -> list[tuple[int, int, Path]]:
    """``(index, rank, path)`` of the part files in ``RUN/snapshots/parts`` (``folder`` is
    ``RUN/snapshots``), sorted."""
    parts = Path(folder) / PARTS_DIR
    if not parts.is_dir():
        return []
    found = []
    for p in parts.iterdir():
        m = PART_PATTERN.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), int(m.group(2)), p))
    return sorted(found)


def remove_parts(folder: str | os.PathLike, start: int = 0, stop: int | None = None) -> None:
    """Delete the part files of snapshots ``start`` ≤ index < ``stop`` (all after ``start``
    when ``stop`` is None) and stale temporaries in ``RUN/snapshots/parts``."""
    remove_stale_temporaries(Path(folder) / PARTS_DIR)
    for index, _, p in part_files(folder):
        if index >= start and (stop is None or index < stop):
            p.unlink(missing_ok=True)


def write_part(
    path: str | os.PathLike,
    data: SnapshotData,
    *,
    index: int,
    rank: int,
    ranks: int,
    offset: tuple[int, int, int],
    first_cell: int,
    compression: str | None = None,
    compression_opts: int | None = None,
) -> None:
    """Write one rank's part atomically: ``data`` holds the slab's fields (``data.shape``)
    and the rank's cells (rows ``first_cell`` … of the snapshot), already in id order."""
    put = dataset_writer(compression, compression_opts)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["format"] = PART_FORMAT
            f.attrs["format_version"] = PART_FORMAT_VERSION
            f.attrs["snapshot_index"] = int(index)
            f.attrs["step"] = int(data.step)
            f.attrs["time_min"] = float(data.time)
            f.attrs["rank"] = int(rank)
            f.attrs["ranks"] = int(ranks)
            f.attrs["offset_zyx"] = np.asarray(offset, dtype=np.int64)
            f.attrs["shape_zyx"] = np.asarray(data.shape, dtype=np.int64)
            f.attrs["first_cell"] = int(first_cell)
            fg = f.create_group("fields", track_order=True)
            for name, values in data.fields.items():
                if tuple(values.shape) != tuple(data.shape):
                    raise ValueError(
                        f"field {name!r} has shape {values.shape}, slab is {data.shape}"
                    )
                put(fg, name, np.ascontiguousarray(values))
            cols = data.cells
            if cols is not None:
                cg = f.create_group("cells", track_order=True)
                f.attrs["count"] = int(cols["position"].shape[0]) if cols else 0
                vocab = data.vocabulary
                write_cell_columns(f, cg, cols, vocab, put, first=first_cell)
            f.flush()


def _cell_datasets(f: h5py.File) -> list[tuple[str, np.dtype, tuple[int, ...], bool]]:
    """``(path, dtype, row shape, bool)`` of every row-indexed dataset of a part file, in
    the file's order: the cell columns, then the ``/xdmf`` helpers."""
    out = []

    def walk(group: h5py.Group) -> None:
        for obj in group.values():  # creation order
            if isinstance(obj, h5py.Group):
                walk(obj)
            else:
                row = tuple(obj.shape[1:])
                out.append((obj.name.lstrip("/"), obj.dtype, row, bool(obj.attrs.get("bool", 0))))

    for group in ("cells", "xdmf"):
        if group in f:
            walk(f[group])
    return out


def write_master(
    path: str | os.PathLike,
    data: SnapshotData,
    parts: list[PartInfo],
    *,
    run_dir: str | os.PathLike,
    index: int,
) -> SidecarEntry:
    """Write the snapshot file of a snapshot written in parts, atomically, after every part
    is in place; return its sidecar entry.

    ``data`` describes the whole snapshot (attributes, geometry, species, vocabulary; its
    arrays are not used: ``fields`` names the species, ``cells`` is None without a
    population). The field and cell datasets are virtual: fields map each part's slab into
    ``(nz, ny, nx)`` (fill value NaN where a part file is missing), cells concatenate the
    parts' rows in rank order.
    """
    path = Path(path)
    folder = path.parent
    rel = Path(os.path.relpath(path, run_dir)).as_posix()
    with h5py.File(folder / parts[0].file, "r") as first:
        dtypes = {n: first["fields"][n].dtype for n in first["fields"]}
        rows = _cell_datasets(first) if data.cells is not None else []
    n_total = int(sum(p.n_cells for p in parts))
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            write_header(f, data, index)
            fg = f.create_group("fields", track_order=True)
            for name in data.fields:
                layout = h5py.VirtualLayout(shape=tuple(data.shape), dtype=dtypes[name])
                for p in parts:
                    layout[block(p.offset, p.shape)] = h5py.VirtualSource(
                        p.file, f"fields/{name}", shape=p.shape
                    )
                fill = np.nan if dtypes[name].kind == "f" else 0
                ds = fg.create_virtual_dataset(name, layout, fillvalue=fill)
                for k, v in data.species.get(name, {}).items():
                    ds.attrs[k] = v
            cells_group(f, data, n_total)
            for name, dtype, row, is_bool in rows:
                group, _, leaf = name.rpartition("/")
                g = f[group] if group in f else f.create_group(group, track_order=True)
                if n_total == 0:
                    ds = g.create_dataset(leaf, shape=(0, *row), dtype=dtype)
                else:
                    layout = h5py.VirtualLayout(shape=(n_total, *row), dtype=dtype)
                    start = 0
                    for p in parts:
                        if p.n_cells:
                            src = h5py.VirtualSource(p.file, name, shape=(p.n_cells, *row))
                            layout[start : start + p.n_cells] = src
                            start += p.n_cells
                    ds = g.create_virtual_dataset(leaf, layout)
                if is_bool:
                    ds.attrs["bool"] = True
            f.flush()
            entry = describe_snapshot(f, rel)
    return entry
