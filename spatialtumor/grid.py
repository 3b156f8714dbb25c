"""Voxel grid geometry: cell-centred voxels on an axis-aligned box."""

from __future__ import annotations

import numpy as np

from .backends import Backend


class Grid:
    """A box of ``nz × ny × nx`` cell-centred voxels.

    Parameters
    ----------
    backend : Backend
    shape : (nz, ny, nx) — number of voxels per axis, array order (x varies fastest)
    spacing : float or (dx, dy, dz) — voxel edge lengths [µm]
    origin : (x, y, z) — lower corner of the domain [µm]; the first voxel centre is at
        ``origin + spacing / 2``
    offset : (kz, jy, ix) — position of this box inside a larger global grid, in voxels
        (0 for a single-domain run; reserved for domain decomposition)
    """

    def __init__(
        self, backend: Backend, shape, spacing=20.0, origin=(0.0, 0.0, 0.0), offset=(0, 0, 0)
    ):
        self.backend = backend
        self.shape = tuple(int(n) for n in shape)
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(
                f"grid shape must be three positive integers (nz, ny, nx), got {shape}"
            )
        sp = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (3,)).copy()
        if np.any(sp <= 0):
            raise ValueError(f"grid spacing must be positive, got {spacing}")
        self.spacing = sp  # (dx, dy, dz) µm
        self.origin = np.asarray(origin, dtype=np.float64).reshape(3)  # lower corner (x, y, z) µm
        self.offset = tuple(int(o) for o in offset)

    # geometry -------------------------------------------------------------------------
    @property
    def nz(self) -> int:
        return self.shape[0]

    @property
    def ny(self) -> int:
        return self.shape[1]

    @property
    def nx(self) -> int:
        return self.shape[2]

    @property
    def size(self) -> int:
        """Number of voxels."""
        return self.nz * self.ny * self.nx

    @property
    def counts_xyz(self) -> np.ndarray:
        return np.array([self.nx, self.ny, self.nz], dtype=np.int64)

    @property
    def extent(self) -> np.ndarray:
        """Edge lengths of the domain (x, y, z) [µm]."""
        return self.spacing * self.counts_xyz

    @property
    def upper(self) -> np.ndarray:
        """Upper corner of the domain (x, y, z) [µm]."""
        return self.origin + self.extent

    @property
    def first_centre(self) -> np.ndarray:
        """Centre of voxel (0, 0, 0) (x, y, z) [µm]."""
        return self.origin + 0.5 * self.spacing

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel [µm³]."""
        return float(np.prod(self.spacing))

    def centres(self, axis: str) -> np.ndarray:
        """Voxel-centre coordinates along one axis ("x", "y" or "z") [µm], on the host."""
        a = "xyz".index(axis)
        n = int(self.counts_xyz[a])
        return self.first_centre[a] + self.spacing[a] * np.arange(n)

    def voxel_of(self, positions):
        """Flat voxel index ``(k*ny + j)*nx + i`` of positions (N, 3) [µm], clipped to the box."""
        xp = self.backend.xp
        rel = (positions - xp.asarray(self.origin, dtype=positions.dtype)) / xp.asarray(
            self.spacing, dtype=positions.dtype
        )
        ijk = xp.floor(rel).astype(xp.int64)
        i = xp.clip(ijk[:, 0], 0, self.nx - 1)
        j = xp.clip(ijk[:, 1], 0, self.ny - 1)
        k = xp.clip(ijk[:, 2], 0, self.nz - 1)
        return (k * self.ny + j) * self.nx + i

    def zeros(self, leading=(), dtype=None):
        """A zero array of shape ``leading + (nz, ny, nx)`` on the backend."""
        xp = self.backend.xp
        return xp.zeros(
            tuple(leading) + self.shape, dtype=self.backend.dtype if dtype is None else dtype
        )

    def __repr__(self) -> str:
        return (
            f"Grid(shape={self.shape}, spacing={tuple(self.spacing)} µm, "
            f"origin={tuple(self.origin)} µm, backend={self.backend.name})"
        )
