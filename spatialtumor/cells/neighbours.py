"""The one neighbour structure of a population: its cells sorted by (bin, id) over the bin
grids its consumers ask for, rebuilt only when the population changed.

Forces and contact searches use the mechanics bins, the deposit of secretion and uptake the
field voxels; each asks :meth:`Neighbours.binning` for its grid and gets the sort of the
current positions, shared by every consumer of that grid until the population's ``version``
changes (a move, a state change, a birth or a death). The id → row lookup is kept until the
membership changes (births, deaths, compaction).
"""

from __future__ import annotations

from ..binning import BinGrid, Binning, bin_population


class Neighbours:
    """Cached (bin, id) sorts and id lookup of one :class:`~spatialtumor.agents.Population`.

    Parameters
    ----------
    population : the population whose cells are sorted
    """

    def __init__(self, population):
        self.population = population
        self._sorts: dict[BinGrid, tuple[tuple[int, int], Binning]] = {}
        self._lookup = None
        self._lookup_key: tuple[int, int] | None = None
        #: number of sorts built, in all and per bin grid (for benchmarks and tests)
        self.builds = 0
        self.builds_by_grid: dict[BinGrid, int] = {}

    def _key(self) -> tuple[int, int]:
        return (self.population.version, self.population.size)

    def binning(self, grid: BinGrid) -> Binning:
        """Rows sorted by (bin of ``grid``, id), rebuilt only if the population changed."""
        key = self._key()
        cached = self._sorts.get(grid)
        if cached is None or cached[0] != key:
            cached = (key, bin_population(self.population, grid))
            self._sorts[grid] = cached
            self.builds += 1
            self.builds_by_grid[grid] = self.builds_by_grid.get(grid, 0) + 1
        return cached[1]

    def stale(self, grid: BinGrid) -> bool:
        """Whether the next :meth:`binning` of ``grid`` has to sort again."""
        cached = self._sorts.get(grid)
        return cached is None or cached[0] != self._key()

    def id_order(self):
        """Rows ``[:size]`` in id order (int64), or None when they already are
        (``ids_sorted``): reductions over cells sum in this order, so their rounding does not
        depend on row order. Kept until the membership changes."""
        pop = self.population
        if pop.ids_sorted:
            return None
        key = (pop.membership_version, pop.size)
        if self._lookup is None or self._lookup_key != key:
            self._lookup = pop.xp.argsort(pop["id"], kind="stable")
            self._lookup_key = key
        return self._lookup

    def rows_of(self, ids):
        """Row of each id in ``ids`` (int64 array), -1 where the id is not an in-use live row.

        Rows are kept in id order by :class:`~spatialtumor.agents.Population` (append and
        stable compaction), so this is a binary search; otherwise an id sort is built once
        per membership change.
        """
        pop = self.population
        xp = pop.xp
        ids = xp.asarray(ids, dtype=xp.int64)
        col = pop["id"]
        if pop.size == 0:
            return xp.full(ids.shape, -1, dtype=xp.int64)
        order = self.id_order()
        sorted_ids = col if order is None else col[order]
        pos = xp.searchsorted(sorted_ids, ids)
        pos = xp.minimum(pos, pop.size - 1)
        rows = pos if order is None else order[pos]
        found = (col[rows] == ids) & pop["alive"][rows] & (ids >= 0)
        return xp.where(found, rows, -1)
