"""Calibration benchmark: recover the tumour birth rate from a synthetic growth curve.

::

    python benchmarks/bench_study_fit.py                 # about a minute or two on 2 cores
    python benchmarks/bench_study_fit.py --truth 0.0015 --trials 24 --jobs 8

Runs ``spatialtumor study fit studies/fit_birth_rate.toml --truth KEY=TRUTH`` (the fitted
key is read from the study file) and prints the truth, the recovered value, the relative
error and the wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "studies" / "fit_birth_rate.toml"


def main() -> None:
    from spatialtumor.study.members import load_study

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--truth", type=float, default=0.002, help="birth rate of the target [1/min]")
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--backend", default="numpy", choices=["auto", "numpy", "cupy"])
    args = p.parse_args()
    key = load_study(STUDY).spec.fit.params[0].key
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "spatialtumor.cli", "study", "fit", str(STUDY)]
        cmd += ["--out", tmp, "--backend", args.backend, "--truth", f"{key}={args.truth}"]
        if args.trials:
            cmd += ["--trials", str(args.trials)]
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        best = json.loads((Path(tmp) / "fit" / "best.json").read_text())
    got = best["params"][key]
    print(f"{key}: truth {args.truth:.6g}, recovered {got:.6g} ({got / args.truth - 1:+.1%})")
    print(f"{best['trials']} trials × {len(best['seeds'])} seeds in {wall:.1f} s wall")


if __name__ == "__main__":
    main()
