"""Cell kinds and their rules as plug-ins.

A cell kind is one module that defines a :class:`Kind` subclass and is added to the
registry with one line (``spatialtumor/biology/__init__.py``). The class declares

* ``model``: the TOML name that selects it (``[cells.kinds.t8] model = "cd8"``);
* ``Params``: one frozen pydantic model, the only copy of the kind's defaults and units,
  validated from ``[cells.kinds.<name>.params]`` (use ``ConfigDict(extra="forbid",
  frozen=True, allow_inf_nan=False)``, so a typo or an infinite value is refused by key);
* ``Body``: the defaults of the keys every kind has (radius, mechanics, motility, exchange);
* ``states`` (names of the ``state`` codes), ``dead_states``, ``immobile_states`` and the
  ``killed_state`` a cell enters when another cell kills it;
* ``columns``: the extra per-cell columns it owns (name, dtype, fill, units);
* ``rules(layer)``: the rules it contributes, each run on the mechanics or the phenotype
  clock in a fixed stage order (:class:`Stage`). Rules record events (state changes,
  divisions, removals, new cells) in :class:`~spatialtumor.cells.events.Events`; they never
  compact the population.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from .body import BodySpec

if TYPE_CHECKING:  # pragma: no cover
    from ..agents import CellKind
    from .events import Events
    from .layer import CellLayer, StepContext

CLOCKS = ("mechanics", "phenotype")


class Stage(IntEnum):
    """The order of the rules within one clock step, written once."""

    SENSE = 0  # read fields and neighbours into per-cell columns
    CONTACT = 1  # cell–cell interactions (attachment, killing)
    STATE = 2  # continuous state (expression levels, exhaustion, polarisation)
    FATE = 3  # division, death, removal
    RECRUIT = 4  # new cells entering the tissue


@dataclass(frozen=True)
class Column:
    """A per-cell column owned by a kind.

    Parameters
    ----------
    name : column name (shared by kinds that declare the same name, dtype and shape)
    dtype : numpy dtype, or "float" for the run's working precision
    shape : per-cell shape, () for a scalar
    fill : value of rows of other kinds, and of new rows unless the kind sets it
    units : units of the values ("1" for dimensionless, "min", "µm", …)
    description : one line for readers of the snapshot format
    """

    name: str
    dtype: Any = "float"
    shape: tuple[int, ...] = ()
    fill: Any = 0
    units: str = "1"
    description: str = ""


@dataclass(frozen=True)
class Rule:
    """One rule: ``fn(ctx, events)`` run on ``clock`` at ``stage``.

    ``ctx`` is the :class:`~spatialtumor.cells.layer.StepContext` of the clock step (the
    population, fields, step length ``ctx.dt`` [min], random keys). The function records
    events and may write the kind's own columns in place; it never adds or removes rows.
    """

    fn: Callable[[StepContext, Events], None]
    clock: str = "phenotype"
    stage: Stage = Stage.FATE
    name: str = ""

    def __post_init__(self):
        if self.clock not in CLOCKS:
            raise ValueError(f"rule clock must be one of {CLOCKS}, not {self.clock!r}")

    def __call__(self, ctx: StepContext, events: Events) -> None:
        self.fn(ctx, events)


@dataclass(frozen=True)
class Observable:
    """One number a kind reports to the time series.

    Parameters
    ----------
    name : column name in ``timeseries.csv``
    value : the value now (host float)
    panel : title of the plot panel it is drawn in
    units : units of the value
    counter : True for a running total; the time series then also writes its increase
        since the previous row (``name``) next to the total (``name_total``)
    """

    name: str
    value: float
    panel: str
    units: str = ""
    counter: bool = False


class KindError(Exception):
    """A kind's parameters that cannot run: ``key`` is relative to ``cells.kinds.<name>``."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


