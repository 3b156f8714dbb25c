"""Offscreen pictures of snapshots with VTK: field slice, optional volume, cells as spheres.

::

    from spatialtumor.render import RenderOptions, render_run

    render_run("runs/demo", RenderOptions(field="oxygen", camera="iso"), snapshots="all")

Each picture shows the domain outline, one plane of a field (``field``, ``slice_axis``,
``slice_position`` [µm]) coloured with a colour map and a colour bar naming the field and
its units, optionally a translucent volume rendering of the field, the cells as spheres of
their radius [µm] coloured by kind and state (legend), and the time and cell counts in a
corner. By default (``cells="clip"``) only the cells behind the slice plane are drawn, so
the plane cuts the cell mass open and shows its cross-section (e.g. a necrotic core).

Works with no display. VTK picks its OpenGL window class when its rendering module is first
imported, so :func:`setup_offscreen` runs before any VTK rendering import: on Linux with
no ``DISPLAY`` it tries EGL (Mesa llvmpipe or a GPU driver), then OSMesa, each in a
throw-away subprocess (a missing library can crash the process that tries it), and keeps
the first that draws a frame by setting ``VTK_DEFAULT_OPENGL_WINDOW``. A value already set
in the environment is respected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path

import numpy as np

from .output.vocabulary import CellVocabulary
from .runs import Run, RunSnapshot, open_run

WINDOW_ENV = "VTK_DEFAULT_OPENGL_WINDOW"
#: Offscreen OpenGL windows tried in order on a Linux machine without a display.
OFFSCREEN_WINDOWS = {"egl": "vtkEGLRenderWindow", "osmesa": "vtkOSOpenGLRenderWindow"}
CAMERAS = ("iso", "front", "side", "top")
SLICE_AXES = ("x", "y", "z")
CELL_MODES = ("clip", "all", "none")

#: Colour-blind safe palette (Okabe & Ito) for cell kinds, as RGB in [0, 1].
PALETTE = (
    (0.000, 0.447, 0.698),  # blue
    (0.800, 0.475, 0.655),  # reddish purple
    (0.000, 0.620, 0.451),  # bluish green
    (0.337, 0.706, 0.914),  # sky blue
    (0.902, 0.624, 0.000),  # orange
    (0.941, 0.894, 0.259),  # yellow
    (0.600, 0.600, 0.600),  # grey
)
#: colour of tumour kinds in format-1 runs, whose snapshots store no colours
V1_TUMOUR_COLOUR = (0.835, 0.369, 0.000)  # vermillion

_PROBE = r"""
import sys
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkRenderer, vtkWindowToImageFilter
w = vtkRenderWindow(); w.SetOffScreenRendering(1); w.SetSize(8, 8)
r = vtkRenderer(); r.SetBackground(1.0, 0.0, 0.0); w.AddRenderer(r); w.Render()
f = vtkWindowToImageFilter(); f.SetInput(w); f.Update()
px = f.GetOutput().GetPointData().GetScalars().GetTuple(0)
print(w.GetClassName())
sys.exit(0 if px[0] > 200 and px[1] < 50 else 3)
"""


class RenderError(RuntimeError):
    """No way to render, or bad rendering options."""


_chosen_window: str | None = None
_setup_done = False


def _rendering_imported() -> bool:
    return "vtkmodules.vtkRenderingOpenGL2" in sys.modules


def probe_window(window_class: str, timeout: float = 120.0) -> tuple[bool, str]:
    """Try to draw one frame with ``window_class`` in a subprocess: ``(works, message)``."""
    env = dict(os.environ, **{WINDOW_ENV: window_class})
    try:
        p = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, f"{window_class}: no frame within {timeout:g} s"
    if p.returncode == 0:
        return True, p.stdout.strip()
    tail = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
    return False, f"{window_class}: {tail[:200]}"


def setup_offscreen(gl: str = "auto") -> str | None:
    """Choose VTK's OpenGL window before VTK's rendering modules are imported.

    Parameters
    ----------
    gl : ``"auto"`` (the environment's ``VTK_DEFAULT_OPENGL_WINDOW`` if set; the native
        window when a display is available or on macOS/Windows; otherwise the first of EGL
        and OSMesa that draws a frame), ``"egl"``, ``"osmesa"`` or ``"native"``

    Returns
    -------
    The window class put in ``VTK_DEFAULT_OPENGL_WINDOW``, or ``None`` for VTK's default.

    Raises
    ------
    RenderError
        when no offscreen OpenGL works (the message names the packages to install).
    """
    global _chosen_window, _setup_done
    if _setup_done:
        return _chosen_window
    if gl not in ("auto", "native", *OFFSCREEN_WINDOWS):
        raise RenderError(f"gl must be auto, native, egl or osmesa, not {gl!r}")
    chosen: str | None = None
    if gl in OFFSCREEN_WINDOWS:
        chosen = OFFSCREEN_WINDOWS[gl]
        if not _rendering_imported():
            ok, msg = probe_window(chosen)
            if not ok:
                raise RenderError(f"{gl} does not work here ({msg})")
    elif gl == "auto":
        chosen = os.environ.get(WINDOW_ENV) or None
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        if chosen is None and headless and not _rendering_imported():
            tried = []
            for cls in OFFSCREEN_WINDOWS.values():
                ok, msg = probe_window(cls)
                if ok:
                    chosen = cls
                    break
                tried.append(msg)
            else:
                raise RenderError(
                    "no offscreen OpenGL available (" + "; ".join(tried) + "). Install EGL "
                    "(Debian/Ubuntu: libegl1 libegl-mesa0 libgbm1 libgl1-mesa-dri) or OSMesa "
                    "(libosmesa6), or run under xvfb-run"
                )
    if chosen is not None:
        if _rendering_imported() and os.environ.get(WINDOW_ENV) != chosen:
            raise RenderError(
                f"VTK's rendering module is already loaded; cannot switch to {chosen}. Set "
                f"{WINDOW_ENV}={chosen} before importing VTK"
            )
        os.environ[WINDOW_ENV] = chosen
    _chosen_window, _setup_done = chosen, True
    return chosen


def _vtk():
    """Import the VTK modules used here (after :func:`setup_offscreen`)."""
    setup_offscreen()
    import vtkmodules.vtkInteractionStyle  # noqa: F401
    import vtkmodules.vtkRenderingFreeType  # noqa: F401
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
    from vtkmodules import (
        vtkCommonCore,
        vtkCommonDataModel,
        vtkFiltersSources,
        vtkIOImage,
        vtkRenderingAnnotation,
        vtkRenderingCore,
        vtkRenderingVolume,
        vtkRenderingVolumeOpenGL2,
    )
    from vtkmodules.util import numpy_support

    class V:  # a namespace
        pass

    v = V()
    for mod in (
        vtkCommonCore,
        vtkCommonDataModel,
        vtkFiltersSources,
        vtkIOImage,
        vtkRenderingAnnotation,
        vtkRenderingCore,
        vtkRenderingVolume,
        vtkRenderingVolumeOpenGL2,
    ):
        for name in dir(mod):
            if name.startswith("vtk"):
                setattr(v, name, getattr(mod, name))
    v.np = numpy_support
    return v


# ----------------------------------------------------------------------------- options


@dataclass
class RenderOptions:
    """What a picture shows and how.

    Attributes
    ----------
    field : field to slice (default: the first; ``"none"`` for no field)
    slice_axis : normal of the slice plane, ``"x"``, ``"y"`` or ``"z"``
    slice_position : coordinate of the plane along ``slice_axis`` [µm] (default: the
        domain centre); the nearest plane of voxel centres is shown
    volume : add a translucent volume rendering of the field
    cells : ``"clip"`` (cells behind the slice plane, as seen from the camera), ``"all"``
        or ``"none"``
    camera : ``"iso"``, ``"front"`` (looking along +y), ``"side"`` (along −x) or
        ``"top"`` (along −z)
    size : picture width and height [pixels]
    cmap : matplotlib colour map of the field (default: viridis for oxygen, magma else)
    value_range : colour-bar range [field units] (default: data range)
    kind_colours : kind name → RGB in [0, 1] (default: the colour each kind stores in the
        snapshot, else a colour-blind safe palette)
    background : ``"white"`` or ``"black"``
    lighting : shade the cell spheres (off: flat colours, exactly the kind colours)
    title : a line above the time (default: none)
    zoom : camera zoom factor after fitting the domain
    """

    field: str | None = None
    slice_axis: str = "z"
    slice_position: float | None = None
    volume: bool = False
    cells: str = "clip"
    camera: str = "iso"
    size: tuple[int, int] = (1200, 900)
    cmap: str | None = None
    value_range: tuple[float, float] | None = None
    kind_colours: dict[str, tuple[float, float, float]] = dc_field(default_factory=dict)
    background: str = "white"
    lighting: bool = True
    title: str | None = None
    zoom: float = 1.0

    def check(self) -> None:
        if self.slice_axis not in SLICE_AXES:
            raise RenderError(f"slice axis must be one of {SLICE_AXES}, not {self.slice_axis!r}")
        if self.camera not in CAMERAS:
            raise RenderError(f"camera must be one of {CAMERAS}, not {self.camera!r}")
        if self.cells not in CELL_MODES:
            raise RenderError(f"cells must be one of {CELL_MODES}, not {self.cells!r}")
        if self.background not in ("white", "black"):
            raise RenderError(f"background must be white or black, not {self.background!r}")
        w, h = self.size
        if not (16 <= w <= 8192 and 16 <= h <= 8192):
            raise RenderError(f"size must be between 16 and 8192 pixels, got {w}x{h}")


def kind_colours(
    kinds: CellVocabulary | Sequence[str],
    given: dict[str, tuple[float, float, float]] | None = None,
) -> dict[str, tuple[float, float, float]]:
    """Colour of every kind: ``given`` first, then the colour stored with the kind in the
    snapshot (unless another kind took it), then the palette."""
    vocab = kinds if isinstance(kinds, CellVocabulary) else CellVocabulary.v1(tuple(kinds))
    given = dict(given or {})
    out: dict[str, tuple[float, float, float]] = {}
    used: set[tuple[float, ...]] = set()
    k = 0
    for i, name in enumerate(vocab.kind_names):
        stored = vocab.kind_colours[i] if i < len(vocab.kind_colours) else None
        if stored is None and i < len(vocab.kind_models) and vocab.kind_models[i] == "tumour":
            stored = V1_TUMOUR_COLOUR
        if name in given:
            out[name] = tuple(float(c) for c in given[name])
        elif stored is not None and tuple(stored) not in used:
            out[name] = tuple(float(c) for c in stored)
        else:
            while PALETTE[k % len(PALETTE)] in used and k < len(PALETTE):
                k += 1
            out[name] = PALETTE[k % len(PALETTE)]
            k += 1
        used.add(tuple(out[name]))
    return out


def state_colour(base: Sequence[float], state: int) -> tuple[float, float, float]:
    """Colour of a cell of kind colour ``base`` in state code ``state``: state 0 as is, then
    alternately paler and darker shades (state 1 pale, 2 dark, 3 lighter, 4 darker …)."""
    b = np.asarray(base, dtype=float)
    if state <= 0:
        c = b
    elif state % 2 == 1:
        c = b + (0.55 if state == 1 else 0.3) * (1.0 - b)
    else:
        c = (0.35 if state == 2 else 0.6) * b + (0.65 if state == 2 else 0.4) * np.array(
            [0.18, 0.16, 0.15]
        )
    return tuple(float(v) for v in c)


def default_cmap(field_name: str) -> str:
    return "viridis" if "oxygen" in field_name.lower() or "o2" == field_name.lower() else "magma"


def colour_table(cmap: str, n: int = 256) -> np.ndarray:
    """(n, 3) RGB in [0, 1] of a matplotlib colour map."""
    import matplotlib

    try:
        cm = matplotlib.colormaps[cmap]
    except KeyError:
        raise RenderError(f"unknown colour map {cmap!r}") from None
    return np.asarray(cm(np.linspace(0.0, 1.0, n)))[:, :3]


def _fmt_time(t: float) -> str:
    if t >= 1440 * 2:
        return f"t = {t / 1440:.2f} d ({t:,.0f} min)"
    if t >= 120:
        return f"t = {t / 60:.1f} h ({t:,.0f} min)"
    return f"t = {t:g} min"


def _counts_lines(snap: RunSnapshot) -> list[str]:
    counts = snap.counts()
    if not counts:
        return []
    per_kind: dict[str, dict[str, int]] = {}
    for key, n in counts.items():
        kind, _, state = key.partition("/")
        per_kind.setdefault(kind, {})[state or "all"] = n
    total = sum(counts.values())
    lines = [f"{total:,} cells"]
    for kind, states in per_kind.items():
        s = sum(states.values())
        detail = ", ".join(f"{k} {v:,}" for k, v in states.items() if k != "all")
        lines.append(f"  {kind}: {s:,}" + (f" ({detail})" if len(states) > 1 else ""))
    return lines


# ----------------------------------------------------------------------------- scene


class SceneRenderer:
    """Keeps one offscreen render window and draws snapshots into it.

    Parameters
    ----------
    options : :class:`RenderOptions`
    offscreen : draw offscreen (False opens a window for :meth:`show`)
    """

    def __init__(self, options: RenderOptions | None = None, *, offscreen: bool = True):
        self.options = options or RenderOptions()
        self.options.check()
        self.vtk = _vtk()
        v = self.vtk
        self.window = v.vtkRenderWindow()
        self.window.SetOffScreenRendering(1 if offscreen else 0)
        self.window.SetSize(*self.options.size)
        self.window.SetMultiSamples(0)
        self.renderer = v.vtkRenderer()
        self.renderer.UseFXAAOn()
        self.window.AddRenderer(self.renderer)
        self._keep: list = []  # NumPy arrays whose memory VTK uses

    # -- data → VTK ------------------------------------------------------------------

    def _array(self, a: np.ndarray, name: str, array_type=None):
        a = np.ascontiguousarray(a)
        self._keep.append(a)
        arr = self.vtk.np.numpy_to_vtk(a, deep=False, array_type=array_type)
        arr.SetName(name)
        return arr

    @property
    def _fg(self) -> tuple[float, float, float]:
        return (0.1, 0.1, 0.1) if self.options.background == "white" else (0.92, 0.92, 0.92)

    def _text_prop(self, prop, size: int, bold: bool = False) -> None:
        prop.SetFontFamilyToArial()
        prop.SetFontSize(int(size))
        prop.SetColor(*self._fg)
        prop.SetBold(bool(bold))
        prop.SetItalic(False)
        prop.SetShadow(False)

    def _lut(self, cmap: str, lo: float, hi: float):
        v = self.vtk
        table = colour_table(cmap)
        lut = v.vtkLookupTable()
        lut.SetNumberOfTableValues(len(table))
        for i, (r, g, b) in enumerate(table):
            lut.SetTableValue(i, r, g, b, 1.0)
        lut.SetRange(lo, hi)
        lut.Build()
        return lut

    def _outline(self, lo: np.ndarray, hi: np.ndarray):
        v = self.vtk
        src = v.vtkOutlineSource()
        src.SetBounds(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
        m = v.vtkPolyDataMapper()
        m.SetInputConnection(src.GetOutputPort())
        a = v.vtkActor()
        a.SetMapper(m)
        a.GetProperty().SetColor(
            *(0.35, 0.35, 0.35) if self.options.background == "white" else (0.7, 0.7, 0.7)
        )
        a.GetProperty().SetLineWidth(max(1.0, self.options.size[1] / 600))
        a.GetProperty().LightingOff()
        return a

    def _slice(self, snap: RunSnapshot, name: str, lut, lo, hi):
        """Plane of voxel centres nearest ``slice_position``, padded to the domain faces."""
        v = self.vtk
        o = self.options
        g = snap.grid
        values = snap.field(name)
        ax = "xyz".index(o.slice_axis)
        centres = [g.centres(c) for c in "xyz"]
        pos = 0.5 * (lo[ax] + hi[ax]) if o.slice_position is None else float(o.slice_position)
        idx = int(
            np.clip(np.rint((pos - g.first_centre[ax]) / g.spacing[ax]), 0, len(centres[ax]) - 1)
        )
        plane = float(centres[ax][idx])
        index = [slice(None)] * 3
        index[2 - ax] = slice(idx, idx + 1)
        sub = values[tuple(index)]  # (nz, ny, nx) with one axis of length 1
        pad = [(1, 1)] * 3
        pad[2 - ax] = (0, 0)
        sub = np.pad(np.asarray(sub, dtype=np.float64), pad, mode="edge")
        coords = []
        for a in range(3):
            if a == ax:
                coords.append(np.array([plane]))
            else:
                coords.append(np.concatenate([[lo[a]], centres[a], [hi[a]]]))
        grid = v.vtkRectilinearGrid()
        grid.SetDimensions(len(coords[0]), len(coords[1]), len(coords[2]))
        grid.SetXCoordinates(self._array(coords[0], "x"))
        grid.SetYCoordinates(self._array(coords[1], "y"))
        grid.SetZCoordinates(self._array(coords[2], "z"))
        grid.GetPointData().SetScalars(self._array(sub.ravel(), name))
        m = v.vtkDataSetMapper()
        m.SetInputData(grid)
        m.SetLookupTable(lut)
        m.SetScalarRange(lut.GetRange())
        m.InterpolateScalarsBeforeMappingOn()
        m.SetScalarModeToUsePointData()
        a = v.vtkActor()
        a.SetMapper(m)
        a.GetProperty().LightingOff()
        return a, plane

    def _volume(self, snap: RunSnapshot, name: str, cmap: str, lo_v: float, hi_v: float):
        v = self.vtk
        g = snap.grid
        values = np.asarray(snap.field(name), dtype=np.float32)
        img = v.vtkImageData()
        img.SetDimensions(g.shape[2], g.shape[1], g.shape[0])
        img.SetOrigin(*g.first_centre)
        img.SetSpacing(*g.spacing)
        img.GetPointData().SetScalars(self._array(values.ravel(), name))
        ctf = v.vtkColorTransferFunction()
        table = colour_table(cmap, 16)
        for i, (r, gg, b) in enumerate(table):
            ctf.AddRGBPoint(lo_v + (hi_v - lo_v) * i / 15, r, gg, b)
        otf = v.vtkPiecewiseFunction()
        # emphasise low values for oxygen-like fields (hypoxia), high values otherwise
        low_first = default_cmap(name) == "viridis"
        otf.AddPoint(lo_v, 0.18 if low_first else 0.0)
        otf.AddPoint(hi_v, 0.0 if low_first else 0.18)
        prop = v.vtkVolumeProperty()
        prop.SetColor(ctf)
        prop.SetScalarOpacity(otf)
        prop.SetScalarOpacityUnitDistance(0, 4.0 * max(g.spacing))
        prop.SetInterpolationTypeToLinear()
        prop.ShadeOff()
        m = v.vtkSmartVolumeMapper()
        m.SetInputData(img)
        vol = v.vtkVolume()
        vol.SetMapper(m)
        vol.SetProperty(prop)
        return vol

    def _cells(self, snap: RunSnapshot, keep: np.ndarray | None, colours: dict):
        v = self.vtk
        cols = snap.columns
        pos = np.asarray(cols["position"], dtype=np.float64)
        n_all = pos.shape[0]
        kinds = np.asarray(cols.get("kind", np.zeros(n_all, np.int64)), dtype=np.int64)
        states = np.asarray(cols.get("state", np.zeros(n_all, np.int64)), dtype=np.int64)
        radius = np.asarray(cols.get("radius", np.full(n_all, 5.0)), dtype=np.float64)
        vocab = snap.vocabulary
        names = [
            vocab.kind_name(c)
            for c in range(max(len(vocab.kind_names), int(kinds.max(initial=-1)) + 1))
        ]
        classes = []  # (kind code, state code) present in the whole snapshot, for the legend
        codes = kinds * 256 + np.clip(states, 0, 255)
        present = np.unique(codes)
        table = np.zeros((int(present.max(initial=0)) + 1, 3), dtype=np.uint8)
        for c in present:
            k, s = int(c // 256), int(c % 256)
            rgb = state_colour(colours.get(names[k], PALETTE[-1]), s)
            table[c] = np.rint(np.asarray(rgb) * 255)
            classes.append((names[k], vocab.state_name(k, s), rgb, s))
        if keep is not None:
            pos, codes, radius = pos[keep], codes[keep], radius[keep]
        n = pos.shape[0]
        pts = v.vtkPoints()
        pts.SetData(self._array(pos, "position"))
        poly = v.vtkPolyData()
        poly.SetPoints(pts)
        poly.GetPointData().AddArray(self._array(radius, "radius"))
        poly.GetPointData().AddArray(
            self._array(table[codes] if n else np.zeros((0, 3), np.uint8), "colour")
        )
        res = 20 if n < 2_000 else 14 if n < 20_000 else 10 if n < 200_000 else 6
        sphere = v.vtkSphereSource()
        sphere.SetRadius(1.0)
        sphere.SetThetaResolution(res)
        sphere.SetPhiResolution(max(res // 2 + 2, 4))
        m = v.vtkGlyph3DMapper()
        m.SetInputData(poly)
        m.SetSourceConnection(sphere.GetOutputPort())
        m.SetScaleArray("radius")
        m.SetScaleModeToScaleByMagnitude()
        m.SetScaleFactor(1.0)
        m.ScalingOn()
        m.OrientOff()
        m.SetScalarModeToUsePointFieldData()
        m.SelectColorArray("colour")
        m.SetColorModeToDirectScalars()
        m.ScalarVisibilityOn()
        a = v.vtkActor()
        a.SetMapper(m)
        p = a.GetProperty()
        if self.options.lighting:
            p.SetAmbient(0.15)
            p.SetDiffuse(0.85)
            p.SetSpecular(0.15)
            p.SetSpecularPower(20)
        else:
            p.LightingOff()
        return a, classes

    def _legend(self, classes):
        """Legend box: one coloured disc per (kind, state) class, labels in the text colour."""
        v = self.vtk
        o = self.options
        leg = v.vtkLegendBoxActor()
        leg.SetNumberOfEntries(len(classes))
        all_first = all(c[3] == 0 for c in classes)
        for i, (kind, state, rgb, _code) in enumerate(classes):
            disc = v.vtkRegularPolygonSource()
            disc.SetNumberOfSides(40)
            disc.SetRadius(0.5)
            disc.GeneratePolygonOn()
            disc.Update()
            symbol = v.vtkPolyData()
            symbol.DeepCopy(disc.GetOutput())
            rgba = np.tile(
                np.rint(np.r_[np.asarray(rgb) * 255, 255]).astype(np.uint8),
                (symbol.GetNumberOfCells(), 1),
            )
            symbol.GetCellData().SetScalars(self._array(rgba, "colour"))
            label = kind if all_first else f"{kind} ({state})"
            leg.SetEntry(i, symbol, label, self._fg)
        self._text_prop(leg.GetEntryTextProperty(), 0.024 * o.size[1])
        leg.BorderOff()
        leg.UseBackgroundOff()
        leg.SetPadding(2)
        longest = max(
            len(kind if all_first else f"{kind} ({state})") for kind, state, *_ in classes
        )
        # the box sets the text size: about 3 % of the picture height per entry
        aspect = o.size[0] / o.size[1]
        h = min(0.032 * len(classes), 0.5)
        w = min((0.0155 * longest + 0.035) / aspect * 1.33, 0.5)
        leg.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        leg.GetPositionCoordinate().SetValue(0.015, 0.025)
        leg.GetPosition2Coordinate().SetCoordinateSystemToNormalizedViewport()
        leg.GetPosition2Coordinate().SetValue(w, h)
        return leg

    def _colour_bar(self, lut, title: str):
        v = self.vtk
        o = self.options
        bar = v.vtkScalarBarActor()
        bar.SetLookupTable(lut)
        bar.SetTitle(title)
        lo, hi = lut.GetRange()
        ticks = nice_ticks(lo, hi)
        labels = v.vtkDoubleArray()
        for t in ticks:
            labels.InsertNextValue(float(t))
        bar.SetCustomLabels(labels)
        bar.SetUseCustomLabels(True)
        bar.SetLabelFormat("%-.4g" if max(abs(lo), abs(hi)) < 1e4 else "%-.2e")
        bar.SetOrientationToVertical()
        bar.UnconstrainedFontSizeOn()
        bar.SetTextPositionToSucceedScalarBar()
        bar.SetBarRatio(0.3)
        bar.DrawTickLabelsOn()
        bar.SetMaximumNumberOfColors(256)
        bar.DrawBackgroundOn()
        bg = (1.0, 1.0, 1.0) if o.background == "white" else (0.0, 0.0, 0.0)
        bar.GetBackgroundProperty().SetColor(*bg)
        bar.GetBackgroundProperty().SetOpacity(0.85)
        self._text_prop(bar.GetTitleTextProperty(), 0.026 * o.size[1], bold=True)
        self._text_prop(bar.GetLabelTextProperty(), 0.022 * o.size[1])
        bar.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        bar.GetPositionCoordinate().SetValue(*BAR_POSITION)
        bar.SetWidth(BAR_SIZE[0])
        bar.SetHeight(BAR_SIZE[1])
        return bar

    def _text(self, lines: list[str], corner: str = "upper_left"):
        v = self.vtk
        o = self.options
        t = v.vtkTextActor()
        t.SetInput("\n".join(lines))
        p = t.GetTextProperty()
        self._text_prop(p, 0.025 * o.size[1])
        p.SetLineSpacing(1.15)
        t.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        if corner == "upper_left":
            p.SetJustificationToLeft()
            p.SetVerticalJustificationToTop()
            t.GetPositionCoordinate().SetValue(0.015, 0.975)
        return t

    def _camera(self, lo, hi):
        o = self.options
        directions = {
            "iso": ((0.85, -1.0, 0.75), (0.0, 0.0, 1.0)),
            "front": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
            "side": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
            "top": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
        }
        d, up = directions[o.camera]
        d = np.asarray(d) / np.linalg.norm(d)
        centre = 0.5 * (lo + hi)
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(*centre)
        cam.SetPosition(*(centre + d * np.linalg.norm(hi - lo) * 3.0))
        cam.SetViewUp(*up)
        cam.SetViewAngle(30.0)
        self.renderer.ResetCamera(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
        cam.Zoom(1.1 * o.zoom)
        return d

    # -- drawing -----------------------------------------------------------------------

    def draw(self, snap: RunSnapshot, *, value_range: tuple[float, float] | None = None):
        """Build the scene of ``snap`` (replacing the previous one); returns the legend
        classes ``[(kind, state, rgb, state code), …]`` drawn (names from the snapshot)."""
        o = self.options
        ren = self.renderer
        ren.RemoveAllViewProps()
        self._keep = []
        bg = (1.0, 1.0, 1.0) if o.background == "white" else (0.0, 0.0, 0.0)
        ren.SetBackground(*bg)
        g = snap.grid
        lo = np.asarray(g.origin, dtype=float)
        hi = lo + np.asarray(g.spacing) * np.array(g.shape[::-1])
        view_dir = self._camera(lo, hi)
        ren.AddActor(self._outline(lo, hi))

        name = o.field if o.field is not None else (snap.field_names or [None])[0]
        if name == "none":
            name = None
        if name is not None and name not in snap.field_names:
            raise RenderError(f"{snap.path} has no field {name!r}; fields: {snap.field_names}")
        plane = None
        if name is not None:
            lo_v, hi_v = value_range or o.value_range or field_range([snap], name)
            cmap = o.cmap or default_cmap(name)
            lut = self._lut(cmap, lo_v, hi_v)
            actor, plane = self._slice(snap, name, lut, lo, hi)
            ren.AddActor(actor)
            if o.volume:
                ren.AddVolume(self._volume(snap, name, cmap, lo_v, hi_v))
            units = snap.units.get(name, "")
            title = f"{name} ({units})" if units and units != "dimensionless" else name
            ren.AddViewProp(self._colour_bar(lut, title))

        classes = []
        if o.cells != "none" and snap.n_cells > 0:
            keep = None
            if o.cells == "clip" and plane is not None:
                ax = "xyz".index(o.slice_axis)
                coord = np.asarray(snap.columns["position"])[:, ax]
                r = np.asarray(snap.columns.get("radius", np.zeros(coord.shape)))
                # cells behind the plane and those it cuts
                if view_dir[ax] < -1e-9:
                    keep = coord >= plane - r
                else:
                    keep = coord <= plane + r
            actor, classes = self._cells(snap, keep, kind_colours(snap.vocabulary, o.kind_colours))
            ren.AddActor(actor)
            if classes:
                ren.AddViewProp(self._legend(classes))

        lines = [o.title] if o.title else []
        lines.append(_fmt_time(snap.time))
        lines += _counts_lines(snap)
        if plane is not None:
            lines.append(f"slice {o.slice_axis} = {plane:g} µm")
        ren.AddViewProp(self._text(lines))
        return classes

    def image(self) -> np.ndarray:
        """Render and return the picture as an (height, width, 3) uint8 array."""
        v = self.vtk
        self.window.Render()
        grab = v.vtkWindowToImageFilter()
        grab.SetInput(self.window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        out = grab.GetOutput()
        w, h, _ = out.GetDimensions()
        a = v.np.vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, -1)
        return np.ascontiguousarray(a[::-1, :, :3])

    def show(self) -> None:
        """Open an interactive window (needs a display)."""
        v = self.vtk
        iren = v.vtkRenderWindowInteractor()
        iren.SetRenderWindow(self.window)
        from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera

        iren.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.window.Render()
        iren.Start()

    def close(self) -> None:
        self.window.Finalize()


#: Lower-left corner and (width, height) of the colour bar, normalised viewport units.
BAR_POSITION = (0.85, 0.2)
BAR_SIZE = (0.12, 0.6)


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick values inside [lo, hi] (at most about ``n`` + 1)."""
    from matplotlib.ticker import MaxNLocator

    t = MaxNLocator(nbins=n).tick_values(lo, hi)
    eps = 1e-9 * max(abs(lo), abs(hi), 1.0)
    return t[(t >= lo - eps) & (t <= hi + eps)]


