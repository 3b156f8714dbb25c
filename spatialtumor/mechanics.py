"""Cell mechanics: pair potentials, persistent random walk with chemotaxis, walls.

Overdamped, centre-based (PhysiCell; Macklin et al., PLoS Comput Biol 14:e1005991, 2018):
each mechanics step every cell moves by ``dt · v`` with

    v_i = Σ_j [c_rep (1 − d/R)²₊ − c_adh (1 − d/R_A)²₊] (x_i − x_j)/d  +  v_motility

(``R = r_i + r_j``, ``R_A = a_i r_i + a_j r_j``), integrated with forward Euler, the step
limited to ``max_displacement × radius`` and the centre kept inside the domain box.
Pair coefficients are the geometric means of the two kinds' coefficients, as PhysiCell
≥ 1.10 does (``sqrt(c_i c_j)``); any (nk, nk) matrix may be given instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import random as rnd
from .agents import CellKind, Population
from .binning import BinGrid, Binning
from .exchange import class_codes, sample_gradient, state_slots


def pair_coefficients(kinds: Sequence[CellKind]):
    """``(repulsion (nk, nk), adhesion (nk, nk), adhesion_distance (nk,))`` host float64.

    Pair coefficients are geometric means ``sqrt(c_i c_j)`` [µm/min].
    """
    rep = np.array([k.repulsion for k in kinds], dtype=np.float64)
    adh = np.array([k.adhesion for k in kinds], dtype=np.float64)
    reach = np.array([k.adhesion_distance for k in kinds], dtype=np.float64)
    return np.sqrt(np.outer(rep, rep)), np.sqrt(np.outer(adh, adh)), reach


def interaction_distance(kinds: Sequence[CellKind], growth: float = 2.0 ** (1.0 / 3.0)) -> float:
    """Longest centre distance at which two cells interact [µm], allowing radii to grow by
    ``growth`` (default: the radius of a cell whose volume doubled before division)."""
    r = np.array([k.radius for k in kinds]) * growth
    a = np.array([max(1.0, k.adhesion_distance) for k in kinds])
    return float(2.0 * np.max(a * r))


def limit_displacement(xp, dx, radius, fraction: float):
    """Scale each displacement (N, 3) [µm] down to at most ``fraction × radius`` [µm], in place."""
    norm = xp.sqrt(xp.sum(dx * dx, axis=1))
    cap = fraction * radius
    scale = xp.where(norm > cap, cap / xp.where(norm > 0, norm, 1), 1)
    dx *= scale[:, None]
    return dx


def apply_walls(xp, position, lower, upper, mode: str = "reflect"):
    """Keep centres (N, 3) [µm] inside ``[lower, upper]``, in place.

    "reflect" mirrors a centre that crossed a wall back inside (then clamps, for moves
    longer than the box); "clamp" puts it on the wall.
    """
    dt = position.dtype
    lo = xp.asarray(lower, dtype=dt)
    hi = xp.asarray(upper, dtype=dt)
    if mode == "reflect":
        position[...] = xp.where(position < lo, 2 * lo - position, position)
        position[...] = xp.where(position > hi, 2 * hi - position, position)
    elif mode != "clamp":
        raise ValueError(f"wall mode must be 'reflect' or 'clamp', not {mode!r}")
    xp.clip(position, lo, hi, out=position)
    return position


def drift_fraction(weight: float) -> float:
    """Mean of ``ê · normalise((1 − w) u + w ê)`` for ``u`` uniform on the sphere.

    With ``a = 1 − w`` and ``s = a² + w² + 2 a w μ`` (μ = u·ê uniform on [−1, 1]) the
    mean is ``1/(8 a w²) [⅔ s^{3/2} + 2 (w² − a²) s^{1/2}]`` between ``s = (a − w)²`` and 1.
    """
    w = float(weight)
    if w <= 0.0:
        return 0.0
    if w >= 1.0:
        return 1.0
    a = 1.0 - w

    def prim(r):  # r = √s
        return (2.0 / 3.0) * r**3 + 2.0 * (w * w - a * a) * r

    return (prim(1.0) - prim(abs(a - w))) / (8.0 * a * w * w)


def direction_weight(bias: float) -> float:
    """The weight ``w`` of the gradient in a new direction that makes the drift ``bias · v``.

    ``bias`` in [0, 1] is the mean fraction of the speed spent up the gradient; PhysiCell's
    rule ``normalise((1 − w) u + w ê)`` drifts at ``v E(w)`` (see :func:`drift_fraction`),
    so ``w = E⁻¹(bias)``, found by bisection (E rises monotonically from 0 to 1).
    """
    b = float(bias)
    if not 0.0 <= b <= 1.0:
        raise ValueError(f"chemotaxis bias must be in [0, 1], got {bias}")
    if b in (0.0, 1.0):
        return b
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if drift_fraction(mid) < b else (lo, mid)
    return 0.5 * (lo + hi)


def update_directions(
    xp,
    direction,
    ids,
    kind,
    alive,
    *,
    dt: float,
    persistence,
    bias,
    gradient,
    seed: int,
    step: int,
):
    """Persistent random walk with chemotactic bias: new directions where a switch occurs.

    Parameters
    ----------
    direction : (N, 3) — current unit directions (0 = none yet), updated in place
    ids, kind, alive : (N,) — cell ids (keys of the random draws), kind index, alive mask
    dt : mechanics step [min]
    persistence : (nk,) — τ per kind [min]; a cell switches with probability ``min(1, dt/τ)``
    bias : (nk,) — weight w of the gradient in a new direction, per kind [-]
        (:func:`direction_weight` of the drift fraction)
    gradient : (N, 3) or None — gradient of the attractant at each cell [units/µm]
    seed, step : keys of the counter-based draws

    Notes
    -----
    New direction ``normalise((1 − w) u + w ∇c/|∇c|)`` with u uniform on the sphere
    (PhysiCell's ``update_motility_vector``); where ``∇c = 0`` the walk is unbiased. A cell
    without a direction yet (zero vector) always switches.
    """
    p_switch = xp.minimum(1.0, dt / persistence)[kind]
    u = rnd.uniform(xp, seed, step, ids, "motility_switch", None)
    has_dir = xp.any(direction != 0, axis=1)
    switch = alive & ((u < p_switch) | ~has_dir)
    new = rnd.unit_vectors(xp, seed, step, ids, "motility_direction", dtype=direction.dtype)
    if gradient is not None:
        b = bias[kind][:, None]
        g = gradient.astype(direction.dtype, copy=False)
        gn = xp.sqrt(xp.sum(g * g, axis=1))[:, None]
        ghat = xp.where(gn > 0, g / xp.where(gn > 0, gn, 1), 0)
        w = (1 - b) * new + b * ghat
        wn = xp.sqrt(xp.sum(w * w, axis=1))[:, None]
        new = xp.where(wn > 0, w / xp.where(wn > 0, wn, 1), new)
    direction[...] = xp.where(switch[:, None], new, direction)
    return direction


class Mechanics:
    """The mechanics process: forces + motility → move → walls (run on the mechanics clock).

    Parameters
    ----------
    population : Population (its ``kinds`` give all coefficients)
    lower, upper : (x, y, z) corners of the box the centres stay in [µm]
    dt : mechanics step [min]
    seed : run seed (keys the motility draws)
    bin_size : mechanics bin edge [µm]; default :func:`interaction_distance` of the kinds
    max_displacement : largest move per step relative to the cell radius [-]
    walls : "reflect" or "clamp"
    fields : Fields holding the chemotaxis attractants (needed if any kind has one)
    repulsion, adhesion : optional (nk, nk) pair matrices [µm/min] replacing the
        geometric means (e.g. kind-to-kind adhesion affinities)
    neighbours : the shared :class:`~spatialtumor.cells.neighbours.Neighbours` of the
        population (default: a private one); forces use its sort over ``bins``

    Cells move at their kind's speed in living states that are not immobile
    (:attr:`CellKind.immobile_states`), and not at all in dead states. When run as a process,
    the step length is read from ``sim.clock.dt_mechanics`` at every call.
    """

    clock = "mechanics"

    def __init__(
        self,
        population: Population,
        lower,
        upper,
        dt: float,
        *,
        seed: int = 0,
        bin_size: float | None = None,
        max_displacement: float = 0.5,
        walls: str = "reflect",
        fields=None,
        repulsion=None,
        adhesion=None,
        neighbours=None,
    ):
        from .cells.neighbours import Neighbours

        if not dt > 0:
            raise ValueError(f"mechanics dt must be > 0 [min], got {dt}")
        if not 0 < max_displacement <= 1:
            raise ValueError(f"max_displacement must be in (0, 1], got {max_displacement}")
        if walls not in ("reflect", "clamp"):
            raise ValueError(f"walls must be 'reflect' or 'clamp', not {walls!r}")
        kinds = population.kinds
        self.population = population
        self.lower = tuple(float(v) for v in lower)
        self.upper = tuple(float(v) for v in upper)
        self.dt = float(dt)
        self.seed = int(seed)
        self.max_displacement = float(max_displacement)
        self.walls = walls
        self.fields = fields
        size = interaction_distance(kinds) if bin_size is None else float(bin_size)
        self.bins = BinGrid.covering(self.lower, self.upper, size)
        be = population.backend
        rep, adh, reach = pair_coefficients(kinds)
        if repulsion is not None:
            rep = np.asarray(repulsion, dtype=np.float64).reshape(len(kinds), len(kinds))
        if adhesion is not None:
            adh = np.asarray(adhesion, dtype=np.float64).reshape(len(kinds), len(kinds))
        self.repulsion = be.asarray(rep)
        self.adhesion = be.asarray(adh)
        self.adhesion_distance = be.asarray(reach)
        self.interacting = bool(np.any(rep) or np.any(adh))
        self.speed = be.asarray([k.speed for k in kinds])
        self.slots = state_slots(kinds)
        speed_table = np.zeros((len(kinds), self.slots))
        for i, k in enumerate(kinds):
            for j, st in enumerate(k.states):
                moving = st not in k.dead_states and st not in k.immobile_states
                speed_table[i, j] = k.speed if moving else 0.0
        # speed of every (kind, state) [µm/min]: 0 in dead and immobile states
        self.class_speed = be.asarray(speed_table.ravel())
        self.neighbours = neighbours if neighbours is not None else Neighbours(population)
        self.persistence = be.asarray([k.persistence for k in kinds])
        # the user's bias is the drift fraction; the direction rule needs its weight
        self.bias = be.asarray([direction_weight(k.chemotaxis_bias) for k in kinds])
        self.motile = any(k.speed > 0 for k in kinds)
        self.chemotaxis = sorted({k.chemotaxis_field for k in kinds if k.chemotaxis_field})
        if self.chemotaxis and fields is None:
            raise ValueError(f"chemotaxis toward {self.chemotaxis} needs the fields")
        for name in self.chemotaxis:
            fields.index(name)  # KeyError naming the fields if unknown
        self.kind_field = be.asarray(
            [
                self.chemotaxis.index(k.chemotaxis_field) if k.chemotaxis_field else -1
                for k in kinds
            ],
            dtype=np.int64,
        )
        # the same per kind, as an index into the stacked fields (for kernels.move_cells)
        self.field_slot = be.asarray(
            [fields.index(k.chemotaxis_field) if k.chemotaxis_field else -1 for k in kinds],
            dtype=np.int64,
        )
        if self.motile:
            population.add_column("motility_direction", "float", (3,), 0.0, units="1")
        #: ``(field name, positions) -> gradient (N, 3) [units/µm]`` replacing the sensing of
        #: ``fields`` (a slab reading ghost planes); the move then takes the array path
        self.sensor = None
        self._velocity = None
        self._step = 0

    def __call__(self, sim) -> None:
        self.dt = float(sim.clock.dt_mechanics)
        self.step(step=sim.step_index)

    @property
    def binning(self) -> Binning:
        """The (bin, id) sort of the current positions over the mechanics bins (shared)."""
        return self.neighbours.binning(self.bins)

    def forces(self):
        """Velocity of every in-use row from the pair forces alone [µm/min] (a work buffer)."""
        pop = self.population
        xp = pop.xp
        n = pop.size
        if self._velocity is None or self._velocity.shape[0] < n:
            cap = max(n, pop.capacity)
            self._velocity = xp.zeros((cap, 3), dtype=pop.specs["position"][0])
        vel = self._velocity[:n]
        if self.interacting:
            b = self.binning
            pop.backend.kernels.pair_forces(
                pop["position"],
                pop["radius"],
                pop["kind"],
                b.cell_bin,
                b.order,
                b.start,
                b.end,
                self.bins.shape,
                self.repulsion,
                self.adhesion,
                self.adhesion_distance,
                vel,
            )
        else:
            vel[...] = 0
        return vel

    def velocity(self, step: int):
        """Velocity of every in-use row [µm/min]: pair forces plus motility (a work buffer)."""
        vel = self.forces()
        if self.motile:
            vel += self.motility(step)
        return vel

    def motility(self, step: int):
        """Motility velocity ``speed · direction`` (N, 3) [µm/min] after this step's switches."""
        pop = self.population
        xp = pop.xp
        kind = pop["kind"].astype(xp.int64)
        gradient = None
        if self.chemotaxis:
            gradient = xp.zeros((pop.size, 3), dtype=pop.specs["position"][0])
            kf = self.kind_field[kind]
            for f, name in enumerate(self.chemotaxis):
                if self.sensor is not None:
                    g = self.sensor(name, pop["position"])
                else:
                    g = sample_gradient(self.fields.grid, self.fields[name], pop["position"])
                gradient = xp.where((kf == f)[:, None], g, gradient)
        direction = pop["motility_direction"]
        update_directions(
            xp,
            direction,
            pop["id"],
            kind,
            pop["alive"],
            dt=self.dt,
            persistence=self.persistence,
            bias=self.bias,
            gradient=gradient,
            seed=self.seed,
            step=step,
        )
        cls = class_codes(xp, pop["kind"], pop["state"], self.slots).astype(xp.int64)
        return (self.class_speed[cls] * pop["alive"])[:, None] * direction

    def move(self, step: int) -> None:
        """Directions, chemotaxis and the move of motile cells in one ``kernels.move_cells``
        call (one fused kernel on CuPy; the NumPy twin is this class's own array path)."""
        pop = self.population
        chem = bool(self.chemotaxis)
        grid = self.fields.grid if chem else None
        pop.backend.kernels.move_cells(
            pop["position"],
            pop["motility_direction"],
            self.forces(),
            pop["id"],
            pop["kind"],
            pop["state"],
            pop["alive"],
            pop["radius"],
            self.persistence,
            self.bias,
            self.field_slot,
            self.class_speed,
            self.slots,
            self.fields.values if chem else None,
            tuple(grid.origin) if chem else (0.0, 0.0, 0.0),
            tuple(grid.spacing) if chem else (1.0, 1.0, 1.0),
            self.dt,
            self.max_displacement,
            self.lower,
            self.upper,
            self.walls,
            self.seed,
            step,
        )

    def step(self, step: int | None = None) -> None:
        """Move every live cell by one mechanics step; ``step`` keys the random draws."""
        pop = self.population
        if pop.size == 0:
            return
        if step is None:
            step = self._step
        self._step = step + 1
        if self.motile and self.sensor is None:
            self.move(step)
            pop.mark_changed()
            return
        self.array_move(step)

    def array_move(self, step: int) -> None:
        """The move as array operations: velocities, Euler step, displacement limit, walls
        (the path of cells that do not walk, and of a sensor across ranks)."""
        pop = self.population
        xp = pop.xp
        dx = self.velocity(step)
        dx *= self.dt
        dx *= pop["alive"][:, None]
        limit_displacement(xp, dx, pop["radius"], self.max_displacement)
        pos = pop["position"]
        pos += dx
        apply_walls(xp, pos, self.lower, self.upper, self.walls)
        pop.mark_changed()


def check_bins(mechanics: Mechanics) -> None:
    """Raise if a live cell is now large enough to interact beyond one bin (host read)."""
    pop = mechanics.population
    xp = pop.xp
    if pop.size == 0:
        return
    rmax = float(xp.max(xp.where(pop["alive"], pop["radius"], 0)))
    reach = max(1.0, float(xp.max(mechanics.adhesion_distance)))
    need = 2 * reach * rmax
    if need > float(np.min(mechanics.bins.size)) * (1 + 1e-12):
        raise ValueError(
            f"cells of radius {rmax:.3g} µm interact up to {need:.3g} µm, beyond the mechanics "
            f"bin {np.min(mechanics.bins.size):.3g} µm: set a larger bin_size"
        )
