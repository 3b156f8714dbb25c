"""Diffusion–decay of all species: implicit LOD (default) or explicit, plus implicit sources."""

from __future__ import annotations

import numpy as np

from .fields import Fields

AXES = ("x", "y", "z")


def thomas_factors(n: int, r: float, decay_dt: float, dirichlet_lo: bool, dirichlet_hi: bool):
    """Factorise one line matrix of the implicit 1D step.

    Parameters
    ----------
    n : number of voxels along the line
    r : ``dt D / h²`` (dimensionless)
    decay_dt : the decay share of this sweep (``dt λ`` in the x sweep, 0 in y and z)
    dirichlet_lo, dirichlet_hi : whether the low / high wall holds a Dirichlet value

    Returns
    -------
    cprime, inv_denom : (n,) float64 arrays for :func:`reference.lod_sweep`
    """
    interior = np.full(n, 2.0)
    interior[0] -= 1.0
    interior[-1] -= 1.0
    b = 1.0 + decay_dt + r * interior
    b[0] += 2.0 * r * dirichlet_lo
    b[-1] += 2.0 * r * dirichlet_hi
    a = -r
    cprime = np.zeros(n)
    inv_denom = np.zeros(n)
    denom = b[0]
    for i in range(n):  # length-n recurrence, done once per species and axis at set-up
        if i > 0:
            denom = b[i] - a * cprime[i - 1]
        inv_denom[i] = 1.0 / denom
        cprime[i] = a / denom if i < n - 1 else 0.0
    return cprime, inv_denom


