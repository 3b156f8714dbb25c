"""Output written in parts: every rank writes its slab and its cells, rank 0 the snapshot
file of virtual datasets over them (``spatialtumor.output.parts``) and the sidecar, and the
same for checkpoints (their fields; the cells are stored whole); field statistics of the
time series are reduced from every rank's partial results."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..output.parts import PARTS_DIR, PartInfo, part_name, write_part
from ..output.snapshots import snapshot_from_sim
from ..output.timeseries import combine_reductions, field_reductions

#: how a run on several ranks writes its output
WRITE_MODES = ("parts", "gathered")


def write_parts(sim, view) -> None:
    """Write a snapshot in parts (collective). ``view`` is rank 0's description of the whole
    domain (None elsewhere): its snapshot writer numbers the snapshot and writes the
    snapshot file and the sidecar once every part is in place.

    Each rank holds only its slab and its cells; rank 0 receives the cell count of every
    rank (a few bytes), nothing else.
    """
    comm, me, size = sim.world.comm, sim.world.rank, sim.world.size
    plan = None
    if me == 0:
        plan = view.writers["snapshots"].begin_parts(int(sim.step_index))
    index, folder, compression, opts = comm.bcast(plan, root=0)
    data = snapshot_from_sim(sim)  # this rank's slab and cells
    if data.cells:
        order = np.argsort(data.cells["id"], kind="stable")
        data.cells = {name: col[order] for name, col in data.cells.items()}
    n = int(data.cells["position"].shape[0]) if data.cells else 0
    counts = comm.allgather(n)
    offset, _ = sim.slabs.box(me)
    write_part(
        Path(folder) / PARTS_DIR / part_name(index, me),
        data,
        index=index,
        rank=me,
        ranks=size,
        offset=offset,
        first_cell=int(sum(counts[:me])),
        compression=compression,
        compression_opts=opts,
    )
    comm.gather(None, root=0)  # every part is in place before the snapshot file
    if me == 0:
        parts = []
        for r in range(size):
            box_offset, box_shape = sim.slabs.box(r)
            file = f"{PARTS_DIR}/{part_name(index, r)}"
            parts.append(PartInfo(file, box_offset, box_shape, counts[r]))
        view.writers["snapshots"].write_master(view, parts)


def reduced_fields(sim) -> np.ndarray | None:
    """Sum, min and max of every species over the whole domain on rank 0 (None elsewhere;
    collective): each rank reduces its slab, rank 0 adds the sums in rank order and takes
    the extreme values. Totals therefore differ from one process's in the last bits only
    (a sum of per-slab sums); min and max are exact."""
    local = field_reductions(sim.backend, sim.fields.values)
    parts = sim.world.comm.gather(local, root=0)
    return None if parts is None else combine_reductions(parts)


def write_checkpoint_parts(sim, view) -> None:
    """Write a checkpoint in parts (collective): every rank its slab of the fields to
    ``RUN/checkpoints/parts/checkpoint_<step>.r<rank>.h5``, then rank 0 the checkpoint file,
    whose ``/fields`` is a virtual dataset over them and which holds everything else as
    always (the population gathered on rank 0 in ``view``, the processes' state)."""
    from ..checkpoint import PARTS_DIR as CHECKPOINT_PARTS
    from ..checkpoint import part_name as checkpoint_part
    from ..checkpoint import write_part as write_slab

    comm, me, size = sim.world.comm, sim.world.rank, sim.world.size
    step = int(sim.step_index)
    folder = view.writers["checkpoints"].begin_parts(step) if me == 0 else None
    folder = comm.bcast(folder, root=0)
    offset, _ = sim.slabs.box(me)
    values = sim.backend.asnumpy(sim.fields.values)
    path = Path(folder) / checkpoint_part(step, me)
    write_slab(path, values, step=step, rank=me, ranks=size, offset=offset)
    comm.gather(None, root=0)  # every part is in place before the checkpoint file
    if me == 0:
        parts = []
        for r in range(size):
            box_offset, box_shape = sim.slabs.box(r)
            parts.append((f"{CHECKPOINT_PARTS}/{checkpoint_part(step, r)}", box_offset, box_shape))
        view.writers["checkpoints"].write_master(view, parts)
