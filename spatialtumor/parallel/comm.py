"""The communicator of a run: mpi4py imported lazily, one clear line when it is missing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: environment variables that MPI launchers (Open MPI; MPICH, Intel MPI and Slurm through
#: PMI) set in every process they start, holding the number of processes
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
#: Slurm's srun under PMIx sets neither: a PMIx rank and the step's task count say it


class MPIError(RuntimeError):
    """A parallel run cannot start or cannot go on as asked (one line for the user)."""


def launched_by_mpirun(environ: Mapping[str, str] | None = None) -> int:
    """Number of processes the MPI launcher started (0 when not started by a launcher)."""
    env = os.environ if environ is None else environ
    names = SIZE_VARIABLES + (("SLURM_STEP_NUM_TASKS",) if "PMIX_RANK" in env else ())
    for name in names:
        value = env.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def launcher_rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's rank as the launcher gave it (0 when not started by a launcher)."""
    env = os.environ if environ is None else environ
    for name in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
        value = env.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


@dataclass(frozen=True)
class World:
    """The ranks of a run.

    Attributes
    ----------
    comm : the mpi4py communicator (None for a single process without MPI)
    rank, size : this process's rank and the number of ranks
    local_rank, local_size : rank and number of ranks on this node (to pick a device)
    """

    comm: Any
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def root(self) -> bool:
        """Whether this is rank 0 (the one that writes)."""
        return self.rank == 0


def world(environ: Mapping[str, str] | None = None) -> World:
    """The run's ranks: MPI's world under a launcher, a lone process otherwise.

    Raises :class:`MPIError` when a launcher started several processes but mpi4py cannot
    be imported, or MPI sees another number of processes than the launcher started (each
    would otherwise run the whole problem alone).
    """
    n = launched_by_mpirun(environ)
    if n == 0:
        return World(None)
    try:
        from mpi4py import MPI
    except ImportError as exc:
        if n == 1:
            return World(None)  # one process needs no MPI
        raise MPIError(
            f"started by an MPI launcher ({n} processes) but mpi4py is missing ({exc}); "
            "install it against the site MPI with `pip install mpi4py`"
        ) from None
    comm = MPI.COMM_WORLD
    if comm.Get_size() != n:
        raise MPIError(
            f"the launcher started {n} processes but MPI sees {comm.Get_size()}: mpi4py is "
            "built against another MPI than the launcher's (rebuild it against the site MPI: "
            "`pip install --no-binary mpi4py mpi4py`)"
        )
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    w = World(comm, comm.Get_rank(), comm.Get_size(), node.Get_rank(), node.Get_size())
    node.Free()
    return w
