"""Cells across ranks: each rank owns the cells of its slab, as one process would have them.

A cell belongs to the rank whose slab holds its **voxel**, computed with the bins of the
whole grid exactly as the deposit of one process computes it, so secretion, uptake and
voxel sensing of a cell never leave its rank. Per mechanics step every rank receives
copies of its neighbours' cells within one mechanics bin (≥ the interaction distance) of
its faces, moves its cells with the unchanged kernels, drops the copies and sends cells
that left its slab to their new owner (:meth:`SlabCells.migrate`, also after divisions).
Rows are kept sorted by id, so every (bin, id) order and every sum over a cell's
neighbours is the one of a single process.

Daughters take the ids one process gives them: the mothers of all ranks in id order are
numbered from the shared id counter (:meth:`SlabCells.daughter_ids`, one all-gather of the
mothers' ids per phenotype step; every rank advances the counter by the total).

Every column of every kind travels: rows are packed as raw bytes, column after column in
the population's column order, and re-dealt like an ``Alltoallv`` (in messages below 2³¹
bytes, :func:`~spatialtumor.parallel.wire.exchange`).
"""

from __future__ import annotations

import copy

import numpy as np

from ..agents import Population
from ..binning import BinGrid
from ..cells.neighbours import Neighbours
from .comm import MPIError
from .wire import allgather_ints, exchange, recv_large, send_large, to_wire


