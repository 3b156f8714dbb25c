"""Cells as columns (structure of arrays) on the backend: ids, kinds, positions, state.

A :class:`Population` holds one array per column, all with the same leading dimension
``capacity``. Rows ``0 .. size-1`` are in use; a row is a live cell where ``alive`` is
True. Deaths only clear ``alive``; :meth:`Population.compact` removes dead rows while
keeping the order of the survivors. New cells go to the end (:meth:`Population.append`).
Capacity grows geometrically, so appending is amortised O(1) per cell.

Ids are int64, ``rank_tag << 48 | counter`` with a per-population counter ``next_id``:
unique without any global counter, also when several ranks own parts of the domain.
Appended ids increase and compaction keeps order, so a population built only by append and
compact keeps its rows sorted by id (``ids_sorted``), which binning uses as a free tie-break.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ID_COUNTER_BITS = 48
MAX_RANK_TAG = (1 << (63 - ID_COUNTER_BITS)) - 1

#: (dtype, shape, fill) of the built-in columns; "float" means the backend's working dtype
BASE_COLUMNS: dict[str, tuple[Any, tuple[int, ...], Any]] = {
    "id": (np.int64, (), -1),
    "kind": (np.int16, (), 0),
    "position": ("float", (3,), 0.0),  # [µm]
    "radius": ("float", (), 0.0),  # [µm]
    "volume": ("float", (), 0.0),  # [µm³]
    "age": ("float", (), 0.0),  # [min]
    "state": (np.int8, (), 0),  # cycle / life state code, meaning set by the biology
    "alive": (np.bool_, (), False),
    # takes part in exchange and motility (False for dead cells that still occupy space)
    "active": (np.bool_, (), False),
}
BASE_UNITS = {"position": "µm", "radius": "µm", "volume": "µm³", "age": "min"}


@dataclass(frozen=True)
class FieldExchange:
    """Secretion toward a target, release and uptake of one field by one cell kind (BioFVM).

    ``dc/dt = (V_cell / V_voxel) [rate (target − c) − uptake c] + release / V_voxel`` in the
    cell's voxel.

    Parameters
    ----------
    rate : secretion rate r [1/min]
    target : saturation density T [field units]
    uptake : uptake rate u [1/min]
    release : amount released per cell E [field units · µm³/min] (BioFVM's net export),
        independent of the concentration
    """

    rate: float = 0.0
    target: float = 0.0
    uptake: float = 0.0
    release: float = 0.0

    def __post_init__(self):
        for n in ("rate", "target", "uptake", "release"):
            if getattr(self, n) < 0:
                raise ValueError(f"exchange {n} must be >= 0, got {getattr(self, n)}")


@dataclass(frozen=True)
class CellKind:
    """Parameters of one cell kind that the cell layer needs (mechanics, motility, exchange).

    Parameters
    ----------
    name : kind name (e.g. "tumour", "t8")
    radius : cell radius [µm] (PhysiCell default volume 2494 µm³ → 8.412 µm)
    repulsion : cell–cell repulsion coefficient c_rep [µm/min]
    adhesion : cell–cell adhesion coefficient c_adh [µm/min]
    adhesion_distance : maximum adhesion distance relative to the radius (PhysiCell's
        "relative maximum adhesion distance"; pair reach ``a_i r_i + a_j r_j``) [-]
    speed : motility speed v [µm/min]
    persistence : mean time between direction changes τ [min]
    chemotaxis_field : name of the field whose gradient biases motility, or None
    chemotaxis_bias : drift fraction in [0, 1]: the mean speed up the gradient is bias × speed
        (0 = unbiased random walk, 1 = straight up the gradient)
    exchange : per-field secretion/uptake in every living state, ``{field: FieldExchange}``
    model : the model (plug-in) that gives the kind its rules, e.g. "tumour", "cd8"
    states : names of the kind's states; the ``state`` column holds their index
    dead_states : states in which a cell neither moves nor exchanges (unless
        ``state_exchange`` says otherwise), but still takes up space
    immobile_states : living states without motility (e.g. a T cell attached to a target)
    state_exchange : ``{state: {field: FieldExchange}}`` replacing ``exchange`` in that state
    colour : RGB in [0, 1] used by pictures and stored in snapshots
    """

    name: str
    radius: float = 8.412
    repulsion: float = 10.0
    adhesion: float = 0.4
    adhesion_distance: float = 1.25
    speed: float = 0.0
    persistence: float = 10.0
    chemotaxis_field: str | None = None
    chemotaxis_bias: float = 0.0
    exchange: Mapping[str, FieldExchange] = field(default_factory=dict)
    model: str = "inert"
    states: tuple[str, ...] = ("live",)
    dead_states: tuple[str, ...] = ()
    immobile_states: tuple[str, ...] = ()
    state_exchange: Mapping[str, Mapping[str, FieldExchange]] = field(default_factory=dict)
    colour: tuple[float, float, float] | None = None

    def __post_init__(self):
        if not self.radius > 0:
            raise ValueError(f"kind {self.name!r}: radius must be > 0, got {self.radius}")
        for n in ("repulsion", "adhesion", "speed"):
            if getattr(self, n) < 0:
                raise ValueError(f"kind {self.name!r}: {n} must be >= 0, got {getattr(self, n)}")
        if self.adhesion_distance < 0:
            raise ValueError(f"kind {self.name!r}: adhesion_distance must be >= 0")
        if not self.persistence > 0:
            raise ValueError(f"kind {self.name!r}: persistence must be > 0 [min]")
        if not 0.0 <= self.chemotaxis_bias <= 1.0:
            raise ValueError(f"kind {self.name!r}: chemotaxis_bias must be in [0, 1]")
        if not self.states or len(set(self.states)) != len(self.states):
            raise ValueError(f"kind {self.name!r}: states must be unique and not empty")
        if len(self.states) > 127:
            raise ValueError(f"kind {self.name!r}: at most 127 states")
        named = (*self.dead_states, *self.immobile_states, *self.state_exchange)
        unknown = [s for s in named if s not in self.states]
        if unknown:
            raise ValueError(f"kind {self.name!r}: unknown states {unknown}; states {self.states}")

    @property
    def volume(self) -> float:
        """Volume of a sphere of this radius [µm³]."""
        return 4.0 / 3.0 * math.pi * self.radius**3

    def state_code(self, state: str) -> int:
        """Index of a state name in :attr:`states` (ValueError naming the states if unknown)."""
        try:
            return self.states.index(state)
        except ValueError:
            raise ValueError(
                f"kind {self.name!r} has no state {state!r}; states: {list(self.states)}"
            ) from None

    def exchange_in(self, state: str) -> Mapping[str, FieldExchange]:
        """Secretion/uptake of this kind in ``state``: the state's own table, else ``exchange``
        in living states and nothing in dead ones."""
        if state in self.state_exchange:
            return self.state_exchange[state]
        return {} if state in self.dead_states else self.exchange


def _backend_of(obj):
    return obj.backend if hasattr(obj, "backend") else obj


class Population:
    """All cells of one domain as columns on the backend.

    Parameters
    ----------
    backend : Backend, or any object with a ``backend`` attribute (e.g. a Grid)
    kinds : kind names, or :class:`CellKind` objects (their names are used)
    capacity : initial number of rows allocated
    rank_tag : tag in the top bits of every id (0 for a single-domain run)
    growth : capacity multiplier when full (> 1)

    Columns: ``id`` int64, ``kind`` int16 (index into ``kind_names``), ``position`` (N, 3)
    [µm], ``radius`` [µm], ``volume`` [µm³], ``age`` [min], ``state`` int8, ``alive`` bool,
    plus any added with :meth:`add_column`. Float columns use the backend's working dtype.
    """

    def __init__(
        self,
        backend,
        kinds: Sequence[str | CellKind] = ("tumour",),
        *,
        capacity: int = 1024,
        rank_tag: int = 0,
        growth: float = 1.5,
    ):
        self.backend = _backend_of(backend)
        self.kinds: tuple[CellKind, ...] = tuple(
            k if isinstance(k, CellKind) else CellKind(str(k)) for k in kinds
        )
        self.kind_names: tuple[str, ...] = tuple(k.name for k in self.kinds)
        if len(set(self.kind_names)) != len(self.kind_names):
            raise ValueError(f"kind names must be unique, got {self.kind_names}")
        if not 0 <= rank_tag <= MAX_RANK_TAG:
            raise ValueError(f"rank_tag must be in [0, {MAX_RANK_TAG}], got {rank_tag}")
        if not growth > 1:
            raise ValueError("growth must be > 1")
        self.rank_tag = int(rank_tag)
        self.growth = float(growth)
        self.next_id = 0
        self.size = 0
        self.capacity = max(1, int(capacity))
        self.ids_sorted = True
        self.version = 0
        self.membership_version = 0
        self.state_version = 0
        self.specs: dict[str, tuple[np.dtype, tuple[int, ...], Any]] = {}
        self.columns: dict[str, Any] = {}
        #: column → names of the kinds that own it (empty tuple: a column of every kind)
        self.column_owners: dict[str, tuple[str, ...]] = {}
        #: column → units (e.g. "µm", "min", "1" for dimensionless)
        self.column_units: dict[str, str] = {}
        for name, (dt, shape, fill) in BASE_COLUMNS.items():
            self.add_column(name, dt, shape, fill, units=BASE_UNITS.get(name, ""))

    # columns -----------------------------------------------------------------------------
    @property
    def xp(self):
        return self.backend.xp

    def _dtype(self, dt) -> np.dtype:
        return np.dtype(self.backend.dtype) if dt == "float" else np.dtype(dt)

    def add_column(
        self, name: str, dtype="float", shape=(), fill=0, *, owner: str | None = None, units=""
    ) -> None:
        """Add a column (no-op if it already exists with the same dtype and shape).

        Parameters
        ----------
        name : column name
        dtype : numpy dtype, or "float" for the working dtype
        shape : per-cell shape, e.g. () for a scalar, (3,) for a vector
        fill : value of existing rows and default of appended rows that do not give it
        owner : the kind that declares the column (recorded in snapshots); None for a
            column every kind has
        units : units of the values, for readers
        """
        dt = self._dtype(dtype)
        shape = tuple(int(s) for s in (shape if isinstance(shape, tuple | list) else (shape,)))
        if name in self.specs:
            if self.specs[name][:2] != (dt, shape):
                raise ValueError(f"column {name!r} exists with {self.specs[name][:2]}")
        else:
            self.specs[name] = (dt, shape, fill)
            self.columns[name] = self.xp.full((self.capacity,) + shape, fill, dtype=dt)
            self.column_owners[name] = ()
        if owner is not None and owner not in self.column_owners[name]:
            self.column_owners[name] = (*self.column_owners[name], owner)
        if units and not self.column_units.get(name):
            self.column_units[name] = str(units)

    def __getitem__(self, name: str):
        """The in-use rows ``[:size]`` of a column (a view; dead rows included)."""
        try:
            return self.columns[name][: self.size]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {list(self.columns)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def kind_index(self, name: str) -> int:
        try:
            return self.kind_names.index(name)
        except ValueError:
            raise ValueError(f"unknown kind {name!r}; kinds are {list(self.kind_names)}") from None

    @property
    def n(self) -> int:
        """Number of live cells (a device→host read on CuPy)."""
        return int(self.xp.count_nonzero(self.columns["alive"][: self.size]))

    def __len__(self) -> int:
        return self.n

    def kind_counts(self) -> np.ndarray:
        """Live cells per kind, (nk,) int64 on the host (one small device→host copy)."""
        xp = self.xp
        k = self.columns["kind"][: self.size].astype(xp.int64)
        k = xp.where(self.columns["alive"][: self.size], k, len(self.kind_names))
        counts = xp.bincount(k, minlength=len(self.kind_names) + 1)
        return self.backend.asnumpy(counts[: len(self.kind_names)]).astype(np.int64)

    @property
    def kind_states(self) -> tuple[tuple[str, ...], ...]:
        """State names of every kind, in kind order (``state`` column code → name)."""
        return tuple(k.states for k in self.kinds)

    @property
    def kind_models(self) -> tuple[str, ...]:
        return tuple(k.model for k in self.kinds)

    def mark_changed(self) -> None:
        """Record that positions or the alive mask changed (invalidates cached sorts)."""
        self.version += 1

    def mark_state_changed(self) -> None:
        """Record that ``state`` changed (invalidates (kind, state) tables, not the sorts)."""
        self.state_version += 1

    def mark_membership_changed(self) -> None:
        """Record that rows were added, removed or reordered (invalidates id lookups)."""
        self.membership_version += 1
        self.version += 1

    # growth ------------------------------------------------------------------------------
    def reserve(self, capacity: int) -> None:
        """Make room for at least ``capacity`` rows (geometric growth)."""
        if capacity <= self.capacity:
            return
        new = max(int(capacity), int(math.ceil(self.capacity * self.growth)))
        for name, (dt, shape, fill) in self.specs.items():
            col = self.xp.full((new,) + shape, fill, dtype=dt)
            col[: self.size] = self.columns[name][: self.size]
            self.columns[name] = col
        self.capacity = new

    def new_ids(self, count: int):
        """Reserve ``count`` fresh ids (int64 array on the backend)."""
        if self.next_id + count >= 1 << ID_COUNTER_BITS:
            raise OverflowError("id counter exhausted")
        ids = self.xp.arange(self.next_id, self.next_id + count, dtype=np.int64)
        ids |= np.int64(self.rank_tag << ID_COUNTER_BITS)
        self.next_id += count
        return ids

    def append(self, columns: Mapping[str, Any]) -> slice:
        """Append cells; returns the slice of their rows.

        Parameters
        ----------
        columns : ``{name: array}`` with a common leading length ``m``; missing columns get
            their fill value, ``alive`` defaults to True, ``volume`` to ``4/3 π radius³``
            from the radius, ``radius`` to the kind's radius when only ``kind`` is given,
            and ``id`` is assigned (a given ``id`` column is kept,
            e.g. cells migrating from another domain, and clears ``ids_sorted``).
        """
        if not columns:
            return slice(self.size, self.size)
        unknown = set(columns) - set(self.specs)
        if unknown:
            raise KeyError(f"unknown columns {sorted(unknown)}; columns are {list(self.specs)}")
        lengths = {
            k: int(v.shape[0]) if hasattr(v, "shape") else len(v) for k, v in columns.items()
        }
        m = next(iter(lengths.values()))
        if any(v != m for v in lengths.values()):
            raise ValueError(f"columns have different lengths: {lengths}")
        start = self.size
        self.reserve(start + m)
        rows = slice(start, start + m)
        xp = self.xp
        if "radius" not in columns and "kind" in columns:
            table = xp.asarray([k.radius for k in self.kinds], dtype=self.specs["radius"][0])
            columns = dict(columns)
            columns["radius"] = table[xp.asarray(columns["kind"], dtype=np.int64)]
        for name, (dt, _shape, fill) in self.specs.items():
            col = self.columns[name]
            if name in columns:
                col[rows] = xp.asarray(columns[name], dtype=dt)
            elif name in ("alive", "active"):
                col[rows] = True
            elif name == "id":
                col[rows] = self.new_ids(m)
            elif name == "volume" and "radius" in columns:
                r = xp.asarray(columns["radius"], dtype=dt)
                col[rows] = (4.0 / 3.0 * math.pi) * r**3
            else:
                col[rows] = fill
        if "id" in columns:
            self.ids_sorted = False
        self.size += m
        self.mark_membership_changed()
        return rows

    def add_cells(self, kind: str, positions, radius: float | None = None) -> slice:
        """Append cells of one kind at ``positions`` (M, 3) [µm] with that kind's radius."""
        k = self.kind_index(kind)
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        r = self.kinds[k].radius if radius is None else float(radius)
        m = pos.shape[0]
        return self.append(
            {
                "position": pos,
                "kind": np.full(m, k, dtype=np.int16),
                "radius": np.full(m, r),
            }
        )

    def kill(self, mask) -> None:
        """Mark rows ``[:size]`` where ``mask`` is True as dead (removed at compaction)."""
        gone = ~self.xp.asarray(mask, dtype=bool)
        self.columns["alive"][: self.size] &= gone
        self.columns["active"][: self.size] &= gone
        self.mark_membership_changed()

    def compact(self) -> None:
        """Remove dead rows, keeping the order of the survivors (stable)."""
        xp = self.xp
        keep = xp.nonzero(self.columns["alive"][: self.size])[0]
        m = int(keep.shape[0])
        if m == self.size:
            return
        for name, (_dt, _shape, fill) in self.specs.items():
            col = self.columns[name]
            col[:m] = col[keep]
            col[m : self.size] = fill
        self.size = m
        self.mark_membership_changed()

    def rebuild(self, keep, appended: Mapping[str, Any] | None = None) -> None:
        """Keep the rows where ``keep`` is True (in order) and append ``appended`` after them.

        One pass over every column: the single compaction of a phenotype step. ``appended``
        is a column mapping as for :meth:`append` (missing columns take their defaults).
        """
        xp = self.xp
        rows = xp.nonzero(xp.asarray(keep, dtype=bool)[: self.size])[0]
        m = int(rows.shape[0])
        if m != self.size:
            for name, (_dt, _shape, fill) in self.specs.items():
                col = self.columns[name]
                col[:m] = col[rows]
                col[m : self.size] = fill
            self.size = m
            self.mark_membership_changed()
        if appended:
            self.append(appended)

    # host copies -------------------------------------------------------------------------
    def to_host(self) -> dict[str, np.ndarray]:
        """Live cells only, every column except ``alive``, as host arrays (for writers)."""
        be = self.backend
        alive = be.asnumpy(self.columns["alive"][: self.size])
        return {
            name: be.asnumpy(col[: self.size])[alive]
            for name, col in self.columns.items()
            if name != "alive"
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore this population exactly (capacity-independent)."""
        be = self.backend
        return {
            "kind_names": list(self.kind_names),
            "rank_tag": self.rank_tag,
            "next_id": self.next_id,
            "size": self.size,
            "ids_sorted": self.ids_sorted,
            "specs": {
                n: (dt.str, list(shape), _plain(fill))
                for n, (dt, shape, fill) in self.specs.items()
            },
            "columns": {n: be.asnumpy(c[: self.size]).copy() for n, c in self.columns.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the contents with a state from :meth:`state_dict`, in place."""
        _load_state_in_place(self, state)

    @classmethod
    def from_state_dict(
        cls, backend, state: Mapping[str, Any], kinds: Sequence[str | CellKind] | None = None
    ) -> Population:
        """Rebuild a population saved by :meth:`state_dict` (bit-identical columns).

        ``kinds`` (optional) supplies the :class:`CellKind` parameters; their names must
        equal the saved ``kind_names``.
        """
        names = tuple(state["kind_names"])
        if kinds is not None:
            given = tuple(k.name if isinstance(k, CellKind) else str(k) for k in kinds)
            if given != names:
                raise ValueError(f"saved kinds {names} differ from the given kinds {given}")
        size = int(state["size"])
        pop = cls(backend, kinds if kinds is not None else names, capacity=max(size, 1))
        pop.rank_tag = int(state["rank_tag"])
        pop.next_id = int(state["next_id"])
        pop.ids_sorted = bool(state.get("ids_sorted", False))
        for name, (dt, shape, fill) in state["specs"].items():
            if name not in pop.specs:
                pop.add_column(name, np.dtype(dt), tuple(shape), fill)
            elif pop.specs[name][0] != np.dtype(dt):
                raise ValueError(
                    f"column {name!r} was saved as {np.dtype(dt)} but this backend uses "
                    f"{pop.specs[name][0]}; restore with the same precision"
                )
        xp = pop.xp
        for name, host in state["columns"].items():
            pop.columns[name][:size] = xp.asarray(host)
        pop.size = size
        return pop


def _load_state_in_place(pop: Population, state: Mapping[str, Any]) -> None:
    """Make ``pop`` equal to a saved state while keeping the object (processes hold it)."""
    restored = Population.from_state_dict(pop.backend, state, kinds=pop.kinds)
    restored.version = pop.version + 1  # invalidates every cached sort
    restored.membership_version = pop.membership_version + 1
    restored.state_version = pop.state_version + 1
    # owners and units are declared by the kinds when the run is built, not saved
    owners, units = dict(pop.column_owners), dict(pop.column_units)
    pop.__dict__.update(restored.__dict__)
    pop.column_owners = {n: owners.get(n, ()) for n in pop.specs}
    pop.column_units = {n: units.get(n, "") for n in pop.specs}


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


# initial placement (host, set-up only) ------------------------------------------------------
def packed_sphere(centre, radius: float, spacing: float) -> np.ndarray:
    """Cell centres on a hexagonal close-packed lattice inside a sphere.

    Parameters
    ----------
    centre : (x, y, z) [µm]
    radius : sphere radius [µm]; a centre is kept if it lies within it
    spacing : nearest-neighbour distance [µm] (``2 r_cell`` packs touching cells, as
        PhysiCell's ``create_cell_sphere_positions``)

    Returns
    -------
    (M, 3) float64 host array [µm]; lattice point (0, 0, 0) sits at ``centre``.
    """
    if not spacing > 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    s = 0.5 * spacing
    n = int(math.ceil(radius / s)) + 2
    k, j, i = np.meshgrid(
        np.arange(-n, n + 1), np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij"
    )
    x = s * (2 * i + ((j + k) % 2))
    y = s * math.sqrt(3.0) * (j + (k % 2) / 3.0)
    z = s * (2.0 * math.sqrt(6.0) / 3.0) * k
    p = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    p = p[np.einsum("ij,ij->i", p, p) <= radius * radius]
    return p + np.asarray(centre, dtype=np.float64)


def _generator(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def spherical_shell(centre, r_in: float, r_out: float, count: int, rng=0) -> np.ndarray:
    """``count`` centres uniform in volume between radii ``r_in`` and ``r_out`` [µm].

    ``rng`` is a numpy Generator or a seed (set-up draws only).
    """
    if not 0 <= r_in < r_out:
        raise ValueError(f"need 0 <= r_in < r_out, got {r_in}, {r_out}")
    g = _generator(rng)
    u = g.random(count)
    r = np.cbrt(r_in**3 + u * (r_out**3 - r_in**3))
    d = g.normal(size=(count, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * r[:, None] + np.asarray(centre, dtype=np.float64)


def uniform_box(lower, upper, count: int, rng=0) -> np.ndarray:
    """``count`` centres uniform in the box ``[lower, upper]`` (x, y, z) [µm]."""
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    if np.any(hi < lo):
        raise ValueError(f"box upper {tuple(hi)} is below lower {tuple(lo)}")
    return lo + (hi - lo) * _generator(rng).random((count, 3))


def read_cells_csv(path, kind_names: Sequence[str], lower, upper) -> dict[str, np.ndarray]:
    """Read cells from a CSV with a header ``x,y,z,kind[,radius]`` (µm; kind = name).

    Returns ``{"position": (M, 3), "kind": (M,) int16[, "radius": (M,)]}``. Raises
    ValueError naming the file, the line and the value for a missing column, a value that
    is not a number, an unknown kind, a non-positive radius or a cell outside
    ``[lower, upper]``.
    """
    import pandas as pd

    path = str(path)
    table = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    table.columns = [c.strip().lower() for c in table.columns]
    missing = [c for c in ("x", "y", "z", "kind") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; need x,y,z,kind[,radius]")
    out: dict[str, np.ndarray] = {}
    numeric = {}
    for c in ("x", "y", "z", "radius"):
        if c not in table.columns:
            continue
        raw = table[c].str.strip()
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(num))
        if bad.size:
            r = int(bad[0])
            raise ValueError(f"{path}, line {r + 2}: column {c!r} is not a number: {raw.iloc[r]!r}")
        numeric[c] = num
    kinds = table["kind"].str.strip().to_numpy()
    lookup = {n: i for i, n in enumerate(kind_names)}
    codes = np.array([lookup.get(k, -1) for k in kinds], dtype=np.int64)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        r = int(bad[0])
        raise ValueError(
            f"{path}, line {r + 2}: unknown kind {kinds[r]!r}; kinds are {list(kind_names)}"
        )
    pos = np.stack([numeric["x"], numeric["y"], numeric["z"]], axis=1)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    outside = np.flatnonzero(np.any((pos < lo) | (pos > hi), axis=1))
    if outside.size:
        r = int(outside[0])
        raise ValueError(
            f"{path}, line {r + 2}: cell at {_xyz(pos[r])} µm is outside the domain "
            f"{_xyz(lo)}..{_xyz(hi)} µm"
        )
    out["position"] = pos
    out["kind"] = codes.astype(np.int16)
    if "radius" in numeric:
        rad = numeric["radius"]
        bad = np.flatnonzero(rad <= 0)
        if bad.size:
            r = int(bad[0])
            raise ValueError(f"{path}, line {r + 2}: radius must be > 0, got {rad[r]}")
        out["radius"] = rad
    return out


def _xyz(v) -> str:
    return "(" + ", ".join(repr(float(x)) for x in v) + ")"
