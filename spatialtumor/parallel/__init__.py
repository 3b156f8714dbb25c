"""Domain decomposition over MPI ranks (mpi4py, imported only when a run uses it).

The fields of a run are split into slabs along one axis, one slab per rank
(:mod:`.slabs`); the explicit stencil reads its neighbours' face planes through ghost
layers (:mod:`.halo`); the implicit LOD sweep along the split axis runs on a transposed
layout in which every line is whole on one rank (:mod:`.transpose`); writers and
checkpoints see the whole domain gathered on rank 0 (:mod:`.gather`, :mod:`.simulation`).
Results equal a single process bit for bit (docs/PARALLEL.md says why).
"""

from __future__ import annotations

from .comm import MPIError, World, launched_by_mpirun, launcher_rank, world
from .slabs import Slabs

__all__ = ["MPIError", "Slabs", "World", "launched_by_mpirun", "launcher_rank", "world"]
