"""Tumour cell cycle and death driven by oxygen (PhysiCell's defaults; see docs/MODEL.md).

Every phenotype step each live tumour cell faces three competing exponential clocks:
division at ``b f(O₂)``, apoptosis at ``a`` and necrosis at ``n g(O₂)``, all rates per
minute, so results do not depend on the step length. With ``R = b f + a + n g`` an event
happens with probability ``1 − exp(−R dt)``; which one is drawn in proportion to its rate.
Apoptotic cells are removed after a fixed duration, necrotic cells at a (slow) clearance
rate. Dead cells neither exchange with the fields nor move; they still push.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import random as rnd
from ..exchange import sample_voxel

LIVE, APOPTOTIC, NECROTIC = 0, 1, 2
STATE_NAMES = {LIVE: "live", APOPTOTIC: "apoptotic", NECROTIC: "necrotic"}


@dataclass(frozen=True)
class GrowthParams:
    """Oxygen-dependent growth and death of one cell kind.

    Parameters
    ----------
    oxygen_field : name of the oxygen field [mmHg]
    birth_rate : division rate at or above saturation [1/min] (PhysiCell 0.00072)
    proliferation_threshold : no division at or below this oxygen [mmHg] (5)
    proliferation_saturation : full division rate from this oxygen on [mmHg] (38)
    necrosis_threshold : necrosis starts below this oxygen [mmHg] (5)
    necrosis_max : necrosis rate is maximal at or below this oxygen [mmHg] (2.5)
    necrosis_rate : maximal necrosis rate [1/min] (1/(6 h))
    apoptosis_rate : [1/min] (5.31667e-5)
    apoptosis_duration : time an apoptotic cell stays before removal [min] (516)
    necrotic_clearance : removal rate of necrotic cells [1/min] (1/86400)
    """

    oxygen_field: str = "oxygen"
    birth_rate: float = 0.00072
    proliferation_threshold: float = 5.0
    proliferation_saturation: float = 38.0
    necrosis_threshold: float = 5.0
    necrosis_max: float = 2.5
    necrosis_rate: float = 1.0 / 360.0
    apoptosis_rate: float = 5.31667e-5
    apoptosis_duration: float = 516.0
    necrotic_clearance: float = 1.0 / 86400.0

    def __post_init__(self):
        if not self.proliferation_saturation > self.proliferation_threshold:
            raise ValueError("proliferation_saturation must exceed proliferation_threshold")
        if not self.necrosis_threshold > self.necrosis_max:
            raise ValueError("necrosis_threshold must exceed necrosis_max")


class TumourGrowth:
    """Phenotype process: division, apoptosis, necrosis and clearance of dead cells.

    Parameters
    ----------
    population : Population (gets the column ``state_age`` [min]; dying cells lose ``active``)
    fields : Fields holding the oxygen field(s)
    params : ``{kind name: GrowthParams}`` for the kinds that grow
    seed : run seed of the counter-based random numbers
    """

    clock = "phenotype"

    def __init__(self, population, fields, params: dict[str, GrowthParams], seed: int):
        self.fields = fields
        self.seed = int(seed)
        self.params = dict(params)
        population.add_column("state_age", "float", (), 0.0)
        nk = len(population.kind_names)
        table = np.zeros((8, nk))
        table[2] = table[3] = 1.0  # kinds that do not grow: rates 0, denominators nonzero
        grows = np.zeros(nk, dtype=bool)
        self.oxygen_of_kind: dict[str, list[int]] = {}
        for name, p in self.params.items():
            k = population.kind_index(name)
            grows[k] = True
            table[:, k] = (
                p.birth_rate,
                p.proliferation_threshold,
                p.proliferation_saturation,
                p.necrosis_threshold,
                p.necrosis_max,
                p.necrosis_rate,
                p.apoptosis_rate,
                p.necrotic_clearance,
            )
            self.oxygen_of_kind.setdefault(p.oxygen_field, []).append(k)
        be = fields.grid.backend
        self.table = be.xp.asarray(table, dtype=np.float64)
        self.grows_dev = be.xp.asarray(grows)
        self.apoptosis_duration = be.xp.asarray(
            [
                self.params[n].apoptosis_duration if n in self.params else np.inf
                for n in population.kind_names
            ],
            dtype=np.float64,
        )

    def __call__(self, sim) -> None:
        pop = sim.population
        if pop.size == 0:
            return
        xp = sim.backend.xp
        dt = sim.clock.dt_phenotype
        step = sim.step_index
        pop["age"][...] += dt
        pop["state_age"][...] += dt
        kind = pop["kind"].astype(xp.int64)
        state = pop["state"]
        alive = pop["alive"]
        ids = pop["id"]
        o2 = self._oxygen(sim, kind)
        t = self.table[:, kind]  # (8, N) per-cell parameters
        prolif = xp.clip((o2 - t[1]) / (t[2] - t[1]), 0.0, 1.0)
        necro = xp.clip((t[3] - o2) / (t[3] - t[4]), 0.0, 1.0)
        birth = t[0] * prolif
        necrosis = t[5] * necro
        apoptosis = t[6]
        total = birth + necrosis + apoptosis
        u = rnd.uniform(xp, self.seed, step, ids, "death", 3)
        live = alive & (state == LIVE) & self.grows_dev[kind]
        event = live & (u[:, 0] < -xp.expm1(-total * dt))
        pick = u[:, 1] * total
        becomes_apoptotic = event & (pick < apoptosis)
        becomes_necrotic = event & (pick >= apoptosis) & (pick < apoptosis + necrosis)
        divides = event & (pick >= apoptosis + necrosis)
        # clearance of cells already dead
        cleared = alive & (
            ((state == APOPTOTIC) & (pop["state_age"] >= self.apoptosis_duration[kind]))
            | ((state == NECROTIC) & (u[:, 2] < -xp.expm1(-t[7] * dt)))
        )
        dying = becomes_apoptotic | becomes_necrotic
        state[becomes_apoptotic] = APOPTOTIC
        state[becomes_necrotic] = NECROTIC
        pop["state_age"][dying] = 0.0
        pop["active"][dying] = False
        pop.kill(cleared)
        self._divide(sim, xp.nonzero(divides)[0])
        pop.compact()
        pop.mark_changed()

    def _oxygen(self, sim, kind):
        xp = sim.backend.xp
        pop = sim.population
        if len(self.oxygen_of_kind) == 1:
            (name,) = self.oxygen_of_kind
            return sample_voxel(sim.grid, sim.fields[name], pop["position"]).astype(xp.float64)
        o2 = xp.zeros(pop.size, dtype=xp.float64)
        for name, kinds in self.oxygen_of_kind.items():
            values = sample_voxel(sim.grid, sim.fields[name], pop["position"]).astype(xp.float64)
            sel = xp.isin(kind, xp.asarray(kinds))
            o2 = xp.where(sel, values, o2)
        return o2

    def _divide(self, sim, mothers) -> None:
        """Each mother and its daughter sit ``r`` apart along a random direction."""
        m = int(mothers.shape[0])
        if m == 0:
            return
        pop = sim.population
        xp = sim.backend.xp
        ids = pop["id"][mothers]
        direction = rnd.unit_vectors(xp, self.seed, sim.step_index, ids, "division")
        half = 0.5 * pop["radius"][mothers].astype(xp.float64)[:, None] * direction
        centre = pop["position"][mothers].astype(xp.float64)
        lo = xp.asarray(sim.grid.origin) + 1e-6
        hi = xp.asarray(sim.grid.upper) - 1e-6
        pop["position"][mothers] = xp.clip(centre - half, lo, hi)
        daughters = {
            name: pop[name][mothers].copy() for name in pop.specs if name not in ("id", "alive")
        }
        daughters["position"] = xp.clip(centre + half, lo, hi)
        daughters["age"][...] = 0.0
        daughters["state_age"][...] = 0.0
        pop["age"][mothers] = 0.0
        pop.append(daughters)


def state_counts(population) -> dict[str, int]:
    """Live cells per (kind, state) name, e.g. ``{"tumour/live": 812, ...}`` (host ints).

    Every kind × state pair is present (0 when empty), so tables keep fixed columns.
    """
    xp = population.xp
    nk = len(population.kind_names)
    counts = np.zeros(8 * nk, dtype=np.int64)
    if population.size:
        alive = population["alive"]
        code = population["kind"].astype(xp.int64) * 8 + population["state"].astype(xp.int64)
        counts = population.backend.asnumpy(xp.bincount(code[alive], minlength=8 * nk))
    out = {}
    for k, kname in enumerate(population.kind_names):
        for s, sname in STATE_NAMES.items():
            out[f"{kname}/{sname}"] = int(counts[8 * k + s])
    return out
