"""``spatialtumor render RUN`` and ``spatialtumor plot RUN``; VTK and matplotlib load lazily."""

from __future__ import annotations

from pathlib import Path

import click


def _bad_input(message: str):
    from .cli import BadInput

    return BadInput(message)


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise _bad_input(f"--size must look like 1200x900, not {value!r}") from None
    return w, h


def _range(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise _bad_input(f"--range must look like 0,38, not {value!r}") from None
    if not hi > lo:
        raise _bad_input(f"--range: the maximum must exceed the minimum, got {value!r}")
    return lo, hi


def _open(run_dir: str):
    from .runs import RunError, open_run

    try:
        return open_run(run_dir)
    except RunError as exc:
        raise _bad_input(str(exc)) from None


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--snapshot", default="last", show_default=True, help="Snapshot number, 'all' or 'last'."
)
@click.option(
    "--time",
    "time_min",
    type=float,
    default=None,
    help="Render the snapshot closest to this time [min].",
)
@click.option(
    "--field", default=None, help="Field to slice [default: the first]; 'none' for no field."
)
@click.option(
    "--slice",
    "slice_axis",
    type=click.Choice(["z", "y", "x"]),
    default="z",
    show_default=True,
    help="Normal of the slice plane.",
)
@click.option(
    "--slice-position",
    type=float,
    default=None,
    help="Slice plane coordinate [µm; default: domain centre].",
)
@click.option("--volume", is_flag=True, help="Add a translucent volume rendering of the field.")
@click.option(
    "--cells",
    type=click.Choice(["clip", "all", "none"]),
    default="clip",
    show_default=True,
    help="clip: only cells behind the slice plane (shows the cross-section).",
)
@click.option(
    "--camera", type=click.Choice(["iso", "front", "side", "top"]), default="iso", show_default=True
)
@click.option("--zoom", type=float, default=1.0, show_default=True, help="Camera zoom factor.")
@click.option("--size", default="1200x900", show_default=True, help="Picture size WxH [pixels].")
@click.option("--cmap", default=None, help="Colour map [default: viridis for oxygen, else magma].")
@click.option(
    "--range",
    "value_range",
    default=None,
    metavar="MIN,MAX",
    help="Colour-bar range [field units; default: over the rendered snapshots].",
)
@click.option(
    "--background", type=click.Choice(["white", "black"]), default="white", show_default=True
)
@click.option("--title", default=None, help="A line above the time.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder [default: RUN/frames].",
)
@click.option(
    "--movie",
    type=click.Choice(["mp4", "gif", "none"]),
    default="mp4",
    show_default=True,
    help="Movie of the frames when more than one (mp4 needs imageio-ffmpeg, else gif).",
)
@click.option("--fps", type=float, default=5.0, show_default=True)
@click.option(
    "--gl",
    type=click.Choice(["auto", "egl", "osmesa", "native"]),
    default="auto",
    show_default=True,
    help="OpenGL window: auto picks the display, else EGL, else OSMesa.",
)
@click.option("--show", is_flag=True, help="Open an interactive window instead (needs a display).")
def render(
    run_dir,
    snapshot,
    time_min,
    field,
    slice_axis,
    slice_position,
    volume,
    cells,
    camera,
    zoom,
    size,
    cmap,
    value_range,
    background,
    title,
    out_dir,
    movie,
    fps,
    gl,
    show,
):
    """Render snapshots of RUN_DIR to PNG (offscreen; works without a display).

    Shows the domain outline, a slice of a field with a colour bar, the cells as spheres
    coloured by kind and state, and the time and counts. Frames go to RUN_DIR/frames
    (snapshot_NNNNNN.png) and, for several snapshots, a movie.
    """
    from .render import RenderError, RenderOptions, render_run, setup_offscreen

    run = _open(run_dir)
    try:
        setup_offscreen("native" if show else gl)
        opts = RenderOptions(
            field=field,
            slice_axis=slice_axis,
            slice_position=slice_position,
            volume=volume,
            cells=cells,
            camera=camera,
            size=_size(size),
            cmap=cmap,
            value_range=_range(value_range),
            background=background,
            title=title,
            zoom=zoom,
        )
        opts.check()
        if show:
            from .render import SceneRenderer, select_snapshots

            scene = SceneRenderer(opts, offscreen=False)
            scene.draw(select_snapshots(run, snapshot, time_min)[0])
            scene.show()
            return

        def progress(i, n, path):
            click.echo(f"[{i}/{n}] {path}")

        result = render_run(
            run,
            opts,
            snapshot=snapshot,
            time_min=time_min,
            out_dir=out_dir,
            movie=None if movie == "none" else movie,
            fps=fps,
            progress=progress,
        )
    except RenderError as exc:
        raise _bad_input(str(exc)) from None
    per = result.seconds / max(len(result.frames), 1)
    click.echo(f"{len(result.frames)} frame(s) in {result.seconds:.1f} s ({per:.2f} s/frame)")
    if result.movie is not None:
        click.echo(f"movie: {result.movie}")


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder [default: RUN/plots].",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["png", "svg", "pdf"]),
    default=("png", "svg"),
    show_default=True,
    help="Repeatable.",
)
@click.option("--dpi", type=int, default=200, show_default=True)
@click.option("--title", default=None, help="Figure title [default: the scenario title].")
def plot(run_dir, out_dir, formats, dpi, title):
    """Plot RUN_DIR's dynamics: cells per kind and state, tumour size, field totals."""
    from .plots import save_plots

    run = _open(run_dir)
    for p in save_plots(run, out_dir, formats=tuple(formats), dpi=dpi, title=title):
        click.echo(str(Path(p)))
