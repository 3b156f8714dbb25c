"""Turn a validated scenario into plain objects: grid, fields, sources, cells, simulation."""

from __future__ import annotations

from pathlib import Path

from .backends import Backend, cupy_status, get_backend
from .clock import Clock
from .doses import Dosing, dose_state
from .fields import Boundary, Fields, Species
from .grid import Grid
from .guard import Guard
from .scenario import Scenario, ScenarioError, estimate_bytes
from .simulation import RunInfo, Simulation
from .sources import RegionSource, SourceTerms


def make_backend(name: str = "auto", precision: str = "auto") -> Backend:
    """A backend from CLI words: precision "auto" is float32 on a GPU and float64 on a CPU."""
    if precision == "auto":
        on_gpu = name == "cupy" or (name == "auto" and cupy_status()[0])
        precision = "float32" if on_gpu else "float64"
    return get_backend(name, precision)


def build_simulation(
    scenario: Scenario,
    backend: Backend,
    *,
    run_dir: str | Path | None = None,
    seed: int | None = None,
    stop: float | None = None,
    resume_step: int | None = None,
    world=None,
    split: str = "auto",
    write: str = "parts",
) -> Simulation:
    """Everything a run needs, with writers attached when ``run_dir`` is given.

    ``resume_step`` (set when continuing from a checkpoint) makes the writers continue the
    run folder's snapshots and table instead of refusing an existing folder.

    With ``world`` (a :class:`~spatialtumor.parallel.World` of several ranks) this rank
    builds its slab of the domain (cut along ``split``: "auto", "x", "y" or "z") and only
    rank 0 gets the writers; ``write`` ("parts" or "gathered") says whether every rank
    writes its part of the snapshots or rank 0 gathers the whole domain; see
    docs/PARALLEL.md.
    """
    spec = scenario.spec
    g = spec.grid
    grid = Grid(backend, (g.nz, g.ny, g.nx), g.spacing_xyz, g.origin_xyz)
    kind, extra = Simulation, {}
    if world is not None and world.size > 1:
        from .parallel.build import distribute

        grid, kind, extra = distribute(spec, grid, world, split)
        extra["write"] = write
    else:
        world = None
    check_device_memory(scenario, backend, world.size if world else 1)
    species = {
        name: Species(
            diffusivity=f.diffusivity,
            decay=f.decay,
            initial=f.initial,
            units=f.units,
            boundary=Boundary(*f.face_values()),
            solver=f.solver,
        )
        for name, f in spec.fields.items()
    }
    fields = Fields(grid, species)
    regions = [RegionSource(**s.model_dump()) for s in spec.sources]
    sources = SourceTerms(fields, regions)
    c = spec.clock
    clock = Clock(c.dt_diffusion, c.dt_mechanics, c.dt_phenotype)
    info = RunInfo(
        seed=spec.run.seed if seed is None else int(seed),
        scenario_text=scenario.resolved_toml(),
        # a file name that is not UTF-8 (undecodable bytes) is stored with replacement marks
        scenario_path=scenario.source.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
    )
    b = spec.blowup
    sim = kind(
        grid,
        fields,
        clock=clock,
        stop=spec.run.stop if stop is None else float(stop),
        info=info,
        sources=sources,
        guard=Guard.every_minutes(b.every, c.dt_diffusion, b.limit) if b.check else None,
        **extra,
    )
    # compartments first: their processes run before the cells' on the phenotype clock,
    # so cells read outputs advanced over the interval that just ended
    from .build_cells import vessel_mask

    vessels = vessel_mask(grid, spec.vessels)
    sim.therapy = spec.therapy
    if spec.therapy.doses:
        # before the compartments: a dose due in a phenotype interval enters over it
        states = [dose_state(d, spec.compartments[d.into]) for d in spec.therapy.doses]
        sim.dosing = Dosing(spec.therapy.doses, sim.compartments, states)
        sim.processes.append(sim.dosing)
        sim.stateful["dosing"] = sim.dosing
    neutral = [(n, f.neutralised_by) for n, f in spec.fields.items() if f.neutralised_by]
    if neutral:
        from .sources import Neutralisation

        for name, n in neutral:
            sim.sources.depositors.append(Neutralisation(fields, name, n.field, n.rate))
    if spec.therapy.pulses:
        from .pulses import FieldPulses

        sim.sources.depositors.append(FieldPulses(sim, spec.therapy.pulses))
    for name, c in spec.compartments.items():
        comp = c.model_class.build(name, c.params)
        c.model_class.attach(sim, comp, c.params, vessels)
        sim.compartments[name] = comp
        sim.processes.append(comp)
        sim.stateful[f"compartment_{name}"] = comp
    if spec.cells is not None:
        from .build_cells import attach_cells

        attach_cells(sim, scenario)
    if run_dir is not None and (world is None or world.root):
        attach_writers(sim, scenario, Path(run_dir), resume=resume_step is not None)
    return sim


def attach_writers(sim: Simulation, scenario: Scenario, run_dir: Path, resume: bool = False):
    """Snapshots + sidecar, the time-series table and checkpoints, all in ``run_dir``."""
    from .checkpoint import CheckpointWriter
    from .output import SnapshotWriter, TimeSeriesWriter

    out = scenario.spec.output
    existing = "append" if resume else "error"
    sim.writers["snapshots"] = SnapshotWriter(
        run_dir,
        every=out.every,
        compression="gzip" if out.compression else None,
        existing=existing,
    )
    sim.writers["timeseries"] = TimeSeriesWriter(run_dir, every=out.every, existing=existing)
    sim.writers["checkpoints"] = CheckpointWriter(run_dir, every=out.checkpoint_every)


def check_device_memory(scenario: Scenario, backend: Backend, ranks: int = 1) -> None:
    """Refuse a run whose share (the thickest of ``ranks`` slabs) does not fit the device.

    Over several ranks a rank also holds the transposed lines of the LOD sweep and the
    padded blocks of the explicit stencil: about three more field arrays of its slab."""
    if backend.name != "cupy":
        return
    free, _total = backend.xp.cuda.runtime.memGetInfo()
    need = estimate_bytes(scenario.spec, backend.dtype.itemsize)
    if ranks > 1:
        g = scenario.spec.grid
        n = max(g.nx, g.ny, g.nz)  # the axis cut by default
        need *= -(-n // ranks) / n * (4 + 3) / 4
    if need > free:
        raise ScenarioError(
            scenario.source,
            "grid",
            f"needs about {need / 2**30:.1f} GiB of device memory, {free / 2**30:.1f} GiB free",
        )
