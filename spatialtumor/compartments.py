"""Compartments: small ODE systems with named states, advanced on the phenotype clock.

A compartment is a place that is not in the grid (a lymph node, blood plasma): a vector
``y`` of named states [their own units] obeying ``dy/dt = f(t, y) + J(t)``, where ``f`` is
the model's right-hand side and ``J`` the influx delivered by the tissue since the last
step (an amount delivered during an interval enters at a constant rate over the next step,
so amounts are conserved). Steps use TR-BDF2 (Bank et al. 1985; Hosea & Shampine 1996), an
L-stable second-order implicit method, with Newton iterations on a finite-difference
Jacobian (the systems have a handful of states), on substeps no longer than
``max_substep`` [min]. States are checkpointed and reported to the time series.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from .cells.kinds import Observable

GAMMA = 2.0 - math.sqrt(2.0)  # TR-BDF2 stage fraction


class CompartmentError(RuntimeError):
    """A step whose Newton iterations did not converge."""


def tr_bdf2_step(f, t: float, y: np.ndarray, h: float, *, tol: float = 1e-10, iters: int = 50):
    """One TR-BDF2 step of ``y' = f(t, y)`` from ``t`` to ``t + h``.

    Stage 1 (trapezoidal rule to ``t + γh``): ``y_g = y + γh/2 (f(t, y) + f(t + γh, y_g))``;
    stage 2 (BDF2 to ``t + h``): ``y₁ = [(y_g − (1 − γ)² y) / γ + (1 − γ) h f(t + h, y₁)]
    /(2 − γ)`` with ``γ = 2 − √2``. Each implicit stage is solved by Newton's method.
    """
    y = np.asarray(y, dtype=np.float64)
    f0 = np.asarray(f(t, y), dtype=np.float64)
    a = GAMMA * h / 2.0
    yg = _newton(lambda z: z - y - a * (f0 + f(t + GAMMA * h, z)), y + GAMMA * h * f0, tol, iters)
    c = (1.0 - GAMMA) / (2.0 - GAMMA)
    base = (yg - (1.0 - GAMMA) ** 2 * y) / (GAMMA * (2.0 - GAMMA))
    return _newton(lambda z: z - base - c * h * f(t + h, z), yg, tol, iters)


def _newton(g, z, tol: float, iters: int):
    z = np.array(z, dtype=np.float64)
    n = z.size
    for _ in range(iters):
        r = np.asarray(g(z), dtype=np.float64)
        scale = 1.0 + np.abs(z)
        if np.all(np.abs(r) <= tol * scale):
            return z
        jac = np.empty((n, n))
        for j in range(n):  # a handful of states: finite differences are cheap and robust
            dz = 1e-7 * max(1.0, abs(z[j]))
            zp = z.copy()
            zp[j] += dz
            jac[:, j] = (np.asarray(g(zp)) - r) / dz
        step = np.linalg.solve(jac, -r)
        z = z + step
        if np.all(np.abs(step) <= tol * scale):
            return z
    raise CompartmentError(f"Newton iterations did not converge (residual {np.max(np.abs(r)):.3g})")


class Compartment:
    """Named ODE states advanced by TR-BDF2, with influx delivered by the tissue.

    Parameters
    ----------
    name : the compartment's name in the scenario (``[compartments.<name>]``)
    states : state names
    initial : initial value of each state [its units]
    rhs : ``rhs(t, y) -> dy/dt`` (arrays in ``states`` order) [units/min]
    units : units of each state (for the time series)
    max_substep : longest internal step [min]
    outputs : name → function of ``y`` (e.g. an outflow rate [cells/min]) read by cell kinds
    """

    process_clock = "phenotype"

    def __init__(
        self,
        name: str,
        states: Sequence[str],
        initial: dict[str, float],
        rhs: Callable[[float, np.ndarray], np.ndarray],
        *,
        units: dict[str, str] | None = None,
        max_substep: float = 1.0,
        outputs: dict[str, Callable[[np.ndarray], float]] | None = None,
    ):
        self.name = str(name)
        self.states = tuple(states)
        self.y = np.array([float(initial.get(s, 0.0)) for s in self.states], dtype=np.float64)
        self.rhs = rhs
        self.units = dict(units or {})
        self.max_substep = float(max_substep)
        self.outputs = dict(outputs or {})
        self.time = 0.0
        self.pending = np.zeros(len(self.states))  # amounts delivered since the last step
        self.influx = np.zeros(len(self.states))  # [units/min] during the current step
        self.delivered = np.zeros(len(self.states))  # running total of every delivery

    def index(self, state: str) -> int:
        try:
            return self.states.index(state)
        except ValueError:
            raise KeyError(f"compartment {self.name!r} has no state {state!r}") from None

    def value(self, state: str) -> float:
        return float(self.y[self.index(state)])

    def output(self, name: str) -> float:
        """An output of the compartment (e.g. a cell outflow rate) at its current state."""
        return float(self.outputs[name](self.y))

    def deliver(self, state: str, amount: float) -> None:
        """Add ``amount`` [state units] to ``state`` over the next step (conserved)."""
        i = self.index(state)
        self.pending[i] += float(amount)
        self.delivered[i] += float(amount)

    def advance(self, dt: float) -> None:
        """Advance the states by ``dt`` [min]; pending deliveries flow in at a constant rate."""
        if dt <= 0:
            return
        self.influx = self.pending / dt
        self.pending = np.zeros_like(self.pending)
        n = max(1, int(math.ceil(dt / self.max_substep - 1e-12)))
        h = dt / n
        influx = self.influx

        def f(t, y):
            return np.asarray(self.rhs(t, y), dtype=np.float64) + influx

        y, t = self.y, self.time
        for _ in range(n):
            y = tr_bdf2_step(f, t, y, h)
            t += h
        self.y = y
        self.time = t

    def __call__(self, sim) -> None:
        self.advance(float(sim.clock.dt_phenotype))

    @property
    def clock(self) -> str:
        return self.process_clock

    def observables(self) -> list[Observable]:
        panel = f"{self.name}: compartment"
        out = [
            Observable(f"{self.name}_{s}", float(v), panel, self.units.get(s, ""))
            for s, v in zip(self.states, self.y, strict=True)
        ]
        out += [
            Observable(f"{self.name}_{k}", float(fn(self.y)), f"{self.name}: outputs")
            for k, fn in self.outputs.items()
        ]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "y": self.y.copy(),
            "time": self.time,
            "pending": self.pending.copy(),
            "delivered": self.delivered.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.y = np.asarray(state["y"], dtype=np.float64).copy()
        self.time = float(np.asarray(state["time"]))
        self.pending = np.asarray(state["pending"], dtype=np.float64).copy()
        self.delivered = np.asarray(state["delivered"], dtype=np.float64).copy()


class CompartmentModel:
    """Base of a compartment plug-in: ``[compartments.<name>] model = "..."``.

    A model declares its TOML ``model`` name, a frozen ``Params`` model (defaults, units),
    the names of its ``outputs`` (what cell kinds may read, e.g. ``"ln.effector_outflow"``)
    and :meth:`build`, which makes the :class:`Compartment`.
    """

    model: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]]
    outputs: ClassVar[tuple[str, ...]] = ()
    states: ClassVar[tuple[str, ...]] = ()
    #: the state a ``[[therapy.doses]]`` entry fills unless it names one (None: must name it)
    dose_state: ClassVar[str | None] = None

    @classmethod
    def check(cls, name: str, params: BaseModel, ctx) -> None:
        """Cross-check against the scenario; raise :class:`~spatialtumor.cells.KindError`."""

    @classmethod
    def build(cls, name: str, params: BaseModel) -> Compartment:
        raise NotImplementedError

    @classmethod
    def attach(cls, sim, comp: Compartment, params: BaseModel, vessels) -> None:
        """Couple the built compartment to the tissue (e.g. a source in the vessel voxels);
        ``vessels`` is the (nz, ny, nx) bool host mask of vessel voxels or None."""


class CompartmentRegistry:
    """Compartment models by their ``model`` name."""

    def __init__(self):
        self._models: dict[str, type[CompartmentModel]] = {}

    def add(self, model: type[CompartmentModel]) -> type[CompartmentModel]:
        if not model.model or not model.model.isidentifier():
            raise ValueError(f"{model.__name__}: model must be an identifier")
        self._models[model.model] = model
        return model

    def get(self, model: str) -> type[CompartmentModel]:
        return self._models[model]

    def models(self) -> list[str]:
        return sorted(self._models)

    def __contains__(self, model: str) -> bool:
        return model in self._models
