"""``spatialtumor metrics RUN``: spatial immune metrics of every snapshot → ``RUN/metrics.csv``
and ``RUN/plots/metrics.png``. Bad input (an unknown kind, a negative margin, a folder that
is not a run, a mistyped option) is one line naming the option, exit code 2."""

from __future__ import annotations

import math
from pathlib import Path

import click


def _bad(option: str, message: str):
    from .cli import BadInput

    return BadInput(f"{option}: {message}")


class OneLineCommand(click.Command):
    """A command whose usage errors (unknown option, missing value) are one line, exit 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            from .cli import BadInput

            raise BadInput(" ".join(exc.format_message().split())) from None


def _names(value: str | None, option: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise _bad(option, "give kind names separated by commas")
    return names


def _number(value: str, option: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise _bad(option, f"must be a number of µm, got {value!r}") from None
    if not math.isfinite(x):
        raise _bad(option, f"must be finite, got {value!r}")
    return x


def _radii(value: str) -> tuple[float, ...]:
    """``10,20,50`` or ``START:STOP:STEP`` (STOP included) [µm]."""
    if ":" in value:
        parts = value.split(":")
        if len(parts) != 3:
            raise _bad("--radii", f"use START:STOP:STEP or a comma list, got {value!r}")
        start, stop, step = (_number(p, "--radii") for p in parts)
        if not step > 0 or stop < start:
            raise _bad("--radii", f"need STEP > 0 and STOP ≥ START, got {value!r}")
        n = int(math.floor((stop - start) / step + 1e-9)) + 1
        return tuple(start + i * step for i in range(n))
    return tuple(_number(p, "--radii") for p in value.split(",") if p.strip())


def _snapshots(value: str):
    if value in ("all", "last"):
        return value
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise _bad("--snapshot", f"must be 'all', 'last' or numbers, got {value!r}") from None


@click.command(cls=OneLineCommand)
@click.argument("run_dir", metavar="RUN")
@click.option(
    "--immune",
    default=None,
    metavar="KINDS",
    help="Immune kinds, comma-separated [default: every kind whose model is not 'tumour'].",
)
@click.option(
    "--tumour",
    default=None,
    metavar="KINDS",
    help="Tumour kinds, comma-separated [default: the kinds whose model is 'tumour'].",
)
@click.option(
    "--margin",
    default="100",
    metavar="UM",
    show_default=True,
    help="Width of the invasive margin, centred on the tumour surface [µm].",
)
@click.option(
    "--radii",
    default="10:100:10",
    metavar="RADII",
    show_default=True,
    help="Radii of Ripley's K and g [µm]: START:STOP:STEP or a comma list.",
)
@click.option(
    "--section-thickness",
    default="4",
    metavar="UM",
    show_default=True,
    help="Section thickness of the per-mm² densities [µm].",
)
@click.option(
    "--snapshot",
    default="all",
    show_default=True,
    metavar="WHICH",
    help="'all', 'last' or numbers (1,4,7).",
)
@click.option(
    "--out",
    "out_path",
    default=None,
    metavar="PATH",
    help="Table path [default: RUN/metrics.csv].",
)
@click.option(
    "--plot/--no-plot",
    default=True,
    show_default=True,
    help="Also draw RUN/plots/metrics.png (beside the table, as .png, with --out; needs "
    "matplotlib).",
)
@click.option(
    "--backend",
    default="auto",
    metavar="NAME",
    show_default=True,
    help="Array backend: auto, numpy or cupy.",
)
def metrics(
    run_dir, immune, tumour, margin, radii, section_thickness, snapshot, out_path, plot, backend
):
    """Spatial immune metrics of RUN's snapshots, one table row per snapshot and quantity.

    Immune density in the tumour centre and at the invasive margin (per mm³ and per mm² of a
    section), the immunotype (inflamed / excluded / desert), infiltration depth,
    nearest-neighbour distances between kinds, cross-type Ripley's K and pair correlation.
    Definitions and sources: docs/METRICS.md. Lengths in µm.
    """
    from .backends import BackendError, get_backend
    from .metrics import MetricsError, MetricsOptions, run_metrics, write_metrics
    from .metrics.table import TABLE_NAME
    from .runs import RunError, open_run

    if not Path(run_dir).is_dir():
        raise _bad("RUN", f"{run_dir} is not a folder")
    try:
        run = open_run(run_dir)
    except RunError as exc:
        raise _bad("RUN", str(exc)) from None
    options = MetricsOptions(
        immune=_names(immune, "--immune"),
        tumour=_names(tumour, "--tumour"),
        margin_width=_number(margin, "--margin"),
        radii=_radii(radii),
        section_thickness=_number(section_thickness, "--section-thickness"),
    )
    if backend not in ("auto", "numpy", "cupy"):
        raise _bad("--backend", f"must be auto, numpy or cupy, got {backend!r}")
    try:
        be = get_backend(backend, "float64")
    except BackendError as exc:
        raise _bad("--backend", str(exc)) from None
    try:
        rows = run_metrics(run, options, backend=be, snapshots=_snapshots(snapshot))
    except MetricsError as exc:
        raise _bad(f"--{exc.option}", exc.detail) from None
    path = write_metrics(rows, Path(out_path) if out_path else run.path / TABLE_NAME)
    n_snap = len({r["snapshot"] for r in rows})
    click.echo(f"metrics: {n_snap} snapshot(s), {len(rows)} rows → {path} ({be.name})")
    for line in _summary(rows):
        click.echo(line)
    if plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            click.echo("warning: matplotlib is not installed; no plot", err=True)
            return
        from .metrics.plot import PLOT_NAME, save_metrics_plot
        from .metrics.table import read_metrics

        title = str(run.scenario.get("title", "")) or run.path.name
        png = path.with_suffix(".png") if out_path else run.path / "plots" / PLOT_NAME
        png = save_metrics_plot(read_metrics(path), png, run.vocabulary, title=title)
        click.echo(f"plot: {png}")


def _summary(rows) -> list[str]:
    """One line per immune kind for the last snapshot."""
    if not rows:
        return []
    last = max(r["snapshot"] for r in rows)
    rows = [r for r in rows if r["snapshot"] == last]
    t = rows[0]["time_min"]

    def get(q, kind, region=""):
        for r in rows:
            if r["quantity"] == q and r["kind"] == kind and r["region"] == region:
                return r
        return None

    out = []
    for r in rows:
        if r["quantity"] != "immunotype":
            continue
        k = r["kind"]
        c, m = get("density_2d", k, "centre"), get("density_2d", k, "margin")
        inside = get("infiltration_fraction", k)
        dens = ""
        if c is not None and m is not None:
            dens = f"; centre {c['value']:.4g}, margin {m['value']:.4g} cells/mm²"
        share = ""
        if inside is not None and math.isfinite(inside["value"]):
            share = f"; {100 * inside['value']:.0f} % inside the tumour"
        out.append(f"t = {t:g} min: {k} {r['label']}{dens}{share}")
    return out
