"""Seeded input fuzzing through the command line (see ``tests/_fuzz.py``).

1,000 mutated scenario files, 200 mutated ``--set`` values and 60 mutated options: every
one ends with exit 0 or 2 and, when refused, one ``error:`` line; never a traceback, never
a hang. A few small accepted scenarios are also run for a step: what ``validate`` accepts,
``run`` starts. ``python tests/fuzz_long.py`` runs thousands more.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fuzz import all_cases, fuzz  # noqa: E402


def test_fuzzed_inputs_exit_0_or_2_with_one_line(tmp_path):
    outcomes, counts = fuzz(all_cases(20240601, 1000, 200, 60), tmp_path, runs=12)
    broken = [o for o in outcomes if o.problem is not None]
    report = "\n".join(f"{o.case.kind} {o.case.args}: {o.problem}" for o in broken[:10])
    assert not broken, f"{len(broken)} inputs broke the contract:\n{report}"
    assert counts["inputs"] == 1260
    assert counts["accepted"] > 50 and counts["rejected"] > 900  # the mutations bite
    assert counts["runs"] >= 5
