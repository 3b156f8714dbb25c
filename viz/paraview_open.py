"""Open a spatialtumor run in ParaView with good defaults.

Shows the domain outline, a slice of a field (colour map and colour bar with units), the
cells as spheres of their radius [µm] coloured by kind (categorical colours, legend), and
the time. Works in pvbatch/pvpython and in the ParaView GUI's Python shell.

Command line (``pvbatch`` needs a display: ``xvfb-run -a pvbatch ...`` on a headless node)::

    pvbatch viz/paraview_open.py RUN --screenshot out.png [--size 1600x1200]
    pvbatch viz/paraview_open.py RUN --animation frames/          # one PNG per snapshot
    pvpython viz/paraview_open.py RUN --field oxygen --slice y --camera front

ParaView GUI: *View → Python Shell*, then::

    exec(open("/path/to/viz/paraview_open.py").read())
    open_run("/path/to/RUN")

Lengths in µm, times in min. Kind names, kind colours, the names of the kind/state classes
and field units are read from the last snapshot with h5py when ParaView's Python has it,
else with a ``python3`` that has it, else kinds are shown as ``kind 0``, ``kind 1`` … (pass
``--kinds`` to name them). ``--colour-by kind_state`` colours cells by kind and state
("tumour/live", "t8/engaged", …) instead of by kind.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

# colour-blind safe kind colours (Okabe & Ito) for kinds without a colour of their own
PALETTE = [
    (0.000, 0.447, 0.698),
    (0.800, 0.475, 0.655),
    (0.000, 0.620, 0.451),
    (0.337, 0.706, 0.914),
    (0.902, 0.624, 0.000),
    (0.941, 0.894, 0.259),
    (0.600, 0.600, 0.600),
]
CAMERAS = {
    "iso": ((0.85, -1.0, 0.75), (0.0, 0.0, 1.0)),
    "front": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "side": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "top": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
}

_META_CODE = r"""
import glob, json, os, sys
import h5py
files = sorted(glob.glob(os.path.join(sys.argv[1], "snapshots", "snapshot_*.h5")))
out = {"kinds": [], "units": {}, "colours": [], "classes": []}
def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)
if files:
    with h5py.File(files[-1], "r") as f:
        a = f["cells"].attrs if "cells" in f else {}
        out["kinds"] = [text(v) for v in a.get("kind_names", [])]
        out["colours"] = json.loads(text(a.get("kind_colours", "[]")))
        out["classes"] = [text(v) for v in a.get("class_names", [])]
        for n, ds in f["fields"].items():
            u = ds.attrs.get("units", "")
            out["units"][n] = u.decode() if isinstance(u, bytes) else str(u)
print(json.dumps(out))
"""


def run_metadata(run_dir):
    """``{"kinds": [...], "units": {field: units}}`` of a run (empty when unreadable)."""
    try:
        import h5py  # noqa: F401

        ns = {}
        argv, sys.argv = sys.argv, ["meta", run_dir]
        try:
            import contextlib
            import io

            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(_META_CODE, ns)
        finally:
            sys.argv = argv
        return json.loads(buf.getvalue())
    except Exception:  # noqa: BLE001 - fall back to an external Python
        pass
    for exe in ("python3", "python"):
        path = shutil.which(exe)
        if path is None or os.path.realpath(path) == os.path.realpath(sys.executable):
            continue
        try:
            p = subprocess.run(
                [path, "-c", _META_CODE, run_dir], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if p.returncode == 0:
            try:
                return json.loads(p.stdout)
            except ValueError:
                continue
    return {"kinds": [], "units": {}, "colours": [], "classes": []}


def kind_colours(names, stored=()):
    """A colour per kind: the one stored in the snapshot, else the next palette colour."""
    out, k = [], 0
    for i, _name in enumerate(names):
        c = stored[i] if i < len(stored) else None
        if c is not None and tuple(c) not in out:
            out.append(tuple(c))
        else:
            out.append(PALETTE[k % len(PALETTE)])
            k += 1
    return out


def class_colours(classes, kinds, colours):
    """Colour of each "<kind>/<state>": the kind's colour, paler or darker by state rank."""
    base = dict(zip(kinds, colours, strict=True))
    out, rank = [], {}
    for c in classes:
        kind = c.split("/", 1)[0]
        i = rank[kind] = rank.get(kind, -1) + 1
        b = base.get(kind, PALETTE[-1])
        if i == 0:
            out.append(tuple(b))
        elif i % 2:
            f = 0.55 if i == 1 else 0.3
            out.append(tuple(v + f * (1 - v) for v in b))
        else:
            f = 0.35 if i == 2 else 0.6
            out.append(
                tuple(f * v + (1 - f) * d for v, d in zip(b, (0.18, 0.16, 0.15), strict=True))
            )
    return out


