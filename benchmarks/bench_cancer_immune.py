"""The cancer–immune benchmark scenario: wall seconds per simulated minute, and where they go.

    python benchmarks/bench_cancer_immune.py                  # NumPy, 1 simulated minute
    python benchmarks/bench_cancer_immune.py --backend cupy --minutes 10

Runs ``scenarios/bench_cancer_immune.toml`` (75³ voxels, oxygen + a chemoattractant,
≈19,000 tumour cells and 7,500 CD8 T cells; steps 0.01 / 0.1 / 6 min, as PhysiCell 1.14's
cancer-immune 3D sample) for a warm-up minute, then the measured minutes with the step
split into its parts (the device is synchronised around each part, so on a GPU the split
costs a little time; the total is also measured without it). The first phenotype step
(at 6 min) is included when ``--minutes`` reaches it. Not a test.
"""

from __future__ import annotations

import argparse
import json
import time

from spatialtumor.allocator import keep_freed_memory
from spatialtumor.build import build_simulation, make_backend
from spatialtumor.scenario import load_scenario
from spatialtumor.timing import StepTimer


def run(backend, minutes: float, overrides, split: bool, scenario="bench_cancer_immune"):
    scn = load_scenario(scenario, overrides)
    sim = build_simulation(scn, backend)
    counts = [int(c) for c in sim.population.kind_counts()]
    n_tumour, n_t = counts[0], sum(counts[1:])
    sim.stop = 1.0  # warm-up: first steps, kernel compilation, sorts, caches
    sim.run()
    if split:
        sim.timer = StepTimer(backend)
    sim.stop = 1.0 + minutes
    t0 = time.perf_counter()
    sim.run()
    backend.synchronize()
    wall = time.perf_counter() - t0
    return sim, wall, n_tumour, n_t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "auto"])
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "float64"])
    p.add_argument("--minutes", type=float, default=1.0, help="simulated minutes measured")
    p.add_argument(
        "--scenario",
        default="bench_cancer_immune",
        help="bench_cancer_immune or bench_cancer_immune_tme (macrophages and Tregs added)",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-split", action="store_true", help="skip the second, split run")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    a = p.parse_args(argv)
    keep_freed_memory()
    backend = make_backend(a.backend, a.precision)
    print(f"backend: {backend.describe()}")
    sim, wall, n_tumour, n_t = run(backend, a.minutes, a.overrides, False, a.scenario)
    steps = sim.clock.steps(a.minutes)
    print(
        f"{a.scenario}: cells at start: {n_tumour} tumour, {n_t} immune; now {sim.population.n}; "
        f"grid {sim.grid.nx}×{sim.grid.ny}×{sim.grid.nz}, {len(sim.fields)} fields"
    )
    print(
        f"{a.minutes:g} simulated min in {wall:.2f} s: {wall / a.minutes:.3f} s per simulated "
        f"minute ({steps / wall:.1f} diffusion steps/s, "
        f"{sim.grid.size * len(sim.fields) * steps / wall:.3g} voxel-field updates/s, "
        f"{sim.population.n * sim.clock.steps(a.minutes) / sim.clock.mechanics_every / wall:.3g}"
        " cell mechanics updates/s)"
    )
    record = {
        "device": backend.describe(),
        "scenario": a.scenario,
        "minutes": a.minutes,
        "wall_seconds": wall,
        "seconds_per_minute": wall / a.minutes,
        "cells_start": [n_tumour, n_t],
        "cells_end": int(sim.population.n),
    }
    if a.json:  # written before the split run, which may not finish in a time limit
        with open(a.json, "w") as fh:
            json.dump(record, fh, indent=1)
    if a.no_split:
        return
    sim, wall_split, _, _ = run(backend, a.minutes, a.overrides, True, a.scenario)
    seconds = sim.timer.seconds
    top = {k: v for k, v in seconds.items() if ":" not in k}
    total = sum(top.values())
    print(f"split (timed run {wall_split:.2f} s; parts add to {total:.2f} s):")
    for name, s in sorted(seconds.items(), key=lambda kv: kv[0]):
        indent = "    " if ":" in name else "  "
        calls = sim.timer.calls[name]
        print(
            f"{indent}{name:48s} {s:8.3f} s {100 * s / total:5.1f} %  "
            f"({calls} calls, {1e3 * s / calls:.2f} ms each)"
        )
    print("PhysiCell 1.14.2 on a 2-core machine like ours: 4.9 s per simulated minute")
    if a.json:
        record["split_seconds"] = dict(seconds)
        record["split_wall_seconds"] = wall_split
        with open(a.json, "w") as fh:
            json.dump(record, fh, indent=1)


if __name__ == "__main__":
    main()
