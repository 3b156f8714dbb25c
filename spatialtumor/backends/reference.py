"""NumPy reference kernels: the executable specification of every CUDA kernel.

Each function here has a CUDA twin in ``kernels/*.cu`` (launched from ``cupy_kernels.py``)
with the same signature and the same discrete equation. On the NumPy backend these
functions *are* the kernels, so they are vectorised: no Python loop over voxels or
lines (a loop along the sweep axis is allowed). All arrays are C-ordered.

Field arrays have shape ``(nf, nz, ny, nx)``; face order everywhere is
``x_min, x_max, y_min, y_max, z_min, z_max``; boundary kind 0 = zero flux,
1 = Dirichlet (value imposed on the wall, half a voxel outside the first voxel centre,
through the ghost value ``2 c_b - c_edge``).
"""

from __future__ import annotations

import numpy as np

from .reference_agents import (  # noqa: F401  (re-exported: part of the kernel set)
    contact_search,
    deposit_sorted,
    pair_forces,
)
from .reference_motility import move_cells  # noqa: F401  (re-exported: part of the kernel set)

#: array axis of the field array (nf, nz, ny, nx) swept for spatial axis name
SWEEP_AXIS = {"x": 3, "y": 2, "z": 1}


def lod_sweep(c, axis, cprime, inv_denom, offdiag, rhs_lo, rhs_hi):
    """Solve the implicit 1D diffusion–decay systems along one axis, in place.

    Parameters
    ----------
    c : (nf, nz, ny, nx) array — concentrations, overwritten with the solution
    axis : "x", "y" or "z"
    cprime : (nf, n) array — Thomas upper coefficients ``c'_i`` of each species' line matrix
    inv_denom : (nf, n) array — ``1 / (b_i - a c'_{i-1})``
    offdiag : (nf,) array — off-diagonal ``a = -dt D / h²``
    rhs_lo, rhs_hi : (nf,) arrays — added to the first / last right-hand side
        (``2 dt D c_b / h²`` on a Dirichlet face, 0 on a zero-flux face)

    Notes
    -----
    Every line along ``axis`` solves ``a x_{i-1} + b_i x_i + a x_{i+1} = d_i`` with
    ``b_i = 1 + k + r (#interior neighbours) + 2 r (#Dirichlet faces)``,
    ``r = dt D / h²``, ``k = dt λ`` in the x sweep and 0 in the others (BioFVM's locally
    one-dimensional scheme, with the decay taken whole in the first sweep).
    Forward: ``d'_0 = d_0 / b_0``, ``d'_i = (d_i - a d'_{i-1}) / denom_i``;
    back: ``x_{n-1} = d'_{n-1}``, ``x_i = d'_i - c'_i x_{i+1}``. The matrix depends only on
    the species, so its factorisation (``cprime``, ``inv_denom``) is computed once.
    """
    ax = SWEEP_AXIS[axis]
    if ax > 1 and c.size >= TRANSPOSE_ELEMENTS:
        # large arrays: strided planes thrash the cache; sweep a contiguous transposed copy
        v = np.ascontiguousarray(np.moveaxis(c, ax, 1))
        _thomas_along_axis1(v, cprime, inv_denom, offdiag, rhs_lo, rhs_hi)
        c[...] = np.moveaxis(v, 1, ax)
    else:
        _thomas_along_axis1(np.moveaxis(c, ax, 1), cprime, inv_denom, offdiag, rhs_lo, rhs_hi)


#: arrays at least this large are swept along x and y through a transposed copy (measured on
#: a 2-core CPU: 128³ × 8 float32 x sweep 547 → 119 ms; 128³ × 1 is faster strided)
TRANSPOSE_ELEMENTS = 1 << 22


def _thomas_along_axis1(v, cprime, inv_denom, offdiag, rhs_lo, rhs_hi):
    """Thomas forward/back substitution along axis 1 of ``v`` (nf, n, A, B), in place."""
    n = v.shape[1]
    a = offdiag[:, None, None]
    v[:, 0] += rhs_lo[:, None, None]
    v[:, n - 1] += rhs_hi[:, None, None]
    v[:, 0] *= inv_denom[:, 0, None, None]
    for i in range(1, n):
        v[:, i] -= a * v[:, i - 1]
        v[:, i] *= inv_denom[:, i, None, None]
    for i in range(n - 2, -1, -1):
        v[:, i] -= cprime[:, i, None, None] * v[:, i + 1]


