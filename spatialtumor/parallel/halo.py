"""Ghost planes for the explicit stencil: each slab borrows its neighbours' face planes."""

from __future__ import annotations

import numpy as np

from .wire import from_wire, to_wire


class Halo:
    """Ghost planes on each inner face of a rank's slab (one for the explicit species).

    Parameters
    ----------
    world : :class:`~spatialtumor.parallel.comm.World`
    slabs : :class:`~spatialtumor.parallel.slabs.Slabs`
    grid : this rank's sub-box :class:`~spatialtumor.grid.Grid`
    n_species : number of species (leading axis of the block)
    width : ghost planes per inner face (every slab must be at least this thick)

    Notes
    -----
    The explicit step of a voxel reads its six neighbours only. The slab is copied into a
    buffer one plane thicker on each inner face, the ghost planes are filled with the
    neighbours' face planes (one ``Sendrecv`` per direction), and the unchanged stencil
    kernel runs on that buffer: every owned voxel then sees exactly the values, and does
    exactly the arithmetic, it would in one process. The ghost planes' own results are
    discarded; only at the global walls does the kernel's boundary rule act.
    """

    def __init__(self, world, slabs, grid, n_species: int, width: int = 1):
        self.comm = world.comm
        self.backend = grid.backend
        self.axis = 1 + slabs.axis  # of the (nf, nz, ny, nx) block
        self.below, self.above = slabs.neighbours(world.rank)
        n = grid.shape[slabs.axis]
        self.width = w = int(width)
        self.lo = w * int(self.below is not None)
        self.hi = w * int(self.above is not None)
        self.core = slice(self.lo, self.lo + n)
        shape = list((n_species,) + grid.shape)
        shape[self.axis] = n + self.lo + self.hi
        xp = self.backend.xp
        self.padded = xp.zeros(tuple(shape), dtype=self.backend.dtype)
        self.result = xp.zeros(tuple(shape), dtype=self.backend.dtype)
        plane = list(shape)
        plane[self.axis] = w
        self._recv = np.empty(tuple(plane), dtype=self.backend.dtype)  # host, reused
        from mpi4py import MPI

        self._null = MPI.PROC_NULL  # no neighbour: the send and receive do nothing
        #: bytes this rank sends per exchange (both faces)
        self.bytes_sent = (
            int(np.prod(plane))
            * self.backend.dtype.itemsize
            * (int(self.lo > 0) + int(self.hi > 0))
        )

    def _take(self, array, index):
        sl = [slice(None)] * array.ndim
        sl[self.axis] = index
        return array[tuple(sl)]

    def fill(self, block) -> None:
        """Copy ``block`` into the padded buffer and exchange the ghost planes."""
        below = self._null if self.below is None else self.below
        above = self._null if self.above is None else self.above
        self._take(self.padded, self.core)[...] = block
        n = block.shape[self.axis]
        recv = self._recv
        # upward: my top plane to the rank above, the plane of the rank below into my ghost
        w = self.width
        send = to_wire(self.backend, self._take(block, slice(n - w, n)))
        self.comm.Sendrecv(send, dest=above, recvbuf=recv, source=below)
        if self.below is not None:
            from_wire(self.backend, recv, self._take(self.padded, slice(0, w)))
        send = to_wire(self.backend, self._take(block, slice(0, w)))
        self.comm.Sendrecv(send, dest=below, recvbuf=recv, source=above)
        if self.above is not None:
            last = self.padded.shape[self.axis]
            from_wire(self.backend, recv, self._take(self.padded, slice(last - w, last)))

    def explicit_step(self, block, dt, inv_h2, diffusivity, decay, bc_kind, bc_value) -> None:
        """``kernels.explicit_step`` of the whole domain restricted to this slab, in place
        (arguments as for the kernel, ``dt`` [min])."""
        self.fill(block)
        k = self.backend.kernels
        k.explicit_step(self.padded, self.result, dt, inv_h2, diffusivity, decay, bc_kind, bc_value)
        block[...] = self._take(self.result, self.core)
