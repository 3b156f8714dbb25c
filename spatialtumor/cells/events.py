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
        self.spawned = 0
        self.overflowed = 0

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

    @property
    def free(self):
        """Rows without an event yet (new state, division or removal)."""
        return (self.new_state < 0) & ~self.dividing & ~self.removing

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
        take = xp.asarray(mask, dtype=bool) & ~self.removing & ~self.dividing
        self.removing[...] |= take
        return take

    def spawn(self, kind: int, positions) -> None:
        """Record new cells of kind code ``kind`` at ``positions`` (M, 3) [µm]."""
        xp = self.population.xp
        m = int(positions.shape[0])
        if m == 0:
            return
        need = self.spawned + m
        if need > self._spawn_capacity:
            cap = max(need, 2 * self._spawn_capacity)
            pos = xp.zeros((cap, 3), dtype=np.float64)
            kin = xp.zeros(cap, dtype=np.int16)
            pos[: self.spawned] = self._spawn_position[: self.spawned]
            kin[: self.spawned] = self._spawn_kind[: self.spawned]
            self._spawn_position, self._spawn_kind = pos, kin
            self._spawn_capacity = cap
            self.overflowed += 1
        self._spawn_position[self.spawned : need] = xp.asarray(positions, dtype=np.float64)
        self._spawn_kind[self.spawned : need] = kind
        self.spawned = need

    def spawns(self):
        """``(positions (M, 3), kind (M,))`` recorded since the last reset (views)."""
        return self._spawn_position[: self.spawned], self._spawn_kind[: self.spawned]

    @property
    def structural(self) -> bool:
        """Whether divisions, removals or spawns are pending (a device→host read)."""
        xp = self.population.xp
        return self.spawned > 0 or bool(xp.any(self.dividing) | xp.any(self.removing))

    def clear_states(self) -> None:
        self.new_state[...] = NO_STATE

    def reset(self) -> None:
        """Forget every event (after they were applied)."""
        self._ensure()
        self._new_state[...] = NO_STATE
        self._divide[...] = False
        self._remove[...] = False
        self.spawned = 0
