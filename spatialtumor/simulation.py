"""The simulation: state, clocks, the order of one step, writers, run loop."""

from __future__ import annotations

import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .clock import Clock
from .fields import Fields
from .grid import Grid
from .guard import BlowUp, Guard
from .sources import SourceTerms
from .timing import part
from .transport import Transport


class Process(Protocol):
    """A step of the model run on one of the clocks ("mechanics" or "phenotype")."""

    clock: str

    def __call__(self, sim: Simulation) -> None: ...


class Writer(Protocol):
    """Output plug-in: ``due`` is asked after every step, ``write`` copies state to the host."""

    def due(self, sim: Simulation) -> bool: ...

    def write(self, sim: Simulation) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunInfo:
    """What a run is: stored in every output file."""

    seed: int = 0
    scenario_text: str = ""  # resolved scenario, TOML
    scenario_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Simulation:
    """A grid with fields (and, optionally, cells) advanced on three clocks.

    One diffusion step (``step``) is: exchange between cells and fields (sources and sinks,
    implicit) → wall values fed from compartments → transport (LOD / explicit) → advance
    the clock → mechanics processes when due → phenotype processes when due → blow-up check
    when due → writers when due.

    ``guard`` checks that fields and cell columns stay finite and bounded (see
    :mod:`spatialtumor.guard`): ``"auto"`` (default) every 6 min of simulated time and
    before every output, a :class:`~spatialtumor.guard.Guard`, or None for no check.

    ``graph=True`` replays each transport step as one CUDA graph on the CuPy backend
    (see :class:`~spatialtumor.transport.Transport`); it changes no result.
    """

    def __init__(
        self,
        grid: Grid,
        fields: Fields,
        population=None,
        *,
        clock: Clock,
        stop: float,
        info: RunInfo | None = None,
        sources: SourceTerms | None = None,
        processes: list[Process] | None = None,
        guard: Guard | str | None = "auto",
        graph: bool = False,
    ):
        self.grid = grid
        self.backend = grid.backend
        self.fields = fields
        self.population = population
        #: the cell layer (kinds, rules, events) when the run has cells from a scenario
        self.cells = None
        #: name → :class:`~spatialtumor.compartments.Compartment` (lymph node, plasma, …)
        self.compartments: dict = {}
        #: the :class:`~spatialtumor.doses.Dosing` of the therapy schedule, if any
        self.dosing = None
        #: the scenario's ``[therapy]`` (a :class:`~spatialtumor.doses.TherapySpec`), if built
        #: from one
        self.therapy = None
        self._clock = clock
        self.stop = float(stop)
        self.info = info or RunInfo()
        self.sources = sources if sources is not None else SourceTerms(fields)
        self.transport = Transport(fields, clock.dt_diffusion, graph=graph)
        self.processes: list[Process] = list(processes or [])
        #: callables ``feed(sim)`` run before every transport step that may set wall values
        #: (``transport.set_boundary``) from compartments, e.g. a drug's plasma level
        self.boundary_feeds: list[Callable[[Simulation], None]] = []
        self.writers: dict[str, Writer] = {}
        self.step_index = 0
        self.wall_seconds = 0.0
        # name → object with state_dict()/load_state_dict(), saved in checkpoints
        self.stateful: dict = {}
        #: a :class:`~spatialtumor.timing.StepTimer` to split the wall time (benchmarks)
        self.timer = None
        if guard == "auto":
            guard = Guard.every_minutes(6.0, clock.dt_diffusion)
        #: the blow-up check (None: unchecked)
        self.guard: Guard | None = guard

    @property
    def clock(self) -> Clock:
        """The three time steps; processes and transport read them at every step."""
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        if self.step_index and clock.dt_diffusion != self._clock.dt_diffusion:
            # time is step · dt_diffusion: a new diffusion step would move the clock's time
            raise ValueError("dt_diffusion cannot change after the run has started")
        self._clock = clock

    @property
    def time(self) -> float:
        """Simulated time [min]."""
        return self.clock.time(self.step_index)

    @property
    def stop_step(self) -> int:
        return self.clock.steps(self.stop)

    def step(self) -> None:
        """Advance one diffusion step ``dt_diffusion``."""
        dt = self.clock.dt_diffusion
        t = self.timer
        with part(t, "exchange (deposit + sources)"):
            self.sources.assemble(self)
        with part(t, "transport"):
            for feed in self.boundary_feeds:
                feed(self)
            # the implicit source step is fused into the first (x) sweep of the LOD species
            if self.sources.active:
                self.transport.step(dt, self.sources.source, self.sources.uptake)
            else:
                self.transport.step(dt)
        self.step_index += 1
        for p in self.processes:
            if p.clock == "mechanics" and self.step_index % self.clock.mechanics_every == 0:
                with part(t, "mechanics step"):
                    p(self)
        for p in self.processes:
            if p.clock == "phenotype" and self.step_index % self.clock.phenotype_every == 0:
                with part(t, "phenotype step"):
                    p(self)
        with part(t, "output"):
            self._write()

    def total(self, count: int) -> int:
        """A whole number summed over the processes sharing the domain (here: ``count``)."""
        return int(count)

    def gather_indices(self, indices):
        """Increasing int64 indices (device) of the whole domain, from every process's
        ``indices`` (here: ``indices``)."""
        return indices

    def _write(self) -> None:
        due = [w for w in self.writers.values() if w.due(self)]
        guard = self.guard
        if guard is not None and (due or guard.due(self.step_index)):
            self._check(guard)
        for w in due:
            w.write(self)

    def _check(self, guard: Guard) -> None:
        """Run the blow-up check; on a blow-up, write a diagnostic snapshot and re-raise."""
        try:
            guard.check(self)
        except BlowUp as exc:
            writer = self.writers.get("snapshots")
            if writer is not None and hasattr(writer, "write_diagnostic"):
                try:
                    exc.snapshot = writer.write_diagnostic(self, str(exc))
                except OSError:
                    pass  # the blow-up is the news; the snapshot is a courtesy
            raise

    def run(self, progress: Callable[[Simulation], None] | None = None) -> None:
        """Step until ``stop``; writers see the initial state first. Closes the writers."""
        start = wallclock.perf_counter()
        try:
            if self.step_index == 0:
                self._write()
            while self.step_index < self.stop_step:
                self.step()
                if progress is not None:
                    progress(self)
        finally:
            self.backend.synchronize()
            self.wall_seconds += wallclock.perf_counter() - start
            self.close()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
