"""Command line: ``spatialtumor run | validate | info | check-backend``."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import click
import numpy as np

from . import __version__
from .cli_errors import (
    EXIT_BAD_INPUT,
    EXIT_BLOWUP,
    EXIT_OUTPUT,
    BadInput,
    Minutes,
    OneLineGroup,
    OutputFailed,
    RunStopped,
    Seed,
    check_out_folder,
    output_error_line,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_BLOWUP", "EXIT_OUTPUT", "BadInput", "cli", "main"]


def _load(scenario, overrides, warn: bool = True):
    from .scenario import ScenarioError, load_scenario

    try:
        scn = load_scenario(scenario, list(overrides))
    except ScenarioError as exc:
        raise BadInput(str(exc)) from None
    if warn:
        _warn(scn)
    return scn


def _warn(scn) -> None:
    for w in scn.warnings:
        click.echo(f"warning: {w}", err=True)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spatialtumor")
def cli():
    """spatialtumor: 3D spatial hybrid simulator of tumour-immune interactions.

    Lengths in µm, times in min.
    """


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario value, e.g. --set fields.oxygen.decay=0.2 (repeatable).",
)


@cli.command()
@click.argument("scenario", required=False)
@click.option(
    "--backend",
    type=click.Choice(["auto", "numpy", "cupy"]),
    default="auto",
    show_default=True,
    help="Array backend.",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "float32", "float64"]),
    default=None,
    help="Working precision [default: the scenario's run.precision; auto = float32 on "
    "GPU, float64 on CPU].",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder [default: runs/<scenario>-<timestamp>].",
)
@click.option(
    "--seed",
    type=Seed(),
    default=None,
    help="Random seed [default: run.seed].",
)
@click.option("--stop", type=Minutes(), default=None, help="Simulated duration [min].")
@click.option(
    "--resume",
    "resume",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Continue from a checkpoint file (same scenario and seed; --stop, --out, "
    "--backend and --precision may change).",
)
@click.option("--quiet", is_flag=True, help="Only the final summary.")
@click.option(
    "--split",
    type=click.Choice(["auto", "x", "y", "z"]),
    default="auto",
    show_default=True,
    help="Under mpirun: the axis cut into one slab per rank (auto: the longest).",
)
@click.option(
    "--write",
    type=click.Choice(["parts", "gathered"]),
    default="parts",
    show_default=True,
    help="Under mpirun: every rank writes its part of each snapshot (parts), or rank 0 "
    "gathers the whole domain and writes it (gathered). Ignored in one process.",
)
@set_option
def run(scenario, backend, precision, out_dir, seed, stop, resume, quiet, split, write, overrides):
    """Run SCENARIO (a TOML file or a shipped scenario name; default: the built-in default).

    Exit codes: 0 done, 2 bad input (nothing written), 3 an output file could not be
    written, 4 stopped by the blow-up check (see docs/FORMAT.md).
    """
    from . import cli_errors
    from .allocator import keep_freed_memory
    from .backends import BackendError
    from .build import build_simulation, make_backend
    from .limits import duration_steps
    from .parallel import MPIError, launcher_rank
    from .parallel import world as mpi_world
    from .scenario import ScenarioError

    keep_freed_memory()
    # the checks before the run meet every rank alike: rank 0 alone prints their line
    cli_errors.SILENT = launcher_rank() != 0
    try:
        world = mpi_world()
        if world.size > 1:
            from .parallel.devices import select_device

            select_device(world, backend)
    except MPIError as exc:
        raise BadInput(str(exc)) from None
    quiet = quiet or not world.root  # one rank reports

    if resume is not None:
        from .checkpoint import CheckpointError, resume_simulation

        try:
            sim, scn, run_path = resume_simulation(
                resume,
                out_dir=out_dir,
                stop=stop,
                backend=backend,
                precision=precision,
                seed=seed,
                scenario=scenario,
                overrides=overrides,
                world=world,
                split=split,
                write=write,
            )
        except (CheckpointError, ScenarioError, BackendError, MPIError) as exc:
            raise BadInput(str(exc)) from None
        except OSError as exc:
            _abort_others(world, OutputFailed(output_error_line(exc)))
    else:
        scn = _load(scenario, overrides, warn=False)
        if stop is not None:
            steps = duration_steps(stop, scn.spec.clock.dt_diffusion)
            if isinstance(steps, str):
                raise BadInput(f"--stop: {steps}")
        prec = precision or scn.spec.run.precision
        try:
            be = make_backend(backend, prec)
        except BackendError as exc:
            raise BadInput(str(exc)) from None
        run_path = Path(out_dir) if out_dir else _default_run_dir(scn.name)
        if world.size > 1:
            run_path = world.comm.bcast(run_path, root=0)  # rank 0's time stamp
        check_out_folder(run_path)
        if world.size > 1:
            world.comm.Barrier()  # every rank has looked before rank 0 writes there
        try:
            sim = build_simulation(
                scn,
                be,
                run_dir=run_path,
                seed=seed,
                stop=stop,
                world=world,
                split=split,
                write=write,
            )
        except (ScenarioError, MPIError) as exc:
            raise BadInput(str(exc)) from None
        except OSError as exc:  # rank 0's writers: the other ranks would wait for it
            _abort_others(world, OutputFailed(output_error_line(exc)))
        if world.root:
            _warn(scn)  # after every check: an error is the only line a bad input prints
    be = sim.backend
    cells = None if sim.population is None else sim.population.n
    if world.size > 1 and cells is not None:
        cells = world.comm.allreduce(cells)  # each rank holds the cells of its slab
    if not quiet:
        click.echo(f"spatialtumor {__version__}: scenario {scn.source}")
        click.echo(f"backend: {be.describe()} ({be.reason})")
        g = getattr(sim, "whole_grid", sim.grid)
        click.echo(
            f"grid: {g.nx}×{g.ny}×{g.nz} voxels of "
            f"{'×'.join(f'{s:g}' for s in g.spacing)} µm, "
            f"fields: {', '.join(sim.fields.names)}"
            + (f", cells: {cells}" if cells is not None else "")
        )
        click.echo(f"run folder: {run_path}; stop at {sim.stop:g} min, seed {sim.info.seed}")
        if world.size > 1:
            click.echo(f"MPI: {sim.slabs.describe()}")
    start_step = sim.step_index
    reporter = None if quiet else _progress(sim)
    from .guard import BlowUp

    try:
        # values that overflow are the blow-up check's to report, in one line, not NumPy's
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            sim.run(progress=reporter)
            if world.size > 1 and sim.population is not None:
                # the cells of every rank, on rank 0 (collective); the summary reads no field
                sim = sim.whole(fields=False)
    except BlowUp as exc:  # every rank stops alike (the check is collective)
        raise RunStopped(f"{run_path}: {exc}") from None
    except OSError as exc:  # on rank 0, which writes
        _abort_others(world, OutputFailed(output_error_line(exc)))
    except BaseException:  # one rank failing alone would leave the others waiting
        if world.size > 1:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            world.comm.Abort(1)
        raise
    finally:
        if reporter is not None:
            reporter.finish()
    if world.root:
        _summary(sim, start_step, run_path)


def _abort_others(world, exc: BadInput):
    """Raise ``exc`` in a single process; under MPI, where this rank alone fails, print its
    line and end every rank with its exit code (the others would wait for this one)."""
    if world.size > 1:
        exc.show(force=True)
        sys.stderr.flush()
        world.comm.Abort(exc.exit_code)
    raise exc from None


def _default_run_dir(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


class _progress:
    """Progress bar on a terminal; a status line every 10 % or 30 s in batch logs."""

    def __init__(self, sim):
        self.total = max(sim.stop_step - sim.step_index, 1)
        self.first = sim.step_index
        self.tty = sys.stderr.isatty()
        self.start = self.last = time.perf_counter()
        self.last_fraction = 0.0
        self.bar = None
        if self.tty:
            self.bar = click.progressbar(
                length=self.total,
                label="simulating",
                file=sys.stderr,
                show_eta=True,
                show_percent=True,
            )
            self.bar.__enter__()

    def __call__(self, sim):
        done = sim.step_index - self.first
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.perf_counter()
        fraction = done / self.total
        if fraction - self.last_fraction >= 0.1 or now - self.last >= 30 or done == self.total:
            self.last, self.last_fraction = now, fraction
            cells = f", {sim.population.n} cells" if sim.population is not None else ""
            click.echo(
                f"[{now - self.start:8.1f} s] t = {sim.time:9.2f} min, step {sim.step_index} "
                f"({100 * fraction:5.1f} %){cells}",
                err=True,
            )

    def finish(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _summary(sim, start_step, run_path):
    steps = sim.step_index - start_step
    wall = max(sim.wall_seconds, 1e-9)
    vf = getattr(sim, "whole_grid", sim.grid).size * len(sim.fields) * steps / wall
    line = (
        f"done: t = {sim.time:g} min, {steps} steps in {wall:.2f} s wall "
        f"({steps / wall:.1f} steps/s, {vf:.3g} voxel-field updates/s"
    )
    if sim.population is not None:
        line += f", {sim.population.n} cells"
    click.echo(line + ")")
    for text in _cell_summary(sim):
        click.echo(text)
    if sim.dosing is not None:
        d = sim.dosing
        given = ", ".join(
            f"{dose.name} {int(n)}/{dose.count}" for dose, n in zip(d.doses, d.given, strict=True)
        )
        click.echo(f"therapy: doses given {given}")
    for text in _cell_therapy_summary(sim):
        click.echo(text)
    for comp in sim.compartments.values():
        click.echo(
            f"{comp.name}: "
            + ", ".join(
                f"{ob.name.removeprefix(comp.name + '_')} {ob.value:.4g}"
                for ob in comp.observables()
            )
        )
    click.echo(f"output: {run_path}")


def _cell_therapy_summary(sim) -> list[str]:
    """One line per cell-therapy item: events delivered by now of those scheduled."""
    from .cell_therapy import cell_therapy_items

    if sim.therapy is None:
        return []
    out = []
    for key, item in cell_therapy_items(sim.therapy):
        rows = item.events()
        if rows:
            done = sum(1 for t, _label, _amount in rows if t <= sim.time + 1e-9)
            out.append(f"therapy: {key} {rows[0][1]} {done}/{len(rows)} delivered")
    return out


def _cell_summary(sim) -> list[str]:
    """One line of cells per kind and state, one of the kinds' reported numbers."""
    if sim.population is None or sim.population.size == 0 and sim.cells is None:
        return []
    from .output.timeseries import state_counts

    per_kind: dict[str, list[str]] = {}
    for key, n in state_counts(sim.population).items():
        kind, state = key.split("/", 1)
        per_kind.setdefault(kind, []).append(f"{state} {n}")
    lines = ["cells: " + "; ".join(f"{k} ({', '.join(v)})" for k, v in per_kind.items())]
    if sim.cells is not None:
        reported = [
            f"{ob.name} {ob.value:.4g}" for ob in sim.cells.observables() if ob.value == ob.value
        ]
        if reported:
            lines.append("reported: " + ", ".join(reported))
    return lines


