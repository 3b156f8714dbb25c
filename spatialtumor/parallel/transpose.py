"""Transposes between the slab layout and the line layout of the LOD sweep along the split
axis (an ``Alltoallv`` in messages of bounded size)."""

from __future__ import annotations

import numpy as np

from .wire import exchange, from_wire, to_wire


class Transpose:
    """Re-deal a block ``(nf, nz, ny, nx)`` so that the split axis is whole on every rank.

    In the slab layout rank ``r`` holds planes ``bounds(axis)[r]`` of the split axis and
    every voxel of the others; in the line layout it holds the whole split axis and
    ``bounds(partner)[r]`` of the partner axis. Each rank sends rank ``q`` the part of its
    slab that falls in ``q``'s partner range, so one ``Alltoallv`` carries each voxel once
    each way.

    Parameters
    ----------
    world, slabs : the ranks and the decomposition
    n_species : leading length of the block
    backend : the run's :class:`~spatialtumor.backends.Backend`
    """

    def __init__(self, world, slabs, n_species: int, backend):
        self.comm = world.comm
        self.backend = backend
        self.a = 1 + slabs.axis  # axes of the (nf, nz, ny, nx) block
        self.p = 1 + slabs.partner
        me = world.rank
        full = (n_species,) + tuple(slabs.shape)
        split = slabs.bounds()
        part = slabs.bounds(slabs.partner)
        line_shape = list(full)
        line_shape[self.p] = part[me][1] - part[me][0]
        self.line_shape = tuple(line_shape)
        self.split, self.part, self.me = split, part, me

        def count(rows, cols):
            shape = list(full)
            shape[self.a], shape[self.p] = rows, cols
            return int(np.prod(shape))

        mine = split[me][1] - split[me][0]
        width = line_shape[self.p]
        self.send_counts = [count(mine, hi - lo) for lo, hi in part]
        self.recv_counts = [count(hi - lo, width) for lo, hi in split]
        self.send_displs = np.cumsum([0] + self.send_counts[:-1]).tolist()
        self.recv_displs = np.cumsum([0] + self.recv_counts[:-1]).tolist()
        dt = backend.dtype
        self._send = np.empty(sum(self.send_counts), dtype=dt)
        self._recv = np.empty(sum(self.recv_counts), dtype=dt)
        self.lines = backend.xp.zeros(self.line_shape, dtype=dt)
        on_host = backend.name == "numpy"
        slab = list(full)
        slab[self.a] = mine
        # host staging of the device arrays (the arrays themselves on NumPy)
        self._lines_host = self.lines if on_host else np.empty(self.line_shape, dtype=dt)
        self._slab_host = None if on_host else np.empty(tuple(slab), dtype=dt)
        #: bytes this rank sends per transpose (one way), to other ranks only
        self.bytes_sent = (sum(self.send_counts) - self.send_counts[me]) * dt.itemsize

    def forward(self, block):
        """The line layout of ``block`` (a slab), in a buffer reused every call."""
        host = to_wire(self.backend, block)
        _pack(host, self.p, self.part, self._send, self.send_displs)
        self._exchange(self._send, self._recv, forward=True)
        _unpack(self._recv, self.recv_displs, self._lines_host, self.a, self.split)
        if self._lines_host is not self.lines:
            from_wire(self.backend, self._lines_host, self.lines)
        return self.lines

    def backward(self, lines, block) -> None:
        """Write the line layout ``lines`` back into the slab ``block``, in place."""
        host = to_wire(self.backend, lines)
        _pack(host, self.a, self.split, self._recv, self.recv_displs)
        self._exchange(self._recv, self._send, forward=False)
        out = block if self._slab_host is None else self._slab_host
        _unpack(self._send, self.send_displs, out, self.p, self.part)
        if out is not block:
            from_wire(self.backend, out, block)

    def _exchange(self, send, recv, forward: bool) -> None:
        s = (self.send_counts, self.send_displs)
        r = (self.recv_counts, self.recv_displs)
        if not forward:
            s, r = r, s
        exchange(self.comm, send, *s, recv, *r)


def _cut(axis: int, lo: int, hi: int) -> tuple[slice, ...]:
    sl = [slice(None)] * 4
    sl[axis] = slice(lo, hi)
    return tuple(sl)


def _pack(src, axis, bounds, buf, displs) -> None:
    """Copy the pieces of ``src`` cut along ``axis`` at ``bounds`` into the flat ``buf``,
    piece ``q`` at ``displs[q]`` (the message to rank ``q``)."""
    for (lo, hi), d in zip(bounds, displs, strict=True):
        piece = src[_cut(axis, lo, hi)]
        buf[d : d + piece.size].reshape(piece.shape)[...] = piece


def _unpack(buf, displs, dest, axis, bounds) -> None:
    """Inverse of :func:`_pack`: the message of rank ``r`` into its piece of ``dest``."""
    for (lo, hi), d in zip(bounds, displs, strict=True):
        piece = dest[_cut(axis, lo, hi)]
        piece[...] = buf[d : d + piece.size].reshape(piece.shape)
