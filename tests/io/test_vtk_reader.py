"""The sidecar read by VTK's own XDMF reader (what ParaView's "XDMF Reader" uses)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from spatialtumor.output import SIDECAR_NAME, add_writers, read_run

sys.path.insert(0, str(Path(__file__).parent))
from _runs import SHAPE, SPACING, SPIKE, SPIKE_VALUE, make_sim  # noqa: E402

vtk = pytest.importorskip("vtk")
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("vtk") / "run"
    sim = make_sim(stop=5.5)
    add_writers(sim, run_dir, every=1.0)
    sim.run()
    return run_dir, read_run(run_dir)


def open_reader(run_dir):
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(run_dir / SIDECAR_NAME))
    reader.UpdateInformation()
    return reader


def blocks_at(reader, time):
    """``{name: block}`` of the reader's output at ``time`` [min]."""
    reader.UpdateTimeStep(time)
    out = reader.GetOutputDataObject(0)
    assert out.GetInformation().Get(vtk.vtkDataObject.DATA_TIME_STEP()) == time
    names = {}
    for b in range(out.GetNumberOfBlocks()):
        name = out.GetMetaData(b).Get(vtk.vtkCompositeDataSet.NAME())
        names[name] = out.GetBlock(b)
    return names


def point_array(dataset, name):
    arr = dataset.GetPointData().GetArray(name)
    assert arr is not None, f"no point array {name!r}"
    return vtk_to_numpy(arr)


def test_time_steps(run):
    run_dir, snaps = run
    reader = open_reader(run_dir)
    key = vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS()
    times = reader.GetOutputInformation(0).Get(key)
    assert reader.GetOutputInformation(0).Length(key) == len(snaps) == 7
    assert list(times) == [s.time for s in snaps] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.5]


def test_fields_geometry_and_values(run):
    run_dir, snaps = run
    reader = open_reader(run_dir)
    for snap in (snaps[0], snaps[3], snaps[-1]):
        image = blocks_at(reader, snap.time)["fields"]
        assert image.IsA("vtkImageData")
        nz, ny, nx = SHAPE
        assert image.GetDimensions() == (nx, ny, nz)
        assert image.GetSpacing() == SPACING
        assert image.GetOrigin() == snap.grid.first_centre
        direction = [
            image.GetDirectionMatrix().GetElement(r, c) for r in range(3) for c in range(3)
        ]
        assert direction == [1, 0, 0, 0, 1, 0, 0, 0, 1]
        # VTK's point order is x fastest, as in the (nz, ny, nx) C-order arrays
        for name in ("oxygen", "marker"):
            np.testing.assert_array_equal(point_array(image, name), snap.fields[name].ravel())
        # every point sits on its voxel centre
        points = np.array([image.GetPoint(p) for p in range(image.GetNumberOfPoints())])
        z, y, x = np.meshgrid(*(snap.grid.centres(a) for a in "zyx"), indexing="ij")
        np.testing.assert_array_equal(points, np.stack([x, y, z], axis=-1).reshape(-1, 3))


def test_spike_voxel_is_where_the_snapshot_says(run):
    """One non-zero voxel at (k, j, i) = SPIKE: any axis swap or flip moves it."""
    run_dir, snaps = run
    reader = open_reader(run_dir)
    image = blocks_at(reader, snaps[-1].time)["fields"]
    marker = point_array(image, "marker")
    assert np.count_nonzero(marker) == 1
    pid = int(np.flatnonzero(marker)[0])
    assert marker[pid] == SPIKE_VALUE
    k, j, i = SPIKE
    centre = snaps[-1].grid.centre(k, j, i)
    assert image.GetPoint(pid) == tuple(centre)
    assert image.FindPoint(*centre) == pid
    ijk = [0, 0, 0]
    image.ComputeStructuredCoordinates(centre, ijk, [0.0, 0.0, 0.0])
    assert tuple(ijk) == (i, j, k)
    # the oxygen value VTK shows at that point is the snapshot's value at [k, j, i]
    assert point_array(image, "oxygen")[pid] == snaps[-1].fields["oxygen"][k, j, i]


def test_cells_as_points(run):
    run_dir, snaps = run
    reader = open_reader(run_dir)
    seen_empty = seen_full = 0
    for snap in snaps:
        cells = blocks_at(reader, snap.time)["cells"]
        n = snap.n_cells
        if n == 0:
            # an empty collection: no points, and not the cells of an earlier time
            assert cells.GetNumberOfPoints() == 0
            seen_empty += 1
            continue
        seen_full += 1
        assert cells.IsA("vtkUnstructuredGrid")
        assert cells.GetNumberOfPoints() == n and cells.GetNumberOfCells() == n
        assert {cells.GetCellType(c) for c in range(n)} == {vtk.VTK_POLY_VERTEX}
        np.testing.assert_array_equal(
            vtk_to_numpy(cells.GetPoints().GetData()), snap.cells["position"]
        )
        volume = point_array(cells, "volume")  # float32 scalar
        assert volume.dtype == np.float32
        np.testing.assert_array_equal(volume, snap.cells["volume"])
        velocity = point_array(cells, "velocity")  # float64 vector
        assert velocity.shape == (n, 3)
        np.testing.assert_array_equal(velocity, snap.cells["velocity"])
        np.testing.assert_array_equal(point_array(cells, "id"), snap.cells["id"])
        np.testing.assert_array_equal(point_array(cells, "kind"), snap.cells["kind"])
        np.testing.assert_array_equal(point_array(cells, "alive"), snap.cells["alive"])
        # an (N, 2) column: one scalar per component, whatever the reader
        assert cells.GetPointData().GetArray("polarity") is None
        for c in range(2):
            np.testing.assert_array_equal(
                point_array(cells, f"polarity_{c}"), snap.cells["polarity"][:, c]
            )
    assert seen_empty >= 1 and seen_full >= 3
