"""Moving blocks of a backend array through MPI buffers (host memory)."""

from __future__ import annotations

import numpy as np


def to_wire(backend, array) -> np.ndarray:
    """A C-contiguous host copy (or view) of ``array`` to hand to MPI.

    CuPy arrays are staged through the host here; a CUDA-aware MPI could take them
    directly (after a stream synchronisation), which this first version does not do.
    """
    return np.ascontiguousarray(backend.asnumpy(array))


def from_wire(backend, host: np.ndarray, out) -> None:
    """Copy a received host buffer into ``out`` (a backend array or view of the same shape)."""
    out[...] = host if backend.name == "numpy" else backend.xp.asarray(host)


#: most elements in one MPI message: counts and displacements are C ``int`` in the MPI-3
#: calls mpi4py uses with an MPI lacking the large-count (``_c``) routines, so a message
#: over 2³¹ − 1 elements fails; 2³⁰ leaves room and still amortises the latency
MAX_MESSAGE = 2**30


def exchange(comm, send, send_counts, send_displs, recv, recv_counts, recv_displs) -> None:
    """``Alltoallv`` of flat host buffers in messages of at most :data:`MAX_MESSAGE`
    elements: the piece for rank ``q`` is ``send[send_displs[q]:][:send_counts[q]]``, the
    piece from rank ``q`` lands at ``recv[recv_displs[q]:]``. Only data moves, so the
    result is the same bits as one ``Alltoallv``."""
    me = comm.Get_rank()
    requests = []
    for q in range(comm.Get_size()):
        if q == me:
            continue
        for lo, hi in _pieces(recv_displs[q], recv_counts[q]):
            requests.append(comm.Irecv(recv[lo:hi], source=q, tag=23))
    for q in range(comm.Get_size()):
        if q == me:
            continue
        for lo, hi in _pieces(send_displs[q], send_counts[q]):
            requests.append(comm.Isend(send[lo:hi], dest=q, tag=23))
    n, s, r = send_counts[me], send_displs[me], recv_displs[me]
    recv[r : r + n] = send[s : s + n]
    if requests:
        requests[0].Waitall(requests)


def send_large(comm, buf: np.ndarray, dest: int, tag: int) -> None:
    """``Send`` of a contiguous host array in messages of at most :data:`MAX_MESSAGE`."""
    flat = buf.reshape(-1)
    for lo, hi in _pieces(0, flat.size):
        comm.Send(flat[lo:hi], dest=dest, tag=tag)


def recv_large(comm, buf: np.ndarray, source: int, tag: int) -> None:
    """Inverse of :func:`send_large` into the contiguous host array ``buf``."""
    flat = buf.reshape(-1)
    for lo, hi in _pieces(0, flat.size):
        comm.Recv(flat[lo:hi], source=source, tag=tag)


def _pieces(start: int, count: int):
    """``(lo, hi)`` spans covering ``[start, start + count)`` in order (MPI's non-overtaking
    rule delivers same-tag messages between two ranks in the order they were sent)."""
    return [
        (lo, min(lo + MAX_MESSAGE, start + count))
        for lo in range(start, start + count, MAX_MESSAGE)
    ]


def allgather_ints(comm, values) -> tuple[np.ndarray, np.ndarray]:
    """Every rank's int64 ``values`` (host, 1-d) in rank order on every rank, and how many
    each rank gave (collective: one ``allgather`` of counts, one ``Allgatherv``)."""
    mine = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
    counts = np.array(comm.allgather(int(mine.size)), dtype=np.int64)
    everyone = np.empty(int(counts.sum()), dtype=np.int64)
    if everyone.size:
        comm.Allgatherv(mine, [everyone, counts])
    return everyone, counts