def field_range(snaps: Sequence[RunSnapshot], name: str) -> tuple[float, float]:
    """Min and max of field ``name`` over ``snaps`` [field units], widened if flat."""
    lo, hi = np.inf, -np.inf
    for s in snaps:
        a = s.field(name)
        lo, hi = min(lo, float(np.min(a))), max(hi, float(np.max(a)))
    if not np.isfinite(lo):
        return 0.0, 1.0
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        lo = min(lo, 0.0)
        hi = lo + 1.0 if hi <= lo else hi
    return lo, hi


def write_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an (h, w, 3) uint8 array as PNG."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path, optimize=False)
    return path


def write_movie(frames: list[Path], path: str | os.PathLike, fps: float = 5.0) -> Path | None:
    """MP4 (imageio with its ffmpeg plug-in) or GIF (Pillow) from PNG files.

    ``path``'s suffix picks the format; an ``.mp4`` request falls back to ``.gif`` when no
    ffmpeg writer is installed. Returns the file written, or ``None`` with no writer.
    """
    from PIL import Image

    path = Path(path)
    if path.suffix == ".mp4":
        try:
            import imageio.v2 as imageio
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            path = path.with_suffix(".gif")
        else:
            with imageio.get_writer(
                path, fps=fps, codec="libx264", quality=8, pixelformat="yuv420p", macro_block_size=2
            ) as w:
                for f in frames:
                    a = np.asarray(Image.open(f).convert("RGB"))
                    w.append_data(a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2])
            return path
    if path.suffix == ".gif":
        images = [Image.open(f).convert("RGB") for f in frames]
        images[0].save(
            path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0
        )
        return path
    raise RenderError(f"unknown movie format {path.suffix!r}; use .mp4 or .gif")


