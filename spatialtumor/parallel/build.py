"""What a scenario needs to run on several ranks: this rank's slab and its simulation.

Every part of a scenario runs split: fields, vessels, compartments, therapies, and cells
of every kind (their rules read their own cell, the cells in contact that the halo copies
hold, or global scalars every rank computes alike; kills go through the targets' owners;
new cells are numbered as one process numbers them)."""

from __future__ import annotations

from .simulation import DistributedSimulation
from .slabs import Slabs


def distribute(spec, whole, world, split: str = "auto"):
    """``(grid, simulation class, its extra arguments)`` for this rank's slab of ``whole``.

    Raises :class:`MPIError` for grids too small for the ranks.
    """
    slabs = Slabs.choose(whole.shape, world.size, split)
    offset, shape = slabs.box(world.rank)
    grid = whole.part(offset, shape)
    return grid, DistributedSimulation, {"world": world, "slabs": slabs, "whole_grid": whole}
