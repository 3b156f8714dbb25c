"""Turn the ``[cells]`` tables of a scenario into a population and its processes."""

from __future__ import annotations

import numpy as np

from .agents import (
    Population,
    packed_sphere,
    read_cells_csv,
    spherical_shell,
    uniform_box,
)
from .cells import CellLayer, Kind, Neighbours
from .cells_spec import CellsSpec, resolve_relative
from .exchange import CellExchange
from .mechanics import Mechanics, interaction_distance
from .scenario import Scenario, ScenarioError
from .sources import RegionSource


def make_kinds(cells: CellsSpec) -> list[Kind]:
    """One :class:`Kind` instance per ``[cells.kinds.<name>]`` table, in scenario order."""
    return [
        spec.kind_class(name, i, spec.params, spec.body)
        for i, (name, spec) in enumerate(cells.kinds.items())
    ]


def vessel_mask(grid, vessels) -> np.ndarray | None:
    """(nz, ny, nx) bool host mask of the voxels inside any vessel region, or None.

    A "random" region makes each voxel (inside its box, if it has one) a vessel with
    probability ``fraction``, drawn from its own ``seed``: the layout belongs to the scenario,
    not to the run's seed. The layout is that of the whole domain: a sub-box ``grid`` gets
    its block of it (:func:`_uniform_block`).
    """
    if not vessels:
        return None
    mask = np.zeros(grid.shape, dtype=bool)
    for v in vessels:
        lower = v.lower if v.lower is not None else tuple(grid.global_origin)
        upper = v.upper if v.upper is not None else tuple(grid.global_upper)
        if v.shape == "random":
            inside = RegionSource("", "box", lower=lower, upper=upper).mask(grid)
            rng = np.random.default_rng([v.seed, 0x7E55E1])
            mask |= inside & (_uniform_block(rng, grid) < v.fraction)
        else:
            region = RegionSource("", v.shape, v.centre, v.radius, lower, upper)
            mask |= region.mask(grid)
    return mask


def _uniform_block(rng, grid) -> np.ndarray:
    """The block over the sub-box ``grid`` of ``rng.random(global shape)``, drawn plane by
    plane from the sub-box's first plane on (one 64-bit step per double; host float64)."""
    if tuple(grid.shape) == tuple(grid.global_shape):
        return rng.random(grid.shape)
    (oz, oy, ox), (nz, ny, nx) = grid.offset, grid.shape
    plane = grid.global_shape[1:]
    rng.bit_generator.advance(oz * plane[0] * plane[1])
    return np.stack([rng.random(plane)[oy : oy + ny, ox : ox + nx] for _ in range(nz)])


def place_initial(pop: Population, cells: CellsSpec, grid, source: str, seed: int) -> list:
    """Add the initial cells, placement by placement (set-up: host arrays).

    Returns the rows added, one ``slice`` per placement.
    """
    lower, upper = grid.origin, grid.upper
    rng = np.random.default_rng([seed, 0x5EED])
    added = []
    for i, p in enumerate(cells.initial):
        key = f"cells.initial.{i}"
        if p.shape == "csv":
            path = resolve_relative(p.file, source)
            try:
                cols = read_cells_csv(path, pop.kind_names, lower, upper)
            except ValueError as exc:
                raise ScenarioError(source, f"{key}.file", str(exc)) from None
            added.append(pop.append(cols))
            continue
        radius = cells.kinds[p.kind].body.radius
        if p.shape == "sphere":
            pos = packed_sphere(p.centre, p.radius, p.spacing or 2.0 * radius)
        elif p.shape == "shell":
            pos = spherical_shell(p.centre, p.inner_radius, p.outer_radius, p.count, rng)
        else:
            pos = uniform_box(p.lower, p.upper, p.count, rng)
        outside = np.any(~np.isfinite(pos) | (pos < lower) | (pos > upper), axis=1)
        if np.any(outside):
            bad = pos[np.argmax(outside)]
            raise ScenarioError(
                source,
                key,
                f"places a cell at {tuple(round(float(v), 2) for v in bad)} µm, outside the "
                f"domain {tuple(map(float, lower))}..{tuple(map(float, upper))} µm",
            )
        added.append(pop.add_cells(p.kind, pos))
    return added


def placed_radius_ratio(pop: Population) -> float:
    """Largest ratio of a cell's radius to its kind's radius (≥ 1; one host read)."""
    if pop.size == 0:
        return 1.0
    xp = pop.xp
    kind_r = xp.asarray([k.radius for k in pop.kinds], dtype=np.float64)
    ratio = pop["radius"].astype(np.float64) / kind_r[pop["kind"].astype(np.int64)]
    return max(1.0, float(xp.max(ratio)))


def attach_cells(sim, scenario: Scenario) -> None:
    """Create the population and its cell layer; register exchange, mechanics and rules."""
    spec = scenario.spec
    cells = spec.cells
    kinds = make_kinds(cells)
    pop = Population(
        sim.backend, [k.cell_kind() for k in kinds], capacity=max(cells.capacity, 1024)
    )
    neighbours = Neighbours(pop)
    layer = CellLayer(
        pop,
        kinds,
        sim.fields,
        seed=sim.info.seed,
        neighbours=neighbours,
        vessels=vessel_mask(sim.grid, spec.vessels),
        compartments=sim.compartments,
    )
    xp = pop.xp
    whole = getattr(sim, "whole_grid", sim.grid)
    for rows in place_initial(pop, cells, whole, scenario.source, sim.info.seed):
        rows = xp.arange(rows.start, rows.stop, dtype=np.int64)
        kind = pop["kind"][rows]
        for k in kinds:
            sel = rows[kind == k.index]
            if int(sel.shape[0]):
                k.initialise(layer, sel)
    exchange = CellExchange(pop, sim.fields, neighbours)
    sim.sources.depositors.append(exchange)
    # cells keep their radius (daughters and recruits take their mother's or their kind's),
    # so the bins need room only for cells placed larger than their kind (CSV radii);
    # contact searches share the mechanics bins, which must reach the longest contact
    stretch = placed_radius_ratio(pop)
    bin_size = max(interaction_distance(pop.kinds, growth=stretch), stretch * layer.contact_reach())
    layer.mechanics = Mechanics(
        pop,
        sim.grid.global_origin,
        sim.grid.global_upper,
        sim.clock.dt_mechanics,
        seed=sim.info.seed,
        max_displacement=cells.max_displacement,
        fields=sim.fields,
        bin_size=bin_size,
        neighbours=neighbours,
    )
    from .cell_therapy import attach_cell_therapies

    attach_cell_therapies(sim, layer, spec.therapy)
    sim.population = pop
    sim.cells = layer
    processes = layer.processes
    if hasattr(sim, "split_cells"):  # a rank's slab: keep its cells, trade with the others
        processes = sim.split_cells(layer)
    sim.processes.extend(processes)
    sim.stateful["cells"] = layer
