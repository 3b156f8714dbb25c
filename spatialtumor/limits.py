"""Bounds that keep every number a scenario turns into arithmetic finite and meaningful.

Units are µm and min, concentrations in the species' own units. No quantity a scenario
describes comes near 10¹⁵ in these units (10¹⁵ µm is a light-second, 10¹⁵ min two billion
years), while products of such numbers still fit in float32 (3.4·10³⁸); larger numbers are
typing mistakes, and infinities or NaN are refused everywhere.
"""

from __future__ import annotations

import math
from typing import Any

#: largest magnitude of a number in a scenario
MAX_MAGNITUDE = 1e15
#: most diffusion steps in one run (and steps per mechanics or phenotype step): checkpoint
#: file names carry the step in nine digits, so they sort in step order
MAX_STEPS = 999_999_999
#: largest seed: seeds are stored as signed 64-bit integers
MAX_SEED = 2**63 - 1
#: most cells placed at the start of a run
MAX_INITIAL_CELLS = 10**8
#: smallest voxel edge [µm] (1 nm)
MIN_SPACING = 1e-3


def first_out_of_range(tree: Any, prefix: str = "") -> tuple[str, str] | None:
    """``(key, message)`` of the first float in ``tree`` that is not finite or too large.

    ``tree`` is plain data (dicts, lists, tuples, numbers, strings), e.g. a scenario's
    ``model_dump()``; keys are dotted, list items by index.
    """
    stack = [(prefix, tree)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            items = [(f"{key}.{k}" if key else str(k), v) for k, v in node.items()]
            stack.extend(reversed(items))
        elif isinstance(node, (list, tuple)):
            items = [(f"{key}.{i}" if key else str(i), v) for i, v in enumerate(node)]
            stack.extend(reversed(items))
        elif isinstance(node, float):
            message = magnitude_problem(node)
            if message:
                return key, message
    return None


def magnitude_problem(value: float) -> str | None:
    """Why ``value`` cannot be a scenario number, or None."""
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if abs(value) > MAX_MAGNITUDE:
        return (
            f"{value:.6g} is larger in magnitude than {MAX_MAGNITUDE:.0e}, the largest "
            "number a scenario may hold"
        )
    return None


def duration_steps(duration: float, dt: float) -> int | str:
    """Diffusion steps of ``duration`` [min] at ``dt`` [min], or one line on why not."""
    if not math.isfinite(duration) or not duration > 0:
        return f"must be a finite number of minutes > 0, got {duration!r}"
    steps = duration / dt
    if not steps <= MAX_STEPS:
        return (
            f"{duration:g} min is {steps:.3g} diffusion steps of {dt:g} min; a run takes at "
            f"most {MAX_STEPS:,} steps"
        )
    if round(steps) < 1:
        return f"{duration:g} min is shorter than one diffusion step ({dt:g} min)"
    return int(round(steps))
