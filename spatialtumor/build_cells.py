"""Turn the ``[cells]`` tables of a scenario into a population and its processes."""

from __future__ import annotations

import numpy as np

from .agents import (
    CellKind,
    FieldExchange,
    Population,
    packed_sphere,
    read_cells_csv,
    spherical_shell,
    uniform_box,
)
from .biology.tumour import GrowthParams, TumourGrowth
from .cells_spec import CellsSpec, resolve_relative
from .exchange import CellExchange
from .mechanics import Mechanics, interaction_distance
from .scenario import Scenario, ScenarioError


def make_kinds(cells: CellsSpec) -> list[CellKind]:
    kinds = []
    for name, k in cells.kinds.items():
        kinds.append(
            CellKind(
                name=name,
                radius=k.radius,
                repulsion=k.repulsion,
                adhesion=k.adhesion,
                adhesion_distance=k.adhesion_distance,
                speed=k.speed,
                persistence=k.persistence,
                chemotaxis_field=k.chemotaxis.field if k.chemotaxis else None,
                chemotaxis_bias=k.chemotaxis.bias if k.chemotaxis else 0.0,
                exchange={f: FieldExchange(**e.model_dump()) for f, e in k.exchange.items()},
            )
        )
    return kinds


def place_initial(pop: Population, cells: CellsSpec, grid, source: str, seed: int) -> None:
    """Add the initial cells, placement by placement (set-up: host arrays)."""
    lower, upper = grid.origin, grid.upper
    rng = np.random.default_rng([seed, 0x5EED])
    for i, p in enumerate(cells.initial):
        key = f"cells.initial.{i}"
        if p.shape == "csv":
            path = resolve_relative(p.file, source)
            try:
                cols = read_cells_csv(path, pop.kind_names, lower, upper)
            except ValueError as exc:
                raise ScenarioError(source, f"{key}.file", str(exc)) from None
            pop.append(cols)
            continue
        radius = cells.kinds[p.kind].radius
        if p.shape == "sphere":
            pos = packed_sphere(p.centre, p.radius, p.spacing or 2.0 * radius)
        elif p.shape == "shell":
            pos = spherical_shell(p.centre, p.inner_radius, p.outer_radius, p.count, rng)
        else:
            pos = uniform_box(p.lower, p.upper, p.count, rng)
        outside = np.any((pos < lower) | (pos > upper), axis=1)
        if np.any(outside):
            bad = pos[np.argmax(outside)]
            raise ScenarioError(
                source,
                key,
                f"places a cell at {tuple(np.round(bad, 2))} µm, outside the "
                f"domain {tuple(lower)}..{tuple(upper)} µm",
            )
        pop.add_cells(p.kind, pos)


def attach_cells(sim, scenario: Scenario) -> None:
    """Create ``sim.population`` and register exchange, mechanics and growth."""
    spec = scenario.spec
    cells = spec.cells
    kinds = make_kinds(cells)
    pop = Population(sim.backend, kinds, capacity=max(cells.capacity, 1024))
    place_initial(pop, cells, sim.grid, scenario.source, sim.info.seed)
    sim.population = pop
    exchange = CellExchange(pop, sim.fields)
    sim.sources.depositors.append(exchange)
    mech = Mechanics(
        pop,
        sim.grid.origin,
        sim.grid.upper,
        sim.clock.dt_mechanics,
        seed=sim.info.seed,
        max_displacement=cells.max_displacement,
        fields=sim.fields,
        # radii stay at their kind's value here, so bins need no room for growth
        bin_size=interaction_distance(kinds, growth=1.0),
    )
    growth = {
        name: GrowthParams(**k.growth.model_dump()) for name, k in cells.kinds.items() if k.growth
    }
    sim.processes.append(mech)
    if growth:
        sim.processes.append(TumourGrowth(pop, sim.fields, growth, sim.info.seed))
