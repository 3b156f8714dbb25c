"""Steady states of a decaying species held at a Dirichlet value on the walls.

1D slab of thickness ``2a`` with ``c = c_b`` on both walls and ``D c'' = λ c`` inside:
``c(x) = c_b cosh((x - a) / L) / cosh(a / L)``, ``L = sqrt(D / λ)``.

Choice of dt. Along x the LOD step of a slab is one backward-Euler solve whose fixed point is
the discrete steady state ``D L_h c = λ c`` for *any* dt, so dt only sets how fast it is
reached: the slowest error mode shrinks by ``1 / (1 + dt (λ + D π² / (2a)²))`` per step and a
large dt converges in a few dozen steps. Along y and z the decay is applied in the x sweep,
before the wall values enter, and the fixed point solves the same problem with
``λ_eff = λ / (1 + λ dt)`` (docs/MODEL.md, Transport): there dt must satisfy ``λ dt ≪ 1``
(we take ``λ dt = 2·10⁻³``, which moves L by 0.1 %), and a separate test pins the documented
``λ_eff`` at a large dt.
"""

from __future__ import annotations

import numpy as np
import pytest

import spatialtumor as st

D_OXYGEN = 1.0e5  # µm²/min
WALL = 38.0  # mmHg
H = 20.0  # µm


def cosh_profile(x, a, length):
    """``c_b cosh((x - a)/L) / cosh(a/L)`` [mmHg] at positions x [µm]."""
    return WALL * np.cosh((x - a) / length) / np.cosh(a / length)


def relax(transport: st.Transport, fields: st.Fields, tol: float, max_steps: int) -> int:
    """Step until the largest change per step is below ``tol`` [mmHg]; return the step count.

    The check runs every 50 steps (a host copy per check, not per step).
    """
    be = fields.grid.backend
    for step in range(1, max_steps + 1):
        if step % 50:
            transport.step()
            continue
        before = be.asnumpy(fields.values).copy()
        transport.step()
        if np.abs(be.asnumpy(fields.values) - before).max() < tol:
            return step
    raise AssertionError(f"no steady state after {max_steps} steps")


def slab(backend, axis: str, n: int, decay: float, dt: float):
    """A one-voxel-thick slab along ``axis`` with Dirichlet walls on that axis only."""
    shape = [1, 1, 1]
    shape[2 - "xyz".index(axis)] = n
    grid = st.Grid(backend, tuple(shape), spacing=H)
    walls = st.Boundary(**{f"{axis}_min": WALL, f"{axis}_max": WALL})
    fields = st.Fields(grid, oxygen=st.Species(D_OXYGEN, decay=decay, boundary=walls))
    return grid, fields, st.Transport(fields, dt)


# (decay [1/min], voxels across the slab). λ = 0.1: L = 1000 µm = 50 voxels, slab 1000 µm.
# λ = 10: L = 100 µm = 5 voxels, slab 400 µm, the centre is at c_b / cosh(2) = 0.27 c_b.
CASES = [(0.1, 50), (10.0, 20)]


@pytest.mark.parametrize("decay, n", CASES)
def test_slab_along_x_matches_cosh_for_any_dt(backend, decay, n):
    length = np.sqrt(D_OXYGEN / decay)
    profiles = []
    for dt in (0.01, 1.0):  # PhysiCell's diffusion step, and a step 100× larger
        grid, fields, transport = slab(backend, "x", n, decay, dt)
        relax(transport, fields, tol=1e-10 * WALL, max_steps=20_000)
        c = backend.asnumpy(fields.values[0, 0, 0])
        exact = cosh_profile(grid.centres("x"), n * H / 2, length)
        err = np.abs(c / exact - 1).max()
        print(f"x slab λ={decay}/min dt={dt} min: max relative error {err:.2e}")
        assert err < 0.01
        profiles.append(c)
    # the fixed point of the x sweep does not depend on dt (to the relaxation tolerance:
    # a change per step below tol leaves at most tol / (dt μ_min) ≈ 90 tol to go at dt = 0.01)
    np.testing.assert_allclose(profiles[0], profiles[1], rtol=1e-7)


