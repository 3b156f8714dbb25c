"""A longer input fuzz than the test suite's (not collected by pytest).

    python tests/fuzz_long.py                        # 2,000 files, 600 --set values, 200 options
    python tests/fuzz_long.py --files 10000 --seed 7 --runs 100

Prints how many inputs were accepted and refused and every one that broke the contract
(a traceback, a hang, an exit code other than 0 or 2, more than one line on stderr, or a
scenario that ``validate`` accepted and ``run`` did not start); exits 1 if any did.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fuzz import all_cases, fuzz  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--files", type=int, default=2000, help="mutated scenario files")
    ap.add_argument("--sets", type=int, default=600, help="mutated --set values")
    ap.add_argument("--options", type=int, default=200, help="mutated run options")
    ap.add_argument("--runs", type=int, default=50, help="accepted files also run a step")
    args = ap.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        cases = all_cases(args.seed, args.files, args.sets, args.options)
        outcomes, counts = fuzz(cases, Path(tmp), runs=args.runs)
    wall = time.perf_counter() - start
    broken = [o for o in outcomes if o.problem is not None]
    for o in broken:
        print(f"BROKEN {o.case.kind} {o.case.args}: {o.problem}")
    by_kind: dict[str, list[int]] = {}
    for o in outcomes[: len(cases)]:
        k = o.case.kind.split(":")[0]
        acc = by_kind.setdefault(k, [0, 0])
        acc[0 if o.exit_code == 0 else 1] += 1
    print(
        f"{counts['inputs']} inputs in {wall:.1f} s: {counts['accepted']} accepted, "
        f"{counts['rejected']} rejected, {counts['other']} other exits, {len(broken)} broken "
        f"(tracebacks, hangs, several lines); {counts['runs']} accepted files run a step "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()) if k.startswith('run '))})"
    )
    for k, (acc, rej) in sorted(by_kind.items()):
        print(f"  {k:7s} {acc:6d} accepted {rej:6d} rejected")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
