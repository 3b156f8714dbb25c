"""The cell layer: kinds, their rules in stage order, events applied once per phenotype step.

Per mechanics step (``dt_mechanics``)::

    mechanics-clock rules, stage by stage (sense → contact → state → fate → recruit)
    → state changes applied → forces + motility → move

Per phenotype step (``dt_phenotype``, after the mechanics step of the same time)::

    ages advance → phenotype-clock rules, stage by stage → state changes applied
    → divisions (daughters made from their mothers) → one compaction dropping removed rows
    → daughters and new cells appended → new cells initialised by their kind

Within a stage, rules run in kind order, then in the order each kind lists them. Step
lengths are read from ``sim.clock`` at every step, so a run may change its clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import random as rnd
from ..exchange import class_codes, sample_voxel, state_slots
from ..timing import part
from .events import Events
from .kinds import Column, Kind, Observable, Rule, Stage
from .neighbours import Neighbours

#: columns every kind has, besides the population's built-in ones
LAYER_COLUMNS = (
    Column("state_age", "float", (), 0.0, "min", "time since the cell entered its state"),
    Column("state_step", np.int64, (), 0, "1", "diffusion step at which it entered its state"),
)


@dataclass
class StepContext:
    """What a rule sees in one clock step.

    Attributes
    ----------
    layer : the cell layer
    sim : the simulation
    clock : "mechanics" or "phenotype"
    dt : the step length of that clock [min]
    step : diffusion step index after the step (keys the random draws)
    """

    layer: CellLayer
    sim: Any
    clock: str
    dt: float
    step: int

    @property
    def population(self):
        return self.layer.population

    @property
    def xp(self):
        return self.layer.population.xp

    @property
    def fields(self):
        return self.layer.fields

    @property
    def time(self) -> float:
        """Simulated time at the end of the step [min]."""
        return float(self.sim.time)

    def uniform(self, ids, stream: str, n: int | None = None):
        """Counter-based uniforms keyed by (seed, step, id, stream), float64."""
        return rnd.uniform(self.xp, self.layer.seed, self.step, ids, stream, n)

    def steps_in_state(self):
        """Diffusion steps every in-use row has spent in its state (int64)."""
        return self.step - self.layer.population["state_step"]

    def steps(self, duration: float) -> int:
        """A duration [min] in whole diffusion steps (compare with :meth:`steps_in_state`)."""
        return self.sim.clock.steps(duration)

    def probability(self, rate):
        """``1 − exp(−rate · dt)``: the chance that an event of ``rate`` [1/min] happens."""
        return -self.xp.expm1(-rate * self.dt)

    def field_at(self, name: str):
        """Value of field ``name`` in the voxel of every in-use row (float64)."""
        layer = self.layer
        return sample_voxel(
            layer.fields.grid, layer.fields[name], layer.population["position"]
        ).astype(self.xp.float64)


class _ClockProcess:
    """The layer's entry point on one clock (a process of the simulation)."""

    def __init__(self, layer: CellLayer, clock: str):
        self.layer = layer
        self.clock = clock

    def __call__(self, sim) -> None:
        if self.clock == "mechanics":
            self.layer.mechanics_step(sim)
        else:
            self.layer.phenotype_step(sim)