def test_slab_with_dirichlet_walls_converges_at_second_order_in_h(backend):
    """The ghost rule 2 c_b - c_edge has an O(1) local error at the edge voxel (the edge
    Laplacian reads ¾ c''), yet the solution error is O(h²): 400 µm slab, L = 100 µm."""
    decay, width = 10.0, 400.0  # 1/min, µm
    length = np.sqrt(D_OXYGEN / decay)
    hs, errors = [], []
    for n in (10, 20, 40, 80):  # h = 40 … 5 µm
        grid = st.Grid(backend, (1, 1, n), spacing=width / n)
        walls = st.Boundary(x_min=WALL, x_max=WALL)
        fields = st.Fields(grid, oxygen=st.Species(D_OXYGEN, decay=decay, boundary=walls))
        relax(st.Transport(fields, 10.0), fields, tol=1e-12 * WALL, max_steps=1_000)
        c = backend.asnumpy(fields.values[0, 0, 0])
        exact = cosh_profile(grid.centres("x"), width / 2, length)
        hs.append(width / n)
        errors.append(np.abs(c / exact - 1).max())
    order = float(np.polyfit(np.log(hs), np.log(errors), 1)[0])
    print(f"Dirichlet slab: h={hs} errors={np.round(errors, 6)} order={order:.3f}")
    assert 1.8 <= order <= 2.2


@pytest.mark.parametrize("axis", ["y", "z"])
@pytest.mark.parametrize("decay, n", CASES)
def test_slab_along_y_z_matches_cosh_when_decay_dt_is_small(backend, axis, decay, n):
    length = np.sqrt(D_OXYGEN / decay)
    dt = 2e-3 / decay  # λ dt = 2e-3: λ_eff differs from λ by 0.2 %, L by 0.1 %
    grid, fields, transport = slab(backend, axis, n, decay, dt)
    # start from the wall value: the slowest mode then decays as exp(-(λ + D π²/(2a)²) t)
    fields.values[...] = WALL
    relax(transport, fields, tol=1e-10 * WALL, max_steps=40_000)
    c = backend.asnumpy(fields.values[0]).ravel()
    exact = cosh_profile(grid.centres(axis), n * H / 2, length)
    err = np.abs(c / exact - 1).max()
    print(f"{axis} slab λ={decay}/min dt={dt:g} min: max relative error {err:.2e}")
    assert err < 0.01


@pytest.mark.parametrize("axis", ["y", "z"])
def test_slab_along_y_z_has_documented_effective_decay(backend, axis):
    """At λ dt = 1 the y/z steady state is the cosh with λ_eff = λ / (1 + λ dt), wall kept."""
    decay, n, dt = 10.0, 20, 0.1  # 1/min, voxels, min
    grid, fields, transport = slab(backend, axis, n, decay, dt)
    relax(transport, fields, tol=1e-12 * WALL, max_steps=5_000)
    c = backend.asnumpy(fields.values[0]).ravel()
    x = grid.centres(axis)
    l_eff = np.sqrt(D_OXYGEN * (1 + decay * dt) / decay)
    err_eff = np.abs(c / cosh_profile(x, n * H / 2, l_eff) - 1).max()
    err_true = np.abs(c / cosh_profile(x, n * H / 2, np.sqrt(D_OXYGEN / decay)) - 1).max()
    print(f"{axis} slab λ dt = 1: error vs λ_eff cosh {err_eff:.2e}, vs λ cosh {err_true:.2e}")
    assert err_eff < 0.01
    assert err_true > 0.1  # the documented dt dependence is real, not a small effect


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_explicit_slab_matches_cosh(backend, axis):
    """Forward Euler's fixed point is the discrete steady state for any stable dt.

    A slower species (D = 1000 µm²/min, λ = 0.1/min: L = 100 µm = 5 voxels) keeps the
    explicit step affordable; dt = 0.9 × the limit 1 / (2 D Σ 1/h²).
    """
    diffusivity, decay, n = 1000.0, 0.1, 20
    shape = [1, 1, 1]
    shape[2 - "xyz".index(axis)] = n
    grid = st.Grid(backend, tuple(shape), spacing=H)
    walls = st.Boundary(**{f"{axis}_min": WALL, f"{axis}_max": WALL})
    species = st.Species(diffusivity, decay=decay, boundary=walls, solver="explicit")
    fields = st.Fields(grid, s=species)
    dt = 0.9 / (2 * diffusivity * 3 / H**2)
    relax(st.Transport(fields, dt), fields, tol=1e-13 * WALL, max_steps=20_000)
    c = backend.asnumpy(fields.values[0]).ravel()
    exact = cosh_profile(grid.centres(axis), n * H / 2, np.sqrt(diffusivity / decay))
    err = np.abs(c / exact - 1).max()
    print(f"explicit {axis} slab: max relative error {err:.2e}")
    assert err < 0.01


