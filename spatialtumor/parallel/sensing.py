"""Gradient sensing of a slab's cells: the attractant fields with two ghost planes per face.

One process reads, for a cell in voxel ``i``, the voxels ``i ± 1`` of the whole grid. A cell
owned by a rank sits in one of its voxels, or (within rounding of a face, since ownership
multiplies by the inverse spacing where sensing divides) in the first voxel across it; so
two ghost planes per inner face hold every voxel one process would read. Indices are
computed over the whole grid with the arithmetic of one process
(:func:`~spatialtumor.exchange.gradient_at` with ``first`` and ``counts``), and the values
read from the padded block: the same numbers, the same differences, the same bits.
"""

from __future__ import annotations

from ..exchange import gradient_at
from .comm import MPIError
from .halo import Halo

#: ghost planes per inner face the gradient of a cell near a face reads
WIDTH = 2


class GhostSensor:
    """``(field name, positions) -> gradient (N, 3) [units/µm]`` of a slab's fields as one
    process computes it (a :attr:`Mechanics.sensor <spatialtumor.mechanics.Mechanics>`).

    Parameters
    ----------
    world, slabs : the ranks and the decomposition
    fields : this rank's Fields (its grid is the slab)
    names : the attractant fields

    :meth:`refresh` (collective) copies the current fields and exchanges the ghost planes;
    call it before every move.
    """

    def __init__(self, world, slabs, fields, names):
        thin = min(hi - lo for lo, hi in slabs.bounds())
        if world.size > 1 and thin < WIDTH:
            raise MPIError(
                f"too many ranks for the cells: chemotaxis reads {WIDTH} planes across a slab "
                f"face and a slab is {thin} plane thick; use fewer ranks"
            )
        grid = fields.grid
        self.fields, self.names = fields, list(names)
        self.index = [fields.index(n) for n in self.names]
        self.halo = Halo(world, slabs, grid, len(self.names), width=WIDTH)
        first = [int(v) for v in grid.offset]  # array order (z, y, x)
        first[slabs.axis] -= self.halo.lo
        self.first = tuple(first[::-1])
        self.origin, self.spacing = grid.global_origin, grid.spacing
        self.counts = tuple(int(c) for c in grid.global_counts_xyz)
        self.xp = grid.backend.xp

    def refresh(self) -> None:
        """Copy the attractants and fill their ghost planes from the neighbours (collective)."""
        self.halo.fill(self.fields.values[self.index])

    def __call__(self, name: str, positions):
        values = self.halo.padded[self.names.index(name)]
        return gradient_at(
            self.xp, values, positions, self.origin, self.spacing, self.first, self.counts
        )
