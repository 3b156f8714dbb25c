"""Grid geometry: shape, spacing, origin, voxel centres, voxel lookup, extent."""

from __future__ import annotations

import numpy as np
import pytest

import spatialtumor as st


def test_shape_spacing_origin_and_derived_geometry(backend):
    grid = st.Grid(backend, (3, 4, 5), spacing=(10.0, 20.0, 30.0), origin=(-50.0, 0.0, 100.0))
    assert grid.shape == (3, 4, 5)
    assert (grid.nz, grid.ny, grid.nx) == (3, 4, 5)
    assert grid.size == 60
    np.testing.assert_array_equal(grid.spacing, [10.0, 20.0, 30.0])  # (dx, dy, dz) µm
    np.testing.assert_array_equal(grid.origin, [-50.0, 0.0, 100.0])
    np.testing.assert_array_equal(grid.counts_xyz, [5, 4, 3])
    np.testing.assert_array_equal(grid.extent, [50.0, 80.0, 90.0])  # (x, y, z) µm
    np.testing.assert_array_equal(grid.upper, [0.0, 80.0, 190.0])
    np.testing.assert_array_equal(grid.first_centre, [-45.0, 10.0, 115.0])
    assert grid.voxel_volume == 6000.0  # µm³
    np.testing.assert_array_equal(grid.centres("x"), [-45.0, -35.0, -25.0, -15.0, -5.0])
    np.testing.assert_array_equal(grid.centres("y"), [10.0, 30.0, 50.0, 70.0])
    np.testing.assert_array_equal(grid.centres("z"), [115.0, 145.0, 175.0])


def test_scalar_spacing_applies_to_every_axis(backend):
    grid = st.Grid(backend, (2, 2, 2), spacing=20.0)
    np.testing.assert_array_equal(grid.spacing, [20.0, 20.0, 20.0])
    np.testing.assert_array_equal(grid.first_centre, [10.0, 10.0, 10.0])
    assert grid.voxel_volume == 8000.0


def test_voxel_of_matches_flat_index_and_clips(backend):
    grid = st.Grid(backend, (3, 4, 5), spacing=(10.0, 20.0, 30.0), origin=(-50.0, 0.0, 100.0))
    cx, cy, cz = (grid.centres(a) for a in "xyz")
    z, y, x = np.meshgrid(cz, cy, cx, indexing="ij")
    centres = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)  # C order: x fastest
    got = backend.asnumpy(grid.voxel_of(backend.asarray(centres)))
    np.testing.assert_array_equal(got, np.arange(grid.size))
    probes = np.array(
        [
            [-50.0, 0.0, 100.0],  # lower corner → voxel 0
            [-1e-9, 79.999, 189.999],  # just inside the upper corner → last voxel
            [0.0, 80.0, 190.0],  # on the upper walls → clipped to the last voxel
            [-1e6, -1e6, -1e6],  # far below → voxel 0
            [1e6, 1e6, 1e6],  # far above → last voxel
            [-40.0, 20.0, 130.0],  # exactly on internal faces → the upper neighbour (1, 1, 1)
            [-1e6, 35.0, 1e6],  # mixed: i clipped to 0, j = 1, k clipped to 2
        ]
    )
    got = backend.asnumpy(grid.voxel_of(backend.asarray(probes)))
    last = grid.size - 1
    np.testing.assert_array_equal(
        got, [0, last, last, 0, last, (1 * 4 + 1) * 5 + 1, (2 * 4 + 1) * 5]
    )


def test_zeros_shape_dtype_and_backend(backend):
    grid = st.Grid(backend, (2, 3, 4), spacing=5.0)
    z = grid.zeros((7,))
    assert z.shape == (7, 2, 3, 4)
    assert z.dtype == backend.dtype
    assert isinstance(z, backend.xp.ndarray)
    assert grid.zeros(dtype=np.int32).dtype == np.int32
    assert float(z.sum()) == 0.0


def test_repr_names_geometry_and_backend(numpy_backend):
    text = repr(st.Grid(numpy_backend, (2, 3, 4), spacing=5.0))
    assert "(2, 3, 4)" in text and "µm" in text and "numpy" in text


@pytest.mark.parametrize(
    "shape, spacing, match",
    [
        ((0, 3, 4), 1.0, "three positive integers"),
        ((3, 4), 1.0, "three positive integers"),
        ((3, 4, 5, 6), 1.0, "three positive integers"),
        ((3, 4, 5), 0.0, "spacing must be positive"),
        ((3, 4, 5), (1.0, -2.0, 1.0), "spacing must be positive"),
    ],
)
def test_bad_geometry_is_refused(numpy_backend, shape, spacing, match):
    with pytest.raises(ValueError, match=match):
        st.Grid(numpy_backend, shape, spacing=spacing)