def exact_discrete_steady_state(shape, spacing, diffusivity, decay, wall):
    """Solve ``D (L_x + L_y + L_z) c - λ c = 0`` with Dirichlet walls via 1D eigenbases.

    Returns the (nz, ny, nx) steady state of the spatially discrete problem [units].
    """
    mats, vecs, vals = [], [], []
    for n, h in zip(shape[::-1], spacing, strict=True):  # x, y, z
        a = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
        a[0, 0] += 1.0  # ghost 2 c_b - c_edge
        a[-1, -1] += 1.0
        b = np.zeros(n)
        b[[0, -1]] = 2.0 * wall
        w, v = np.linalg.eigh(a / h**2)
        mats.append(b / h**2)
        vals.append(w)
        vecs.append(v)
    (bx, by, bz), (wx, wy, wz), (vx, vy, vz) = mats, vals, vecs
    rhs = diffusivity * (bz[:, None, None] + by[None, :, None] + bx[None, None, :])
    rhs = np.broadcast_to(rhs, shape)
    coef = np.einsum("Zz,Yy,Xx,ZYX->zyx", vz, vy, vx, rhs, optimize=True)
    coef /= diffusivity * (wz[:, None, None] + wy[None, :, None] + wx[None, None, :]) + decay
    return np.einsum("zZ,yY,xX,ZYX->zyx", vz, vy, vx, coef, optimize=True)


def test_box_with_dirichlet_faces_reaches_symmetric_steady_state(backend):
    """15³ box, Dirichlet on all six faces, λ = 10/min (L = 5 voxels).

    Mirror symmetry in every axis holds to round-off (every line operator is symmetric under
    reflection). Axis permutations are symmetries of the box but not of the LOD step (x → y → z
    order, decay in x), so they hold to O(λ dt); the LOD fixed point converges to the steady
    state of the spatially discrete problem at first order in dt.
    """
    shape, decay = (15, 15, 15), 10.0
    exact = exact_discrete_steady_state(shape, (H, H, H), D_OXYGEN, decay, WALL)
    deviations = []
    for dt in (4e-3, 2e-3, 1e-3):  # min; λ dt = 0.04 … 0.01
        grid = st.Grid(backend, shape, spacing=H)
        species = st.Species(D_OXYGEN, decay=decay, boundary=st.Boundary.dirichlet(WALL))
        fields = st.Fields(grid, oxygen=species)
        transport = st.Transport(fields, dt)
        relax(transport, fields, tol=1e-12 * WALL, max_steps=5_000)
        c = backend.asnumpy(fields.values[0])
        mirror = max(np.abs(c - np.flip(c, axis)).max() for axis in range(3)) / WALL
        perm = max(np.abs(c - c.transpose(p)).max() for p in [(0, 2, 1), (2, 1, 0), (1, 0, 2)])
        dev = np.abs(c / exact - 1).max()
        deviations.append(dev)
        print(
            f"box dt={dt:g}: mirror asym {mirror:.1e}, permutation asym {perm / WALL:.1e}, "
            f"vs discrete steady state {dev:.2e}"
        )
        assert mirror < 1e-13
        assert perm / WALL < 0.1 * decay * dt
        assert np.all(c > 0) and np.all(c < WALL)
        centre = c[7, 7, 7]
        assert centre == pytest.approx(c.min(), rel=1e-12)
    assert deviations[-1] < 0.01
    orders = np.log2(np.array(deviations[:-1]) / np.array(deviations[1:]))
    print(f"box: order in dt of the steady-state deviation {orders}")
    assert np.all((orders > 0.9) & (orders < 1.1))