class SlabCells:
    """The cells of one rank's slab and their traffic with the other ranks.

    Parameters
    ----------
    population : this rank's Population (its rows: the cells it owns)
    world, slabs : the ranks and the decomposition of the fields
    whole_grid : the global Grid
    width : halo width: cells within this distance of a face are copied to the rank on
        the other side before each move [µm] (at least the interaction distance)
    """

    def __init__(self, population: Population, world, slabs, whole_grid, width: float):
        self.population, self.world, self.slabs = population, world, slabs
        self.voxels = BinGrid.of_grid(whole_grid)
        self.coord = 2 - slabs.axis  # position component (x, y, z) of the split axis
        bounds = slabs.bounds()
        c = self.coord
        planes = whole_grid.global_origin[c] + whole_grid.spacing[c] * np.array(
            [lo for lo, _ in bounds] + [bounds[-1][1]], dtype=np.float64
        )
        self.first_voxel = np.array([lo for lo, _ in bounds[1:]], dtype=np.int64)
        self.faces = planes[world.rank], planes[world.rank + 1]  # [µm]
        self.width = float(width)
        thin = float(np.min(np.diff(planes)))
        if thin < self.width:
            raise MPIError(
                f"too many ranks for the cells: a slab {thin:.4g} µm thick is thinner than "
                f"the interaction distance of the cells ({self.width:.4g} µm); use fewer ranks"
            )
        self._owned: int | None = None
        self._was_sorted = True
        #: rows this rank has sent to others since set-up: halo copies and migrants
        self.sent = {"halo": 0, "migrated": 0}

    # geometry ------------------------------------------------------------------------
    def owner(self, positions) -> np.ndarray:
        """Rank owning each position (N, 3) [µm]: the slab holding its voxel (host int64)."""
        xp = self.population.xp
        dims = self.voxels.dims
        b = self.voxels.bin_of(xp, positions)
        along = (b // (dims[0] * dims[1]), (b // dims[0]) % dims[1], b % dims[0])[2 - self.coord]
        return np.searchsorted(self.first_voxel, to_wire(self.population.backend, along), "right")

    def bins(self, mechanics_bins: BinGrid) -> BinGrid:
        """The mechanics bins this rank needs: those over its slab widened by the halo width
        and one bin (so rounding never moves a copy out of the held bins)."""
        c = self.coord
        g = mechanics_bins
        inv = 1.0 / float(g.size[c])
        lo = int(np.floor((self.faces[0] - self.width - g.lower[c]) * inv)) - 1
        hi = int(np.floor((self.faces[1] + self.width - g.lower[c]) * inv)) + 1
        lo, hi = max(lo, 0), min(hi, g.dims[c] - 1)
        first, held = [0, 0, 0], list(g.dims)
        first[c], held[c] = lo, hi - lo + 1
        return g.part(first, held)

    # traffic -------------------------------------------------------------------------
    def _pack(self, rows) -> np.ndarray:
        pop = self.population
        m = int(rows.shape[0])
        parts = [
            np.ascontiguousarray(to_wire(pop.backend, pop.columns[n][rows]).reshape(m, -1))
            .view(np.uint8)
            .reshape(m, -1)
            for n in pop.specs
        ]
        return np.ascontiguousarray(np.concatenate(parts, axis=1))

    def _unpack(self, buf: np.ndarray) -> dict[str, np.ndarray]:
        pop = self.population
        m, out, at = buf.shape[0], {}, 0
        for name, (dt, shape, _fill) in pop.specs.items():
            width = dt.itemsize * int(np.prod(shape, dtype=np.int64))
            block = np.ascontiguousarray(buf[:, at : at + width])
            out[name] = block.view(dt).reshape((m, *shape))
            at += width
        return out

    def row_bytes(self) -> int:
        """Bytes of one packed row (every column of the population)."""
        specs = self.population.specs.values()
        return sum(dt.itemsize * int(np.prod(s, dtype=np.int64)) for dt, s, _ in specs)

    def _packed(self, rows: np.ndarray) -> np.ndarray:
        if rows.size == 0:
            return np.zeros((0, self.row_bytes()), dtype=np.uint8)
        return self._pack(self.population.xp.asarray(rows))

    def exchange(self, rows: np.ndarray, dest: np.ndarray) -> dict[str, np.ndarray]:
        """Send rows ``rows`` (host int64) to ranks ``dest``; returns the columns received,
        by source rank and, within one, in the order sent (collective)."""
        comm, size = self.world.comm, self.world.size
        order = np.argsort(dest, kind="stable")
        rows, dest = rows[order], dest[order]
        counts = np.bincount(dest, minlength=size).astype(np.int64)
        width = self.row_bytes()
        send = self._packed(rows)
        got = np.empty(size, dtype=np.int64)
        comm.Alltoall(counts, got)
        recv = np.empty((int(got.sum()), width), dtype=np.uint8)
        sd = np.concatenate([[0], np.cumsum(counts)[:-1]]) * width
        rd = np.concatenate([[0], np.cumsum(got)[:-1]]) * width
        exchange(comm, send.reshape(-1), counts * width, sd, recv.reshape(-1), got * width, rd)
        return self._unpack(recv)

    def _append(self, cols: dict[str, np.ndarray]) -> None:
        if cols["id"].shape[0]:
            self.population.append(cols)

    def sort_by_id(self) -> None:
        """Put the rows in id order (as one process keeps them)."""
        pop = self.population
        if pop.ids_sorted:
            return
        xp = pop.xp
        order = xp.argsort(pop["id"], kind="stable")
        for col in pop.columns.values():
            col[: pop.size] = col[: pop.size][order]
        pop.ids_sorted = True
        pop.mark_membership_changed()

    def keep_own(self) -> None:
        """Drop the rows of cells this rank does not own (after a set-up or a restore that
        gave every rank every cell)."""
        pop = self.population
        if pop.size:
            mine = self.owner(pop["position"]) == self.world.rank
            if not mine.all():
                pop.rebuild(pop.xp.asarray(mine))

    def migrate(self) -> None:
        """Send every cell that left this rank's slab to its owner (collective)."""
        pop = self.population
        me = self.world.rank
        dest = self.owner(pop["position"]) if pop.size else np.zeros(0, dtype=np.int64)
        leave = dest != me
        cols = self.exchange(np.flatnonzero(leave), dest[leave])
        self.sent["migrated"] += int(leave.sum())
        if leave.any():
            pop.rebuild(pop.xp.asarray(~leave))
        self._append(cols)
        self.sort_by_id()

    def add_halo(self) -> None:
        """Append copies of the neighbours' cells within the halo width of a face."""
        pop = self.population
        me, size = self.world.rank, self.world.size
        p = to_wire(pop.backend, pop["position"][:, self.coord]) if pop.size else np.zeros(0)
        down = np.flatnonzero(p < self.faces[0] + self.width) if me > 0 else np.zeros(0, int)
        up = np.flatnonzero(p >= self.faces[1] - self.width) if me < size - 1 else np.zeros(0, int)
        rows = np.concatenate([down, up]).astype(np.int64)
        dest = np.concatenate([np.full(down.size, me - 1), np.full(up.size, me + 1)])
        cols = self.exchange(rows, dest.astype(np.int64))
        self.sent["halo"] += int(rows.size)
        self._owned, self._was_sorted = pop.size, pop.ids_sorted
        self._append(cols)

    @property
    def owned(self) -> int | None:
        """Rows of owned cells while copies are appended (they come first), else None."""
        return self._owned

    def drop_halo(self) -> None:
        """Remove the copies appended by :meth:`add_halo` (the owned rows keep their order)."""
        pop = self.population
        if self._owned is not None and pop.size > self._owned:
            keep = pop.xp.arange(pop.size) < self._owned
            pop.rebuild(keep)
            pop.ids_sorted = self._was_sorted
        self._owned = None

    # ids and output ------------------------------------------------------------------
    def daughter_ids(self, mother_ids):
        """Ids of the daughters of ``mother_ids`` (this rank's mothers, device int64), as one
        process numbers them: the mothers of all ranks in id order (collective)."""
        pop = self.population
        mine = to_wire(pop.backend, mother_ids).astype(np.int64)
        everyone, _ = allgather_ints(self.world.comm, mine)
        everyone.sort()
        ids = pop.next_id + np.searchsorted(everyone, mine)
        pop.next_id += int(everyone.size)
        return pop.xp.asarray(ids.astype(np.int64))

    def spawn_ids(self, keys: np.ndarray):
        """Ids of this rank's spawned cells with order keys ``keys`` ((M, 3) int64, see
        :class:`~spatialtumor.cells.events.Events`), as one process numbers them: the spawns
        of all ranks in key order, after the daughters (collective)."""
        pop = self.population
        comm = self.world.comm
        mine = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1, 3)
        everyone, counts = allgather_ints(comm, mine)
        everyone, counts = everyone.reshape(-1, 3), counts // 3
        total = int(counts.sum())
        if total == 0:
            return pop.xp.zeros(0, dtype=np.int64)
        order = np.lexsort((everyone[:, 2], everyone[:, 1], everyone[:, 0]))
        place = np.empty(total, dtype=np.int64)
        place[order] = np.arange(total, dtype=np.int64)
        start = int(counts[: self.world.rank].sum())
        ids = pop.next_id + place[start : start + mine.shape[0]]
        pop.next_id += total
        return pop.xp.asarray(ids)

    def owns(self, positions):
        """Device bool mask of the ``positions`` (M, 3) [µm] in this rank's slab."""
        xp = self.population.xp
        if int(positions.shape[0]) == 0:
            return xp.zeros(0, dtype=bool)
        return xp.asarray(self.owner(positions) == self.world.rank)

    def gather(self, backend) -> Population | None:
        """The whole population on rank 0 in id order (the rows of one process), on the host
        ``backend``; None elsewhere (collective)."""
        pop = self.population
        comm = self.world.comm
        send = self._packed(np.arange(pop.size, dtype=np.int64))
        counts = comm.gather(int(send.size), root=0)
        if self.world.rank != 0:
            send_large(comm, send, dest=0, tag=29)
            return None
        recv = np.empty(int(sum(counts)), dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(counts)])
        recv[: counts[0]] = send.reshape(-1)
        for r in range(1, self.world.size):
            recv_large(comm, recv[starts[r] : starts[r + 1]], source=r, tag=29)
        cols = self._unpack(recv.reshape(-1, self.row_bytes()))
        order = np.argsort(cols["id"], kind="stable")
        whole = {
            "kind_names": list(pop.kind_names),
            "rank_tag": pop.rank_tag,
            "next_id": pop.next_id,
            "size": int(order.size),
            "ids_sorted": True,
            "specs": {n: (dt.str, list(s), f) for n, (dt, s, f) in pop.specs.items()},
            "columns": {n: c[order] for n, c in cols.items()},
        }
        out = Population.from_state_dict(backend, whole, kinds=pop.kinds)
        out.column_owners = dict(pop.column_owners)
        out.column_units = dict(pop.column_units)
        return out