def explicit_step(c, out, dt, inv_h2, diffusivity, decay, bc_kind, bc_value):
    """One explicit (forward Euler) diffusion–decay step with the 7-point Laplacian.

    Parameters
    ----------
    c, out : (nf, nz, ny, nx) arrays — old and new concentrations (distinct buffers)
    dt : float — time step [min]
    inv_h2 : (3,) array — ``1/dx², 1/dy², 1/dz²`` [1/µm²]
    diffusivity : (nf,) array — D [µm²/min]
    decay : (nf,) array — λ [1/min]
    bc_kind : (nf, 6) int array — 0 zero flux, 1 Dirichlet, faces x_min … z_max
    bc_value : (nf, 6) array — Dirichlet wall values

    Notes
    -----
    ``out = c + dt (D Σ_axes (c_+ - 2c + c_-)/h² - λ c)`` with ghost values ``c_edge``
    (zero flux) or ``2 c_b - c_edge`` (Dirichlet). Stable for ``dt ≤ 1 / (2 D Σ 1/h²)``.
    """
    nf = c.shape[0]
    g = np.pad(c, ((0, 0), (1, 1), (1, 1), (1, 1)), mode="edge")
    # Dirichlet ghosts, face by face (loops over species × 6 faces, not voxels)
    for f in range(nf):
        for face in range(6):
            if bc_kind[f, face]:
                sl = _ghost_slices(face)
                inner = _edge_slices(face)
                g[(f,) + sl] = 2 * bc_value[f, face] - g[(f,) + inner]
    core = g[:, 1:-1, 1:-1, 1:-1]
    lap = (g[:, 1:-1, 1:-1, 2:] + g[:, 1:-1, 1:-1, :-2] - 2 * core) * inv_h2[0]
    lap += (g[:, 1:-1, 2:, 1:-1] + g[:, 1:-1, :-2, 1:-1] - 2 * core) * inv_h2[1]
    lap += (g[:, 2:, 1:-1, 1:-1] + g[:, :-2, 1:-1, 1:-1] - 2 * core) * inv_h2[2]
    d = diffusivity[:, None, None, None]
    k = decay[:, None, None, None]
    np.multiply(d, lap, out=out)
    out -= k * c
    out *= dt
    out += c


def apply_sources(values, source, uptake, dt):
    """Implicit source/sink update ``c ← (c + dt S) / (1 + dt U)``, in place.

    Parameters
    ----------
    values : (nf, nz, ny, nx) concentrations [units]
    source : S, same shape, ≥ 0 [units/min]
    uptake : U, same shape, ≥ 0 [1/min]
    dt : float — time step [min]

    With S, U ≥ 0 a non-negative concentration stays non-negative whatever the step.
    """
    values += dt * source
    values /= 1.0 + dt * uptake


def lod_sweep_sources(c, axis, cprime, inv_denom, offdiag, rhs_lo, rhs_hi, source, uptake, dt):
    """The implicit source step followed by one LOD sweep, in place (twin of the fused
    ``lod_sweep_rows_sources_f32/f64``, which applies the source step while loading the
    lines of the x sweep).

    ``apply_sources(c, source, uptake, dt)`` then ``lod_sweep(c, axis, ...)``: the
    arguments are those of the two functions; ``source``, ``uptake`` have the shape of ``c``.
    """
    apply_sources(c, source, uptake, dt)
    lod_sweep(c, axis, cprime, inv_denom, offdiag, rhs_lo, rhs_hi)


def _ghost_slices(face):
    """Slices of the padded (nz+2, ny+2, nx+2) block selecting one face's ghost layer."""
    axis = 2 - face // 2  # x faces act on the last array axis
    idx = 0 if face % 2 == 0 else -1
    sl = [slice(1, -1)] * 3
    sl[axis] = idx
    return tuple(sl)


def _edge_slices(face):
    axis = 2 - face // 2
    idx = 1 if face % 2 == 0 else -2
    sl = [slice(1, -1)] * 3
    sl[axis] = idx
    return tuple(sl)
