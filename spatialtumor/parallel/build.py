"""What a scenario needs to run on several ranks: the refusals, and this rank's slab."""

from __future__ import annotations

from .comm import MPIError
from .simulation import DistributedSimulation
from .slabs import Slabs

#: cell models whose cells can be split over ranks (their rules read their own cell, or
#: cells in contact that the halo copies hold, and kill through the targets' owners)
SPLIT_MODELS = ("tumour", "inert", "nk", "cd8")


def _recruits(params) -> bool:
    """Whether a kind's parameters make it recruit new cells."""
    rate = getattr(params, "recruitment_rate", 0.0) > 0
    return rate or bool(getattr(params, "recruitment_from", None))


def refuse_unsupported(spec, size: int) -> None:
    """Raise :class:`MPIError` (one line) for parts of a scenario that cannot yet be split
    over ``size`` > 1 ranks: cells of kinds other than :data:`SPLIT_MODELS`, recruitment of
    new cells and infusions of cells (``[[therapy.infusions]]``). Vessels, compartments,
    doses, pulses, radiation and chemotherapy run split: what they read is either the rank's
    own voxels and cells or global scalars every rank computes alike."""
    if size <= 1:
        return
    kinds = spec.cells.kinds.items() if spec.cells is not None else ()
    other = [f"{n} ({k.model})" for n, k in kinds if k.model not in SPLIT_MODELS]
    if other:
        raise MPIError(
            f"cells across MPI ranks are not supported yet for kinds {', '.join(other)}: only "
            f"{', '.join(SPLIT_MODELS)} kinds are; run it in one "
            f"process (not under mpirun -n {size})"
        )
    recruiting = [n for n, k in kinds if _recruits(k.params)]
    if recruiting:
        raise MPIError(
            f"recruitment of cells across MPI ranks is not supported yet (kinds "
            f"{', '.join(recruiting)}); run it in one process (not under mpirun -n {size})"
        )
    if spec.therapy.infusions:
        raise MPIError(
            f"therapy infusions across MPI ranks are not supported yet; run this scenario "
            f"in one process (not under mpirun -n {size})"
        )


def distribute(spec, whole, world, split: str = "auto"):
    """``(grid, simulation class, its extra arguments)`` for this rank's slab of ``whole``.

    Raises :class:`MPIError` for unsupported scenarios and grids too small for the ranks.
    """
    refuse_unsupported(spec, world.size)
    slabs = Slabs.choose(whole.shape, world.size, split)
    offset, shape = slabs.box(world.rank)
    grid = whole.part(offset, shape)
    return grid, DistributedSimulation, {"world": world, "slabs": slabs, "whole_grid": whole}
