"""Kernel contract: every CUDA kernel against its NumPy twin, on random awkward inputs.

``spatialtumor check-backend`` calls :func:`kernel_contract` and prints
:func:`format_contract`. A check is a function ``check(backend, shape, dtype, rng) -> rows``
registered with :func:`register_check`; more kernels (the cell layer) register their own.

Each row is a dict with keys ``kernel``, ``case``, ``shape``, ``dtype``, ``max_abs``,
``max_rel`` (``max_abs / max |reference|``), ``tol`` and ``ok``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .backends import reference

#: grid shapes (nz, ny, nx): single voxel, odd sizes, rows not multiples of a warp, lines of
#: one, two and several 32-wide tiles
DEFAULT_SHAPES = ((1, 1, 1), (3, 5, 7), (16, 17, 33), (2, 3, 130), (40, 2, 1), (9, 33, 64))
#: number of species in every check
DEFAULT_SPECIES = 3
#: tolerance on ``max_rel`` per dtype
TOLERANCE = {"float32": 1e-4, "float64": 1e-11}

Check = Callable[..., list]
CHECKS: list[Check] = []


def register_check(check: Check) -> Check:
    """Add a contract check (usable as a decorator); each check appears once."""
    if check not in CHECKS:
        CHECKS.append(check)
    return check


def compare(kernel: str, case: str, got, want, shape, dtype) -> dict:
    """One contract row: ``got`` (kernel output on the host) against ``want`` (the twin's)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    name = np.dtype(dtype).name
    if got.shape != want.shape:
        max_abs = max_rel = float("inf")
    elif got.size == 0:
        max_abs = max_rel = 0.0
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(got - want)
        max_abs = float(np.max(diff)) if np.all(np.isfinite(diff)) else float("inf")
        scale = float(np.max(np.abs(want)))
        max_rel = max_abs / scale if scale > 0 else max_abs
    tol = TOLERANCE[name]
    ok = bool(np.isfinite(max_rel) and max_rel <= tol)
    return {
        "kernel": kernel,
        "case": case,
        "shape": tuple(int(s) for s in shape),
        "dtype": name,
        "max_abs": max_abs,
        "max_rel": max_rel,
        "tol": tol,
        "ok": ok,
    }


def kernel_contract(
    backend,
    shapes=DEFAULT_SHAPES,
    dtypes=("float32", "float64"),
    seed: int = 0,
    species: int = DEFAULT_SPECIES,
) -> list[dict]:
    """Run every registered check on every shape and dtype.

    Parameters
    ----------
    backend : Backend whose ``kernels`` and ``xp`` are checked (its own dtype is ignored)
    shapes : grid shapes (nz, ny, nx)
    dtypes : working precisions to check
    seed : seed of the random inputs
    species : number of species (nf) of the field arrays

    Returns
    -------
    list of row dicts (see the module docstring)
    """
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for check in CHECKS:
        for dtype in dtypes:
            for shape in shapes:
                rows.extend(check(backend, (species,) + tuple(shape), np.dtype(dtype), rng))
    return rows


def format_contract(rows: list[dict]) -> str:
    """Plain-text table of contract rows, with a summary line."""
    head = ("kernel", "case", "shape", "dtype", "max abs err", "max rel err", "tol", "")
    lines = [
        (
            r["kernel"],
            r["case"],
            "x".join(str(s) for s in r["shape"]),
            r["dtype"],
            f"{r['max_abs']:.3e}",
            f"{r['max_rel']:.3e}",
            f"{r['tol']:.0e}",
            "ok" if r["ok"] else "FAIL",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    out += [fmt.format(*line).rstrip() for line in lines]
    failed = sum(not r["ok"] for r in rows)
    out.append(
        f"{len(rows) - failed} of {len(rows)} checks passed"
        + (f", {failed} FAILED" if failed else "")
    )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
# random inputs


def random_boundaries(nf: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(bc_kind (nf, 6) int32, bc_value (nf, 6) float64)``, Dirichlet or zero flux."""
    kind = (rng.random((nf, 6)) < 0.5).astype(np.int32)
    value = rng.uniform(0.0, 40.0, (nf, 6)) * kind
    return kind, value


def lod_coefficients(nf: int, n: int, rng, decay: bool):
    """Random Thomas factors of ``nf`` line matrices of length ``n`` (float64, host).

    Returns ``cprime, inv_denom, offdiag, rhs_lo, rhs_hi`` as for ``reference.lod_sweep``;
    ``r = dt D / h²`` ranges over four decades (slow cytokines to oxygen).
    """
    from .transport import thomas_factors

    r = 10.0 ** rng.uniform(-2, 2, nf)
    k = rng.uniform(0.0, 0.5, nf) if decay else np.zeros(nf)
    kind, value = random_boundaries(nf, rng)
    cp = np.zeros((nf, n))
    inv = np.zeros((nf, n))
    for f in range(nf):
        cp[f], inv[f] = thomas_factors(n, r[f], k[f], bool(kind[f, 0]), bool(kind[f, 1]))
    lo = 2.0 * r * value[:, 0] * kind[:, 0]
    hi = 2.0 * r * value[:, 1] * kind[:, 1]
    return cp, inv, -r, lo, hi


def _to(backend, a, dtype):
    return backend.xp.asarray(np.ascontiguousarray(a, dtype=dtype))


def _x_sweep_modes(kernels) -> list:
    """Variants of the x sweep a kernel set offers (``None`` = its default)."""
    if not hasattr(kernels, "x_sweep"):
        return [None]
    return [None, "strided", "tiled", 2, "resident"]


def _with_x_sweep(kernels, mode):
    return kernels if mode is None else type(kernels)(x_sweep=mode)


# ---------------------------------------------------------------------------------------
# diffusion checks


@register_check
def check_lod_sweep(backend, shape, dtype, rng) -> list[dict]:
    """``lod_sweep`` along x (every x-sweep variant), y and z."""
    nf = shape[0]
    rows = []
    for axis, n in (("x", shape[3]), ("y", shape[2]), ("z", shape[1])):
        coeff = lod_coefficients(nf, n, rng, decay=axis == "x")
        c0 = rng.uniform(0.0, 50.0, shape).astype(dtype)
        host = [np.ascontiguousarray(a, dtype=dtype) for a in coeff]
        want = c0.copy()
        reference.lod_sweep(want, axis, *host)
        dev = [_to(backend, a, dtype) for a in host]
        for mode in _x_sweep_modes(backend.kernels) if axis == "x" else [None]:
            c = _to(backend, c0, dtype)
            _with_x_sweep(backend.kernels, mode).lod_sweep(c, axis, *dev)
            case = f"axis={axis}" + ("" if mode is None else f" x_sweep={mode}")
            rows.append(compare("lod_sweep", case, backend.asnumpy(c), want, shape, dtype))
    return rows


@register_check
def check_explicit_step(backend, shape, dtype, rng) -> list[dict]:
    """``explicit_step`` with random Dirichlet / zero-flux faces, output poisoned with NaN."""
    nf = shape[0]
    c0 = rng.uniform(0.0, 50.0, shape).astype(dtype)
    inv_h2 = 1.0 / rng.uniform(5.0, 30.0, 3) ** 2
    diffusivity = rng.uniform(0.0, 1e3, nf)
    decay = rng.uniform(0.0, 0.5, nf)
    dt = 0.4 / (2.0 * max(float(diffusivity.max()), 1e-12) * float(inv_h2.sum()))
    kind, value = random_boundaries(nf, rng)
    args = (inv_h2, diffusivity, decay)
    want = np.full(shape, np.nan, dtype=dtype)
    host = [np.ascontiguousarray(a, dtype=dtype) for a in args]
    reference.explicit_step(c0, want, dt, *host, kind, value.astype(dtype))
    c = _to(backend, c0, dtype)
    out = backend.xp.full(shape, np.nan, dtype=dtype)
    dev = [_to(backend, a, dtype) for a in host]
    backend.kernels.explicit_step(
        c, out, dt, *dev, backend.xp.asarray(kind), _to(backend, value, dtype)
    )
    return [compare("explicit_step", "random faces", backend.asnumpy(out), want, shape, dtype)]


@register_check
def check_apply_sources(backend, shape, dtype, rng) -> list[dict]:
    """``apply_sources`` with random non-negative sources and uptakes."""
    c0 = rng.uniform(0.0, 50.0, shape).astype(dtype)
    s = rng.uniform(0.0, 10.0, shape).astype(dtype)
    u = rng.uniform(0.0, 10.0, shape).astype(dtype)
    dt = 0.01
    want = c0.copy()
    reference.apply_sources(want, s, u, dt)
    c = _to(backend, c0, dtype)
    backend.kernels.apply_sources(c, _to(backend, s, dtype), _to(backend, u, dtype), dt)
    return [compare("apply_sources", "dt=0.01", backend.asnumpy(c), want, shape, dtype)]
