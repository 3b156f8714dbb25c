"""Sort cells into the bins of a box grid: order by (bin, id), bin starts and ends.

One sort serves several consumers: the per-voxel deposit of secretion and uptake (bins =
field voxels), the pair forces and the contact search (bins = mechanics bins at least as
large as the longest interaction distance). The sort key is ``(bin, id)`` so the order, and
every fixed-order sum built on it, does not depend on row order, thread order or
compaction. Dead rows go to a sentinel bin ``n_bins`` past the end and are in no bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BinGrid:
    """A box cut into ``nx × ny × nz`` equal bins.

    Parameters
    ----------
    lower, upper : (x, y, z) corners of the box [µm]
    dims : (nx, ny, nz) number of bins per axis
    first, held : (i, j, k) of the first bin held and bins held per axis, when the grid
        holds only a block of the box's bins (:meth:`part`; a rank's slab); a position's bin
        is computed over the whole box and then taken into the block (clipped to it)

    Flat bin index ``(k ny + j) nx + i`` (x fastest, like field voxels) over the bins held
    (``shape``).
    """

    lower: tuple[float, float, float]
    upper: tuple[float, float, float]
    dims: tuple[int, int, int]
    first: tuple[int, int, int] = (0, 0, 0)
    held: tuple[int, int, int] | None = None

    @classmethod
    def covering(cls, lower, upper, min_size: float) -> BinGrid:
        """The finest grid over the box whose bins are at least ``min_size`` [µm] on each edge."""
        if not min_size > 0:
            raise ValueError(f"bin size must be > 0, got {min_size}")
        lo = tuple(float(v) for v in lower)
        hi = tuple(float(v) for v in upper)
        dims = tuple(
            max(1, int(math.floor((h - l) / min_size))) for l, h in zip(lo, hi, strict=True)
        )
        return cls(lo, hi, dims)

    @classmethod
    def of_grid(cls, grid) -> BinGrid:
        """Bins equal to the voxels of a field :class:`~spatialtumor.grid.Grid` (of a sub-box:
        its block of the whole grid's voxel bins)."""
        lo = tuple(float(v) for v in grid.global_origin)
        hi = tuple(float(v) for v in grid.global_upper)
        whole = cls(lo, hi, tuple(int(n) for n in grid.global_counts_xyz))
        if tuple(grid.shape) == tuple(grid.global_shape):
            return whole
        return whole.part(grid.offset[::-1], (grid.nx, grid.ny, grid.nz))

    def part(self, first, held) -> BinGrid:
        """The block of ``held`` (nx, ny, nz) bins from bin ``first`` (i, j, k) of this box."""
        return BinGrid(
            self.lower, self.upper, self.dims, tuple(map(int, first)), tuple(map(int, held))
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Bins held per axis (x, y, z)."""
        return self.dims if self.held is None else self.held

    @property
    def n_bins(self) -> int:
        s = self.shape
        return s[0] * s[1] * s[2]

    @property
    def size(self) -> np.ndarray:
        """Bin edge lengths (x, y, z) [µm]."""
        return (np.asarray(self.upper) - np.asarray(self.lower)) / np.asarray(self.dims)

    def bin_of(self, xp, positions, alive=None):
        """Flat bin of each position (N, 3) [µm], clipped to the box; ``n_bins`` where dead."""
        dt = positions.dtype
        rel = (positions - xp.asarray(self.lower, dtype=dt)) * xp.asarray(1.0 / self.size, dtype=dt)
        ijk = xp.floor(rel).astype(xp.int64)
        i = xp.clip(ijk[:, 0], 0, self.dims[0] - 1)
        j = xp.clip(ijk[:, 1], 0, self.dims[1] - 1)
        k = xp.clip(ijk[:, 2], 0, self.dims[2] - 1)
        if self.held is not None:
            f, h = self.first, self.held
            i, j, k = (xp.clip(v - f[a], 0, h[a] - 1) for a, v in enumerate((i, j, k)))
        s = self.shape
        b = (k * s[1] + j) * s[0] + i
        if alive is not None:
            b = xp.where(alive, b, self.n_bins)
        return b


@dataclass
class Binning:
    """Result of :func:`bin_cells`.

    Attributes
    ----------
    grid : the BinGrid
    cell_bin : (N,) int64 — bin of each row (``n_bins`` for dead rows)
    order : (N,) int64 — rows sorted by (bin, id); dead rows last
    start, end : (n_bins,) int64 — ``order[start[b]:end[b]]`` are the rows in bin b
        (the run boundaries of the sorted bins, equal to the exclusive / inclusive prefix
        sums of the bin counts)
    max_occupancy : int or None — largest bin count, computed on request (host read)
    """

    grid: BinGrid
    cell_bin: Any
    order: Any
    start: Any
    end: Any

    def max_occupancy(self, xp) -> int:
        if self.start.shape[0] == 0:
            return 0
        return int(xp.max(self.end - self.start))


def sort_order(xp, keys, ids=None):
    """Stable order of rows by ``(keys, ids)``.

    With ``ids=None`` the row order breaks ties (correct when rows are sorted by id, which
    :class:`~spatialtumor.agents.Population` maintains while ``ids_sorted`` holds).
    """
    if ids is None:
        return xp.argsort(keys, kind="stable")
    first = xp.argsort(ids, kind="stable")
    second = xp.argsort(keys[first], kind="stable")
    return first[second]


def bin_cells(xp, grid: BinGrid, positions, alive, ids=None) -> Binning:
    """Sort rows into the bins of ``grid``.

    Parameters
    ----------
    xp : array module
    grid : BinGrid
    positions : (N, 3) [µm]
    alive : (N,) bool — dead rows go to the sentinel bin
    ids : (N,) int64 or None — tie-break; None means rows are already in id order
    """
    cell_bin = grid.bin_of(xp, positions, alive)
    # sort on 32-bit keys where the bins (and the sentinel) fit: fewer radix passes
    key = cell_bin.astype(xp.int32) if grid.n_bins < 2**31 - 1 else cell_bin
    order = sort_order(xp, key, ids)
    if xp is np:  # on the host a count is cheaper than a search, and reads nothing back
        counts = np.bincount(cell_bin, minlength=grid.n_bins + 1)[: grid.n_bins]
        end = np.cumsum(counts)
        return Binning(grid, cell_bin, order, end - counts, end)
    # on the device, run boundaries of the sorted bins by binary search: no host read (a
    # bincount would read the largest bin to size its output)
    edges = xp.searchsorted(key[order], xp.arange(grid.n_bins + 1, dtype=key.dtype))
    return Binning(grid, cell_bin, order, edges[:-1], edges[1:])


def bin_population(population, grid: BinGrid) -> Binning:
    """:func:`bin_cells` over the in-use rows of a Population (id tie-break as needed)."""
    xp = population.xp
    ids = None if population.ids_sorted else population["id"]
    return bin_cells(xp, grid, population["position"], population["alive"], ids)
