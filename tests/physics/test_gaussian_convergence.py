"""Observed orders of accuracy of the transport schemes on a spreading Gaussian pulse.

Exact solution: a pulse of mass M released at ``x0`` at time ``-t0`` in free space,
``c(r, t) = M / (4πD(t+t0))^{3/2} exp(-r² / (4D(t+t0))) e^{-λt}``. In the box with zero-flux
walls the exact solution is the same pulse plus its mirror images in the walls (method of
images, a product of 1D image sums), so the walls need not be far away; the voxel faces on the
box surface are the mirrors (cell-centred grid).

Space. The error against the exact solution is measured on 16³ … 48³ voxels with
``dt = r h² / D``, ``r = 0.01``. The leading time error of backward Euler relative to the
leading space error is about ``6 r`` (Fourier analysis of one mode), i.e. 6 % at every h, so
it cannot bend the fitted slope: the slope is the spatial order.

Time. The spatial error does not vanish at any fixed dx, and compared with the exact solution
it bends the time slope (at 32³ the error saturates near the spatial error ≈ 5·10⁻³). The time
error is therefore measured against the exact solution of the *spatially discrete* system
``dc/dt = D (L_x + L_y + L_z) c - λ c`` on the same grid (a product of 1D matrix exponentials,
computed from eigendecompositions), which removes the spatial error exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import spatialtumor as st

D = 1000.0  # µm²/min
DECAY = 0.2  # 1/min
MASS = 1.0e4  # units · µm³
BOX = 480.0  # µm, edge of the cubic domain
X0 = (230.0, 250.0, 240.0)  # pulse centre (x, y, z) [µm], off the grid's symmetry planes
SIGMA0 = 60.0  # µm, initial standard deviation per axis
T0 = SIGMA0**2 / (2 * D)  # min, age of the pulse at t = 0
T_END = 0.9  # min; σ grows from 60 to 73 µm, the peak falls by 45 %


def pulse_1d(x, centre, t, images=3):
    """1D Neumann-box solution (free-space pulse + mirror images) at x [µm], time t [min]."""
    s = 4 * D * (t + T0)
    out = np.zeros_like(x)
    for k in range(-images, images + 1):
        out += np.exp(-((x - centre - 2 * k * BOX) ** 2) / s)
        out += np.exp(-((x + centre - 2 * k * BOX) ** 2) / s)
    return out / np.sqrt(np.pi * s)


def exact(grid: st.Grid, t: float) -> np.ndarray:
    """Exact (nz, ny, nx) concentration at the voxel centres at time t [min] [units]."""
    gx, gy, gz = (pulse_1d(grid.centres(a), X0[i], t) for i, a in enumerate("xyz"))
    return MASS * np.exp(-DECAY * t) * gz[:, None, None] * gy[None, :, None] * gx[None, None, :]


def semi_discrete(grid: st.Grid, c0: np.ndarray, t: float) -> np.ndarray:
    """Exact solution at time t [min] of the space-discrete ODE with zero-flux walls."""
    props = []
    for n, h in zip(grid.counts_xyz, grid.spacing, strict=True):
        lap = (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)) / h**2
        lap[0, 0] = lap[-1, -1] = 1.0 / h**2  # ghost = edge value
        w, v = np.linalg.eigh(lap)
        props.append((v * np.exp(-t * D * w)) @ v.T)
    ex, ey, ez = props
    c = np.einsum("zZ,yY,xX,ZYX->zyx", ez, ey, ex, c0, optimize=True)
    return np.exp(-DECAY * t) * c


def run(backend, n: int, steps: int, solver: str):
    """Advance the pulse on n³ voxels to T_END in ``steps`` steps; return (grid, c0, c(T))."""
    grid = st.Grid(backend, (n, n, n), spacing=BOX / n)
    fields = st.Fields(grid, pulse=st.Species(D, decay=DECAY, solver=solver))
    c0 = exact(grid, 0.0)
    fields.values[0] = backend.asarray(c0)
    transport = st.Transport(fields, T_END / steps)
    for _ in range(steps):
        transport.step()
    return grid, c0, backend.asnumpy(fields.values[0])


def rel_max_error(c, ref):
    return float(np.abs(c - ref).max() / np.abs(ref).max())


def fitted_order(steps, errors):
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def test_lod_is_second_order_in_space(backend):
    hs, errors = [], []
    for n in (16, 24, 32, 48):
        h = BOX / n
        steps = int(round(T_END * D / (0.01 * h**2)))  # r = D dt / h² = 0.01
        grid, _, c = run(backend, n, steps, "lod")
        hs.append(h)
        errors.append(rel_max_error(c, exact(grid, T_END)))
    order = fitted_order(hs, errors)
    local = np.diff(np.log(errors)) / np.diff(np.log(hs))
    print(f"\nLOD space: h={hs} µm errors={np.round(errors, 6)} order={order:.3f} local={local}")
    assert 1.7 <= order <= 2.3
    assert errors[-1] < 5e-3


def test_lod_is_first_order_in_time(backend):
    n = 32  # h = 15 µm
    dts, errors, vs_exact = [], [], []
    for steps in (8, 16, 32, 64):  # dt = 0.11 … 0.014 min; D dt / h² = 0.5 … 0.06
        grid, c0, c = run(backend, n, steps, "lod")
        dts.append(T_END / steps)
        errors.append(rel_max_error(c, semi_discrete(grid, c0, T_END)))
        vs_exact.append(rel_max_error(c, exact(grid, T_END)))
    order = fitted_order(dts, errors)
    print(
        f"\nLOD time on {n}³: dt={np.round(dts, 4)} min errors={np.round(errors, 6)} "
        f"order={order:.3f}; against the analytic pulse (saturates): {np.round(vs_exact, 5)}"
    )
    assert 0.8 <= order <= 1.2


def test_explicit_is_first_order_in_time(backend):
    n = 16  # h = 30 µm; stability limit h² / (6 D) = 0.15 min
    dts, errors = [], []
    for steps in (16, 32, 64, 128):  # dt = 0.056 … 0.007 min, all below the limit
        grid, c0, c = run(backend, n, steps, "explicit")
        dts.append(T_END / steps)
        errors.append(rel_max_error(c, semi_discrete(grid, c0, T_END)))
    order = fitted_order(dts, errors)
    print(
        f"\nexplicit time on {n}³: dt={np.round(dts, 4)} errors={np.round(errors, 6)} {order=:.3f}"
    )
    assert 0.8 <= order <= 1.2


def test_references_agree_with_each_other():
    """The semi-discrete reference tends to the analytic pulse at second order in h.

    Guards the two references used above against each other (no solver involved).
    """
    backend = st.get_backend("numpy", "float64")
    errors = []
    for n in (16, 32):
        grid = st.Grid(backend, (n, n, n), spacing=BOX / n)
        ref = semi_discrete(grid, exact(grid, 0.0), T_END)
        errors.append(rel_max_error(ref, exact(grid, T_END)))
    assert 3.5 < errors[0] / errors[1] < 4.5


def neumann_matrix(n: int, h: float) -> np.ndarray:
    """-L_h of one axis with zero-flux walls (ghost = edge value) [1/µm²]."""
    lap = (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)) / h**2
    lap[0, 0] = lap[-1, -1] = 1.0 / h**2
    return lap


def test_explicit_and_lod_agree_for_slow_species(backend):
    """Slow species (D = 50 µm²/min, λ = 0.01/min): both schemes within their O(dt) error.

    With A = A_x + A_y + A_z (A_x = -D L_x + λ, A_y = -D L_y, A_z = -D L_z, commuting), one
    step of LOD is ``Π (1 + dt A_a)^{-1} = 1 - dt A + dt² (A² - Σ_{a<b} A_a A_b) + O(dt³)``
    and one explicit step is ``1 - dt A``, so after time T
    ``c_LOD - c_explicit = T dt (A² - Σ_{a<b} A_a A_b) c(T) + O(dt²)``.
    The observed difference must match this prediction and halve with dt.
    """
    diffusivity, decay, t_end = 50.0, 0.01, 60.0  # µm²/min, 1/min, min
    shape, spacing = (10, 12, 14), (20.0, 25.0, 30.0)  # (nz, ny, nx), (dx, dy, dz) µm
    grid = st.Grid(backend, shape, spacing=spacing)
    z, y, x = np.meshgrid(*(grid.centres(a) for a in "zyx"), indexing="ij")
    c0 = 1.0 + 4.0 * np.exp(-((x - 150) ** 2 + (y - 130) ** 2 + (z - 110) ** 2) / (2 * 60.0**2))
    ops = [
        diffusivity * neumann_matrix(n, h) for n, h in zip(grid.counts_xyz, spacing, strict=True)
    ]
    ops[0] = ops[0] + decay * np.eye(len(ops[0]))

    def apply(axis: int, u: np.ndarray) -> np.ndarray:
        """A_axis u, axis 0 = x (last array axis)."""
        return np.moveaxis(np.tensordot(ops[axis], u, axes=([1], [2 - axis])), 0, 2 - axis)

    diffs = []
    for steps in (40, 80):  # dt = 1.5, 0.75 min; explicit limit 1/(2 D Σ 1/h²) = 1.92 min
        dt = t_end / steps
        results = {}
        for solver in ("lod", "explicit"):
            fields = st.Fields(grid, s=st.Species(diffusivity, decay=decay, solver=solver))
            fields.values[0] = backend.asarray(c0)
            transport = st.Transport(fields, dt)
            for _ in range(steps):
                transport.step()
            results[solver] = backend.asnumpy(fields.values[0])
        exact = semi_discrete_general(ops, c0, t_end)
        a_c = sum(apply(a, exact) for a in range(3))
        a2_c = sum(apply(a, a_c) for a in range(3))
        cross = sum(apply(a, apply(b, exact)) for a in range(3) for b in range(a + 1, 3))
        predicted = t_end * dt * (a2_c - cross)
        observed = results["lod"] - results["explicit"]
        mismatch = np.abs(observed - predicted).max() / np.abs(predicted).max()
        print(
            f"\ndt={dt}: max|LOD - explicit| = {np.abs(observed).max():.3e}, "
            f"predicted {np.abs(predicted).max():.3e}, mismatch {mismatch:.2%}"
        )
        assert mismatch < 0.1
        for solver, c in results.items():  # each within its own leading error of the exact
            assert np.abs(c - exact).max() < 2 * np.abs(predicted).max(), solver
        diffs.append(np.abs(observed).max())
    assert 1.8 < diffs[0] / diffs[1] < 2.2


def semi_discrete_general(ops, c0, t):
    """exp(-t (A_x + A_y + A_z)) c0 for symmetric commuting per-axis matrices ``ops``."""
    props = []
    for op in ops:
        w, v = np.linalg.eigh(op)
        props.append((v * np.exp(-t * w)) @ v.T)
    ex, ey, ez = props
    return np.einsum("zZ,yY,xX,ZYX->zyx", ez, ey, ex, c0, optimize=True)


def test_explicit_refuses_unstable_dt_and_names_the_field(numpy_backend):
    grid = st.Grid(numpy_backend, (4, 5, 6), spacing=(10.0, 20.0, 20.0))
    fields = st.Fields(
        grid,
        oxygen=st.Species(1.0e5),  # LOD: any dt
        slow=st.Species(10.0, solver="explicit"),
        fast=st.Species(1000.0, solver="explicit"),
    )
    limit = 1.0 / (2 * 1000.0 * (1 / 10.0**2 + 2 / 20.0**2))  # 0.0333 min
    st.Transport(fields, 0.99 * limit)
    with pytest.raises(ValueError, match=r"'fast'.*unstable"):
        st.Transport(fields, 1.01 * limit)
    lod_only = st.Fields(grid, oxygen=st.Species(1.0e5))
    st.Transport(lod_only, 100.0)  # implicit: unconditionally stable


def test_explicit_step_accepted_by_transport_is_stable_with_decay(numpy_backend):
    """An accepted explicit step must not amplify a checkerboard or make values negative.

    Forward Euler multiplies the mode of eigenvalue μ of -L_h by ``1 - dt (D μ + λ)``, so the
    highest mode (μ → 4 Σ 1/h²) needs ``dt ≤ 2 / (4 D Σ 1/h² + λ)``, and non-negative weights
    need ``dt ≤ 1 / (2 D Σ 1/h² + λ)``. Either Transport refuses dt, or the step is stable.
    """
    diffusivity, decay = 1000.0, 1.0  # µm²/min, 1/min
    grid = st.Grid(numpy_backend, (24, 24, 24), spacing=20.0)
    fields = st.Fields(grid, s=st.Species(diffusivity, decay=decay, solver="explicit"))
    k, j, i = np.indices(grid.shape)
    fields.values[0] = 1.0 + 0.01 * (-1.0) ** (i + j + k)  # units, all positive
    dt = 1.0 / (2 * diffusivity * 3 / 20.0**2)  # the limit Transport accepts (0.0667 min)
    try:
        transport = st.Transport(fields, dt)
    except ValueError:
        return  # refusing is a correct answer
    for _ in range(200):
        transport.step()
    c = fields.values[0]
    assert c.min() >= 0.0 and np.abs(c).max() <= 1.01
