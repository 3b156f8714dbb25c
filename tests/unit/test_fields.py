"""Fields: species ordering (LOD first, explicit last), lookup, views, totals, boundaries."""

from __future__ import annotations

import numpy as np
import pytest

import spatialtumor as st


@pytest.fixture
def grid(backend):
    return st.Grid(backend, (2, 3, 4), spacing=(10.0, 20.0, 30.0))


def make_fields(grid):
    return st.Fields(
        grid,
        {"il10": st.Species(84.0, solver="explicit", initial=0.5, units="ng/mL")},
        oxygen=st.Species(
            1.0e5, decay=0.1, initial=38.0, units="mmHg", boundary=st.Boundary.dirichlet(38.0)
        ),
        tgfb=st.Species(
            1560.0, solver="explicit", initial=2.0, boundary=st.Boundary(x_min=1.0, z_max=3.0)
        ),
        ifng=st.Species(600.0, initial=1.0),
    )


def test_lod_species_come_first_then_explicit_in_given_order(grid):
    fields = make_fields(grid)
    assert fields.names == ("oxygen", "ifng", "il10", "tgfb")
    assert fields.n_lod == 2
    assert len(fields) == 4
    assert [fields.index(n) for n in fields.names] == [0, 1, 2, 3]
    assert [s.solver for s in fields.species.values()] == ["lod", "lod", "explicit", "explicit"]
    assert "oxygen" in fields and "glucose" not in fields


def test_values_are_one_stacked_array_with_initial_values(grid, backend):
    fields = make_fields(grid)
    assert fields.values.shape == (4, 2, 3, 4)
    assert fields.values.dtype == backend.dtype
    host = backend.asnumpy(fields.values)
    for name, value in (("oxygen", 38.0), ("ifng", 1.0), ("il10", 0.5), ("tgfb", 2.0)):
        assert np.all(host[fields.index(name)] == value)


def test_getitem_is_a_view(grid, backend):
    fields = make_fields(grid)
    fields["ifng"][1, 2, 3] = 7.0
    assert float(fields.values[1, 1, 2, 3]) == 7.0


def test_unknown_name_raises_keyerror_listing_fields(grid):
    fields = make_fields(grid)
    with pytest.raises(
        KeyError, match=r"unknown field 'glucose'.*'oxygen', 'ifng', 'il10', 'tgfb'"
    ):
        fields.index("glucose")
    with pytest.raises(KeyError, match="unknown field 'o2'"):
        fields["o2"]


def test_totals_are_sum_times_voxel_volume(grid, backend, rng):
    fields = make_fields(grid)
    data = rng.uniform(0, 10, size=fields.values.shape)
    fields.values[...] = backend.asarray(data)
    totals = fields.totals()
    assert list(totals) == list(fields.names)
    assert all(isinstance(v, float) for v in totals.values())
    expected = data.sum(axis=(1, 2, 3)) * 6000.0  # voxel volume 10 × 20 × 30 µm³
    np.testing.assert_allclose(list(totals.values()), expected, rtol=1e-14)


def test_totals_accumulate_in_float64_for_float32_fields(rng):
    backend = st.get_backend("numpy", "float32")
    grid = st.Grid(backend, (64, 64, 64), spacing=1.0)
    fields = st.Fields(grid, s=st.Species(1.0))
    fields.values[0] = rng.uniform(0.0, 1.0, size=grid.shape).astype(np.float32)
    assert fields.values.dtype == np.float32
    exact = float(fields.values.astype(np.float64).sum())  # float64 sum of float32 values
    float32_sum = float(fields.values.sum(dtype=np.float32))
    assert abs(float32_sum / exact - 1) > 1e-9  # a float32 accumulator would be visible
    assert fields.totals()["s"] == pytest.approx(exact, rel=1e-13)


def test_boundary_arrays_follow_species_order_and_faces(grid):
    fields = make_fields(grid)
    kind, value = fields.boundary_arrays()
    assert kind.shape == value.shape == (4, 6)
    np.testing.assert_array_equal(kind[0], [1] * 6)
    np.testing.assert_array_equal(value[0], [38.0] * 6)
    np.testing.assert_array_equal(kind[1], [0] * 6)  # ifng: zero flux
    np.testing.assert_array_equal(kind[3], [1, 0, 0, 0, 0, 1])  # tgfb: x_min, z_max
    np.testing.assert_array_equal(value[3], [1.0, 0, 0, 0, 0, 3.0])


def test_boundary_helpers():
    assert st.Boundary.zero_flux().values() == (None,) * 6
    assert st.Boundary.dirichlet(5).values() == (5.0,) * 6
    assert st.Boundary(y_max=2.0).values() == (None, None, None, 2.0, None, None)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"diffusivity": -1.0}, "diffusivity must be >= 0"),
        ({"diffusivity": 1.0, "decay": -0.1}, "decay must be >= 0"),
        ({"diffusivity": 1.0, "solver": "adi"}, "solver must be 'lod' or 'explicit'"),
    ],
)
def test_species_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        st.Species(**kwargs)
