"""Fused cell move and graph-replayed transport steps, each against its unfused path.

    python benchmarks/bench_fused.py                               # NumPy: the paths agree
    python benchmarks/bench_fused.py --backend cupy --cells 1e6 --sizes 32,64 --json f.json

Two comparisons, each timed (median, device events on a GPU) and checked for agreement on
the same start state:

* the mechanics step of ``bench_agents`` (motile, chemotactic cells): ``Mechanics.step``,
  which on CuPy is the pair forces plus one ``move_cells`` launch (``kernels/motility.cu``),
  against the array path it replaces (``velocity`` then Euler, limit and walls as array
  operations); agreement is the largest position difference after one step [µm];
* one LOD transport step of ``bench_transport`` (float32 on a GPU): plain launches
  against ``Transport(graph=True)`` (one CUDA graph replayed per step); agreement is the
  largest field difference after five steps. On NumPy the graph option does nothing.

Not a test; on the CPU the timings only show the script runs.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

import spatialtumor as st
from spatialtumor.build import make_backend

try:
    from _common import time_calls
    from bench_agents import build
    from bench_transport import DT, build_transport
except ImportError:  # imported as benchmarks.bench_fused
    from benchmarks._common import time_calls
    from benchmarks.bench_agents import build
    from benchmarks.bench_transport import DT, build_transport


def move_row(backend, n: int, repeats: int) -> dict:
    """ms per mechanics step fused and as arrays at ``n`` cells, and their agreement."""
    runs = {}
    for name, fn in (("fused", lambda m, s: m.step(s)), ("arrays", lambda m, s: m.array_move(s))):
        _sim, mech, _ = build(backend, n)
        fn(mech, 0)
        runs[name] = backend.asnumpy(mech.population["position"])
        counter = iter(range(1, 1 << 30))
        step = lambda m=mech, f=fn, c=counter: f(m, next(c))  # noqa: E731
        times = time_calls(backend, step, repeats)
        runs[name + "_ms"] = 1e3 * float(np.median(times))
    diff = float(np.max(np.abs(runs["fused"] - runs["arrays"]))) if n else 0.0
    return {
        "cells": n,
        "fused_ms": runs["fused_ms"],
        "arrays_ms": runs["arrays_ms"],
        "max_position_difference_um": diff,
    }


def graph_row(backend, size: int, nf: int, repeats: int) -> dict:
    """ms per LOD step with plain launches and replayed as a graph, and their agreement."""
    out = {"size": size, "fields": nf}
    results = []
    for graph in (False, True):
        fields, plain = build_transport(backend, size, nf, "lod")
        transport = st.Transport(fields, DT, graph=graph) if graph else plain
        for _ in range(5):
            transport.step()
        results.append(backend.asnumpy(fields.values))
        times = time_calls(backend, transport.step, repeats)
        out["graph_ms" if graph else "plain_ms"] = 1e3 * float(np.median(times))
        out["graph_status"] = transport.graph_status
    out["max_field_difference"] = float(np.max(np.abs(results[0] - results[1])))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="auto", choices=["auto", "numpy", "cupy"])
    ap.add_argument("--precision", default="auto", choices=["auto", "float32", "float64"])
    ap.add_argument("--cells", default=None, help="cell counts, e.g. 1e4,1e6")
    ap.add_argument("--sizes", default="32,64", help="grid edges of the transport rows")
    ap.add_argument("--fields", type=int, default=2, help="species of the transport rows")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    backend = make_backend(args.backend, args.precision)
    gpu = backend.name == "cupy"
    repeats = args.repeats or (20 if gpu else 3)
    cells = [int(float(c)) for c in (args.cells or ("1e4,1e6" if gpu else "1e4")).split(",")]
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    print(f"backend: {backend.describe()} ({backend.reason})")
    record = {"device": backend.describe(), "move": [], "graph": []}
    for n in cells:
        r = move_row(backend, n, repeats)
        record["move"].append(r)
        print(
            f"mechanics step {n:>9d} cells: fused {r['fused_ms']:9.3f} ms, arrays "
            f"{r['arrays_ms']:9.3f} ms, max |dx| {r['max_position_difference_um']:.2e} µm"
        )
    for size in sizes:
        r = graph_row(backend, size, args.fields, repeats)
        record["graph"].append(r)
        print(
            f"LOD step {size}^3 x {args.fields}: plain {r['plain_ms']:8.3f} ms, graph "
            f"{r['graph_ms']:8.3f} ms ({r['graph_status']}), max |dc| "
            f"{r['max_field_difference']:.2e}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
