"""Read snapshots back into NumPy (needs only numpy and h5py; never imports cupy)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .vocabulary import CellVocabulary

FORMAT = "spatialtumor-snapshot"
FORMAT_VERSION = 2  # the version written by this package
SUPPORTED_VERSIONS = (1, 2)
SNAPSHOT_PATTERN = re.compile(r"^snapshot_(\d{6,})\.h5$")


class SnapshotFormatError(ValueError):
    """The file is not a snapshot of a format version this reader understands."""


@dataclass(frozen=True)
class GridGeometry:
    """Cell-centred voxel geometry of a snapshot.

    Attributes
    ----------
    shape : (nz, ny, nx) voxels; arrays are C-order with x varying fastest
    spacing : (dx, dy, dz) voxel edge lengths [µm]
    origin : lower corner of the domain (x, y, z) [µm]
    first_centre : centre of voxel (0, 0, 0), ``origin + spacing / 2`` (x, y, z) [µm]
    offset : (kz, jy, ix) position of this box inside a global grid [voxels]
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    first_centre: tuple[float, float, float]
    offset: tuple[int, int, int] = (0, 0, 0)

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel [µm³]."""
        return float(np.prod(self.spacing))

    def centres(self, axis: str) -> np.ndarray:
        """Voxel-centre coordinates along ``axis`` ("x", "y" or "z") [µm]."""
        a = "xyz".index(axis)
        n = self.shape[2 - a]
        return self.first_centre[a] + self.spacing[a] * np.arange(n)

    def centre(self, k: int, j: int, i: int) -> np.ndarray:
        """Centre (x, y, z) [µm] of voxel ``[k, j, i]`` of an (nz, ny, nx) array."""
        return np.asarray(self.first_centre) + np.asarray(self.spacing) * np.array([i, j, k])


@dataclass
class Snapshot:
    """One snapshot read back.

    Attributes
    ----------
    path : the file
    time : simulated time [min]
    step : diffusion step index
    grid : voxel geometry
    fields : species name → (nz, ny, nx) array [species units]
    species : species name → dataset attributes (units, diffusivity [µm²/min], decay [1/min], …)
    cells : column → (N,) or (N, k) array (empty when the run has no population)
    kind_names : kind code → name
    has_population : whether the run had a cell population
    attrs : all root attributes (format, versions, seed, backend, scenario, …)
    vocabulary : what the kind and state codes mean (also rebuilt for format-1 files)
    """

    path: Path
    time: float
    step: int
    grid: GridGeometry
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    species: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    kind_names: tuple[str, ...] = ()
    has_population: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)
    vocabulary: CellVocabulary = field(default_factory=CellVocabulary)

    @property
    def units(self) -> dict[str, str]:
        """Species name → concentration units."""
        return {n: str(a.get("units", "")) for n, a in self.species.items()}

    @property
    def scenario(self) -> str:
        """The resolved scenario (TOML text) the run was made from."""
        return str(self.attrs.get("scenario", ""))

    @property
    def extra(self) -> dict[str, Any]:
        """Free-form run information stored at write time."""
        return json.loads(self.attrs.get("extra", "{}") or "{}")

    @property
    def n_cells(self) -> int:
        return int(self.cells["position"].shape[0]) if "position" in self.cells else 0


def _plain(value):
    """HDF5 attribute → plain Python value (str, int, float, bool, list or ndarray)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value]
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_format(f: h5py.File) -> int:
    """Return the format version of an open file, or raise :class:`SnapshotFormatError`."""
    fmt = _plain(f.attrs.get("format", ""))
    if fmt != FORMAT:
        raise SnapshotFormatError(f"{f.filename} is not a spatialtumor snapshot (format={fmt!r})")
    version = int(f.attrs.get("format_version", -1))
    if version not in SUPPORTED_VERSIONS:
        raise SnapshotFormatError(
            f"{f.filename} has format_version {version}; this reader supports {SUPPORTED_VERSIONS}"
        )
    return version


def read_geometry(f: h5py.File) -> GridGeometry:
    """The ``/grid`` attributes of an open snapshot file."""
    g = f["grid"].attrs
    return GridGeometry(
        shape=tuple(int(n) for n in g["shape_zyx"]),
        spacing=tuple(float(v) for v in g["spacing_xyz"]),
        origin=tuple(float(v) for v in g["origin_xyz"]),
        first_centre=tuple(float(v) for v in g["first_centre_xyz"]),
        offset=tuple(int(v) for v in g["offset_zyx"]),
    )


def read_snapshot(
    path: str | os.PathLike, *, fields: list[str] | None = None, cells: bool = True
) -> Snapshot:
    """Read one snapshot file.

    Parameters
    ----------
    path : a ``snapshot_NNNNNN.h5`` file
    fields : species to load (default: all)
    cells : whether to load the cell columns
    """
    path = Path(path)
    with h5py.File(path, "r") as f:
        check_format(f)
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        grid = read_geometry(f)
        names = list(f["fields"]) if fields is None else list(fields)
        values, species = {}, {}
        for name in names:
            if name not in f["fields"]:
                raise KeyError(f"{path} has no field {name!r}; fields are {list(f['fields'])}")
            ds = f["fields"][name]
            values[name] = ds[()]
            species[name] = {k: _plain(v) for k, v in ds.attrs.items()}
        columns: dict[str, np.ndarray] = {}
        kind_names: tuple[str, ...] = ()
        has_population = False
        version = int(attrs["format_version"])
        vocabulary = CellVocabulary.read(
            f["cells"] if "cells" in f else None, version, str(attrs.get("scenario", ""))
        )
        if "cells" in f:
            cg = f["cells"]
            kind_names = vocabulary.kind_names
            has_population = bool(cg.attrs.get("has_population", False))
            if cells:
                for name, ds in cg.items():
                    a = ds[()]
                    columns[name] = a.astype(bool) if ds.attrs.get("bool", False) else a
    return Snapshot(
        path=path,
        time=float(attrs["time_min"]),
        step=int(attrs["step"]),
        grid=grid,
        fields=values,
        species=species,
        cells=columns,
        kind_names=kind_names,
        has_population=has_population,
        attrs=attrs,
        vocabulary=vocabulary,
    )


def list_snapshots(run_dir: str | os.PathLike) -> list[Path]:
    """Completed snapshot files of a run, in write order.

    ``run_dir`` is the run folder (or its ``snapshots`` folder). Temporary files of a
    snapshot being written are never listed.
    """
    folder = Path(run_dir)
    if (folder / "snapshots").is_dir():
        folder = folder / "snapshots"
    return [p for _, p in snapshot_files(folder)]


def snapshot_files(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(index, path)`` of the ``snapshot_NNNNNN.h5`` files in ``folder``, by index."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = SNAPSHOT_PATTERN.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def read_run(run_dir: str | os.PathLike, **kwargs) -> list[Snapshot]:
    """All snapshots of a run (see :func:`read_snapshot` for the options)."""
    return [read_snapshot(p, **kwargs) for p in list_snapshots(run_dir)]
