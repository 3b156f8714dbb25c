"""Under mpirun: step a fields-only transport through the package API, save the whole
fields from rank 0 (``python _driver.py OUT.npy numpy|staged SPLIT STEPS [MAX_MESSAGE]``).

``MAX_MESSAGE`` (elements) cuts every message into small pieces, as a domain of over 2³¹
elements per message would be cut.

``staged`` is the NumPy backend dressed as a device backend (``name = "cupy"``), so the
host staging of ghost planes, transposes and the gather runs as it would on a GPU.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from spatialtumor.backends import Backend, get_backend, reference  # noqa: E402
from spatialtumor.fields import Boundary, Fields, Species  # noqa: E402
from spatialtumor.grid import Grid  # noqa: E402
from spatialtumor.parallel import Slabs, world  # noqa: E402
from spatialtumor.parallel.gather import Gather  # noqa: E402
from spatialtumor.parallel.transport import DistributedTransport  # noqa: E402
from spatialtumor.transport import Transport  # noqa: E402

SHAPE = (9, 11, 13)  # odd sizes: uneven slabs and transposed blocks


def species() -> dict[str, Species]:
    """Two LOD species (Dirichlet and mixed walls) and two explicit ones."""
    return {
        "o2": Species(1e5, 0.1, 38.0, boundary=Boundary.dirichlet(38.0)),
        "drug": Species(2e3, 0.01, 0.0, boundary=Boundary(x_min=5.0, z_max=1.0)),
        "il2": Species(50.0, 0.016, 1.0, solver="explicit", boundary=Boundary(y_max=3.0)),
        "tgf": Species(80.0, 0.0, 0.5, solver="explicit"),
    }


def initial(shape) -> np.ndarray:
    """Deterministic uneven initial fields (4, *shape)."""
    rng = np.random.default_rng(5)
    return rng.uniform(0.0, 10.0, size=(4, *shape))


def staged_backend() -> Backend:
    xp = types.SimpleNamespace(zeros=np.zeros, asarray=np.asarray, asnumpy=np.asarray)
    return Backend("cupy", xp, reference, np.dtype(np.float64), "host standing in for a device")


def run(backend, split: str, steps: int):
    """Whole fields after ``steps`` steps with sources (rank 0; None elsewhere)."""
    w = world()
    whole = Grid(backend, SHAPE, (20.0, 15.0, 10.0), (-50.0, 3.0, 7.0))
    full = initial(SHAPE)
    src = np.random.default_rng(6).uniform(0.0, 2.0, size=full.shape)
    upt = np.random.default_rng(7).uniform(0.0, 1.0, size=full.shape)
    if w.size == 1:
        fields = Fields(whole, species())
        tr, part = Transport(fields, 0.002), (slice(None),) * 4
    else:
        slabs = Slabs.choose(SHAPE, w.size, split)
        offset, shape = slabs.box(w.rank)
        fields = Fields(whole.part(offset, shape), species())
        tr = DistributedTransport(fields, 0.002, w, slabs)
        part = (slice(None),) + tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))
    fields.values[...] = backend.asarray(full[part])
    s, u = backend.asarray(src[part]), backend.asarray(upt[part])
    for i in range(steps):
        if i % 2:
            tr.step()
        else:
            tr.step(source=s, uptake=u)
    if w.size == 1:
        return backend.asnumpy(fields.values)
    return Gather(w, slabs, backend, len(fields))(fields.values)


if __name__ == "__main__":
    out, kind, split, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if len(sys.argv) > 5:
        from spatialtumor.parallel import wire

        wire.MAX_MESSAGE = int(sys.argv[5])
    be = staged_backend() if kind == "staged" else get_backend("numpy", "float64")
    result = run(be, split, steps)
    if result is not None:
        np.save(out, result)
