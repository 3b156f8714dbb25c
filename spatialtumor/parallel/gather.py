"""The whole domain's fields on rank 0 (for writers), and a rank's part of a whole array."""

from __future__ import annotations

import numpy as np

from ..grid import block
from .wire import recv_large, send_large, to_wire


def field_slice(slabs, rank: int) -> tuple[slice, ...]:
    """Index of ``rank``'s slab in a whole field array ``(nf, nz, ny, nx)``."""
    offset, shape = slabs.box(rank)
    return (slice(None), *block(offset, shape))


class Gather:
    """Collects every rank's slab into one host array on rank 0.

    Rank 0 holds one whole host array ``(nf, nz, ny, nx)`` in the working dtype:
    ``nf × nz × ny × nx × itemsize`` bytes, on top of its own slab; with ``keep`` it is
    allocated at the first gather and reused, otherwise allocated at every gather and
    dropped by the caller. The other ranks send their slab (staged through the host on
    CuPy) and keep nothing.
    """

    def __init__(self, world, slabs, backend, n_species: int, keep: bool = True):
        self.world, self.slabs, self.backend = world, slabs, backend
        self.n_species = n_species
        self.keep = keep
        self._whole = None

    def __call__(self, values) -> np.ndarray | None:
        """The whole fields on rank 0 (None elsewhere). Collective: every rank calls it."""
        comm, me = self.world.comm, self.world.rank
        local = to_wire(self.backend, values)
        if me != 0:
            send_large(comm, local, dest=0, tag=17)
            return None
        whole = self._whole
        if whole is None:
            shape = (self.n_species,) + tuple(self.slabs.shape)
            whole = np.empty(shape, dtype=self.backend.dtype)
            if self.keep:
                self._whole = whole
        whole[field_slice(self.slabs, 0)] = local
        for r in range(1, self.world.size):
            part = whole[field_slice(self.slabs, r)]
            buf = np.empty(part.shape, dtype=whole.dtype)
            recv_large(comm, buf, source=r, tag=17)
            part[...] = buf
        return whole
