"""The simulation of one rank's slab; writers on rank 0 see the whole domain."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..backends import Backend, reference
from ..guard import BlowUp
from ..simulation import Simulation
from .gather import Gather, field_slice
from .transport import DistributedTransport


@dataclass(frozen=True)
class HostBackend(Backend):
    """The run's backend as writers see gathered host arrays: same name, dtype and device,
    NumPy arithmetic (so reductions of a CuPy run's output are done on the host)."""

    def asnumpy(self, array) -> np.ndarray:
        return np.asarray(array)

    def synchronize(self) -> None:
        pass


class WholeDomain:
    """What writers read on rank 0: the simulation, with the whole grid and the fields
    gathered whole on the host; everything else is the simulation's own."""

    def __init__(self, sim: DistributedSimulation, values: np.ndarray, cells=None):
        self._sim = sim
        self.backend = sim.host
        self.grid = copy.copy(sim.whole_grid)
        self.grid.backend = self.backend
        self.fields = copy.copy(sim.fields)
        self.fields.grid = self.grid
        self.fields.values = values
        if cells is not None:  # the gathered population and the layer over it
            self.population, self.cells = cells
            self.stateful = {**sim.stateful, "cells": self.cells}

    def __getattr__(self, name):
        return getattr(self._sim, name)


class DistributedSimulation(Simulation):
    """A :class:`~spatialtumor.simulation.Simulation` of this rank's slab of the fields.

    Parameters (besides the simulation's)
    -------------------------------------
    world, slabs : the ranks and the decomposition
    whole_grid : the global :class:`~spatialtumor.grid.Grid` (``grid`` is this rank's part)

    write : "parts" (default) or "gathered", how output is written (docs/PARALLEL.md)

    Writers live on rank 0 only. With ``write="gathered"``, when one is due every rank
    sends its slab to rank 0 (:class:`~spatialtumor.parallel.gather.Gather`), which writes
    the whole domain exactly as a single process would. With ``write="parts"`` every rank
    writes its part of a snapshot or checkpoint and rank 0 a file of virtual datasets over
    the parts (:mod:`.parts`); the table's field statistics are reduced over the ranks;
    only other writers (a script's) and the diagnostic snapshot of a blow-up gather the
    field values, for the moment of the write. The blow-up check reduces one flag over
    the ranks.
    """

    def __init__(
        self, grid, fields, population=None, *, world, slabs, whole_grid, write="parts", **kw
    ):
        from .parts import WRITE_MODES

        if write not in WRITE_MODES:
            raise ValueError(f"write must be one of {WRITE_MODES}, got {write!r}")
        super().__init__(grid, fields, population, **kw)
        self.world, self.slabs, self.whole_grid = world, slabs, whole_grid
        self.write_mode = write
        self.transport = DistributedTransport(fields, self.clock.dt_diffusion, world, slabs)
        self._gather = Gather(world, slabs, grid.backend, len(fields), keep=write == "gathered")
        be = grid.backend
        self.host = HostBackend(be.name, np, reference, be.dtype, be.device, be.reason)
        #: this rank's cells and their traffic (:class:`~.cells.SlabCells`), runs with cells
        self.slab_cells = None

    def split_cells(self, layer):
        """Keep this rank's cells of ``layer`` and make its steps trade cells with the other
        ranks (:mod:`.cells`); returns the layer's processes to run."""
        from .cells import SlabCells, SlabPhenotype
        from .contacts import SlabContacts, SlabStep

        mech = layer.mechanics
        width = float(mech.bins.size[2 - self.slabs.axis])  # one bin ≥ interaction distance
        cells = SlabCells(layer.population, self.world, self.slabs, self.whole_grid, width)
        cells.keep_own()
        mech.bins = cells.bins(mech.bins)
        if mech.chemotaxis:
            from .sensing import GhostSensor

            mech.sensor = GhostSensor(self.world, self.slabs, mech.fields, mech.chemotaxis)
        # kills, sums over cells and rules across the faces
        contacts = SlabContacts(layer, cells)
        layer.count, layer.any_cells = contacts.count, contacts.any_cells
        layer.remote_kills, layer.sum_over_all = contacts.kills, contacts.sum_over_all
        layer.daughter_ids, layer.spawn_ids, layer.owns = (
            cells.daughter_ids,
            cells.spawn_ids,
            cells.owns,
        )
        self.slab_cells = cells
        halo = any(k.phenotype_contacts() for k in layer.kinds)
        return (
            SlabStep(layer, cells, contacts),
            SlabPhenotype(layer, cells, contacts, halo=halo),
        )

    def _counter(self, name: str, value: float):
        """A counter of the whole domain on rank 0 (collective): the sum over the ranks, or
        for a shared counter (events of a schedule, counted by every rank that has cells,
        as one process counts them when it has any) the largest."""
        from mpi4py import MPI

        op = MPI.MAX if name in self.cells.shared_counters else MPI.SUM
        return self.world.comm.reduce(value, op=op, root=0)

    def restored(self) -> None:
        """After a checkpoint (of the whole domain) was loaded: keep this rank's cells, and
        the counters on rank 0 only (they are summed over the ranks for output); shared
        counters stay on every rank (the largest is reported)."""
        if self.slab_cells is None:
            return
        self.slab_cells.keep_own()
        if self.world.rank:
            xp = self.population.xp
            shared = self.cells.shared_counters
            self.cells.counters = {
                n: v if n in shared else xp.zeros((), dtype=np.float64)
                for n, v in self.cells.counters.items()
            }

    def total(self, count: int) -> int:
        """``count`` summed over the ranks (exact: integers; collective)."""
        return int(self.world.comm.allreduce(int(count)))

    def gather_indices(self, indices):
        """Every rank's increasing ``indices`` (int64, device) of the whole domain, merged in
        increasing order, on every rank (collective)."""
        from .wire import allgather_ints, to_wire

        everyone, _ = allgather_ints(self.world.comm, to_wire(self.backend, indices))
        everyone.sort()
        return self.backend.xp.asarray(everyone)

    @property
    def field_slice(self) -> tuple[slice, ...]:
        """This rank's part of a whole field array ``(nf, nz, ny, nx)``."""
        return field_slice(self.slabs, self.world.rank)

    def whole(self, fields: bool = True) -> WholeDomain | None:
        """The whole domain on rank 0, None elsewhere (collective). ``fields=False`` leaves
        the field values out (``fields.values`` is None): only the cells are gathered."""
        values = self._gather(self.fields.values) if fields else None
        cells = None
        if self.slab_cells is not None:
            from .cells import whole_layer

            pop = self.slab_cells.gather(self.host)
            be = self.backend
            total = {
                n: self._counter(n, float(be.asnumpy(v))) for n, v in self.cells.counters.items()
            }
            cells = None if pop is None else (pop, whole_layer(self.cells, pop, total))
        return None if self.world.rank != 0 else WholeDomain(self, values, cells)

    def _write(self) -> None:
        comm = self.world.comm
        due = [name for name, w in self.writers.items() if w.due(self)]
        due = comm.bcast(due, root=0)
        guard = self.guard
        if guard is not None and (due or guard.due(self.step_index)):
            self._check(guard)
        if not due:
            return
        if self.write_mode == "gathered":
            view = self.whole()
            if view is not None:
                for name in due:
                    self.writers[name].write(view)
            return
        from .parts import reduced_fields, write_checkpoint_parts, write_parts

        rest = [name for name in due if name != "snapshots"]
        if "snapshots" in due:
            write_parts(self, WholeDomain(self, None) if self.world.root else None)
        if not rest:
            return
        stats = reduced_fields(self) if "timeseries" in rest else None
        # the table reads reduced statistics, checkpoints are written in parts; writers a
        # script adds get the whole fields
        view = self.whole(fields=any(n not in ("timeseries", "checkpoints") for n in rest))
        if view is not None:
            view.reduced_fields = stats
        for name in rest:
            if name == "checkpoints":
                write_checkpoint_parts(self, view)
            elif view is not None:
                self.writers[name].write(view)

    def _check(self, guard) -> None:
        bad = not guard.peak(self) <= guard.limit  # NaN is bad too
        if not self.world.comm.allreduce(int(bad)):
            return
        view = self.whole()
        found = None
        if view is not None:
            try:
                Simulation._check(view, guard)
            except BlowUp as exc:
                found = exc
        what = None if found is None else (found.what, found.name, found.value)
        what = self.world.comm.bcast(what, root=0)
        if found is not None:
            raise found
        what = what or ("field", "?", float("nan"))
        raise BlowUp(self.step_index, self.time, *what, guard.limit)
