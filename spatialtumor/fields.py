"""Named diffusing species stored as one stacked array ``(nf, nz, ny, nx)``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grid import Grid

FACES = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")


@dataclass(frozen=True)
class Boundary:
    """Per-face boundary condition: a Dirichlet wall value, or ``None`` for zero flux."""

    x_min: float | None = None
    x_max: float | None = None
    y_min: float | None = None
    y_max: float | None = None
    z_min: float | None = None
    z_max: float | None = None

    @classmethod
    def dirichlet(cls, value: float) -> Boundary:
        """The same Dirichlet value on all six faces."""
        return cls(*([float(value)] * 6))

    @classmethod
    def zero_flux(cls) -> Boundary:
        return cls()

    def values(self) -> tuple[float | None, ...]:
        return tuple(getattr(self, f) for f in FACES)


@dataclass(frozen=True)
class Species:
    """One diffusing substance.

    Parameters
    ----------
    diffusivity : D [µm²/min]
    decay : λ, first-order decay rate [1/min]
    initial : initial concentration everywhere [``units``]
    units : concentration units (e.g. "mmHg", "ng/mL", "nM")
    boundary : per-face boundary conditions (default: zero flux everywhere)
    solver : "lod" (implicit, unconditionally stable; default) or "explicit" (slow species)
    """

    diffusivity: float
    decay: float = 0.0
    initial: float = 0.0
    units: str = "dimensionless"
    boundary: Boundary = field(default_factory=Boundary)
    solver: str = "lod"

    def __post_init__(self):
        if self.diffusivity < 0:
            raise ValueError(f"diffusivity must be >= 0, got {self.diffusivity}")
        if self.decay < 0:
            raise ValueError(f"decay must be >= 0, got {self.decay}")
        if self.solver not in ("lod", "explicit"):
            raise ValueError(f"solver must be 'lod' or 'explicit', got {self.solver!r}")


class Fields:
    """All species of a run in one array.

    Species solved implicitly come first and explicit ones last, so each solver works on
    one contiguous block ``values[:n_lod]`` / ``values[n_lod:]``.
    """

    def __init__(self, grid: Grid, species: dict[str, Species] | None = None, **more: Species):
        spec = dict(species or {})
        spec.update(more)
        lod = [n for n, s in spec.items() if s.solver == "lod"]
        explicit = [n for n, s in spec.items() if s.solver == "explicit"]
        self.grid = grid
        self.names: tuple[str, ...] = tuple(lod + explicit)
        self.species: dict[str, Species] = {n: spec[n] for n in self.names}
        self.n_lod = len(lod)
        self._index = {n: i for i, n in enumerate(self.names)}
        self.values = grid.zeros((len(self.names),))
        for i, n in enumerate(self.names):
            self.values[i] = self.species[n].initial

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"unknown field {name!r}; fields are {list(self.names)}") from None

    def __getitem__(self, name: str):
        """The (nz, ny, nx) array of one species (a view)."""
        return self.values[self.index(name)]

    def totals(self) -> dict[str, float]:
        """Amount of each species in the domain: Σ c · voxel volume [units · µm³], float64."""
        xp = self.grid.backend.xp
        sums = xp.sum(self.values, axis=(1, 2, 3), dtype=xp.float64)
        host = self.grid.backend.asnumpy(sums) * self.grid.voxel_volume
        return {n: float(host[i]) for i, n in enumerate(self.names)}

    def boundary_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Host arrays ``(kind (nf, 6) int32, value (nf, 6) float64)`` of the boundaries."""
        kind = np.zeros((len(self), 6), dtype=np.int32)
        value = np.zeros((len(self), 6), dtype=np.float64)
        for f, n in enumerate(self.names):
            for face, v in enumerate(self.species[n].boundary.values()):
                if v is not None:
                    kind[f, face] = 1
                    value[f, face] = v
        return kind, value