def select_snapshots(
    run: Run, snapshot: str | int | None = "last", time_min: float | None = None
) -> list[RunSnapshot]:
    """Snapshots picked by ``snapshot`` (an index, ``"all"`` or ``"last"``) or by the time
    closest to ``time_min`` [min]."""
    snaps = run.snapshots
    if time_min is not None:
        return [snaps.at_time(time_min)]
    if snapshot in (None, "last"):
        return [snaps[-1]]
    if snapshot == "all":
        return list(snaps)
    try:
        i = int(snapshot)
    except (TypeError, ValueError):
        raise RenderError(f"snapshot must be a number, 'all' or 'last', not {snapshot!r}") from None
    by_index = {s.index: s for s in snaps}
    if i in by_index:
        return [by_index[i]]
    if -len(snaps) <= i < 0:
        return [snaps[i]]
    raise RenderError(f"no snapshot {i}; the run has {sorted(by_index)}")


@dataclass
class RenderResult:
    """Pictures written by :func:`render_run`."""

    frames: list[Path]
    movie: Path | None
    seconds: float
    classes: list = dc_field(default_factory=list)


def render_run(
    run: str | os.PathLike | Run,
    options: RenderOptions | None = None,
    *,
    snapshot: str | int | None = "last",
    time_min: float | None = None,
    out_dir: str | os.PathLike | None = None,
    movie: str | None = "mp4",
    fps: float = 5.0,
    progress=None,
) -> RenderResult:
    """Render snapshots of a run to ``out_dir/snapshot_NNNNNN.png`` (default ``RUN/frames``).

    Parameters
    ----------
    snapshot : index, ``"all"`` or ``"last"``
    time_min : render the snapshot closest to this time [min] instead
    movie : ``"mp4"``, ``"gif"`` or ``None``; written when more than one frame is drawn
    fps : movie frames per second
    progress : called with ``(i, n, path)`` after each frame
    """
    run = run if isinstance(run, Run) else open_run(run)
    options = options or RenderOptions()
    snaps = select_snapshots(run, snapshot, time_min)
    out = Path(out_dir) if out_dir is not None else run.path / "frames"
    out.mkdir(parents=True, exist_ok=True)
    name = options.field if options.field is not None else (run.field_names or [None])[0]
    value_range = options.value_range
    if value_range is None and name not in (None, "none") and name in run.field_names:
        value_range = field_range(snaps, name)
    t0 = time.perf_counter()
    scene = SceneRenderer(replace(options, field=name or "none"))
    frames, classes = [], []
    try:
        for i, s in enumerate(snaps):
            classes = scene.draw(s, value_range=value_range)
            path = write_png(scene.image(), out / f"snapshot_{s.index:06d}.png")
            frames.append(path)
            if progress is not None:
                progress(i + 1, len(snaps), path)
    finally:
        scene.close()
    movie_path = None
    if movie and len(frames) > 1:
        movie_path = write_movie(frames, out / f"movie.{movie}", fps=fps)
    return RenderResult(frames, movie_path, time.perf_counter() - t0, classes)
