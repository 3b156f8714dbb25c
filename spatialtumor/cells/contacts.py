"""Contact searches over the shared mechanics bins (kernel ``contact_search``).

A rule asks :func:`find_partners` for the partners in contact of some query cells and gets,
per query, how many partners it touches, their summed weight and one partner picked by
competing exponential clocks (see :func:`spatialtumor.backends.reference_agents.
contact_search`). The search reuses the (bin, id) sort the pair forces of the same
mechanics step use, and its outputs live in buffers that grow geometrically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import random as rnd


@dataclass
class Partners:
    """Result of :func:`find_partners`, one entry per query row (device arrays).

    Attributes
    ----------
    query : (M,) int64 — the query rows
    count : (M,) int64 — partners in contact
    weight : (M,) float64 — Σ weight · φ(distance) over the partners [1]
    pick : (M,) int64 — the picked partner's row, −1 if none
    time : (M,) float64 — its clock τ (attach if τ < rate · dt), −1 if none
    """

    query: Any
    count: Any
    weight: Any
    pick: Any
    time: Any

    def attached(self, rate_dt):
        """Queries whose pick happens within ``rate · dt`` (scalar or per query)."""
        return (self.pick >= 0) & (self.time < rate_dt)


class _Buffers:
    def __init__(self):
        self.capacity = 0
        self.arrays = None

    def get(self, xp, m: int):
        if m > self.capacity:
            cap = max(m, 2 * self.capacity, 64)
            self.arrays = (
                xp.zeros(cap, dtype=np.int64),
                xp.zeros(cap, dtype=np.float64),
                xp.zeros(cap, dtype=np.int64),
                xp.zeros(cap, dtype=np.float64),
            )
            self.capacity = cap
        return tuple(a[:m] for a in self.arrays)


def find_partners(
    ctx, query, weight, reach_full: float, reach_max: float, stream: str, buffers=None
) -> Partners:
    """Partners of each row in ``query`` (int64) among rows with ``weight`` > 0 (N,).

    Parameters
    ----------
    ctx : the StepContext of the mechanics step
    query : (M,) int64 rows searching for partners
    weight : (N,) float64 partner weight of every row (0: never a partner) [1]
    reach_full, reach_max : contact distances relative to the sum of the two radii [-]
    stream : name of the random stream of the picks
    buffers : an object from :func:`make_buffers` (reused between steps), or None
    """
    layer = ctx.layer
    pop = layer.population
    xp = pop.xp
    mech = layer.mechanics
    if mech is None:
        raise RuntimeError("contact searches use the mechanics bins: the layer has no mechanics")
    bins = mech.bins
    b = layer.neighbours.binning(bins)
    query = xp.asarray(query, dtype=np.int64)
    m = int(query.shape[0])
    if buffers is None:
        buffers = _Buffers()
    count, wsum, pick, tau = buffers.get(xp, m)
    pop.backend.kernels.contact_search(
        pop["position"],
        pop["radius"],
        pop["id"],
        b.cell_bin,
        b.order,
        b.start,
        b.end,
        bins.shape,
        query,
        xp.asarray(weight, dtype=np.float64),
        float(reach_full),
        float(reach_max),
        rnd.key_prefix(layer.seed, ctx.step),
        rnd.stream_id(stream),
        count,
        wsum,
        pick,
        tau,
    )
    return Partners(query, count, wsum, pick, tau)


def make_buffers() -> _Buffers:
    """Output buffers for :func:`find_partners`, kept by a rule between steps."""
    return _Buffers()
