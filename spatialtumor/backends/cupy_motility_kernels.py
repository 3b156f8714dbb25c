"""CuPy launch wrapper of the fused mechanics move (``kernels/motility.cu``).

The signature equals that of :func:`spatialtumor.backends.reference_motility.move_cells`.
Shapes are checked against each other before the launch (a mismatch raises ValueError and
nothing runs); scalars are cast to the types the kernel declares; the key prefix of the
draws is computed on the host from (seed, step), so the launch reads nothing back.
``cupy`` is imported only inside the method.
"""

from __future__ import annotations

import numpy as np

from ..random import key_prefix

_BLOCK = 256
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _shape(a, want, name: str) -> None:
    got = tuple(int(s) for s in a.shape)
    if got != tuple(want):
        raise ValueError(f"{name} must have shape {tuple(want)}, got {got}")


def _triple(v, name: str) -> tuple[float, float, float]:
    t = tuple(float(x) for x in v)
    if len(t) != 3:
        raise ValueError(f"{name} must be three numbers (x, y, z), got {v}")
    return t


class MotilityKernels:
    """Mixin with :meth:`move_cells`; needs ``_agent_function`` (see ``AgentKernels``)."""

    def move_cells(
        self,
        position,
        direction,
        velocity,
        ids,
        kind,
        state,
        alive,
        radius,
        persistence,
        bias,
        kind_field,
        class_speed,
        slots,
        fields,
        origin,
        spacing,
        dt,
        max_displacement,
        lower,
        upper,
        walls,
        seed,
        step,
    ):
        """CUDA twin of :func:`reference_motility.move_cells` (one thread per row)."""
        import cupy as cp

        ft = np.dtype(position.dtype)
        if ft not in _SUFFIX:
            raise TypeError(f"cell kernels support float32 and float64, not {ft}")
        n = int(position.shape[0]) if position.ndim == 2 else -1
        _shape(position, (n, 3), "position")
        for a, name in ((direction, "direction"), (velocity, "velocity")):
            _shape(a, (n, 3), name)
        for a, name in ((ids, "ids"), (kind, "kind"), (state, "state")):
            _shape(a, (n,), name)
        _shape(alive, (n,), "alive")
        _shape(radius, (n,), "radius")
        for a, name in ((position, "position"), (direction, "direction")):
            if a.dtype != ft or not a.flags.c_contiguous:
                raise ValueError(f"{name} must be a C-contiguous array of the position dtype")
        nk = int(persistence.shape[0]) if persistence.ndim == 1 else -1
        _shape(persistence, (nk,), "persistence")
        _shape(bias, (nk,), "bias")
        _shape(kind_field, (nk,), "kind_field")
        slots = int(slots)
        _shape(class_speed, (nk * slots,), "class_speed")
        if walls not in ("reflect", "clamp"):
            raise ValueError(f"walls must be 'reflect' or 'clamp', not {walls!r}")
        origin, spacing = _triple(origin, "origin"), _triple(spacing, "spacing")
        lower, upper = _triple(lower, "lower"), _triple(upper, "upper")
        chem = fields is not None
        if chem:
            if fields.ndim != 4 or fields.dtype != ft or not fields.flags.c_contiguous:
                raise ValueError(
                    "fields must be a C-contiguous (nf, nz, ny, nx) array, position dtype"
                )
            nz, ny, nx = (int(s) for s in fields.shape[1:])
        else:
            nz = ny = nx = 1
        if n == 0:
            return
        vel = cp.ascontiguousarray(velocity, dtype=ft)
        # no fused multiply-adds: positions round as in the twin, so voxel lookups and wall
        # reflections agree with the NumPy path step after step
        from .kernel_source import MODULE_OPTIONS

        fn = self._agent_function(
            "motility.cu", f"move_cells_{_SUFFIX[ft]}", options=MODULE_OPTIONS["motility.cu"]
        )
        fn(
            ((n + _BLOCK - 1) // _BLOCK,),
            (_BLOCK,),
            (
                position,
                direction,
                vel,
                cp.ascontiguousarray(ids, dtype=cp.int64),
                cp.ascontiguousarray(kind, dtype=cp.int16),
                cp.ascontiguousarray(state, dtype=cp.int8),
                cp.ascontiguousarray(alive, dtype=cp.bool_),
                cp.ascontiguousarray(radius, dtype=ft),
                np.int64(n),
                cp.ascontiguousarray(persistence, dtype=ft),
                cp.ascontiguousarray(bias, dtype=ft),
                cp.ascontiguousarray(kind_field, dtype=cp.int64),
                np.int64(nk),
                cp.ascontiguousarray(class_speed, dtype=ft),
                np.int64(slots),
                fields if chem else vel,  # never read without chemotaxis
                np.int32(chem),
                np.int64(nx),
                np.int64(ny),
                np.int64(nz),
                *(np.float64(v) for v in origin + spacing),
                np.float64(dt),
                np.float64(max_displacement),
                *(np.float64(v) for v in lower + upper),
                np.int32(walls == "reflect"),
                np.uint64(key_prefix(int(seed), int(step))),
            ),
        )
