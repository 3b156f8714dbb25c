"""Diffusion throughput: milliseconds per transport step against this machine's copy bandwidth.

    python benchmarks/bench_transport.py                         # NumPy here, CuPy on a GPU
    python benchmarks/bench_transport.py --backend cupy --sizes 64,128,256 --x-sweep all

Each row builds a cubic grid of 20 µm voxels through the package API (Grid, Fields,
Transport) with ``--fields`` species, all solved by one ``--method``:

* ``lod``: oxygen-like species (D = 1e5 µm²/min, decay 0.1 /min, Dirichlet 38 on every
  face), dt = 0.01 min, implicit sweeps x → y → z;
* ``explicit``: cytokine-like species (D = 1000 µm²/min, decay 0.016 /min, Dirichlet 0 on
  every face), dt = 0.01 min (stable: the limit is 0.067 min).

Bytes that must move per step (counted, not measured):

* LOD: each sweep solves every line in place with a forward and a backward pass, and each
  pass reads and writes every voxel-field once: 4 × itemsize per voxel-field per sweep, so
  12 × itemsize per step; a sweep that keeps whole lines in shared memory (the resident x
  sweep, the resident y/z sweeps of ``--yz-sweep resident``) skips the middle write and
  re-read and counts 2 × itemsize;
* explicit: read c, write the scratch output, then ``Transport`` copies the scratch back
  (read + write): 4 × itemsize per voxel-field per step; the six neighbour reads are assumed
  to hit the cache.

``floor = bytes / measured copy bandwidth``; ``time/floor`` is how far a step is from moving
its bytes at the speed of a plain copy.

``check ms`` is one blow-up check of the same fields (``Guard.peak``: the reductions and the
one number copied to the host) and ``check %`` its share of the run time at the default
interval (``blowup.every`` = 6 min, i.e. one check per 600 steps of dt = 0.01 min).
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from types import SimpleNamespace

import numpy as np

import spatialtumor as st
from spatialtumor.allocator import keep_freed_memory

try:
    from _common import copy_bandwidth, time_calls
except ImportError:  # run as ``python -m benchmarks.bench_transport``
    from benchmarks._common import copy_bandwidth, time_calls

DT = 0.01  # min
CHECK_EVERY = 6.0  # min: the default blowup.every
SPACING = 20.0  # µm
X_SWEEP_CHOICES = ("auto", "strided", "tiled", "resident", "all")


def _ints(text: str) -> list[int]:
    return [int(float(t)) for t in text.split(",") if t.strip()]


def build_transport(backend, size: int, nf: int, method: str):
    """Grid, fields and transport of one benchmark row."""
    grid = st.Grid(backend, (size,) * 3, SPACING)
    if method == "lod":
        spec = st.Species(1e5, 0.1, 38.0, "mmHg", boundary=st.Boundary.dirichlet(38.0))
    else:
        spec = st.Species(1e3, 0.016, 1.0, boundary=st.Boundary.dirichlet(0.0), solver="explicit")
    fields = st.Fields(grid, {f"s{i}": spec for i in range(nf)})
    rng = np.random.default_rng(0)
    fields.values[...] = backend.asarray(rng.uniform(0.0, 40.0, fields.values.shape))
    return fields, st.Transport(fields, DT)


def x_resident(kernels, nx: int, itemsize: int) -> bool:
    """Whether a CuPy kernel set keeps whole x lines of length ``nx`` in shared memory."""
    if getattr(kernels, "x_sweep", "strided") == "strided":
        return False
    slots, _ = kernels.x_sweep_plan(nx, itemsize)
    return slots >= -(-nx // 32)


def yz_resident(kernels, n: int, itemsize: int) -> bool:
    """Whether a CuPy kernel set keeps whole y or z lines of length ``n`` in shared memory."""
    return hasattr(kernels, "yz_sweep_smem") and kernels.yz_sweep_smem(n, itemsize) > 0


def lod_passes(backend, n: int) -> int:
    """Voxel-field reads + writes per LOD step on an n³ grid (see the module docstring)."""
    if backend.name != "cupy":
        return 12
    itemsize = np.dtype(backend.dtype).itemsize
    x = 2 if x_resident(backend.kernels, n, itemsize) else 4
    return x + 2 * (2 if yz_resident(backend.kernels, n, itemsize) else 4)


def bench_rows(backend, sizes, field_counts, methods, repeats, bandwidth):
    rows = []
    itemsize = np.dtype(backend.dtype).itemsize
    for size in sizes:
        for nf in field_counts:
            for method in methods:
                fields, transport = build_transport(backend, size, nf, method)
                samples = time_calls(backend, transport.step, repeats)
                seconds = float(np.median(samples))
                guard = st.Guard.every_minutes(CHECK_EVERY, DT)
                state = SimpleNamespace(backend=backend, fields=fields, population=None)
                peak = partial(guard.peak, state)
                check = float(np.median(time_calls(backend, peak, repeats)))
                updates = size**3 * nf
                passes = lod_passes(backend, size) if method == "lod" else 4
                nbytes = passes * updates * itemsize
                floor = nbytes / bandwidth
                rows.append(
                    {
                        "size": size,
                        "fields": nf,
                        "method": method,
                        "ms_per_step": seconds * 1e3,
                        "ms_min": float(np.min(samples)) * 1e3,
                        "updates_per_s": updates / seconds,
                        "bytes_per_step": nbytes,
                        "passes": passes,
                        "floor_ms": floor * 1e3,
                        "ratio": seconds / floor,
                        "check_ms": check * 1e3,
                        "check_share": check / (guard.every * seconds),
                    }
                )
                print_row(rows[-1], flush=True)
                del fields, transport
    return rows


def sweep_rows(backend, sizes, field_counts, repeats, bandwidth, modes):
    """Single-kernel timings (CuPy only).

    Each LOD sweep (the x sweep in every variant of ``modes``; 4 passes per voxel-field, 2
    for resident x lines), the explicit stencil (2 passes: read c, write out) and the
    source update (4 passes: read c, S, U, write c).
    """
    from spatialtumor.backends.cupy_kernels import CupyKernels
    from spatialtumor.checks import lod_coefficients, random_boundaries

    rows = []
    dtype = np.dtype(backend.dtype)
    rng = np.random.default_rng(1)
    for size in sizes:
        for nf in field_counts:
            shape = (nf, size, size, size)
            c = backend.asarray(rng.uniform(0.0, 40.0, shape))
            out = backend.xp.empty_like(c)
            src = backend.asarray(rng.uniform(0.0, 1.0, shape))
            upt = backend.asarray(rng.uniform(0.0, 1.0, shape))
            coeff = [backend.asarray(a) for a in lod_coefficients(nf, size, rng, decay=True)]
            kind, value = random_boundaries(nf, rng)
            explicit = (
                backend.asarray(np.full(3, 1.0 / SPACING**2)),
                backend.asarray(np.full(nf, 1e3)),
                backend.asarray(np.full(nf, 0.016)),
                backend.xp.asarray(kind),
                backend.asarray(value),
            )
            k0 = CupyKernels()
            calls = []
            yz = [(a, m) for a in ("y", "z") for m in ("strided", "resident")]
            for axis, mode in [("x", m) for m in modes] + yz:
                if axis == "x":
                    kernels = CupyKernels(x_sweep=mode)
                    resident = x_resident(kernels, size, dtype.itemsize)
                else:
                    kernels = CupyKernels(yz_sweep=mode)
                    resident = yz_resident(kernels, size, dtype.itemsize)
                passes = 2 if resident else 4
                name = f"{axis}/{mode}"
                calls.append((name, passes, partial(kernels.lod_sweep, c, axis, *coeff)))
            calls.append(("explicit", 2, partial(k0.explicit_step, c, out, DT, *explicit)))
            calls.append(("sources", 4, partial(k0.apply_sources, c, src, upt, 1e-6)))
            for name, passes, call in calls:
                seconds = float(np.median(time_calls(backend, call, repeats)))
                floor = passes * c.size * dtype.itemsize / bandwidth
                rows.append(
                    {
                        "size": size,
                        "fields": nf,
                        "sweep": name,
                        "ms": seconds * 1e3,
                        "passes": passes,
                        "floor_ms": floor * 1e3,
                        "ratio": seconds / floor,
                    }
                )
    return rows


HEAD = (
    f"{'size':>5} {'fields':>6} {'method':>8} {'ms/step':>10} {'Gvox-field/s':>13} "
    f"{'MB/step':>9} {'passes':>6} {'floor ms':>9} {'time/floor':>10} {'check ms':>9} "
    f"{'check %':>8}"
)


def print_row(r, flush=False):
    print(
        f"{r['size']:>5} {r['fields']:>6} {r['method']:>8} {r['ms_per_step']:>10.3f} "
        f"{r['updates_per_s'] / 1e9:>13.3f} {r['bytes_per_step'] / 1e6:>9.1f} {r['passes']:>6} "
        f"{r['floor_ms']:>9.3f} {r['ratio']:>10.2f} {r['check_ms']:>9.3f} "
        f"{100 * r['check_share']:>8.4f}",
        flush=flush,
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=("auto", "numpy", "cupy"), default="auto")
    p.add_argument("--precision", choices=("float32", "float64"), default="float32")
    p.add_argument(
        "--sizes", default=None, help="cube edges in voxels (default 64,128[,256 on GPU])"
    )
    p.add_argument("--fields", default="1,2,8", help="species counts, e.g. 1,2,8")
    p.add_argument("--method", default="lod,explicit", help="lod, explicit or both")
    p.add_argument("--repeats", type=int, default=None, help="timed steps per row (median)")
    p.add_argument(
        "--x-sweep",
        choices=X_SWEEP_CHOICES,
        default=None,
        help="CuPy: x-sweep variant of the transport rows; 'all' also times each sweep alone",
    )
    p.add_argument(
        "--yz-sweep",
        choices=("strided", "resident", "auto"),
        default=None,
        help="CuPy: y/z-sweep variant of the transport rows (default: the kernels' default)",
    )
    p.add_argument("--json", default=None, help="also write all rows to this JSON file")
    args = p.parse_args(argv)
    keep_freed_memory()

    backend = st.get_backend(args.backend, args.precision)
    gpu = backend.name == "cupy"
    x_mode = args.x_sweep if args.x_sweep not in (None, "all") else None
    if x_mode is not None or args.yz_sweep is not None:
        if not gpu:
            p.error("--x-sweep and --yz-sweep need the cupy backend")
        from dataclasses import replace

        from spatialtumor.backends.cupy_kernels import CupyKernels

        modes = {"x_sweep": x_mode, "yz_sweep": args.yz_sweep}
        kernels = CupyKernels(**{k: v for k, v in modes.items() if v is not None})
        backend = replace(backend, kernels=kernels)
    sizes = _ints(args.sizes) if args.sizes else ([64, 128, 256] if gpu else [64, 128])
    field_counts = _ints(args.fields)
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    for m in methods:
        if m not in ("lod", "explicit"):
            p.error(f"unknown method {m!r}: use lod and/or explicit")
    repeats = args.repeats or (20 if gpu else 3)

    bandwidth = copy_bandwidth(backend)
    print(f"# transport benchmark: {backend.describe()}")
    print(f"# kernels: {backend.kernels!r}" if gpu else "# kernels: NumPy reference")
    print(f"# measured copy bandwidth (read + write): {bandwidth / 1e9:.1f} GB/s")
    print(f"# dt = {DT} min, h = {SPACING} µm, median of {repeats} steps after 2 warm-up steps")
    print(
        "# bytes counted per voxel-field: LOD 4 passes (forward read+write, backward read+write)"
        " per sweep x 3 sweeps = 12 x itemsize (2 fewer per resident sweep); explicit 4 x itemsize"
    )
    print(HEAD)
    rows = bench_rows(backend, sizes, field_counts, methods, repeats, bandwidth)
    sweeps = []
    if args.x_sweep == "all":
        if gpu:
            modes = ["strided", "tiled", "resident", "auto"]
            sweeps = sweep_rows(backend, sizes, field_counts, repeats, bandwidth, modes)
            print(
                "\n# single kernels (LOD sweeps: 4 passes per voxel-field, 2 with resident x lines)"
            )
            hdr = ("size", "fields", "sweep", "ms", "floor ms", "time/floor")
            print("{:>5} {:>6} {:>12} {:>9} {:>9} {:>10}".format(*hdr))
            for r in sweeps:
                print(
                    f"{r['size']:>5} {r['fields']:>6} {r['sweep']:>12} {r['ms']:>9.3f} "
                    f"{r['floor_ms']:>9.3f} {r['ratio']:>10.2f}"
                )
        else:
            print("# --x-sweep all: single-sweep timings need the cupy backend; skipped")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "device": backend.describe(),
                    "bandwidth_bytes_per_s": bandwidth,
                    "transport": rows,
                    "sweeps": sweeps,
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
