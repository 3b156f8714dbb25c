"""Checks of the initial cell placements that need the domain, run before anything is built.

``spatialtumor validate`` and ``spatialtumor run`` both run them (from
``CellsSpec.cross_check``), so a placement that ``validate`` accepts is one that ``run`` can
make: every cell inside the domain, a bounded number of cells, a readable CSV file whose
kinds, numbers and positions are right.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .agents import packed_sphere, read_cells_csv
from .inputs import MAX_CSV_BYTES, InputError, read_text
from .limits import MAX_INITIAL_CELLS

if TYPE_CHECKING:  # pragma: no cover
    from .scenario import ScenarioSpec

#: a sphere whose lattice has more points than this is checked by its bounding box alone
MAX_LATTICE_POINTS = 2 * 10**6


class PlacementError(ValueError):
    """A placement that cannot be made: ``key`` (e.g. ``cells.initial.0``) and one line."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


def domain(spec: ScenarioSpec) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corner (x, y, z) [µm], computed as :class:`~spatialtumor.Grid` does."""
    g = spec.grid
    lower = np.asarray(g.origin_xyz, dtype=np.float64)
    counts = np.array([g.nx, g.ny, g.nz], dtype=np.float64)
    return lower, lower + np.asarray(g.spacing_xyz, dtype=np.float64) * counts


def check_placements(spec: ScenarioSpec, source: str) -> None:
    """Raise :class:`PlacementError` for the first placement ``run`` could not make."""
    from .cells_spec import resolve_relative

    cells = spec.cells
    lower, upper = domain(spec)
    size = float(np.max(upper - lower))
    for name, k in cells.kinds.items():
        if k.body.radius > size:
            raise PlacementError(
                f"cells.kinds.{name}.radius",
                f"{k.body.radius:g} µm is larger than the domain ({size:g} µm across)",
            )
    total = 0
    for i, p in enumerate(cells.initial):
        key = f"cells.initial.{i}"
        if p.shape == "csv":
            total += _check_csv(key, resolve_relative(p.file, source), cells, lower, upper)
        elif p.shape == "sphere":
            spacing = p.spacing or 2.0 * cells.kinds[p.kind].body.radius
            total += _check_sphere(key, p.centre, p.radius, spacing, lower, upper)
        elif p.shape == "box" and any(hi < lo for lo, hi in zip(p.lower, p.upper, strict=True)):
            raise PlacementError(f"{key}.upper", f"box upper {_xyz(p.upper)} is below lower")
        elif p.count == 0:
            continue  # a shell or box of no cells places nothing
        elif p.shape == "shell":
            _check_ball(key, "shell", p.centre, p.outer_radius, lower, upper)
            total += p.count
        else:
            _check_box(key, p.lower, p.upper, lower, upper)
            total += p.count
        if total > MAX_INITIAL_CELLS:
            raise PlacementError(
                key, f"places more than {MAX_INITIAL_CELLS:,} cells in all; at most that many"
            )


def _check_sphere(key, centre, radius, spacing, lower, upper) -> int:
    """Cells a packed sphere places (estimated), after checking they are all inside."""
    ratio = radius / spacing
    # cells in a ball on a hexagonal close-packed lattice: 4/3 π √2 (radius / spacing)³
    estimate = 4.0 / 3.0 * math.pi * math.sqrt(2.0) * ratio**3 if ratio < 1e6 else math.inf
    if estimate > MAX_INITIAL_CELLS:
        raise PlacementError(
            key,
            f"a sphere of radius {radius:g} µm at spacing {spacing:g} µm holds "
            f"{'far more than 1e18' if math.isinf(estimate) else f'about {estimate:.3g}'} "
            f"cells; at most {MAX_INITIAL_CELLS:,}",
        )
    c = np.asarray(centre, dtype=np.float64)
    _check_point(key, "the sphere's centre", c, lower, upper)
    if np.all(c - radius >= lower) and np.all(c + radius <= upper):
        return int(estimate)  # the whole ball is inside, so is every lattice point
    n = int(math.ceil(radius / (0.5 * spacing))) + 2
    if (2 * n + 1) ** 3 > MAX_LATTICE_POINTS:
        _check_ball(key, "sphere", centre, radius, lower, upper)
    pos = packed_sphere(centre, radius, spacing)
    outside = np.any(~np.isfinite(pos) | (pos < lower) | (pos > upper), axis=1)
    if np.any(outside):
        bad = pos[np.argmax(outside)]
        raise PlacementError(key, f"places a cell at {_xyz(bad)} µm, {_outside(lower, upper)}")
    return int(pos.shape[0])


def _check_ball(key, what, centre, radius, lower, upper) -> None:
    c = np.asarray(centre, dtype=np.float64)
    if np.all(c - radius >= lower) and np.all(c + radius <= upper):
        return
    raise PlacementError(
        key,
        f"the {what} of radius {radius:g} µm around {_xyz(c)} µm spans "
        f"{_xyz(c - radius)}..{_xyz(c + radius)} µm, {_outside(lower, upper)}",
    )


def _check_box(key, lo, hi, lower, upper) -> None:
    if np.all(np.asarray(lo) >= lower) and np.all(np.asarray(hi) <= upper):
        return
    raise PlacementError(key, f"the box {_xyz(lo)}..{_xyz(hi)} µm is {_outside(lower, upper)}")


def _check_point(key, what, point, lower, upper) -> None:
    if np.all(point >= lower) and np.all(point <= upper):
        return
    raise PlacementError(key, f"{what} {_xyz(point)} µm is {_outside(lower, upper)}")


def _check_csv(key, path, cells, lower, upper) -> int:
    try:
        read_text(path, MAX_CSV_BYTES)  # size and encoding, before pandas reads it
        cols = read_cells_csv(path, list(cells.kinds), lower, upper)
    except InputError as exc:
        raise PlacementError(f"{key}.file", f"{path}: {exc.message}") from None
    except ValueError as exc:  # the reader's own one-line messages, and pandas' parse errors
        text = " ".join(str(exc).split())
        where = text if str(path) in text else f"{path}: {text}"
        raise PlacementError(f"{key}.file", where) from None
    return int(cols["position"].shape[0])


def _outside(lower, upper) -> str:
    return f"outside the domain {_xyz(lower)}..{_xyz(upper)} µm"


def _xyz(v) -> str:
    return "(" + ", ".join(f"{float(x):.6g}" for x in v) + ")"
