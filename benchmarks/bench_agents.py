"""Cell-layer throughput: cell-updates per second for mechanics, motility, coupling and the
whole step, with the share of the step each process takes. Not a test.

    python benchmarks/bench_agents.py                      # 1e4, 1e5, 1e6 cells
    python benchmarks/bench_agents.py --backend cupy --counts 1e4,1e5,1e6,1e7

Cells are tumour-like (radius 8.4 µm, PhysiCell repulsion/adhesion), motile
(1 µm/min, persistence 10 min, chemotactic bias 0.5) and consume oxygen, placed uniformly
at a volume fraction of about 0.5 in a cubic box of 20 µm voxels, so each cell has ~10–20
neighbour candidates in the 27 surrounding bins.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import spatialtumor as st
from spatialtumor.agents import CellKind, FieldExchange, Population, uniform_box
from spatialtumor.allocator import keep_freed_memory
from spatialtumor.build import make_backend
from spatialtumor.exchange import CellExchange, sense, sense_gradient
from spatialtumor.mechanics import Mechanics

CELL_RADIUS = 8.412  # µm
VOLUME_FRACTION = 0.5


def timed(backend, fn, repeats: int) -> float:
    """Median wall time of ``fn()`` [s] after one warm-up call, device synchronised."""
    fn()
    backend.synchronize()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        backend.synchronize()
        samples.append(time.perf_counter() - t0)
    return float(np.median(samples))


def build(backend, n: int, seed: int = 1):
    cell_volume = 4.0 / 3.0 * math.pi * CELL_RADIUS**3
    side = (n * cell_volume / VOLUME_FRACTION) ** (1.0 / 3.0)
    h = 20.0
    nvox = max(4, int(math.ceil(side / h)))
    side = nvox * h
    grid = st.Grid(backend, (nvox,) * 3, h, origin=(-side / 2,) * 3)
    fields = st.Fields(
        grid,
        oxygen=st.Species(1e5, 0.1, 38.0, "mmHg", boundary=st.Boundary.dirichlet(38.0)),
    )
    kind = CellKind(
        "tumour",
        radius=CELL_RADIUS,
        repulsion=10.0,
        adhesion=0.4,
        speed=1.0,
        persistence=10.0,
        chemotaxis_field="oxygen",
        chemotaxis_bias=0.5,
        exchange={"oxygen": FieldExchange(uptake=10.0)},
    )
    pop = Population(backend, [kind], capacity=n)
    pos = uniform_box(grid.origin + CELL_RADIUS, grid.upper - CELL_RADIUS, n, rng=seed)
    pop.add_cells("tumour", pos)
    clock = st.Clock(0.1, 0.1, 6.0)
    sim = st.Simulation(grid, fields, pop, clock=clock, stop=1e9)
    exchange = CellExchange(pop, fields)
    sim.sources.depositors.append(exchange)
    mech = Mechanics(pop, grid.origin, grid.upper, clock.dt_mechanics, seed=seed, fields=fields)
    sim.processes.append(mech)
    return sim, mech, exchange


def bench(backend, n: int, repeats: int) -> list[tuple[str, float]]:
    sim, mech, exchange = build(backend, n)
    pop = sim.population
    src = sim.sources
    rows = []
    state = {"step": 0}

    def forces():
        mech.interacting, motile = True, mech.motile
        mech.motile = False
        mech.velocity(state["step"])
        mech.motile = motile

    def motility():
        mech.motility(state["step"])
        state["step"] += 1

    def coupling():
        src.assemble(sim)
        backend.kernels.apply_sources(sim.fields.values, src.source, src.uptake, 0.1)
        sense(pop, sim.fields, "oxygen")
        sense_gradient(pop, sim.fields, "oxygen")

    def transport():
        sim.transport.step()

    def mechanics_step():
        mech.step(state["step"])
        state["step"] += 1

    def whole():
        sim.step()

    rows.append(("binning+pair forces", timed(backend, forces, repeats)))
    # the array form of the walk; the mechanics step below runs the fused move instead
    rows.append(("motility+chemotaxis (array)", timed(backend, motility, repeats)))
    rows.append(("coupling (deposit+apply+sense)", timed(backend, coupling, repeats)))
    rows.append(("transport (LOD)", timed(backend, transport, repeats)))
    rows.append(("mechanics step", timed(backend, mechanics_step, repeats)))
    rows.append(("whole step", timed(backend, whole, repeats)))
    return rows, sim.grid.shape


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="auto", choices=["auto", "numpy", "cupy"])
    ap.add_argument("--precision", default="auto", choices=["auto", "float32", "float64"])
    ap.add_argument("--counts", default=None, help="comma-separated cell counts, e.g. 1e4,1e5")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write every row to this JSON file")
    args = ap.parse_args(argv)
    keep_freed_memory()
    backend = make_backend(args.backend, args.precision)
    default = "1e4,1e5,1e6,1e7" if backend.name == "cupy" else "1e4,1e5,1e6"
    counts = [int(float(c)) for c in (args.counts or default).split(",")]
    print(f"backend: {backend.describe()} ({backend.reason})")
    print(f"{'cells':>10} {'grid':>12} {'process':<32} {'ms':>10} {'cell-upd/s':>12} {'share':>7}")
    summary, table = [], []
    for n in counts:
        repeats = args.repeats or (20 if backend.name == "cupy" else max(2, int(2e5 // n)))
        rows, shape = bench(backend, n, min(repeats, 20))
        whole = rows[-1][1]
        for name, sec in rows:
            table.append({"cells": n, "grid": list(shape), "process": name, "ms": 1e3 * sec})
            share = "" if name == "whole step" else f"{100 * sec / whole:6.1f}%"
            print(
                f"{n:>10d} {'x'.join(map(str, shape)):>12} {name:<32} {1e3 * sec:10.3f} "
                f"{n / sec:12.3g} {share:>7}"
            )
        summary.append((n, whole))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": backend.describe(), "rows": table}, fh, indent=1)
    print("\nsummary (whole step incl. transport, one diffusion+mechanics step):")
    for n, sec in summary:
        print(f"  {n:>10d} cells: {1e3 * sec:9.3f} ms/step, {n / sec:10.3g} cell-updates/s")


if __name__ == "__main__":
    main()
