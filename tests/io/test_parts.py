"""Snapshot files over part files (HDF5 virtual datasets), without MPI: slabs cut along z, y
or x map into the whole fields, cells concatenate (a part may hold none), the readers see
an ordinary snapshot, and a missing part reads as NaN rather than as plausible zeros."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from spatialtumor.output import read_snapshot
from spatialtumor.output.parts import (
    PARTS_DIR,
    PartInfo,
    part_files,
    part_name,
    remove_parts,
    write_master,
    write_part,
)
from spatialtumor.output.snapshots import SnapshotData, snapshot_name, write_snapshot
from spatialtumor.output.vocabulary import CellVocabulary
from spatialtumor.parallel.slabs import block_bounds

SHAPE = (5, 6, 7)


def whole_data(n_cells: int) -> SnapshotData:
    rng = np.random.default_rng(1)
    fields = {"a": rng.uniform(size=SHAPE), "b": rng.uniform(-1, 1, size=SHAPE)}
    cells = {
        "id": np.arange(n_cells, dtype=np.int64) * 3,
        "kind": np.zeros(n_cells, dtype=np.int16),
        "position": rng.uniform(-50, 50, size=(n_cells, 3)),
        "state": np.zeros(n_cells, dtype=np.int8),
        "active": np.ones(n_cells, dtype=bool),
        "pair": rng.uniform(size=(n_cells, 2)),
    }
    vocab = CellVocabulary(("tumour",), ("tumour",), (("live",),), (None,), {}, {})
    return SnapshotData(
        time=1.5,
        step=15,
        shape=SHAPE,
        spacing=(10.0, 10.0, 10.0),
        origin=(0.0, 0.0, 0.0),
        fields=fields,
        species={"a": {"units": "mM"}, "b": {"units": "1"}},
        cells=cells,
        kind_names=("tumour",),
        attrs={"seed": 3, "extra": json.dumps({})},
        vocabulary=vocab,
    )


def write_in_parts(folder, data, axis: int, rows: list[int]) -> list[PartInfo]:
    """``data`` cut along ``axis`` into ``len(rows)`` slabs holding ``rows`` cells each."""
    parts, start = [], 0
    for r, (lo, hi) in enumerate(block_bounds(SHAPE[axis], len(rows))):
        box = [slice(None)] * 3
        box[axis] = slice(lo, hi)
        offset = [0, 0, 0]
        offset[axis] = lo
        fields = {n: v[tuple(box)] for n, v in data.fields.items()}
        cells = {n: c[start : start + rows[r]] for n, c in data.cells.items()}
        part = SnapshotData(**{**data.__dict__, "fields": fields, "cells": cells})
        part.shape = fields["a"].shape
        path = folder / PARTS_DIR / part_name(4, r)
        write_part(path, part, index=4, rank=r, ranks=len(rows), offset=offset, first_cell=start)
        parts.append(PartInfo(f"{PARTS_DIR}/{path.name}", tuple(offset), part.shape, rows[r]))
        start += rows[r]
    return parts


@pytest.mark.parametrize(("axis", "rows"), [(0, [3, 0, 4]), (1, [0, 5]), (2, [2, 2, 2, 1])])
def test_parts_read_as_one_snapshot(tmp_path, axis, rows):
    data = whole_data(sum(rows))
    folder = tmp_path / "run" / "snapshots"
    parts = write_in_parts(folder, data, axis, rows)
    path = folder / snapshot_name(4)
    entry = write_master(path, data, parts, run_dir=tmp_path / "run", index=4)
    plain = tmp_path / "plain" / "snapshots" / snapshot_name(4)
    plain.parent.mkdir(parents=True)
    want_entry = write_snapshot(plain, data, index=4)
    assert entry == want_entry
    got, want = read_snapshot(path), read_snapshot(plain)
    for name in want.fields:
        assert np.array_equal(got.fields[name], want.fields[name])
    assert got.cells.keys() == want.cells.keys()
    for name in want.cells:
        assert got.cells[name].dtype == want.cells[name].dtype
        assert np.array_equal(got.cells[name], want.cells[name]), name
    with h5py.File(path, "r") as f, h5py.File(plain, "r") as g:
        assert f["fields/a"].is_virtual and f["cells/id"].is_virtual
        for ds in ("xdmf/connectivity", "xdmf/kind_state", "xdmf/components/pair_1"):
            assert np.array_equal(f[ds][()], g[ds][()]), ds
    assert [p[:2] for p in part_files(folder)] == [(4, r) for r in range(len(rows))]
    remove_parts(folder, 5)
    assert len(part_files(folder)) == len(rows)
    remove_parts(folder, 4)
    assert part_files(folder) == []


def test_no_cells_and_a_missing_part(tmp_path):
    data = whole_data(0)
    folder = tmp_path / "snapshots"
    parts = write_in_parts(folder, data, 0, [0, 0])
    path = folder / snapshot_name(4)
    write_master(path, data, parts, run_dir=tmp_path, index=4)
    snap = read_snapshot(path)
    assert snap.n_cells == 0 and snap.cells["position"].shape == (0, 3)
    assert np.array_equal(snap.fields["b"], data.fields["b"])
    (folder / parts[1].file).unlink()
    hole = read_snapshot(path).fields["a"]
    assert np.isnan(hole[3:]).all() and np.array_equal(hole[:3], data.fields["a"][:3])