class NoParams(BaseModel):
    """Parameters of a kind that has none."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass
class CheckContext:
    """What a kind may check its parameters against while a scenario loads.

    Attributes
    ----------
    fields : field name → units
    kinds : kind name → its Kind class
    vessels : number of vessel regions in the scenario
    """

    fields: dict[str, str]
    kinds: dict[str, type[Kind]]
    vessels: int = 0
    #: compartment name → names of its outputs
    compartments: dict[str, tuple[str, ...]] = None
    #: names of the fields with at least one Dirichlet (fixed-value) face
    dirichlet_fields: tuple[str, ...] = ()
    #: lower and upper corners of the domain [µm] (x, y, z), when known
    domain: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None

    def field(self, key: str, name: str | None) -> None:
        """Raise :class:`KindError` if ``name`` (not None) is not a field of the scenario."""
        if name is not None and name not in self.fields:
            known = ", ".join(self.fields) or "none"
            raise KindError(key, f"unknown field {name!r}; fields: {known}")

    def kind_state(self, key: str, spec: str) -> None:
        """``spec`` is a kind name or ``"<kind>/<state>"`` of the scenario; KindError if not."""
        name, _, state = spec.partition("/")
        cls = self.kind(key, name)
        if state and state not in cls.states:
            raise KindError(
                key, f"kind {name!r} has no state {state!r}; states: {', '.join(cls.states)}"
            )

    def compartment(self, key: str, name: str | None) -> None:
        """Raise :class:`KindError` if ``name`` (not None) is not a compartment of the scenario."""
        comps = self.compartments or {}
        if name is not None and name not in comps:
            known = ", ".join(comps) or "none"
            raise KindError(key, f"unknown compartment {name!r}; compartments: {known}")

    def output(self, key: str, spec: str | None) -> None:
        """``spec`` is ``"<compartment>.<output>"`` of the scenario (None passes)."""
        if spec is None:
            return
        name, _, out = spec.partition(".")
        self.compartment(key, name)
        comps = self.compartments
        if out not in comps[name]:
            outs = ", ".join(comps[name])
            raise KindError(key, f"compartment {name!r} has no output {out!r}; outputs: {outs}")

    def kind(self, key: str, name: str, columns: tuple[str, ...] = ()) -> type[Kind]:
        """The Kind class of kind ``name``; KindError if it does not exist or lacks a column."""
        if name not in self.kinds:
            raise KindError(key, f"unknown kind {name!r}; kinds: {', '.join(self.kinds)}")
        cls = self.kinds[name]
        have = {c.name for c in cls.columns}
        missing = [c for c in columns if c not in have]
        if missing:
            raise KindError(
                key, f"kind {name!r} (model {cls.model!r}) has no column(s) {', '.join(missing)}"
            )
        return cls


class Kind:
    """Base class of a cell kind plug-in (see the module docstring).

    An instance is one kind of one run: ``name`` (the scenario's table name), ``index``
    (its ``kind`` code), ``params`` (an instance of ``Params``) and ``body`` (of ``Body``).
    """

    model: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    Body: ClassVar[type[BodySpec]] = BodySpec
    states: ClassVar[tuple[str, ...]] = ("live",)
    dead_states: ClassVar[tuple[str, ...]] = ()
    immobile_states: ClassVar[tuple[str, ...]] = ()
    #: state entered when another cell kills this one; None: a killed cell is removed
    killed_state: ClassVar[str | None] = None
    #: state entered at an immunogenic death (a therapy's kill releasing antigen and danger
    #: signals); None: such a kill enters ``killed_state`` like any other
    immunogenic_state: ClassVar[str | None] = None
    columns: ClassVar[tuple[Column, ...]] = ()
    colour: ClassVar[tuple[float, float, float]] = (0.55, 0.55, 0.55)
    description: ClassVar[str] = ""

    def __init__(self, name: str, index: int, params: BaseModel, body: BodySpec):
        self.name = str(name)
        self.index = int(index)
        self.params = params
        self.body = body

    # scenario time ----------------------------------------------------------------------
    @classmethod
    def check(cls, name: str, params: BaseModel, body: BodySpec, ctx: CheckContext) -> None:
        """Cross-check parameters against the rest of the scenario; raise KindError."""

    # run time ---------------------------------------------------------------------------
    def cell_kind(self) -> CellKind:
        """The mechanics/exchange description of this kind for the population."""
        from ..agents import CellKind, FieldExchange

        b = self.body

        def table(ex):
            return {f: FieldExchange(**e.model_dump()) for f, e in ex.items()}

        return CellKind(
            name=self.name,
            radius=b.radius,
            repulsion=b.repulsion,
            adhesion=b.adhesion,
            adhesion_distance=b.adhesion_distance,
            speed=b.speed,
            persistence=b.persistence,
            chemotaxis_field=b.chemotaxis.field if b.chemotaxis else None,
            chemotaxis_bias=b.chemotaxis.bias if b.chemotaxis else 0.0,
            exchange=table(b.exchange),
            model=self.model,
            states=self.states,
            dead_states=self.dead_states,
            immobile_states=self.immobile_states,
            state_exchange={s: table(t) for s, t in b.state_exchange.items()},
            colour=self.colour,
        )

    def state_code(self, state: str) -> int:
        return self.states.index(state)

    def rules(self, layer: CellLayer) -> list[Rule]:
        """The rules of this kind (empty: cells only push, move and exchange)."""
        return []

    def initialise(self, layer: CellLayer, rows) -> None:
        """Set the kind's columns of newly placed or recruited cells at ``rows`` (int64)."""

    def inherit(self, layer: CellLayer, mothers, daughters: dict[str, Any], step: int) -> None:
        """Adjust the columns of daughters (``daughters[col][i]`` is the copy of the mother at
        row ``mothers[i]``) and of the mothers, at a division in diffusion step ``step``."""

    def observables(self, layer: CellLayer) -> list[Observable]:
        """Numbers for the time series (one small device→host copy at most)."""
        return []

    def contact_distance(self, kinds: list[Kind]) -> float:
        """Longest centre distance [µm] at which a contact rule of this kind looks for
        partners among ``kinds`` (the mechanics bins are made at least this large)."""
        return 0.0

    def phenotype_contacts(self) -> bool:
        """Whether a phenotype-clock rule of this kind searches partners in contact (asked
        after :meth:`rules`; a domain split over processes then copies the cells near its
        faces for the phenotype rules too)."""
        return False

    def cycling(self, ctx: StepContext) -> Any:
        """(N,) float64 in [0, 1] over every in-use row: how far each cell of this kind is
        in the cell cycle now (its division rate over its largest one; 0 for other rows),
        read by therapies that kill cycling cells; None: this kind never divides."""
        return None


class KindRegistry:
    """Kind classes by their ``model`` name."""

    def __init__(self):
        self._kinds: dict[str, type[Kind]] = {}

    def add(self, kind: type[Kind]) -> type[Kind]:
        """Register a Kind class (usable as a decorator); its model name must be new."""
        if not (isinstance(kind, type) and issubclass(kind, Kind)):
            raise TypeError(f"{kind!r} is not a Kind subclass")
        if not kind.model or not kind.model.isidentifier():
            raise ValueError(f"{kind.__name__}: model must be an identifier, got {kind.model!r}")
        if kind.model in self._kinds and self._kinds[kind.model] is not kind:
            raise ValueError(f"model {kind.model!r} is registered already")
        states = kind.states
        if not states or len(set(states)) != len(states):
            raise ValueError(f"{kind.__name__}: states must be unique and not empty")
        named = (*kind.dead_states, *kind.immobile_states)
        named += tuple(s for s in (kind.killed_state, kind.immunogenic_state) if s)
        if any(s not in states for s in named):
            raise ValueError(f"{kind.__name__}: a named state is not in states {states}")
        for c in kind.columns:
            np.dtype(np.float64 if c.dtype == "float" else c.dtype)  # TypeError if invalid
        self._kinds[kind.model] = kind
        return kind

    def remove(self, model: str) -> None:
        self._kinds.pop(model, None)

    def get(self, model: str) -> type[Kind]:
        try:
            return self._kinds[model]
        except KeyError:
            raise KeyError(f"unknown model {model!r}; models: {', '.join(self.models())}") from None

    def models(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, model: str) -> bool:
        return model in self._kinds

    def __iter__(self):
        return iter(self._kinds.values())


def kind_state_table(layer, specs) -> Any:
    """(nk · slots,) float64 device table: 1 for the (kind, state) pairs named by ``specs``
    (kind names: every living state of the kind; ``"kind/state"``: that state), else 0."""
    import numpy as np

    table = np.zeros((len(layer.kinds), layer.slots))
    for spec in specs:
        name, _, state = spec.partition("/")
        k = layer.by_name[name]
        for j, s in enumerate(k.states):
            if (state and s == state) or (not state and s not in k.dead_states):
                table[k.index, j] = 1.0
    return layer.population.xp.asarray(table.ravel())


def suppressor_table(layer, specs):
    """``weight(pop, xp) -> (N,)`` of 1 for cells of the named kinds/states, or None."""
    if not specs:
        return None
    from ..exchange import class_codes

    table = kind_state_table(layer, specs)

    def weight(pop, xp):
        cls = class_codes(xp, pop["kind"], pop["state"], layer.slots).astype(xp.int64)
        return table[cls] * pop["alive"]

    return weight
