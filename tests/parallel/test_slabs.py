"""Slab decomposition and launcher detection (no MPI needed)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spatialtumor.backends import get_backend
from spatialtumor.grid import Grid
from spatialtumor.parallel import MPIError, Slabs, launched_by_mpirun
from spatialtumor.parallel.slabs import block_bounds


def test_blocks_cover_the_axis():
    assert block_bounds(10, 4) == [(0, 3), (3, 6), (6, 8), (8, 10)]
    for n, p in [(7, 7), (16, 3), (5, 1)]:
        b = block_bounds(n, p)
        assert b[0][0] == 0 and b[-1][1] == n
        assert all(hi - lo >= n // p for lo, hi in b)


def test_auto_cuts_the_longest_axis_ties_to_z():
    assert Slabs.choose((16, 18, 20), 2).axis == 2  # x
    s = Slabs.choose((20, 20, 10), 4)
    assert (s.axis, s.partner) == (0, 1)
    assert Slabs.choose((8, 30, 8), 2, split="z").axis == 0


@pytest.mark.parametrize(
    ("shape", "size", "split", "words"),
    [
        ((3, 3, 3), 4, "auto", "thinner than the ghost width"),
        ((40, 2, 2), 4, "z", "transposed layout"),
        ((8, 8, 8), 2, "w", "split: must be"),
    ],
)
def test_refusals(shape, size, split, words):
    with pytest.raises(MPIError, match=words):
        Slabs.choose(shape, size, split)


def test_sub_boxes_see_the_whole_grid_coordinates():
    be = get_backend("numpy")
    whole = Grid(be, (16, 18, 20), (20.0, 15.0, 10.0), (-101.3, -7.7, 33.1))
    s = Slabs.choose(whole.shape, 3, split="y")
    ys = []
    for r in range(3):
        offset, shape = s.box(r)
        part = whole.part(offset, shape)
        assert part.global_shape == whole.shape
        assert np.array_equal(part.centres("x"), whole.centres("x"))
        ys.append(part.centres("y"))
    assert np.array_equal(np.concatenate(ys), whole.centres("y"))


def test_launcher_detection():
    assert launched_by_mpirun({}) == 0
    assert launched_by_mpirun({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    assert launched_by_mpirun({"PMI_SIZE": "2"}) == 2
    assert launched_by_mpirun({"PMIX_RANK": "0", "SLURM_STEP_NUM_TASKS": "8"}) == 8  # srun, PMIx
    assert launched_by_mpirun({"SLURM_STEP_NUM_TASKS": "8"}) == 0  # a batch script, no step


def test_world_without_mpi4py(monkeypatch):
    from spatialtumor.parallel import world

    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import fails as if not installed
    assert world({}).size == 1
    assert world({"OMPI_COMM_WORLD_SIZE": "1"}).comm is None  # one process needs no MPI
    with pytest.raises(MPIError, match=r"started by an MPI launcher \(3 processes\)"):
        world({"PMI_SIZE": "3"})


@pytest.mark.parametrize("split", ["z", "y", "x"])
def test_vessel_layout_of_a_slab_is_its_block_of_the_whole(split):
    """Random, box and sphere vessels of each of 3 slabs are the slab's block of the layout
    of the whole grid (the random draw advanced to the slab, not drawn for it alone)."""
    from spatialtumor.build_cells import vessel_mask
    from spatialtumor.scenario import VesselSpec

    vessels = [
        VesselSpec(shape="random", fraction=0.2, seed=4),
        VesselSpec(shape="random", fraction=0.3, seed=5, lower=(-50, -40, -30), upper=(60, 50, 40)),
        VesselSpec(shape="sphere", centre=(10.0, 0.0, -20.0), radius=45.0),
    ]
    whole = Grid(get_backend("numpy", "float64"), (9, 10, 11), 20.0, (-110.0, -100.0, -90.0))
    want = vessel_mask(whole, vessels)
    slabs = Slabs.choose(whole.shape, 3, split)
    for rank in range(3):
        offset, shape = slabs.box(rank)
        got = vessel_mask(whole.part(offset, shape), vessels)
        block = tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))
        assert np.array_equal(got, want[block])
