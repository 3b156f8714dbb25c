"""Events recorded by rules, applied by the cell layer.

Rules never add or remove rows. They record, per row,

* a new state (``change_state``; applied at the end of the clock step that recorded it, so
  later steps see a killed cell as dying),
* a division (``divide``) or a removal (``remove``), applied once per phenotype step together
  with the new cells of ``spawn``: one compaction, then appends.

The first state change or division recorded for a row wins: stages run in a fixed order,
so a cell killed in the contact stage can neither divide nor die again in the fate stage of
the same step. A removal takes effect whatever was recorded before it (a removed cell's
other events do not matter), except on a row that divides. Rules on the mechanics clock
record state changes only; a cell killed there without a dead state of its kind dies at
once (see ``CellLayer.kill``), so nothing structural is pending between phenotype steps
and checkpoints need no event buffers.
Buffers are preallocated to the population's capacity and grow with it; spawned cells go to
a preallocated buffer that doubles when full (``overflowed`` counts those growths).

Each spawned cell carries an order key ``(rule, call, place)``: the rule that spawned it in
the step's rule order, the rule's spawn call, and its place in that call (its rank in the
call by default). One process numbers new cells in record order, which is key order; cells
split over ranks are numbered in the key order of all ranks' spawns.

While ``owned`` is set (cells split over ranks, with copies of the neighbours' cells in the
rows ``[owned:]``), events are recorded on the own rows only, so a rule acting on every row
leaves the copies alone and counts what it did to its own cells.
"""

from __future__ import annotations

import numpy as np

NO_STATE = -1


class Events:
    """Per-row event buffers of one :class:`~spatialtumor.agents.Population`."""

    def __init__(self, population, spawn_capacity: int = 256):
        self.population = population
        self._capacity = 0
        self._new_state = self._divide = self._remove = None
        self._ensure()
        xp = population.xp
        self._spawn_capacity = max(1, int(spawn_capacity))
        self._spawn_position = xp.zeros((self._spawn_capacity, 3), dtype=np.float64)
        self._spawn_kind = xp.zeros(self._spawn_capacity, dtype=np.int16)
        self._spawn_key = np.zeros((self._spawn_capacity, 3), dtype=np.int64)
        self.spawned = 0
        self.overflowed = 0
        #: rows ``[:owned]`` may take events (None: every row), see the module text
        self.owned: int | None = None
        #: the spawning rule's place in the step's rule order, and its spawn calls so far
        self.rule = 0
        self.calls = 0

    def _ensure(self) -> None:
        pop = self.population
        if pop.capacity <= self._capacity:
            return
        xp = pop.xp
        cap = pop.capacity
        self._new_state = xp.full(cap, NO_STATE, dtype=np.int16)
        self._divide = xp.zeros(cap, dtype=bool)
        self._remove = xp.zeros(cap, dtype=bool)
        self._capacity = cap

    # views over the in-use rows -------------------------------------------------------
    @property
    def new_state(self):
        """(size,) int16: the state each row enters, -1 for none."""
        self._ensure()
        return self._new_state[: self.population.size]

    @property
    def dividing(self):
        self._ensure()
        return self._divide[: self.population.size]

    @property
    def removing(self):
        self._ensure()
        return self._remove[: self.population.size]

    def _own(self, mask):
        if self.owned is None:
            return mask
        xp = self.population.xp
        return mask & (xp.arange(self.population.size) < self.owned)

    @property
    def free(self):
        """Rows without an event yet (new state, division or removal); only own rows
        while :attr:`owned` is set."""
        return self._own((self.new_state < 0) & ~self.dividing & ~self.removing)

    # recording ---------------------------------------------------------------------------
    def change_state(self, mask, code):
        """Record that rows in ``mask`` enter state ``code`` (scalar or per-row array).

        Returns the rows that took the change (``mask`` minus rows with an earlier event).
        """
        xp = self.population.xp
        take = xp.asarray(mask, dtype=bool) & self.free
        ns = self.new_state
        ns[...] = xp.where(take, xp.asarray(code, dtype=np.int16), ns)
        return take

    def divide(self, mask):
        """Record divisions of rows in ``mask`` (applied at the end of the phenotype step)."""
        xp = self.population.xp
        take = xp.asarray(mask, dtype=bool) & self.free
        self.dividing[...] |= take
        return take

    def remove(self, mask):
        """Record removals of rows in ``mask`` (applied at the end of the phenotype step)."""
        xp = self.population.xp
        take = self._own(xp.asarray(mask, dtype=bool) & ~self.removing & ~self.dividing)
        self.removing[...] |= take
        return take

    def spawn(self, kind: int, positions, places=None) -> None:
        """Record new cells of kind code ``kind`` at ``positions`` (M, 3) [µm]; ``places``
        (M,) int64 host array, increasing: their places in this call's one-process order
        (default ``0 … M−1``). Every call counts, empty or not (see the module text)."""
        xp = self.population.xp
        m = int(positions.shape[0])
        call = self.calls
        self.calls += 1
        if m == 0:
            return
        need = self.spawned + m
        if need > self._spawn_capacity:
            cap = max(need, 2 * self._spawn_capacity)
            pos = xp.zeros((cap, 3), dtype=np.float64)
            kin = xp.zeros(cap, dtype=np.int16)
            key = np.zeros((cap, 3), dtype=np.int64)
            pos[: self.spawned] = self._spawn_position[: self.spawned]
            kin[: self.spawned] = self._spawn_kind[: self.spawned]
            key[: self.spawned] = self._spawn_key[: self.spawned]
            self._spawn_position, self._spawn_kind, self._spawn_key = pos, kin, key
            self._spawn_capacity = cap
            self.overflowed += 1
        self._spawn_position[self.spawned : need] = xp.asarray(positions, dtype=np.float64)
        self._spawn_kind[self.spawned : need] = kind
        key = self._spawn_key[self.spawned : need]
        key[:, 0], key[:, 1] = self.rule, call
        key[:, 2] = np.arange(m, dtype=np.int64) if places is None else places
        self.spawned = need

    def start_rule(self, index: int) -> None:
        """The rule at ``index`` of the step's rule order records next (spawn keys)."""
        self.rule, self.calls = int(index), 0

    def spawn_keys(self) -> np.ndarray:
        """(M, 3) int64 host order keys ``(rule, call, place)`` of the recorded spawns."""
        return self._spawn_key[: self.spawned]

    def spawns(self):
        """``(positions (M, 3), kind (M,))`` recorded since the last reset (views)."""
        return self._spawn_position[: self.spawned], self._spawn_kind[: self.spawned]

    @property
    def structural(self) -> bool:
        """Whether divisions, removals or spawns are pending, or rows of dead cells wait for
        the compaction (cells eaten or killed at once since the last one; a device→host
        read). The compaction then runs at every phenotype step that has any of them,
        whoever holds the rows, so a domain split over processes keeps the same rows."""
        xp = self.population.xp
        n = self.population.size
        dead = ~xp.all(self.population["alive"]) if n else False
        return self.spawned > 0 or bool(xp.any(self.dividing) | xp.any(self.removing) | dead)

    def clear_states(self) -> None:
        self.new_state[...] = NO_STATE

    def reset(self) -> None:
        """Forget every event (after they were applied)."""
        self._ensure()
        self._new_state[...] = NO_STATE
        self._divide[...] = False
        self._remove[...] = False
        self.spawned = 0
