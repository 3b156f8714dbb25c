"""``spatialtumor study run | slurm | status | join | plot | fit``: many runs, one table.

Only click is imported here; everything else loads inside the commands, so
``spatialtumor --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click


def _bad_input(message: str) -> click.ClickException:
    from .cli import BadInput

    return BadInput(message)


def _load(study_file: str):
    from .study.members import load_study
    from .study.spec import StudyError

    try:
        return load_study(study_file)
    except StudyError as exc:
        raise _bad_input(str(exc)) from None


def _study_dir(study_file: str, out: str | None) -> Path:
    from .study.layout import default_study_dir

    return Path(out) if out else default_study_dir(study_file)


def _existing_dir(target: str, out: str | None) -> Path:
    """A study folder from a study folder or a study file (+ ``--out``)."""
    from .study.layout import MANIFEST

    p = Path(target)
    folder = p if p.is_dir() else _study_dir(target, out)
    if not (folder / MANIFEST).is_file():
        raise _bad_input(f"{folder} is not a study folder (no {MANIFEST}); run the study first")
    return folder


def _settings(study, backend, precision):
    return backend or study.spec.backend, precision or study.spec.precision


def _executor(executor, jobs, gpus, members_per_process, scheduler, backend, log_dir):
    from .study.executors import make_executor

    try:
        return make_executor(executor, jobs, gpus, members_per_process, scheduler, backend, log_dir)
    except ValueError as exc:
        raise _bad_input(str(exc)) from None


out_option = click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Study folder [default: runs/<study file name>].",
)
executor_options = [
    click.option(
        "--executor",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="Local worker processes, or tasks on a Dask cluster.",
    ),
    click.option(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="Members at once [default: one per GPU, else one per CPU core].",
    ),
    click.option(
        "--gpus",
        default="auto",
        show_default=True,
        help="Local executor: CUDA devices to spread workers over (auto, none, or 0,1,...).",
    ),
    click.option(
        "--members-per-process",
        type=int,
        default=1,
        show_default=True,
        help="Members one worker process (or Dask task) runs in turn, reusing its backend.",
    ),
    click.option("--scheduler", default=None, help="Dask scheduler address or scheduler file."),
    click.option(
        "--backend",
        type=click.Choice(["auto", "numpy", "cupy"]),
        default=None,
        help="Array backend [default: the study file's backend, auto].",
    ),
    click.option(
        "--precision",
        type=click.Choice(["auto", "float32", "float64"]),
        default=None,
        help="Working precision [default: the study file's, else the scenario's].",
    ),
]


def _with(options):
    def wrap(f):
        for opt in reversed(options):
            f = opt(f)
        return f

    return wrap


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def study():
    """Studies: many runs of one scenario (seeds, arms, sweeps) joined into one table."""


@study.command("run")
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@out_option
@_with(executor_options)
@click.option(
    "--retry-failed/--skip-failed",
    default=True,
    show_default=True,
    help="Run members that failed before again.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "parquet", "csv"]),
    default="auto",
    show_default=True,
    help="Joined tables: Parquet (needs pyarrow) or CSV.",
)
@click.option("--quiet", is_flag=True, help="Only the final summary.")
def run_cmd(
    study_file,
    out,
    executor,
    jobs,
    gpus,
    members_per_process,
    scheduler,
    backend,
    precision,
    retry_failed,
    fmt,
    quiet,
):
    """Run every unfinished member of STUDY_FILE, then join the table.

    Resumable: run the same command again after a crash or a kill and only the members
    without a completion marker run again.
    """
    from .study.layout import prepare_study_dir, statuses

    st = _load(study_file)
    out_dir = _study_dir(study_file, out)
    backend, precision = _settings(st, backend, precision)
    ex = _executor(executor, jobs, gpus, members_per_process, scheduler, backend, out_dir / "logs")
    folders = prepare_study_dir(st, out_dir, backend, precision)
    before = {s.id: s for s in statuses(out_dir, [m.id for m in st.members])}
    todo = [
        f
        for f in folders
        if before[f.name].status == "pending"
        or (before[f.name].status == "failed" and retry_failed)
    ]
    n_done = sum(s.status == "done" for s in before.values())
    if not quiet:
        click.echo(f"study {st.name}: {st.describe()}, scenario {st.scenario_path}")
        click.echo(
            f"folder: {out_dir}; {n_done} finished, {len(todo)} to run; executor: {ex.describe()}"
        )
    from .study.progress import MemberProgress

    progress = MemberProgress(len(todo), quiet=quiet)
    start = time.perf_counter()
    walls = []

    def on_outcome(outcome):
        if outcome.status == "done":
            walls.append(outcome.wall_seconds)
        progress(outcome)

    try:
        if todo:
            ex.run(todo, on_outcome)
    except KeyboardInterrupt:
        progress.finish()
        click.echo("interrupted; run the same command again to continue", err=True)
        sys.exit(130)
    finally:
        progress.finish()
    wall = time.perf_counter() - start
    _finish(out_dir, st, fmt, wall, walls)


def _finish(out_dir, st, fmt, wall, walls):
    from .study.layout import member_dir, statuses
    from .study.table import write_tables

    after = statuses(out_dir, [m.id for m in st.members])
    failed = [s for s in after if s.status == "failed"]
    done = sum(s.status == "done" for s in after)
    mean = f", {sum(walls) / len(walls):.2f} s each" if walls else ""
    click.echo(
        f"done: {done} of {len(after)} members finished, {len(failed)} failed; "
        f"{len(walls)} run now in {wall:.1f} s{mean}"
    )
    try:
        paths = write_tables(out_dir, fmt)
    except ValueError as exc:
        raise _bad_input(str(exc)) from None
    click.echo(f"table: {paths['timeseries']} and {paths['members']}")
    for s in failed:
        click.echo(f"failed: {s.id}: {s.error} (log: {member_dir(out_dir, s.id) / 'member.log'})")
    if failed:
        sys.exit(1)


@study.command("status")
@click.argument("target", type=click.Path(exists=True))
@out_option
def status_cmd(target, out):
    """How many members of a study (file or folder) are finished, failed or pending."""
    from .study.layout import read_manifest, statuses

    folder = _existing_dir(target, out)
    manifest = read_manifest(folder)
    sts = statuses(folder, [m["id"] for m in manifest["members"]])
    counts = {k: sum(s.status == k for s in sts) for k in ("done", "failed", "pending")}
    click.echo(
        f"study {manifest['name']}: {len(sts)} members: {counts['done']} finished, "
        f"{counts['failed']} failed, {counts['pending']} pending ({folder})"
    )
    for s in sts:
        if s.status == "failed":
            click.echo(f"failed: {s.id}: {s.error}")
    sys.exit(0 if counts["done"] == len(sts) else 1)


@study.command("join")
@click.argument("target", type=click.Path(exists=True))
@out_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "parquet", "csv"]),
    default="auto",
    show_default=True,
)
def join_cmd(target, out, fmt):
    """Write the joined tables of a study (file or folder) to STUDY/results/."""
    from .study.table import write_tables

    folder = _existing_dir(target, out)
    try:
        paths = write_tables(folder, fmt)
    except ValueError as exc:
        raise _bad_input(str(exc)) from None
    from .study.table import read_table

    ts, members = read_table(folder, "timeseries"), read_table(folder, "members")
    n_done = int((members["status"] == "done").sum())
    click.echo(
        f"{paths['timeseries']}: {len(ts)} rows of {n_done} finished members; "
        f"{paths['members']}: {len(members)} members"
    )


@study.command("slurm")
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@out_option
@click.option("--submit", is_flag=True, help="Submit the array with sbatch.")
@click.option("--members-per-task", type=int, default=1, show_default=True)
@click.option("--time", "time_limit", default="01:00:00", show_default=True, help="Per task.")
@click.option("--mem", default="4G", show_default=True, help="Memory per task.")
@click.option("--cpus-per-task", type=int, default=1, show_default=True)
@click.option("--gpus-per-task", type=int, default=0, show_default=True)
@click.option("--partition", default=None)
@click.option("--account", default=None)
@click.option("--max-parallel", type=int, default=None, help="Tasks running at once (%N).")
@click.option("--sbatch-option", "extra", multiple=True, help="Extra #SBATCH line (repeatable).")
@click.option("--setup", multiple=True, help="Shell line run before the worker (repeatable).")
@click.option("--python", "python", default=None, help="Python on the nodes [this one].")
@click.option("--backend", type=click.Choice(["auto", "numpy", "cupy"]), default=None)
@click.option("--precision", type=click.Choice(["auto", "float32", "float64"]), default=None)
def slurm_cmd(
    study_file,
    out,
    submit,
    members_per_task,
    time_limit,
    mem,
    cpus_per_task,
    gpus_per_task,
    partition,
    account,
    max_parallel,
    extra,
    setup,
    python,
    backend,
    precision,
):
    """Write (and with --submit, submit) a SLURM job array for the unfinished members."""
    from .study.layout import prepare_study_dir, statuses
    from .study.slurm import SlurmError, SlurmOptions, submit_script, write_array

    if members_per_task < 1:
        raise _bad_input("--members-per-task must be at least 1")
    st = _load(study_file)
    out_dir = _study_dir(study_file, out).resolve()
    backend, precision = _settings(st, backend, precision)
    prepare_study_dir(st, out_dir, backend, precision)
    todo = [s.id for s in statuses(out_dir, [m.id for m in st.members]) if s.status != "done"]
    opts = SlurmOptions(
        job_name=f"st-{st.name}",
        time=time_limit,
        cpus_per_task=cpus_per_task,
        mem=mem,
        gpus_per_task=gpus_per_task,
        partition=partition,
        account=account,
        max_parallel=max_parallel,
        members_per_task=members_per_task,
        extra=tuple(extra),
        setup=tuple(setup),
        python=python or sys.executable,
    )
    try:
        arr = write_array(out_dir, todo, opts)
    except SlurmError as exc:
        raise _bad_input(str(exc)) from None
    click.echo(
        f"study {st.name}: {len(todo)} of {len(st.members)} members to run in "
        f"{arr.n_tasks} array tasks"
    )
    click.echo(f"script: {arr.script}")
    if not submit:
        click.echo(f"submit with: sbatch {arr.script}")
    else:
        try:
            job = submit_script(arr.script)
        except SlurmError as exc:
            raise _bad_input(str(exc)) from None
        click.echo(f"submitted: job {job}")
    click.echo(f"then: spatialtumor study join {out_dir}")


@study.command("plot")
@click.argument("target", type=click.Path(exists=True))
@out_option
@click.option("--column", default=None, help="Time-series column [default: cells_total].")
@click.option(
    "--params",
    default=None,
    help="One or two swept keys for the response surface, comma-separated "
    "[default: the study's, when it sweeps one or two].",
)
@click.option(
    "--spread", type=click.Choice(["sd", "sem", "range"]), default="sd", show_default=True
)
@click.option("--format", "formats", default="png,svg", show_default=True)
def plot_cmd(target, out, column, params, spread, formats):
    """Mean ± spread per arm over time, and the response surface (STUDY/plots/)."""
    from .study.layout import read_manifest
    from .study.table import read_table, write_tables

    try:
        import matplotlib  # noqa: F401

        from .study.plots import arms_figure, default_column, response_figure, save_figure
    except ImportError:
        raise _bad_input("plots need matplotlib: pip install 'spatialtumor[viz]'") from None
    folder = _existing_dir(target, out)
    write_tables(folder)
    ts, members = read_table(folder, "timeseries"), read_table(folder, "members")
    if ts.empty:
        raise _bad_input(f"{folder}: no member is finished yet")
    manifest = read_manifest(folder)
    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    try:
        col = column or default_column(ts)
        written = save_figure(arms_figure(ts, col, spread), folder / "plots" / "arms", fmts)
        keys = [k.strip() for k in params.split(",")] if params else list(manifest["params"])
        for k in keys:
            if k not in members.columns:
                raise ValueError(f"--params: {k} is not a swept key of the study")
        if keys and len(keys) <= 2:
            fig = response_figure(members, keys, col, spread)
            written += save_figure(fig, folder / "plots" / "response", fmts)
        elif params is None and len(keys) > 2:
            click.echo("(more than two swept keys: choose one or two with --params)", err=True)
    except ValueError as exc:
        raise _bad_input(str(exc)) from None
    for p in written:
        click.echo(f"wrote {p}")


@study.command("fit")
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@out_option
@_with(executor_options)
@click.option("--trials", type=int, default=None, help="Number of trials [default: fit.trials].")
@click.option(
    "--sampler", type=click.Choice(["tpe", "random", "grid"]), default=None, help="Optuna sampler."
)
@click.option(
    "--truth",
    multiple=True,
    metavar="KEY=VALUE",
    help="Fit a synthetic target: one run at these values (repeatable) instead of fit.target.",
)
@click.option("--truth-seed", type=int, default=1000, show_default=True)
def fit_cmd(
    study_file,
    out,
    executor,
    jobs,
    gpus,
    members_per_process,
    scheduler,
    backend,
    precision,
    trials,
    sampler,
    truth,
    truth_seed,
):
    """Fit the [fit] parameters of STUDY_FILE to its target table with Optuna."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise _bad_input("study fit needs optuna: pip install 'spatialtumor[study]'") from None
    from .study.fit import fit_study, read_target, truth_target
    from .study.members import toml_value

    st = _load(study_file)
    if st.spec.fit is None:
        raise _bad_input(f"{study_file}: fit: the study has no [fit] table")
    spec = st.spec.fit
    if trials is not None and trials < 1:
        raise _bad_input("--trials must be at least 1")
    out_dir = _study_dir(study_file, out)
    backend, precision = _settings(st, backend, precision)
    ex = _executor(executor, jobs, gpus, members_per_process, scheduler, backend, out_dir / "logs")
    values = _parse_truth(truth, [p.key for p in spec.params]) if truth else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    if truth:
        target = truth_target(
            st, out_dir, ex, values, truth_seed, backend=backend, precision=precision
        )
        shown = ", ".join(f"{k} = {toml_value(v)}" for k, v in values.items())
        click.echo(f"target: synthetic, one run at {shown} (seed {truth_seed})")
    else:
        if spec.target is None:
            raise _bad_input(f"{study_file}: fit.target: no target table (or use --truth)")
        path = (st.source.parent / spec.target).resolve()
        try:
            target = read_target(path, spec)
        except (OSError, ValueError) as exc:
            raise _bad_input(f"{study_file}: fit.target: {exc}") from None
        click.echo(f"target: {path} ({len(target)} rows)")
    click.echo(
        f"fit {', '.join(p.key for p in spec.params)} to {', '.join(spec.columns)} "
        f"({spec.loss} loss); executor: {ex.describe()}"
    )
    start = time.perf_counter()
    best = [float("inf")]

    def on_trial(row):
        if row["state"] == "complete":
            best[0] = min(best[0], row["loss"])
        shown = ", ".join(f"{p.key.rsplit('.', 1)[-1]} = {row[p.key]:.6g}" for p in spec.params)
        loss = (
            f"loss {row['loss']:.4g}" if row["state"] == "complete" else f"failed: {row['error']}"
        )
        click.echo(f"trial {row['trial']:3d}: {shown}: {loss} (best {best[0]:.4g})")

    try:
        result = fit_study(
            st,
            out_dir,
            ex,
            target,
            trials=trials,
            sampler=sampler,
            backend=backend,
            precision=precision,
            on_trial=on_trial,
        )
    except (ValueError, RuntimeError) as exc:
        raise _bad_input(str(exc)) from None
    wall = time.perf_counter() - start
    shown = ", ".join(f"{k} = {v:.6g}" for k, v in result.best.items())
    click.echo(
        f"best: {shown} (loss {result.best_loss:.4g}) after {len(result.trials)} trials "
        f"in {wall:.1f} s"
    )
    if truth:
        for k, v in _parse_truth(truth, list(result.best)).items():
            rel = (result.best[k] - v) / v if v else float("nan")
            click.echo(f"truth: {k} = {v:.6g}; recovered {result.best[k]:.6g} ({100 * rel:+.1f} %)")
    click.echo(f"wrote {result.paths['trials']} and {result.paths['best']}")


def _parse_truth(items, keys):
    from .study.fit import parse_truth

    try:
        return parse_truth(items, keys)
    except ValueError as exc:
        raise _bad_input(str(exc)) from None