def _text_colour(background):
    return [0.1, 0.1, 0.1] if background == "white" else [0.92, 0.92, 0.92]


def open_run(
    run_dir,
    field=None,
    slice_axis="z",
    slice_position=None,
    camera="iso",
    cells="clip",
    background="white",
    kinds=None,
    size=(1200, 900),
    time=None,
    colour_by="kind",
):
    """Load RUN/run.xdmf and set up the view; returns a dict of the pipeline objects.

    Parameters
    ----------
    run_dir : the run folder (or its run.xdmf)
    field : field to slice (default: the first)
    slice_axis : "x", "y" or "z"
    slice_position : plane coordinate [µm] (default: domain centre)
    camera : "iso", "front", "side" or "top"
    cells : "clip" (cells behind the slice plane and cut by it), "all" or "none"
    background : "white" or "black"
    kinds : kind names by code (default: read from the snapshots)
    size : view size (width, height) [pixels]
    time : show the snapshot at this time [min] (default: the last)
    colour_by : "kind" (one colour per kind) or "kind_state" (per kind and state)
    """
    from paraview import simple as pv

    run_dir = os.path.abspath(run_dir)
    xdmf = run_dir if run_dir.endswith(".xdmf") else os.path.join(run_dir, "run.xdmf")
    run_dir = os.path.dirname(xdmf)
    if not os.path.exists(xdmf):
        raise FileNotFoundError(f"{xdmf} not found: is {run_dir} a spatialtumor run folder?")
    meta = run_metadata(run_dir)
    kinds = list(kinds) if kinds else meta["kinds"]
    fg = _text_colour(background)

    reader = pv.XDMFReader(registrationName=os.path.basename(run_dir), FileNames=[xdmf])
    reader.UpdatePipelineInformation()
    times = list(reader.TimestepValues or [0.0])
    t_show = times[-1] if time is None else min(times, key=lambda t: abs(t - float(time)))
    scene = pv.GetAnimationScene()
    scene.UpdateAnimationUsingDataTimeSteps()
    scene.AnimationTime = t_show

    view = pv.GetActiveViewOrCreate("RenderView")
    view.ViewSize = list(size)
    view.OrientationAxesVisibility = 0
    bg = [1.0, 1.0, 1.0] if background == "white" else [0.0, 0.0, 0.0]
    if hasattr(view, "UseColorPaletteForBackground"):
        view.UseColorPaletteForBackground = 0
    view.Background = bg
    if hasattr(view, "BackgroundColorMode"):
        view.BackgroundColorMode = "Single Color"

    fields = pv.ExtractBlock(registrationName="fields", Input=reader, Selectors=["/Root/fields"])
    fields.UpdatePipeline(t_show)
    info = fields.GetDataInformation()
    b = info.GetBounds()
    lo, hi = [b[0], b[2], b[4]], [b[1], b[3], b[5]]
    names = [a.GetName() for a in fields.PointData]
    has_fields = bool(names) and b[1] >= b[0]
    field = field or (names[0] if names else None)
    out = {"reader": reader, "view": view, "fields": fields}

    ax = "xyz".index(slice_axis)
    if has_fields:
        # outline of the voxel centres (the domain less half a voxel on each face)
        outline = pv.Show(fields, view)
        outline.SetRepresentationType("Outline")
        outline.AmbientColor = outline.DiffuseColor = [0.35, 0.35, 0.35]
        pos = 0.5 * (lo[ax] + hi[ax]) if slice_position is None else float(slice_position)
        sl = pv.Slice(registrationName=f"{field} slice", Input=fields)
        sl.SliceType = "Plane"
        origin = [0.5 * (lo[i] + hi[i]) for i in range(3)]
        origin[ax] = pos
        normal = [0.0, 0.0, 0.0]
        normal[ax] = 1.0
        sl.SliceType.Origin = origin
        sl.SliceType.Normal = normal
        sd = pv.Show(sl, view)
        pv.ColorBy(sd, ("POINTS", field))
        lut = pv.GetColorTransferFunction(field)
        preset = "Viridis (matplotlib)" if "oxygen" in field.lower() else "Magma (matplotlib)"
        lut.ApplyPreset(preset, True)
        sd.RescaleTransferFunctionToDataRange(True, False)
        sd.Ambient, sd.Diffuse = 1.0, 0.0
        sd.SetScalarBarVisibility(view, True)
        bar = pv.GetScalarBar(lut, view)
        units = meta["units"].get(field, "")
        bar.Title = f"{field} ({units})" if units and units != "dimensionless" else field
        bar.ComponentTitle = ""
        bar.RangeLabelFormat = "%-#.3g"
        bar.TitleColor = bar.LabelColor = fg
        bar.TitleFontSize, bar.LabelFontSize = 18, 16
        bar.WindowLocation = "Any Location"
        bar.Position = [0.84, 0.2]
        bar.ScalarBarLength = 0.6
        out.update(slice=sl, field=field, plane=pos)

    cells_block = pv.ExtractBlock(registrationName="cells", Input=reader, Selectors=["/Root/cells"])
    cells_block.UpdatePipeline(t_show)
    n_cells = cells_block.GetDataInformation().GetNumberOfPoints()
    if cells != "none" and n_cells > 0:
        source = cells_block
        d, _ = CAMERAS[camera]
        if cells == "clip" and has_fields:
            # keep the cells behind the plane (seen from the camera) and those it cuts
            sign = -1.0 if d[ax] < 0 else 1.0
            calc = pv.Calculator(registrationName="behind plane", Input=cells_block)
            calc.ResultArrayName = "behind"
            coord = "xyz"[ax]
            calc.Function = f"{sign}*(coords{coord.upper()} - {out['plane']}) - radius"
            thr = pv.Threshold(registrationName="cells behind the slice", Input=calc)
            thr.Scalars = ["POINTS", "behind"]
            thr.LowerThreshold, thr.UpperThreshold = -1e30, 0.0
            if hasattr(thr, "ThresholdMethod"):
                thr.ThresholdMethod = "Between"
            source = thr
        glyph = pv.Glyph(registrationName="cells (spheres)", Input=source, GlyphType="Sphere")
        glyph.ScaleArray = ["POINTS", "radius"]
        glyph.ScaleFactor = 2.0  # the sphere glyph has radius 0.5
        glyph.OrientationArray = ["POINTS", "No orientation array"]
        glyph.GlyphMode = "All Points"
        res = 16 if n_cells < 20000 else 8 if n_cells < 200000 else 6
        glyph.GlyphType.ThetaResolution = res
        glyph.GlyphType.PhiResolution = res
        gd = pv.Show(glyph, view)
        names_k = kinds or ["kind 0"]
        colours_k = kind_colours(names_k, meta.get("colours", []))
        by_class = colour_by == "kind_state" and meta.get("classes")
        array = "kind_state" if by_class else "kind"
        labels = meta["classes"] if by_class else names_k
        colours = class_colours(labels, names_k, colours_k) if by_class else colours_k
        pv.ColorBy(gd, ("POINTS", array))
        klut = pv.GetColorTransferFunction(array)
        klut.InterpretValuesAsCategories = 1
        ann, cols = [], []
        for i, (name, rgb) in enumerate(zip(labels, colours, strict=True)):
            ann += [str(i), name]
            cols += list(rgb)
        klut.Annotations = ann
        klut.IndexedColors = cols
        if hasattr(klut, "IndexedOpacities"):
            klut.IndexedOpacities = [1.0] * len(labels)
        gd.Specular = 0.15
        gd.SetScalarBarVisibility(view, True)
        kbar = pv.GetScalarBar(klut, view)
        kbar.Title = "cell kind and state" if by_class else "cell kind"
        kbar.ComponentTitle = ""
        kbar.TitleColor = kbar.LabelColor = fg
        kbar.TitleFontSize, kbar.LabelFontSize = 18, 16
        kbar.WindowLocation = "Lower Left Corner"
        out.update(cells=cells_block, glyph=glyph, legend=list(labels))

    stamp = pv.AnnotateTime(registrationName="time")
    stamp.Format = "t = {time:.1f} min"
    td = pv.Show(stamp, view)
    td.Color = fg
    td.FontSize = 20
    td.WindowLocation = "Upper Left Corner"

    d, up = CAMERAS[camera]
    norm = sum(v * v for v in d) ** 0.5
    centre = [0.5 * (lo[i] + hi[i]) for i in range(3)] if has_fields else [0.0, 0.0, 0.0]
    diag = sum((hi[i] - lo[i]) ** 2 for i in range(3)) ** 0.5 if has_fields else 1000.0
    view.CameraFocalPoint = centre
    view.CameraPosition = [centre[i] + 3.0 * diag * d[i] / norm for i in range(3)]
    view.CameraViewUp = list(up)
    view.CameraViewAngle = 30.0
    view.ResetCamera(False)
    view.ViewTime = t_show
    pv.Render(view)
    out["times"] = times
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run folder (or its run.xdmf)")
    p.add_argument("--field", default=None, help="field to slice (default: the first)")
    p.add_argument("--slice", dest="slice_axis", choices=["x", "y", "z"], default="z")
    p.add_argument("--slice-position", type=float, default=None, help="plane coordinate [µm]")
    p.add_argument("--camera", choices=sorted(CAMERAS), default="iso")
    p.add_argument("--cells", choices=["clip", "all", "none"], default="clip")
    p.add_argument("--background", choices=["white", "black"], default="white")
    p.add_argument("--kinds", default=None, help="comma-separated kind names by code")
    p.add_argument("--colour-by", choices=["kind", "kind_state"], default="kind")
    p.add_argument("--time", type=float, default=None, help="snapshot time [min] (default: last)")
    p.add_argument("--size", default="1200x900", help="picture size WxH [pixels]")
    p.add_argument("--screenshot", default=None, help="save a PNG of the view")
    p.add_argument("--animation", default=None, help="folder for one PNG per snapshot")
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.lower().split("x"))
    from paraview import simple as pv

    state = open_run(
        a.run,
        field=a.field,
        slice_axis=a.slice_axis,
        slice_position=a.slice_position,
        camera=a.camera,
        cells=a.cells,
        background=a.background,
        kinds=a.kinds.split(",") if a.kinds else None,
        size=(w, h),
        time=a.time,
        colour_by=a.colour_by,
    )
    view = state["view"]
    if "legend" in state:
        print("legend: " + ", ".join(state["legend"]))
    if a.screenshot:
        folder = os.path.dirname(os.path.abspath(a.screenshot))
        os.makedirs(folder, exist_ok=True)
        pv.SaveScreenshot(a.screenshot, view, ImageResolution=[w, h])
        print(f"screenshot: {a.screenshot}")
    if a.animation:
        os.makedirs(a.animation, exist_ok=True)
        n = len(state["times"])
        pv.SaveAnimation(
            os.path.join(a.animation, "frame.png"),
            view,
            ImageResolution=[w, h],
            FrameWindow=[0, n - 1],
        )
        print(f"animation: {n} frames in {a.animation}")
    if not (a.screenshot or a.animation) and hasattr(pv, "Interact"):
        pv.Interact(view)  # pvpython with a display: an interactive window


if __name__ == "__main__" and len(sys.argv) > 1:
    main()
