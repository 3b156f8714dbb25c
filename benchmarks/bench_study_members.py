"""Per-member overhead of a study: one worker process per member vs many members per process.

::

    python benchmarks/bench_study_members.py                       # NumPy here
    python benchmarks/bench_study_members.py --backend cupy --members 16 --size 32

Runs the same ``--members`` small members (the default scenario on a ``--size``³ grid for
``--stop`` minutes, seeds 1..N) three ways, one member at a time:

``process``    one ``python -m spatialtumor.study.worker`` process per member (start-up,
               imports, backend and, on a GPU, CUDA context and kernel compilation each time)
``in-process`` one worker process running every member in turn, one backend for all
``here``       this process, backend already made (the floor: the members' own work)

and prints seconds per member for each, the overhead per member that a separate process
costs, and checks that every way gives the same time series, byte for byte.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from spatialtumor.allocator import keep_freed_memory
from spatialtumor.study.executors import LocalExecutor
from spatialtumor.study.layout import prepare_study_dir
from spatialtumor.study.members import load_study
from spatialtumor.study.runner import backend_for, run_members


def study_file(folder: Path, args) -> Path:
    n = args.size
    sets = [
        f"grid.nx={n}",
        f"grid.ny={n}",
        f"grid.nz={n}",
        f"cells.initial.0.radius={4.0 * n:.1f}",
        f"run.stop={args.stop}",
        f"output.every={args.stop}",
        "output.checkpoint_every=0.0",
    ]
    text = (
        'scenario = "default"\n'
        f'backend = "{args.backend}"\n'
        f"seeds = {{ count = {args.members} }}\n"
        f"set = [{', '.join(repr(s).replace(chr(39), chr(34)) for s in sets)}]\n"
    )
    path = folder / "bench.toml"
    path.write_text(text)
    return path


def timed(label: str, fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    per = (time.perf_counter() - t0) / n
    print(f"{label:>11}: {per:8.3f} s per member")
    return per


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="auto", choices=["auto", "numpy", "cupy"])
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--size", type=int, default=16, help="grid edge [voxels of 20 µm]")
    p.add_argument("--stop", type=float, default=30.0, help="simulated time per member [min]")
    args = p.parse_args()
    keep_freed_memory()  # as the CLI and the worker processes do
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        study = load_study(study_file(tmp, args))
        dirs = {}
        for way in ("process", "in-process", "here"):
            dirs[way] = prepare_study_dir(study, tmp / way, args.backend, None)
        be = backend_for(args.backend, "auto")  # the key the members use: made once, here
        n = len(study.members)
        print(f"{n} members of {args.size}³ voxels, {args.stop:g} min; {be.describe()}")
        sink = []
        per_proc = timed("process", lambda: LocalExecutor(1).run(dirs["process"], sink.append), n)
        per_in = timed(
            "in-process",
            lambda: LocalExecutor(1, members_per_process=n).run(dirs["in-process"], sink.append),
            n,
        )
        per_here = timed("here", lambda: run_members(dirs["here"]), n)
        assert all(o.status == "done" for o in sink), [o for o in sink if o.status != "done"]
        print(f"overhead of a process per member: {per_proc - per_in:.3f} s")
        print(f"overhead of the in-process worker over this process: {per_in - per_here:.3f} s")
        for m in study.members:
            files = [tmp / w / "members" / m.id / "run" / "timeseries.csv" for w in dirs]
            assert len({f.read_bytes() for f in files}) == 1, m.id
        print("results identical in all three ways")


if __name__ == "__main__":
    main()
