"""Voxel grid geometry: cell-centred voxels on an axis-aligned box."""

from __future__ import annotations

import numpy as np

from .backends import Backend


def block(offset, shape) -> tuple[slice, ...]:
    """The index of the box of ``shape`` voxels at ``offset`` in a larger array (same axes)."""
    return tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))


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
        (0 for a single-domain run)
    global_shape : (nz, ny, nx) of the whole domain (default: ``offset + shape``)
    global_origin : (x, y, z) lower corner of the whole domain [µm] (default: ``origin``
        moved back by ``offset`` voxels)

    A sub-box of a decomposed domain is made with :meth:`part`; its voxel centres are
    computed from the global origin and global indices, so a sub-box sees exactly the same
    coordinates (to the bit) as the whole grid does.
    """

    def __init__(
        self,
        backend: Backend,
        shape,
        spacing=20.0,
        origin=(0.0, 0.0, 0.0),
        offset=(0, 0, 0),
        global_shape=None,
        global_origin=None,
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
        if global_shape is None:  # the box reaches the far end of the domain
            global_shape = tuple(o + n for o, n in zip(self.offset, self.shape, strict=True))
        self.global_shape = tuple(map(int, global_shape))
        #: lower corner of the whole domain (x, y, z) [µm]
        back = sp * np.array(self.offset[::-1], dtype=np.float64)
        self.global_origin = (
            self.origin - back
            if global_origin is None
            else np.asarray(global_origin, dtype=np.float64).reshape(3)
        )
        boxes = zip(self.offset, self.shape, self.global_shape, strict=True)
        if any(o < 0 or o + n > g for o, n, g in boxes):
            raise ValueError(
                f"sub-box {self.shape} at offset {self.offset} lies outside the global grid "
                f"{self.global_shape}"
            )

    def part(self, offset, shape) -> Grid:
        """The sub-box of ``shape`` (nz, ny, nx) at ``offset`` (kz, jy, ix) voxels of this
        (whole) grid, on the same backend."""
        if self.offset != (0, 0, 0) or self.global_shape != self.shape:
            raise ValueError("part() is taken from the whole grid, not from a sub-box")
        off = np.array(offset[::-1], dtype=np.float64)  # (x, y, z)
        return Grid(
            self.backend,
            shape,
            self.spacing,
            self.origin + self.spacing * off,
            offset,
            global_shape=self.shape,
            global_origin=self.origin,
        )

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
    def global_counts_xyz(self) -> np.ndarray:
        """Voxels per axis (x, y, z) of the whole domain."""
        return np.array(self.global_shape[::-1], dtype=np.int64)

    @property
    def extent(self) -> np.ndarray:
        """Edge lengths of the domain (x, y, z) [µm]."""
        return self.spacing * self.counts_xyz

    @property
    def upper(self) -> np.ndarray:
        """Upper corner of the domain (x, y, z) [µm]."""
        return self.origin + self.extent

    @property
    def global_upper(self) -> np.ndarray:
        """Upper corner of the whole domain (x, y, z) [µm] (``upper`` of a whole grid)."""
        return self.global_origin + self.spacing * self.global_counts_xyz

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
        first = self.global_origin[a] + 0.5 * self.spacing[a]
        return first + self.spacing[a] * (np.arange(n) + self.offset[2 - a])

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