class Transport:
    """Advance every species by one diffusion step ``dt`` [min].

    LOD species are swept x → y → z (one kernel launch per axis for all of them);
    explicit species take one forward-Euler step into a scratch buffer.

    ``graph=True`` (CuPy backend; ignored on NumPy) replays the launches of a step as one
    CUDA graph (:class:`~spatialtumor.backends.cupy_graph.StepGraph`), captured again
    whenever the step length or a buffer changes; where capture fails the step runs as
    plain launches (``graph_status`` says which).
    """

    def __init__(self, fields: Fields, dt: float, *, graph: bool = False):
        self.fields = fields
        self._generation = 0
        self._graph = None
        be = fields.grid.backend
        if graph and be.name == "cupy":
            from .backends.cupy_graph import StepGraph

            self._graph = StepGraph(be.xp)
        #: host (nf, 6) Dirichlet kind (1) per face and the wall values [field units]
        self._face_kind, self._face_value = fields.boundary_arrays()
        self._build(float(dt))

    def _build(self, dt: float) -> None:
        """Factorise the line matrices for the step ``dt`` [min] (once per step length)."""
        fields = self.fields
        self.dt = float(dt)
        self._generation += 1  # new coefficient buffers: a captured step is stale
        grid = fields.grid
        be = grid.backend
        kind, value = self._face_kind, self._face_value
        diff = np.array([fields.species[n].diffusivity for n in fields.names], dtype=np.float64)
        decay = np.array([fields.species[n].decay for n in fields.names], dtype=np.float64)
        nl = fields.n_lod
        self._lod = []
        self._r = []
        for a, axis in enumerate(AXES):
            n = int(grid.global_counts_xyz[a])  # whole lines (a sub-box sweeps them whole)
            r = self.dt * diff[:nl] / grid.spacing[a] ** 2
            self._r.append(r)
            cp = np.zeros((nl, n))
            inv = np.zeros((nl, n))
            for f in range(nl):
                # all decay goes into the first (x) sweep: later sweeps would otherwise
                # attenuate the Dirichlet wall values already imposed (see docs/MODEL.md)
                decay_dt = self.dt * decay[f] if axis == "x" else 0.0
                cp[f], inv[f] = thomas_factors(
                    n, r[f], decay_dt, kind[f, 2 * a] == 1, kind[f, 2 * a + 1] == 1
                )
            lo = 2.0 * r * value[:nl, 2 * a] * kind[:nl, 2 * a]
            hi = 2.0 * r * value[:nl, 2 * a + 1] * kind[:nl, 2 * a + 1]
            self._lod.append(
                (
                    axis,
                    be.asarray(cp),
                    be.asarray(inv),
                    be.asarray(-r),
                    be.asarray(lo),
                    be.asarray(hi),
                )
            )
        ne = len(fields) - nl
        self._explicit = None
        if ne:
            for f in range(nl, len(fields)):
                limit = explicit_stability_limit(diff[f], grid.spacing, decay[f])
                if self.dt > limit:
                    raise ValueError(
                        f"explicit step for field {fields.names[f]!r} is unstable: dt_diffusion "
                        f"= {self.dt} min > {limit:.4g} min = 1 / (2 D Σ 1/h² + λ)"
                    )
            self._explicit = (
                be.asarray(1.0 / grid.spacing**2),
                be.asarray(diff[nl:]),
                be.asarray(decay[nl:]),
                be.xp.asarray(kind[nl:]),
                be.asarray(value[nl:]),
                grid.zeros((ne,)),
            )

    def set_boundary(self, name: str, value: float) -> None:
        """Set the wall value [field units] of every Dirichlet face of field ``name``.

        The line matrices depend on which faces are Dirichlet, not on their values, so
        nothing is refactorised or allocated: the new value goes into the existing
        per-field numbers of the sweeps (a few scalar writes to the device), and only when
        it changed. Faces that are zero-flux stay so.
        """
        f = self.fields.index(name)
        value = float(value)
        faces = np.flatnonzero(self._face_kind[f] == 1)
        if faces.size == 0 or np.all(self._face_value[f, faces] == value):
            return
        self._face_value[f, faces] = value
        nl = self.fields.n_lod
        if f < nl:
            for a, (_axis, _cp, _inv, _off, lo, hi) in enumerate(self._lod):
                r = self._r[a][f]
                if self._face_kind[f, 2 * a]:
                    lo[f] = 2.0 * r * value
                if self._face_kind[f, 2 * a + 1]:
                    hi[f] = 2.0 * r * value
        else:
            walls = self._explicit[4]
            for face in faces:
                walls[f - nl, int(face)] = value

    def boundary_value(self, name: str) -> np.ndarray:
        """(6,) host wall values of field ``name`` [field units] (NaN on zero-flux faces)."""
        f = self.fields.index(name)
        return np.where(self._face_kind[f] == 1, self._face_value[f], np.nan)

    def step(self, dt: float | None = None, source=None, uptake=None) -> None:
        """Diffuse and decay all species over ``dt`` [min] in place (default: the last step).

        A new ``dt`` refactorises the line matrices once; the simulation passes the
        clock's ``dt_diffusion`` every step, so a changed clock takes effect at once.

        With ``source`` S [units/min] and ``uptake`` U [1/min] (arrays of the field shape)
        the implicit source step ``c ← (c + dt S)/(1 + dt U)`` comes first, as
        ``kernels.apply_sources`` followed by this step would do; for the LOD species it is
        fused into the x sweep (``kernels.lod_sweep_sources``), saving a pass over the fields.
        """
        if dt is not None and float(dt) != self.dt:
            self._build(float(dt))
        if (source is None) != (uptake is None):
            raise ValueError("give both source and uptake, or neither")
        if self._graph is None:
            self._advance(source, uptake)
            return
        key = (self._generation, self.dt) + tuple(
            None if a is None else int(a.data.ptr) for a in (self.fields.values, source, uptake)
        )
        self._graph.run(key, lambda: self._advance(source, uptake))

    @property
    def graph_status(self) -> str:
        """The state of graph replay: ``off``, ``on (n captures, m launches)`` or
        ``fell back: <why capture failed>``."""
        g = self._graph
        if g is None:
            return "off"
        if g.disabled is not None:
            return f"fell back: {g.disabled}"
        return f"on ({g.captures} captures, {g.launches} launches)"

    def _advance(self, source, uptake) -> None:
        """The launches of one step (the same sequence every step for a given ``dt``)."""
        k = self.fields.grid.backend.kernels
        values = self.fields.values
        nl = self.fields.n_lod
        if source is not None and nl < len(self.fields):
            k.apply_sources(values[nl:], source[nl:], uptake[nl:], self.dt)
        if nl:
            lod_block = values[:nl]
            for a, sweep in enumerate(self._lod):
                if a == 0 and source is not None:
                    self._sweep(lod_block, sweep, source[:nl], uptake[:nl])
                else:
                    self._sweep(lod_block, sweep)
        if self._explicit is not None:
            self._explicit_step(values[nl:])

    def _sweep(self, block, sweep, source=None, uptake=None) -> None:
        """One LOD sweep of ``block`` (the implicit source step fused in when given)."""
        k = self.fields.grid.backend.kernels
        axis, cp, inv, off, lo, hi = sweep
        if source is not None:
            k.lod_sweep_sources(block, axis, cp, inv, off, lo, hi, source, uptake, self.dt)
        else:
            k.lod_sweep(block, axis, cp, inv, off, lo, hi)

    def _explicit_step(self, block) -> None:
        """One explicit step of the explicit species ``block``, in place."""
        k = self.fields.grid.backend.kernels
        inv_h2, diff, decay, kind, value, scratch = self._explicit
        k.explicit_step(block, scratch, self.dt, inv_h2, diff, decay, kind, value)
        block[...] = scratch


def explicit_stability_limit(diffusivity, spacing, decay=None) -> float:
    """Largest explicit step that keeps every species monotone (and so non-negative) [min].

    ``min over species of 1 / (2 D Σ 1/h² + λ)``; inf when no species diffuses or decays.
    """
    d = np.atleast_1d(np.asarray(diffusivity, dtype=np.float64))
    lam = np.zeros_like(d) if decay is None else np.atleast_1d(np.asarray(decay, dtype=float))
    rate = 2.0 * d * float(np.sum(1.0 / np.asarray(spacing, dtype=np.float64) ** 2)) + lam
    if rate.size == 0 or float(np.max(rate)) == 0.0:
        return float("inf")
    return float(1.0 / np.max(rate))