class CellLayer:
    """Kinds, rules and events of one population.

    Parameters
    ----------
    population : Population whose kinds are ``kinds`` (same order)
    kinds : one :class:`Kind` instance per kind code
    fields : Fields the cells sense and exchange with
    seed : run seed of the counter-based random numbers
    mechanics : Mechanics moving the cells (None: cells do not move)
    neighbours : the shared Neighbours of the population
    vessels : (nz, ny, nx) bool host mask of vessel voxels, or None
    """

    def __init__(
        self,
        population,
        kinds: Sequence[Kind],
        fields,
        *,
        seed: int,
        mechanics=None,
        neighbours: Neighbours | None = None,
        vessels=None,
        compartments=None,
    ):
        self.population = population
        self.kinds = list(kinds)
        self.fields = fields
        self.seed = int(seed)
        self.mechanics = mechanics
        self.neighbours = neighbours if neighbours is not None else Neighbours(population)
        self.vessels = vessels
        #: name → :class:`~spatialtumor.compartments.Compartment` (lymph node, plasma, …)
        self.compartments: dict[str, Any] = dict(compartments or {})
        names = tuple(k.name for k in self.kinds)
        if len(names) > 127:  # (kind, state) codes and random keys hold the kind in 7 bits
            raise ValueError(f"at most 127 cell kinds, got {len(names)}")
        if names != population.kind_names:
            raise ValueError(f"kinds {names} differ from the population's {population.kind_names}")
        self.by_name = {k.name: k for k in self.kinds}
        for c in LAYER_COLUMNS:
            population.add_column(c.name, c.dtype, c.shape, c.fill, units=c.units)
        for k in self.kinds:
            for c in k.columns:
                population.add_column(c.name, c.dtype, c.shape, c.fill, owner=k.name, units=c.units)
        self.events = Events(population)
        xp = population.xp
        self.slots = state_slots(population.kinds)
        living = np.zeros((len(self.kinds), self.slots), dtype=bool)
        for i, k in enumerate(self.kinds):
            for j, s in enumerate(k.states):
                living[i, j] = s not in k.dead_states
        self.class_living = xp.asarray(living.ravel())
        self.counters: dict[str, Any] = {}
        self.counter_info: dict[str, tuple[str, str]] = {}
        #: counters of events every process sharing the domain counts alike (schedules)
        self.shared_counters: set[str] = set()
        #: kills recorded per step when set to a list (tests): dicts of host arrays
        self.kill_log: list[dict[str, np.ndarray]] | None = None
        self.rules: dict[str, list[Rule]] = {"mechanics": [], "phenotype": []}
        self._ordered: list[tuple[int, int, int, Rule]] = []
        self._added = 0
        for ki, k in enumerate(self.kinds):
            self._order(k.rules(self), ki)
        self.processes = (_ClockProcess(self, "mechanics"), _ClockProcess(self, "phenotype"))
        #: diffusion step of the clock step being run (0 while the initial cells are placed)
        self.step = 0
        #: ``f(mother ids) -> daughter ids`` where the ids are not the population's own
        #: counter (cells split over ranks; called at every phenotype step); None in one process
        self.daughter_ids = None
        #: ``f(keys (M, 3) int64) -> ids`` of the spawned cells where the ids are not the
        #: population's own counter (cells split over ranks; called at every phenotype step)
        self.spawn_ids = None
        #: ``f(ids, values) -> float`` the sum over the cells of every process sharing the
        #: domain, in id order (cells split over ranks); None in one process
        self.sum_over_all = None
        #: ``f(positions) -> bool mask`` of the positions whose cells this process owns
        #: (cells split over ranks); None: every position is its own
        self.owns = None
        #: ``f() -> bool`` whether any process sharing the domain has cells (None: this one)
        self.any_cells = None
        #: ``f(ctx, rows, targets, ids, hit, cause, eat=False) -> killed`` deciding kills
        #: (or, with ``eat``, the eating of dead cells) whose targets may be other processes'
        #: cells (see ``attach_and_kill``); None in one process
        self.remote_kills = None

    @property
    def owned(self) -> int | None:
        """Rows ``[:owned]`` are the process's own cells, the rest copies of other
        processes' cells near its faces (cells split over ranks); None: every row is its
        own. Only own rows take events (:attr:`Events.owned`)."""
        return self.events.owned

    @owned.setter
    def owned(self, rows: int | None) -> None:
        self.events.owned = rows

    def _order(self, rules: Sequence[Rule], owner: int) -> None:
        for ri, rule in enumerate(rules):
            self._ordered.append((int(rule.stage), owner, ri, rule))
        self._ordered.sort(key=lambda t: t[:3])
        self.rules = {"mechanics": [], "phenotype": []}
        for _stage, _owner, _ri, rule in self._ordered:
            self.rules[rule.clock].append(rule)

    def add_rules(self, rules: Sequence[Rule]) -> None:
        """Add rules that belong to no kind (a therapy acting on cells): within a stage they
        run after every kind's rules, in the order they were added."""
        self._added += 1
        self._order(rules, len(self.kinds) + self._added)

    # bookkeeping ------------------------------------------------------------------------
    def compartment_output(self, spec: str) -> float:
        """The output ``"<compartment>.<output>"`` now (host float)."""
        name, _, out = spec.partition(".")
        return self.compartments[name].output(out)

    def own(self, mask):
        """``mask`` limited to the process's own rows (see :attr:`owned`)."""
        if self.owned is None:
            return mask
        return mask & (self.population.xp.arange(self.population.size) < self.owned)

    def kind_mask(self, kind: int | str):
        """Rows of one kind (in-use rows, alive or not)."""
        k = self.by_name[kind].index if isinstance(kind, str) else int(kind)
        return self.population["kind"] == k

    def living(self):
        """Rows that are alive and in a living (not dead) state of their kind."""
        pop = self.population
        cls = class_codes(pop.xp, pop["kind"], pop["state"], self.slots).astype(np.int64)
        return pop["alive"] & self.class_living[cls]

    def add_counter(self, name: str, panel: str, units: str = "", shared: bool = False) -> None:
        """Declare a running total reported to the time series (checkpointed); ``shared``:
        it counts events of the whole domain (a schedule's), not of the process's cells."""
        if name not in self.counters:
            self.counters[name] = self.population.xp.zeros((), dtype=np.float64)
            self.counter_info[name] = (panel, units)
        if shared:
            self.shared_counters.add(name)

    def own_positions(self, positions):
        """Bool mask of the ``positions`` (M, 3) [µm] whose cells are this process's."""
        if self.owns is None:
            return self.population.xp.ones(int(positions.shape[0]), dtype=bool)
        return self.owns(positions)

    def sum_by_id(self, ids, values) -> float:
        """Σ ``values`` over the cells ``ids`` (this process's, one value each) and, when
        cells are split over processes, those of every process: in id order, so its
        rounding is that of one process (host float, the same on every process)."""
        if self.sum_over_all is not None:
            return self.sum_over_all(ids, values)
        xp = self.population.xp
        values = xp.asarray(values, dtype=np.float64)
        return float(xp.sum(values[xp.argsort(ids, kind="stable")]))

    def id_order(self):
        """Rows in id order, or None when they already are (see ``Neighbours.id_order``)."""
        return self.neighbours.id_order()

    def count(self, name: str, amount, rows=None) -> None:
        """Add ``amount`` (a device scalar or array summed) to counter ``name``.

        ``rows`` (int64): the rows whose values the array holds; given, the sum runs in
        cell-id order, so its rounding does not depend on row order (needed for values that
        are not whole numbers).
        """
        pop = self.population
        xp = pop.xp
        amount = xp.asarray(amount, dtype=np.float64)
        if rows is not None:
            amount = amount[xp.argsort(pop["id"][rows], kind="stable")]
        self.counters[name] = self.counters[name] + xp.sum(amount)

    # clock steps -----------------------------------------------------------------------
    def _run(self, sim, clock: str, dt: float) -> StepContext:
        ctx = StepContext(self, sim, clock, dt, sim.step_index)
        self.step = sim.step_index
        events = self.events
        empty = self.population.size == 0 if self.any_cells is None else not self.any_cells()
        for i, rule in enumerate(self.rules[clock]):
            if not empty or rule.stage == Stage.RECRUIT:  # new cells may enter an empty tissue
                events.start_rule(i)
                rule(ctx, events)
        return ctx

    def mechanics_step(self, sim) -> None:
        t = sim.timer
        if self.rules["mechanics"]:
            with part(t, "mechanics step: contact rules"):
                self._run(sim, "mechanics", float(sim.clock.dt_mechanics))
                if self.events.spawned:
                    raise RuntimeError("rules on the mechanics clock may not add cells")
                self.apply_states(sim.step_index)
        if self.mechanics is not None:
            with part(t, "mechanics step: forces, motility, move"):
                self.mechanics(sim)

    def phenotype_step(self, sim) -> None:
        ctx = self.phenotype_rules(sim)
        with part(sim.timer, "phenotype step: divisions, removals, new cells"):
            self.apply_structure(ctx)

    def phenotype_rules(self, sim) -> StepContext:
        """The first part of a phenotype step: ages, rules, state changes (no rows move)."""
        pop = self.population
        dt = float(sim.clock.dt_phenotype)
        self.step = sim.step_index
        pop["age"][...] += dt
        # from the entry step, so a state entered on the mechanics clock is timed exactly
        pop["state_age"][...] = (sim.step_index - pop["state_step"]) * sim.clock.dt_diffusion
        with part(sim.timer, "phenotype step: rules"):
            ctx = self._run(sim, "phenotype", dt)
            self.apply_states(sim.step_index)
        return ctx

    # applying events -------------------------------------------------------------------
    def apply_states(self, step: int = 0) -> None:
        """Put recorded state changes into the ``state`` column (no rows move); ``step`` is
        the diffusion step at which the cells entered their new state."""
        pop = self.population
        if pop.size == 0:
            return
        xp = pop.xp
        ns = self.events.new_state
        changed = ns >= 0
        state = pop["state"]
        state[...] = xp.where(changed, ns, state).astype(state.dtype)
        pop["state_age"][...] = xp.where(changed, 0, pop["state_age"])
        pop["state_step"][...] = xp.where(changed, step, pop["state_step"])
        cls = class_codes(xp, pop["kind"], state, self.slots).astype(np.int64)
        pop["active"][...] = pop["alive"] & self.class_living[cls]
        self.events.clear_states()
        pop.mark_state_changed()  # positions did not move: the sorts stay valid

    def apply_structure(self, ctx: StepContext) -> None:
        """Divisions, removals and new cells: one compaction, then appends."""
        events = self.events
        pop = self.population
        if not events.structural and self.daughter_ids is None:
            events.reset()
            return
        xp = pop.xp
        mothers = xp.nonzero(events.dividing & pop["alive"])[0]
        if not pop.ids_sorted:  # daughters take their ids in the order of their mothers' ids
            mothers = mothers[xp.argsort(pop["id"][mothers], kind="stable")]
        ids = None if self.daughter_ids is None else self.daughter_ids(pop["id"][mothers])
        daughters = self._daughters(mothers, ctx) if int(mothers.shape[0]) else None
        if daughters is not None and ids is not None:
            daughters["id"] = ids
        keep = pop["alive"] & ~events.removing
        positions, kinds = events.spawns()
        positions, kinds = positions.copy(), kinds.copy()
        new_ids = None if self.spawn_ids is None else self.spawn_ids(events.spawn_keys().copy())
        events.reset()
        pop.rebuild(keep, daughters)
        m = int(positions.shape[0])
        if m:
            radius = xp.asarray([k.radius for k in pop.kinds], dtype=pop.specs["radius"][0])
            first = pop.size
            new = {"position": positions, "kind": kinds, "radius": radius[kinds]}
            if new_ids is not None:
                new["id"] = new_ids
            pop.append(new)
            rows = xp.arange(first, first + m, dtype=np.int64)
            pop["state_step"][rows] = ctx.step
            for k in self.kinds:
                sel = rows[kinds == k.index]
                if int(sel.shape[0]):
                    k.initialise(self, sel)
        events.reset()

    def _daughters(self, mothers, ctx: StepContext) -> dict[str, Any]:
        """Columns of one daughter per mother: a copy placed ``r`` apart along a random axis."""
        step = ctx.step
        pop = self.population
        xp = pop.xp
        ids = pop["id"][mothers]
        direction = rnd.unit_vectors(xp, self.seed, step, ids, "division")
        half = 0.5 * pop["radius"][mothers].astype(xp.float64)[:, None] * direction
        centre = pop["position"][mothers].astype(xp.float64)
        lo = xp.asarray(self.fields.grid.global_origin) + 1e-6
        hi = xp.asarray(self.fields.grid.global_upper) - 1e-6
        pop["position"][mothers] = xp.clip(centre - half, lo, hi)
        daughters = {
            name: pop[name][mothers].copy() for name in pop.specs if name not in ("id", "alive")
        }
        daughters["position"] = xp.clip(centre + half, lo, hi)
        daughters["age"][...] = 0.0
        daughters["state_age"][...] = 0.0
        daughters["state_step"][...] = ctx.step
        pop["age"][mothers] = 0.0
        kind = pop["kind"][mothers]
        for k in self.kinds:
            sel = xp.nonzero(kind == k.index)[0]
            if int(sel.shape[0]) == 0:
                continue
            part = {n: v[sel] for n, v in daughters.items()}
            k.inherit(self, mothers[sel], part, step)
            for n, v in part.items():
                daughters[n][sel] = v
        return daughters

    def kill(
        self, ctx: StepContext, targets, killers=None, cause: str = "", immunogenic: bool = False
    ) -> Any:
        """Kill rows ``targets`` (int64) by other cells or a therapy: each enters its kind's
        ``killed_state`` (its ``immunogenic_state`` when ``immunogenic`` and it has one), or,
        when the kind has neither, dies at once (``alive`` cleared; the row goes at the next
        compaction). Returns a bool mask over ``targets`` of the kills that took effect
        (rows with an earlier event are skipped).
        """
        pop = self.population
        xp = pop.xp
        n = pop.size
        targets = xp.asarray(targets, dtype=np.int64)
        want = xp.zeros(n, dtype=bool)
        want[targets] = True
        code = xp.full(n, -1, dtype=np.int16)
        removed = xp.zeros(n, dtype=bool)
        kind = pop["kind"]
        for k in self.kinds:
            sel = want & (kind == k.index)
            enters = (immunogenic and k.immunogenic_state) or k.killed_state
            if enters is None:
                removed |= sel
            else:
                code = xp.where(sel, np.int16(k.state_code(enters)), code)
        took = self.events.change_state(want & (code >= 0), code)
        gone = removed & self.events.free & pop["alive"]
        if bool(xp.any(gone)):
            pop.kill(gone)
        took |= gone
        done = took[targets]
        if self.kill_log is not None:
            be = pop.backend
            self.kill_log.append(
                {
                    "time": float(ctx.time),
                    "cause": cause,
                    "target": be.asnumpy(pop["id"][targets][done]),
                    "killer": be.asnumpy(pop["id"][killers][done]) if killers is not None else None,
                    "distance": be.asnumpy(
                        xp.sqrt(
                            xp.sum(
                                (pop["position"][targets] - pop["position"][killers]) ** 2, axis=1
                            )
                        )[done]
                    )
                    if killers is not None
                    else None,
                }
            )
        return done

    # output ----------------------------------------------------------------------------
    def observables(self) -> list[Observable]:
        """Counters and every kind's observables, for the time series (host values)."""
        out = []
        if self.counters:
            names = list(self.counters)
            xp = self.population.xp
            values = self.population.backend.asnumpy(xp.stack([self.counters[n] for n in names]))
            for n, v in zip(names, values, strict=True):
                panel, units = self.counter_info[n]
                out.append(Observable(n, float(v), panel, units, counter=True))
        for k in self.kinds:
            out.extend(k.observables(self))
        return out

    def contact_reach(self) -> float:
        """Longest centre distance a contact rule of any kind searches [µm]."""
        return float(max((k.contact_distance(self.kinds) for k in self.kinds), default=0.0))

    # checkpoint ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        be = self.population.backend
        return {"counters": {n: float(be.asnumpy(v)) for n, v in self.counters.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        xp = self.population.xp
        for n, v in state.get("counters", {}).items():
            if n in self.counters:
                self.counters[n] = xp.asarray(float(v), dtype=np.float64)


def mean_of(xp, values, mask, order=None) -> Any:
    """Mean of ``values`` where ``mask`` (NaN where empty), on the device; summed over the
    rows in ``order`` (e.g. :meth:`CellLayer.id_order`) when given."""
    if order is not None:
        values, mask = values[order], mask[order]
    m = mask.astype(np.float64)
    total = xp.sum(m)
    return xp.where(
        total > 0, xp.sum(values.astype(np.float64) * m) / xp.maximum(total, 1), math.nan
    )
