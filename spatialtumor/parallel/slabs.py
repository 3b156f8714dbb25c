"""Slab decomposition: the global grid cut along one axis into one block of planes per rank."""

from __future__ import annotations

from dataclasses import dataclass

from .comm import MPIError

#: grid axis names in array order of a field (nz, ny, nx)
AXIS_NAMES = ("z", "y", "x")


def block_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous blocks covering ``range(n)``, the first ``n % parts`` one longer."""
    base, extra = divmod(n, parts)
    out, start = [], 0
    for p in range(parts):
        stop = start + base + (p < extra)
        out.append((start, stop))
        start = stop
    return out


@dataclass(frozen=True)
class Slabs:
    """How the global grid (nz, ny, nx) is shared among ``size`` ranks.

    ``axis`` (0 = z, 1 = y, 2 = x, in array order) is cut into slabs, one per rank, each at
    least ``ghost`` planes thick. The LOD sweep along ``axis`` runs on a transposed layout
    in which ``partner`` is cut instead and ``axis`` is whole.
    """

    shape: tuple[int, int, int]
    size: int
    axis: int
    partner: int
    ghost: int = 1

    @classmethod
    def choose(cls, shape, size: int, split: str = "auto", ghost: int = 1) -> Slabs:
        """Cut ``shape`` for ``size`` ranks along ``split`` ("z", "y", "x" or "auto": the
        longest axis, ties to the slowest, whose face planes are contiguous in memory).

        Raises :class:`MPIError` when a slab would be thinner than ``ghost`` planes or the
        transposed layout would leave a rank without lines (too many ranks for the grid).
        """
        shape = tuple(int(n) for n in shape)
        if split == "auto":
            axis = max(range(3), key=lambda a: (shape[a], -a))
        elif split in AXIS_NAMES:
            axis = AXIS_NAMES.index(split)
        else:
            raise MPIError(f"split: must be 'auto', 'x', 'y' or 'z', not {split!r}")
        rest = [a for a in range(3) if a != axis]
        partner = max(rest, key=lambda a: (shape[a], -a))
        name = AXIS_NAMES[axis]
        if shape[axis] < size * ghost:
            raise MPIError(
                f"too many ranks for the grid: {size} slabs along {name} of {shape[axis]} "
                f"voxels would be thinner than the ghost width ({ghost} voxel); use at most "
                f"{shape[axis] // ghost} ranks or a longer {name} axis"
            )
        if shape[partner] < size:
            raise MPIError(
                f"too many ranks for the grid: the transposed layout of the {name} sweep cuts "
                f"{AXIS_NAMES[partner]} ({shape[partner]} voxels) into {size} parts; use at "
                f"most {shape[partner]} ranks"
            )
        return cls(shape, int(size), axis, partner, int(ghost))

    def bounds(self, axis: int | None = None) -> list[tuple[int, int]]:
        """(start, stop) voxel of every rank's block along ``axis`` (default: the split)."""
        a = self.axis if axis is None else axis
        return block_bounds(self.shape[a], self.size)

    def box(self, rank: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """``(offset, shape)`` of ``rank``'s slab in voxels (array order)."""
        lo, hi = self.bounds()[rank]
        offset = [0, 0, 0]
        shape = list(self.shape)
        offset[self.axis] = lo
        shape[self.axis] = hi - lo
        return tuple(offset), tuple(shape)

    def neighbours(self, rank: int) -> tuple[int | None, int | None]:
        """Ranks holding the slabs below and above ``rank``'s (None at a wall)."""
        return (rank - 1 if rank > 0 else None, rank + 1 if rank < self.size - 1 else None)

    def describe(self) -> str:
        b = self.bounds()
        thin = min(hi - lo for lo, hi in b)
        thick = max(hi - lo for lo, hi in b)
        return (
            f"{self.size} slabs along {AXIS_NAMES[self.axis]} of {thin}–{thick} planes "
            f"(LOD {AXIS_NAMES[self.axis]} sweep transposed over {AXIS_NAMES[self.partner]})"
        )
