"""Contacts across ranks: kills decided as one process decides them, counters summed in id
order over the ranks.

During the contact rules of a mechanics step every rank holds copies of its neighbours'
cells within one mechanics bin of its faces (:meth:`~.cells.SlabCells.add_halo`), so an
owned killer sees every target one process shows it, in the same (bin, id) order and with
the same id-keyed draws; only owned killers act (``CellLayer.owned``). A kill is decided
on the rank that **owns the target**: every rank sends the (target id, killer id) pairs of
its successful killers to the targets' owners, which credit the killer of smallest id per
target (as ``one_per_target`` does in one process), record the kills through the layer's
``kill`` and answer which of them took effect. Counters of sums over cells (``count`` with
rows) are gathered with the cells' ids and summed on rank 0 in id order once per clock
step, so their rounding is that of one process.
"""

from __future__ import annotations

import numpy as np

from .wire import allgather_ints, to_wire


class SlabContacts:
    """The kills and counters of one rank's cells (see the module text)."""

    def __init__(self, layer, cells):
        self.layer, self.cells, self.world = layer, cells, cells.world
        self._count = layer.count
        self.pending: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def any_cells(self) -> bool:
        """Whether any rank owns cells (collective)."""
        pop = self.layer.population
        own = pop.size if self.layer.owned is None else self.layer.owned
        return bool(self.world.comm.allreduce(int(own)))

    def kills(self, ctx, rows, targets, ids, hit, cause: str, eat: bool = False):
        """Which of the killers ``rows`` (with ``targets`` rows, ``ids`` and successful
        draws ``hit``) are credited with a kill, or with eating a dead cell when ``eat``
        (collective)."""
        layer = self.layer
        pop = layer.population
        xp, be = pop.xp, pop.backend
        comm, me, size = self.world.comm, self.world.rank, self.world.size
        cand = xp.nonzero(hit)[0]
        t = targets[cand]
        tid = to_wire(be, pop["id"][t]).astype(np.int64)
        kid = to_wire(be, ids[cand]).astype(np.int64)
        dest = np.full(tid.size, me, dtype=np.int64)
        if tid.size:
            away = to_wire(be, t) >= layer.owned
            if away.any():
                dest[away] = self.cells.owner(pop["position"][t[xp.asarray(away)]])
        got = comm.alltoall([np.stack([tid[dest == r], kid[dest == r]]) for r in range(size)])
        src = np.concatenate([np.full(g.shape[1], r, dtype=np.int64) for r, g in enumerate(got)])
        pairs = np.concatenate(got, axis=1)
        order = np.lexsort((pairs[1], pairs[0]))
        first = np.ones(order.size, dtype=bool)
        first[1:] = pairs[0][order][1:] != pairs[0][order][:-1]
        win = order[first]
        took = np.zeros(src.size, dtype=bool)
        gone = np.zeros(0, dtype=np.int64)
        if win.size:
            trows = layer.neighbours.rows_of(xp.asarray(pairs[0][win]))
            if eat:  # the row goes at the next compaction, as in one process
                dead = xp.zeros(pop.size, dtype=bool)
                dead[trows] = True
                pop.kill(dead)
                took[win] = True
            else:
                took[win] = to_wire(be, layer.kill(ctx, trows, cause=cause))
            # targets that left at once (eaten, or killed without a dead state)
            left = took[win] & ~to_wire(be, pop["alive"][trows]).astype(bool)
            gone = pairs[0][win][left]
        self._forget(gone)
        back = comm.alltoall([took[src == r] for r in range(size)])
        credited = np.zeros(tid.size, dtype=bool)
        for r in range(size):
            credited[dest == r] = back[r]
        killed = xp.zeros(int(rows.shape[0]), dtype=bool)
        killed[cand] = xp.asarray(credited)
        return killed

    def _forget(self, gone: np.ndarray) -> None:
        """Clear ``alive`` of the copies of cells that their owners removed at once this
        step (ids ``gone``, every rank's), so the later rules and the move of this step see
        them gone, as one process does (collective)."""
        layer = self.layer
        pop = layer.population
        everyone, _ = allgather_ints(self.world.comm, gone)
        if not everyone.size or layer.owned is None or pop.size == layer.owned:
            return
        xp = pop.xp
        rows = layer.neighbours.rows_of(xp.asarray(everyone))
        rows = rows[rows >= layer.owned]
        if int(rows.shape[0]):
            mask = xp.zeros(pop.size, dtype=bool)
            mask[rows] = True
            pop.kill(mask)

    def sum_over_all(self, ids, values) -> float:
        """Σ ``values`` over the cells ``ids`` of every rank, in id order (collective; the
        same float on every rank)."""
        be = self.layer.population.backend
        ids = to_wire(be, ids).astype(np.int64)
        values = to_wire(be, values).astype(np.float64)
        got = self.world.comm.allgather((ids, values))
        ids = np.concatenate([g[0] for g in got])
        values = np.concatenate([g[1] for g in got])
        xp = self.layer.population.xp
        return float(xp.sum(xp.asarray(values[np.argsort(ids, kind="stable")])))

    def count(self, name: str, amount, rows=None) -> None:
        """The layer's ``count``; a sum over rows waits for :meth:`flush`."""
        if rows is None:
            return self._count(name, amount)
        if name in self.pending:
            raise RuntimeError(f"counter {name} counted twice over cells in one step")
        pop = self.layer.population
        be = pop.backend
        values = pop.xp.asarray(amount, dtype=np.float64)
        ids = to_wire(be, pop["id"][rows]).astype(np.int64)
        self.pending[name] = (ids, to_wire(be, values).astype(np.float64))

    def flush(self) -> None:
        """Add the pending sums over cells of all ranks, in id order, on rank 0 (collective)."""
        everyone = self.world.comm.gather(self.pending, root=0)
        self.pending = {}
        if everyone is None:
            return
        layer = self.layer
        xp = layer.population.xp
        for name in sorted({n for p in everyone for n in p}):
            ids = np.concatenate([p[name][0] for p in everyone if name in p])
            values = np.concatenate([p[name][1] for p in everyone if name in p])
            values = xp.asarray(values[np.argsort(ids, kind="stable")])
            layer.counters[name] = layer.counters[name] + xp.sum(values)


class SlabStep:
    """The layer's mechanics step on one rank: the attractants' ghost planes (chemotaxis),
    copies of the neighbours' cells in, the contact rules of the owned cells, the unchanged
    move, copies out, migration, then the counters of the step."""

    clock = "mechanics"

    def __init__(self, layer, cells, contacts: SlabContacts | None):
        self.layer, self.cells, self.contacts = layer, cells, contacts

    def __call__(self, sim) -> None:
        layer, cells = self.layer, self.cells
        if layer.mechanics.sensor is not None:
            layer.mechanics.sensor.refresh()
        cells.add_halo()
        layer.owned = cells.owned
        try:
            layer.mechanics_step(sim)
        finally:
            layer.owned = None
        cells.drop_halo()
        cells.migrate()
        if self.contacts is not None:
            self.contacts.flush()
