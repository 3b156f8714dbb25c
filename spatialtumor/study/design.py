"""Design points of a study: grids of values, random and Latin-hypercube samples.

All draws use NumPy's ``default_rng(seed)``; sampled values are rounded to 6 significant
digits so that overrides stay readable (``fields.oxygen.decay=0.137512``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .spec import SampleParamSpec, SampleSpec, VarySpec

#: significant digits kept in sampled values
SAMPLE_DIGITS = 6


def grid_values(vary: VarySpec) -> list[Any]:
    """The values of one ``[[vary]]`` entry: its list, or ``num`` points start → stop."""
    if vary.values is not None:
        return list(vary.values)
    assert vary.start is not None and vary.stop is not None and vary.num is not None
    if vary.num == 1:
        return [float(vary.start)]
    if vary.scale == "log":
        pts = np.geomspace(vary.start, vary.stop, vary.num)
    else:
        pts = np.linspace(vary.start, vary.stop, vary.num)
    return [float(f"{p:.12g}") for p in pts]


def unit_samples(method: str, count: int, dims: int, seed: int) -> np.ndarray:
    """``count`` points in the unit cube ``[0, 1)^dims``, shape ``(count, dims)``.

    ``random``: independent uniforms. ``lhs``: Latin hypercube (McKay et al. 1979): each
    axis is cut into ``count`` equal strata and every stratum holds exactly one point, at a
    uniform position inside it; the strata are paired across axes by random permutations.
    """
    rng = np.random.default_rng(seed)
    if method == "random":
        return rng.random((count, dims))
    if method == "lhs":
        jitter = rng.random((count, dims))
        strata = np.stack([rng.permutation(count) for _ in range(dims)], axis=1)
        return (strata + jitter) / count
    raise ValueError(f"unknown sampling method {method!r}")


def scale_unit(u: np.ndarray, p: SampleParamSpec) -> list[Any]:
    """Map unit-cube coordinates to the interval of ``p`` (linear or log; rounded)."""
    if p.scale == "log":
        vals = np.exp(np.log(p.low) + u * (np.log(p.high) - np.log(p.low)))
    else:
        vals = p.low + u * (p.high - p.low)
    if p.integer:
        return [int(round(v)) for v in vals]
    return [float(f"{v:.{SAMPLE_DIGITS}g}") for v in vals]


def sample_points(sample: SampleSpec) -> list[dict[str, Any]]:
    """The sampled points of ``[sample]``, as key → value mappings."""
    u = unit_samples(sample.method, sample.count, len(sample.params), sample.seed)
    cols = [scale_unit(u[:, j], p) for j, p in enumerate(sample.params)]
    return [{p.key: cols[j][i] for j, p in enumerate(sample.params)} for i in range(sample.count)]


def design_points(vary: list[VarySpec], sample: SampleSpec | None) -> list[dict[str, Any]]:
    """Every combination of the grid values, times every sampled point (in order).

    With neither grids nor samples the design is the single empty point ``{}``.
    """
    grids = [[(v.key, x) for x in grid_values(v)] for v in vary]
    grid_pts = [dict(combo) for combo in itertools.product(*grids)]
    if sample is None:
        return grid_pts
    samples = sample_points(sample)
    return [{**g, **s} for g in grid_pts for s in samples]
