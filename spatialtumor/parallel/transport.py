"""Diffusion–decay of a slab: the single-process transport with its split-axis parts
distributed (LOD sweep through a transpose, explicit stencil through ghost planes)."""

from __future__ import annotations

from ..transport import Transport
from .halo import Halo
from .slabs import AXIS_NAMES
from .transpose import Transpose


class DistributedTransport(Transport):
    """:class:`~spatialtumor.transport.Transport` of one rank's slab.

    Sweeps along the two whole axes run locally, unchanged. The sweep along the split axis
    transposes the LOD block so that its lines are whole, runs the same kernel on them and
    transposes back; the explicit species step on a ghost-padded copy (:class:`Halo`).
    The line matrices are those of the whole domain (the grid's ``global_shape``).
    """

    def __init__(self, fields, dt: float, world, slabs):
        super().__init__(fields, dt)
        grid = fields.grid
        self.split_axis = AXIS_NAMES[slabs.axis]
        nl = fields.n_lod
        self.transpose = Transpose(world, slabs, nl, grid.backend) if nl else None
        ne = len(fields) - nl
        self.halo = Halo(world, slabs, grid, ne) if ne else None

    def _sweep(self, block, sweep, source=None, uptake=None) -> None:
        if sweep[0] != self.split_axis:
            super()._sweep(block, sweep, source, uptake)
            return
        if source is not None:  # the fused kernel's first half (its reference twin)
            self.fields.grid.backend.kernels.apply_sources(block, source, uptake, self.dt)
        lines = self.transpose.forward(block)
        super()._sweep(lines, sweep)
        self.transpose.backward(lines, block)

    def _explicit_step(self, block) -> None:
        inv_h2, diff, decay, kind, value, _scratch = self._explicit
        self.halo.explicit_step(block, self.dt, inv_h2, diff, decay, kind, value)

    @property
    def bytes_per_step(self) -> int:
        """Bytes this rank sends to others in one step (2 transposes + ghost planes)."""
        t = 2 * self.transpose.bytes_sent if self.transpose is not None else 0
        return t + (self.halo.bytes_sent if self.halo is not None else 0)