@cli.command()
@click.argument("scenario")
@set_option
@click.option("--quiet", is_flag=True, help="Print nothing when valid.")
def validate(scenario, overrides, quiet):
    """Check SCENARIO and print it resolved (every value, defaults included)."""
    scn = _load(scenario, overrides)
    if not quiet:
        click.echo(f"# {scn.source}: valid")
        click.echo(scn.resolved_toml(), nl=False)


@cli.command()
@click.argument("run_dir", required=False, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(run_dir, as_json):
    """Versions, backends and devices (or, given RUN_DIR, what a run holds)."""
    if run_dir is not None:
        from .inspect import run_summary

        data = run_summary(Path(run_dir))
    else:
        data = environment_info()
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        for k, v in data.items():
            click.echo(f"{k}: {v}")


def environment_info() -> dict:
    import platform

    import h5py
    import numpy as np

    from .backends import cupy_status
    from .scenario import shipped_scenarios

    ok, why = cupy_status()
    data = {
        "spatialtumor": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "cupy": _version_of("cupy"),
        "vtk": _version_of("vtk"),
        "backends": "numpy" + (", cupy" if ok else ""),
        "cuda device": why,
        "auto backend": "cupy" if ok else "numpy",
        "shipped scenarios": ", ".join(sorted(shipped_scenarios())),
    }
    return data


def _version_of(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = {"cupy": ["cupy-cuda13x", "cupy-cuda12x", "cupy"], "vtk": ["vtk"]}[module]
    for n in names:
        try:
            return f"{version(n)} ({n})"
        except PackageNotFoundError:
            continue
    return "not installed"


@cli.command("check-backend")
@click.option("--backend", type=click.Choice(["auto", "cupy"]), default="auto", show_default=True)
def check_backend(backend):
    """Run every CUDA kernel against its NumPy twin on this device; print max errors."""
    from .backends import BackendError, get_backend

    try:
        be = get_backend(backend, "float64")
    except BackendError as exc:
        raise BadInput(str(exc)) from None
    if be.name != "cupy":
        click.echo(f"no CUDA device to check: {be.reason}")
        sys.exit(1)
    from .checks import format_contract, kernel_contract
    from .checks_agents import register

    register()  # the cell-layer kernels join the diffusion kernels
    rows = kernel_contract(be)
    click.echo(f"device: {be.device}")
    click.echo(format_contract(rows))
    if not all(r["ok"] for r in rows):
        sys.exit(1)


def _add_viz_commands() -> None:
    """``render`` and ``plot`` live in their own module (they import VTK/matplotlib lazily)."""
    try:
        from .cli_viz import plot, render
    except ImportError:  # pragma: no cover - module absent in a partial install
        return
    cli.add_command(render)
    cli.add_command(plot)


_add_viz_commands()
cli.add_command(__import__("spatialtumor.cli_study", fromlist=["study"]).study)
cli.add_command(__import__("spatialtumor.cli_metrics", fromlist=["metrics"]).metrics)


def main():
    cli(prog_name="spatialtumor")


if __name__ == "__main__":
    main()
