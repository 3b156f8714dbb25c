"""The ParaView sidecar: an XDMF file that indexes the snapshot HDF5 files as a time series.

The sidecar holds no data, only XML that points into the snapshots (paths relative to the
sidecar). Its layout, chosen so that ParaView 5.11+ (``XDMF Reader``, ``Xdmf3ReaderS``,
``Xdmf3ReaderT``) and VTK's ``vtkXdmfReader`` all read it::

    Xdmf Version="3.0"
      Domain
        Grid "fields"  Collection/Temporal      one Uniform grid per snapshot
          Grid  Time, 3DCoRectMesh (Dimensions nz ny nx), ORIGIN_DXDYDZ (z y x triplets),
                one point-centred Scalar attribute per species (values on voxel centres)
        Grid "cells"   Collection/Temporal      only when the run has a cell population
          Grid  Time, Polyvertex with explicit 0..N-1 connectivity, XYZ geometry,
                one point attribute per cell column (``<column>_<c>`` per component
                for (N, k) columns with k not 3 or 9); an empty Spatial collection
                (Time only) where the snapshot has no cells

Times are written with Python's ``repr(float(t))``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .atomic import write_text_atomic

SIDECAR_NAME = "run.xdmf"
CONNECTIVITY = "/xdmf/connectivity"


@dataclass(frozen=True)
class DataRef:
    """One HDF5 dataset as the sidecar sees it."""

    name: str  # attribute name shown in ParaView
    path: str  # dataset path inside the snapshot file
    shape: tuple[int, ...]
    number_type: str  # XDMF NumberType
    precision: int  # bytes


@dataclass(frozen=True)
class SidecarEntry:
    """What the sidecar needs to know about one completed snapshot.

    Attributes
    ----------
    file : snapshot path relative to the run folder, POSIX separators
    time : simulated time [min]
    step : diffusion step index
    shape : (nz, ny, nx) voxels
    first_centre : centre of voxel (0, 0, 0), (x, y, z) [µm]
    spacing : voxel edge lengths (dx, dy, dz) [µm]
    fields : one reference per species, each (nz, ny, nx)
    cells : one reference per cell column, or ``None`` when the run has no population
    n_cells : number of cells N
    """

    file: str
    time: float
    step: int
    shape: tuple[int, int, int]
    first_centre: tuple[float, float, float]
    spacing: tuple[float, float, float]
    fields: tuple[DataRef, ...]
    cells: tuple[DataRef, ...] | None
    n_cells: int


def number_type(dtype) -> tuple[str, int]:
    """XDMF ``(NumberType, Precision)`` of a NumPy dtype."""
    dt = np.dtype(dtype)
    if dt.kind == "f" and dt.itemsize in (4, 8):
        return "Float", dt.itemsize
    if dt.kind == "i":
        return ("Char", 1) if dt.itemsize == 1 else ("Int", dt.itemsize)
    if dt.kind == "u":
        return ("UChar", 1) if dt.itemsize == 1 else ("UInt", dt.itemsize)
    if dt.kind == "b":
        return "UChar", 1
    raise TypeError(f"dtype {dt} cannot be described in XDMF")


def _ref(name: str, ds: h5py.Dataset) -> DataRef:
    nt, prec = number_type(ds.dtype)
    return DataRef(name, ds.name, tuple(int(n) for n in ds.shape), nt, prec)


def _cell_refs(f: h5py.File) -> list[DataRef]:
    """One reference per cell column; (N, k) columns with k ∉ {3, 9} one per component.

    Vectors (k = 3) and tensors (k = 9) are read alike by every XDMF reader; other widths
    ("Matrix") are not (VTK 9.7's ``vtkXdmfReader`` makes one tuple of N·k values), so
    they point at the per-component copies in ``/xdmf/components``.
    """
    comp = f["xdmf/components"] if "xdmf/components" in f else None
    refs = []
    for name, ds in f["cells"].items():
        k = ds.shape[1] if ds.ndim == 2 else None
        if k is not None and k not in (3, 9) and comp is not None and f"{name}_0" in comp:
            refs += [_ref(f"{name}_{c}", comp[f"{name}_{c}"]) for c in range(k)]
        else:
            refs.append(_ref(name, ds))
    if "xdmf/kind_state" in f:
        refs.append(_ref("kind_state", f["xdmf/kind_state"]))
    return refs


def describe_snapshot(f: h5py.File, file: str) -> SidecarEntry:
    """Build the sidecar entry of an open snapshot file.

    Parameters
    ----------
    f : open snapshot (see ``docs/FORMAT.md``)
    file : its path relative to the run folder (POSIX separators)
    """
    g = f["grid"]
    fields = tuple(_ref(name, f["fields"][name]) for name in f["fields"])
    cells = None
    n_cells = int(f["cells"].attrs.get("count", 0)) if "cells" in f else 0
    if "cells" in f and bool(f["cells"].attrs.get("has_population", False)):
        cells = tuple(_cell_refs(f))
    return SidecarEntry(
        file=file,
        time=float(f.attrs["time_min"]),
        step=int(f.attrs["step"]),
        shape=tuple(int(n) for n in g.attrs["shape_zyx"]),
        first_centre=tuple(float(v) for v in g.attrs["first_centre_xyz"]),
        spacing=tuple(float(v) for v in g.attrs["spacing_xyz"]),
        fields=fields,
        cells=cells,
        n_cells=n_cells,
    )


def read_entry(run_dir: str | os.PathLike, snapshot: str | os.PathLike) -> SidecarEntry:
    """The sidecar entry of a snapshot file on disk."""
    run_dir = Path(run_dir)
    rel = Path(os.path.relpath(Path(snapshot), run_dir)).as_posix()
    with h5py.File(snapshot, "r") as f:
        return describe_snapshot(f, rel)


# XML --------------------------------------------------------------------------------------
def _floats(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def _data_item(parent: ET.Element, ref: DataRef, file: str, dims=None) -> ET.Element:
    item = ET.SubElement(
        parent,
        "DataItem",
        Dimensions=" ".join(str(n) for n in (ref.shape if dims is None else dims)),
        NumberType=ref.number_type,
        Precision=str(ref.precision),
        Format="HDF",
    )
    item.text = f"{file}:{ref.path}"
    return item


def _attribute_type(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "Scalar"
    k = shape[1]
    return {3: "Vector", 9: "Tensor"}.get(k, "Matrix")


def _fields_grid(parent: ET.Element, e: SidecarEntry) -> None:
    grid = ET.SubElement(parent, "Grid", Name=f"fields_{e.step:06d}", GridType="Uniform")
    ET.SubElement(grid, "Time", Value=repr(float(e.time)))
    dims = " ".join(str(n) for n in e.shape)  # nz ny nx: the point counts, z y x order
    ET.SubElement(grid, "Topology", TopologyType="3DCoRectMesh", Dimensions=dims)
    geo = ET.SubElement(grid, "Geometry", GeometryType="ORIGIN_DXDYDZ")
    for name, xyz in (("Origin", e.first_centre), ("Spacing", e.spacing)):
        item = ET.SubElement(
            geo,
            "DataItem",
            Name=name,
            Dimensions="3",
            NumberType="Float",
            Precision="8",
            Format="XML",
        )
        item.text = _floats(xyz[::-1])  # z y x
    for ref in e.fields:
        att = ET.SubElement(grid, "Attribute", Name=ref.name, AttributeType="Scalar", Center="Node")
        _data_item(att, ref, e.file)


def _cells_grid(parent: ET.Element, e: SidecarEntry) -> None:
    n = e.n_cells
    if n == 0:
        # XDMF 2 readers (VTK's vtkXdmfReader, ParaView's "XDMF Reader") fail on zero-length
        # data items, and leaving the time out would make readers show the previous cells:
        # an empty spatial collection says "no cells at this time" to every reader.
        empty = ET.SubElement(
            parent,
            "Grid",
            Name=f"cells_{e.step:06d}",
            GridType="Collection",
            CollectionType="Spatial",
        )
        ET.SubElement(empty, "Time", Value=repr(float(e.time)))
        return
    grid = ET.SubElement(parent, "Grid", Name=f"cells_{e.step:06d}", GridType="Uniform")
    ET.SubElement(grid, "Time", Value=repr(float(e.time)))
    topo = ET.SubElement(
        grid, "Topology", TopologyType="Polyvertex", NumberOfElements=str(n), NodesPerElement="1"
    )
    _data_item(topo, DataRef("connectivity", CONNECTIVITY, (n,), "Int", 8), e.file)
    geo = ET.SubElement(grid, "Geometry", GeometryType="XYZ")
    position = [ref for ref in e.cells or () if ref.name == "position"]
    if not position:
        raise ValueError(f"snapshot {e.file} has cells but no /cells/position column")
    _data_item(geo, position[0], e.file)
    for ref in e.cells or ():
        att = ET.SubElement(
            grid,
            "Attribute",
            Name=ref.name,
            AttributeType=_attribute_type(ref.shape),
            Center="Node",
        )
        _data_item(att, ref, e.file)


def sidecar_xml(entries: list[SidecarEntry]) -> str:
    """The text of the sidecar listing ``entries`` (in time order)."""
    root = ET.Element("Xdmf", Version="3.0")
    root.set("xmlns:xi", "http://www.w3.org/2001/XInclude")
    domain = ET.SubElement(root, "Domain")
    fields = ET.SubElement(
        domain, "Grid", Name="fields", GridType="Collection", CollectionType="Temporal"
    )
    for e in entries:
        _fields_grid(fields, e)
    if any(e.cells is not None for e in entries):
        cells = ET.SubElement(
            domain, "Grid", Name="cells", GridType="Collection", CollectionType="Temporal"
        )
        for e in entries:
            if e.cells is not None:
                _cells_grid(cells, e)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


def write_sidecar(run_dir: str | os.PathLike, entries: list[SidecarEntry]) -> Path:
    """Atomically (re)write ``run_dir/run.xdmf`` listing ``entries``."""
    path = Path(run_dir) / SIDECAR_NAME
    write_text_atomic(path, sidecar_xml(entries))
    return path


def rebuild_sidecar(run_dir: str | os.PathLike) -> Path:
    """Rewrite the sidecar from the snapshot files present in ``run_dir/snapshots``.

    Useful after copying or pruning snapshots; every file listed must be a complete snapshot.
    """
    from .reader import list_snapshots

    entries = [read_entry(run_dir, p) for p in list_snapshots(run_dir)]
    entries.sort(key=lambda e: (e.time, e.step))
    return write_sidecar(run_dir, entries)
