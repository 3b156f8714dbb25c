"""The implicit line solves are the dense linear systems they claim to be.

The line matrix is built here from first principles (the ghost-value rules of the walls),
independently of :func:`spatialtumor.transport.thomas_factors`, and solved with
``np.linalg.solve``. A full :class:`~spatialtumor.transport.Transport` step is checked
against the product of dense Kronecker-structured solves, which pins the sweep order
(x → y → z) and the placement of the decay (whole, in the x sweep).
"""

from __future__ import annotations

import numpy as np
import pytest

import spatialtumor as st
from spatialtumor.backends.reference import SWEEP_AXIS
from spatialtumor.transport import thomas_factors


def laplacian_1d(n: int, h: float, dirichlet_lo: bool, dirichlet_hi: bool):
    """Dense 1D Laplacian with ghost values, and its wall term per unit wall value.

    Returns ``(L, w_lo, w_hi)`` such that the discrete Laplacian of a line ``c`` with wall
    values ``c_lo``, ``c_hi`` is ``L @ c + w_lo * c_lo + w_hi * c_hi`` [1/µm² × units].
    Zero flux: ghost = edge value. Dirichlet: ghost = ``2 c_b - c_edge``.
    """
    lap = np.zeros((n, n))
    w_lo = np.zeros(n)
    w_hi = np.zeros(n)
    for i in range(n):
        lap[i, i] -= 2.0
        for j, wall_is_dirichlet, w in ((i - 1, dirichlet_lo, w_lo), (i + 1, dirichlet_hi, w_hi)):
            if 0 <= j < n:
                lap[i, j] += 1.0
            elif wall_is_dirichlet:  # ghost = 2 c_b - c_i
                lap[i, i] -= 1.0
                w[i] += 2.0
            else:  # ghost = c_i
                lap[i, i] += 1.0
    return lap / h**2, w_lo / h**2, w_hi / h**2


@pytest.mark.parametrize("n", [1, 2, 7, 33])
@pytest.mark.parametrize("axis", ["x", "y", "z"])
@pytest.mark.parametrize("walls", [(False, False), (True, False), (False, True), (True, True)])
def test_lod_sweep_equals_dense_solve(backend, rng, n, axis, walls):
    """``lod_sweep`` on a batch of lines == ``np.linalg.solve`` of the dense line system."""
    lo_dir, hi_dir = walls
    nf = 3
    dt, h = 0.01, 20.0  # min, µm
    diffusivity = np.array([1.0e5, 1.0e3, 0.0])  # µm²/min (oxygen-like, cytokine, immobile)
    decay = np.array([0.1, 2.0, 0.5])  # 1/min
    wall = np.array([38.0, 1.5, 7.0])  # Dirichlet wall values [units]
    r = dt * diffusivity / h**2
    k = dt * decay  # the sweep kernel is agnostic of the axis: test a decay share on every axis
    shape = [nf, 2, 3, 4]
    shape[SWEEP_AXIS[axis]] = n
    c0 = rng.uniform(0.0, 10.0, size=shape)

    cprime = np.zeros((nf, n))
    inv_denom = np.zeros((nf, n))
    for f in range(nf):
        cprime[f], inv_denom[f] = thomas_factors(n, r[f], k[f], lo_dir, hi_dir)
    rhs_lo = 2.0 * r * wall * lo_dir
    rhs_hi = 2.0 * r * wall * hi_dir

    c = backend.asarray(c0.copy())  # asarray may alias c0 on the host
    backend.kernels.lod_sweep(
        c,
        axis,
        backend.asarray(cprime),
        backend.asarray(inv_denom),
        backend.asarray(-r),
        backend.asarray(rhs_lo),
        backend.asarray(rhs_hi),
    )
    got = backend.asnumpy(c)

    lines0 = np.moveaxis(c0, SWEEP_AXIS[axis], -1)  # (nf, A, B, n)
    expected = np.empty_like(lines0)
    lap, w_lo, w_hi = laplacian_1d(n, h, lo_dir, hi_dir)
    for f in range(nf):
        # backward Euler: (1 + k) c_new - dt D (L c_new + w c_b) = c_old
        mat = (1.0 + k[f]) * np.eye(n) - dt * diffusivity[f] * lap
        bc = dt * diffusivity[f] * wall[f] * (w_lo * lo_dir + w_hi * hi_dir)
        rhs = lines0[f].reshape(-1, n) + bc
        expected[f] = np.linalg.solve(mat, rhs.T).T.reshape(lines0[f].shape)
    expected = np.moveaxis(expected, -1, SWEEP_AXIS[axis])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_thomas_factors_finite_for_degenerate_lines():
    """The factorisation is defined for every line length, even with r = 0 and k = 0."""
    for n in (1, 2, 5):
        for r in (0.0, 1e-8, 1.0, 1e6):
            cp, inv = thomas_factors(n, r, 0.0, False, False)
            assert np.all(np.isfinite(cp)) and np.all(np.isfinite(inv))
            assert cp[-1] == 0.0


def test_transport_step_equals_dense_kronecker_solves(backend, rng):
    """One LOD step == P_z P_y P_x c with dense Kronecker factors, decay whole in the x sweep.

    P_a = (I + k_a I - dt D L_a)^{-1} (c + wall terms of axis a), k_x = λ dt, k_y = k_z = 0.
    Anisotropic spacing, a non-cubic grid and mixed wall conditions.
    """
    shape = (3, 4, 5)  # (nz, ny, nx)
    spacing = (10.0, 17.0, 23.0)  # (dx, dy, dz) µm
    dt, diffusivity, decay = 0.05, 800.0, 3.0  # min, µm²/min, 1/min
    boundary = st.Boundary(x_min=2.0, y_max=5.0, z_min=1.0, z_max=4.0)
    grid = st.Grid(backend, shape, spacing=spacing)
    fields = st.Fields(grid, s=st.Species(diffusivity=diffusivity, decay=decay, boundary=boundary))
    c0 = rng.uniform(0.0, 6.0, size=shape)
    fields.values[0] = backend.asarray(c0)
    st.Transport(fields, dt).step()
    got = backend.asnumpy(fields.values[0])

    nz, ny, nx = shape
    walls = boundary.values()
    expected = c0.reshape(-1)
    for a, (n, h) in enumerate(zip((nx, ny, nz), spacing, strict=True)):
        lo, hi = walls[2 * a], walls[2 * a + 1]
        lap, w_lo, w_hi = laplacian_1d(n, h, lo is not None, hi is not None)
        wall_term = dt * diffusivity * (w_lo * (lo or 0.0) + w_hi * (hi or 0.0))
        k = dt * decay if a == 0 else 0.0
        line = (1.0 + k) * np.eye(n) - dt * diffusivity * lap
        eye = [np.eye(nz), np.eye(ny), np.eye(nx)]
        ones = [np.ones(nz), np.ones(ny), np.ones(nx)]
        eye[2 - a] = line  # array axis of spatial axis a
        ones[2 - a] = wall_term
        mat = np.kron(np.kron(eye[0], eye[1]), eye[2])
        bc = np.kron(np.kron(ones[0], ones[1]), ones[2])
        expected = np.linalg.solve(mat, expected + bc)
    np.testing.assert_allclose(got, expected.reshape(shape), rtol=1e-12, atol=1e-12)