def whole_layer(layer, population: Population, counters):
    """The cell layer as writers on rank 0 see it: ``population`` (the gathered one), its own
    neighbours, host tables, and ``counters`` (summed over the ranks: exact while they count
    whole events)."""
    be = layer.population.backend
    view = copy.copy(layer)
    view.population = population
    view.neighbours = Neighbours(population)
    view.class_living = np.asarray(be.asnumpy(layer.class_living))
    view.counters = {n: np.float64(v) for n, v in counters.items()}
    return view


class SlabPhenotype:
    """The layer's phenotype step followed by the migration of daughters and new cells that
    left (and the counters of the step). With ``halo`` (a phenotype rule searches contacts)
    the rules run with copies of the neighbours' cells near the faces, as on the mechanics
    clock; the copies go before divisions, removals and new cells."""

    clock = "phenotype"

    def __init__(self, layer, cells: SlabCells, contacts=None, halo: bool = False):
        self.layer, self.cells, self.contacts = layer, cells, contacts
        self.halo = bool(halo)

    def __call__(self, sim) -> None:
        layer, cells = self.layer, self.cells
        if self.halo:
            cells.add_halo()
            layer.owned = cells.owned
            try:
                ctx = layer.phenotype_rules(sim)
            finally:
                layer.owned = None
            cells.drop_halo()
            layer.apply_structure(ctx)
        else:
            layer.phenotype_step(sim)
        cells.migrate()
        if self.contacts is not None:
            self.contacts.flush()
