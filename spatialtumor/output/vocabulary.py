"""What the codes of a snapshot's cells mean: kind names and models, each kind's state names,
colours, and which kind owns which column. Stored in every snapshot (format 2) as
attributes of ``/cells``; readers, pictures, plots and the ParaView script take names from
here and never from tables of their own.

Version-1 snapshots carry only the kind names. For them the vocabulary is rebuilt from the
file itself: state codes 0, 1, 2 meant live, apoptotic, necrotic for every kind (the
format-1 contract), and a kind had the tumour model when its table in the stored scenario
had a ``growth`` table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: state names of every kind in format-1 snapshots
V1_STATES = ("live", "apoptotic", "necrotic")


@dataclass(frozen=True)
class CellVocabulary:
    """Names behind the ``kind`` and ``state`` codes of a population.

    Attributes
    ----------
    kind_names : kind code → name
    kind_models : kind code → model ("tumour", "cd8", …; "" when unknown)
    kind_states : kind code → its state names (state code → name)
    kind_colours : kind code → RGB in [0, 1], or None
    column_owners : column → kinds that own it (empty: every kind)
    column_units : column → units
    """

    kind_names: tuple[str, ...] = ()
    kind_models: tuple[str, ...] = ()
    kind_states: tuple[tuple[str, ...], ...] = ()
    kind_colours: tuple[tuple[float, float, float] | None, ...] = ()
    column_owners: dict[str, tuple[str, ...]] = field(default_factory=dict)
    column_units: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_population(cls, pop) -> CellVocabulary:
        kinds = getattr(pop, "kinds", ())
        names = tuple(str(k) for k in getattr(pop, "kind_names", ()))
        return cls(
            kind_names=names,
            kind_models=tuple(getattr(k, "model", "") for k in kinds) or ("",) * len(names),
            kind_states=tuple(tuple(getattr(k, "states", V1_STATES)) for k in kinds)
            or (V1_STATES,) * len(names),
            kind_colours=tuple(getattr(k, "colour", None) for k in kinds) or (None,) * len(names),
            column_owners=dict(getattr(pop, "column_owners", {})),
            column_units=dict(getattr(pop, "column_units", {})),
        )

    # names ------------------------------------------------------------------------------
    def states_of(self, kind: int) -> tuple[str, ...]:
        return self.kind_states[kind] if 0 <= kind < len(self.kind_states) else V1_STATES

    def kind_name(self, kind: int) -> str:
        return self.kind_names[kind] if 0 <= kind < len(self.kind_names) else f"kind{kind}"

    def state_name(self, kind: int, state: int) -> str:
        states = self.states_of(int(kind))
        return states[state] if 0 <= state < len(states) else f"state{int(state)}"

    def kinds_of_model(self, model: str) -> list[int]:
        return [i for i, m in enumerate(self.kind_models) if m == model]

    @property
    def class_names(self) -> list[str]:
        """``"<kind>/<state>"`` of every (kind, state) pair, kind by kind: the meaning of the
        ``kind_state`` codes shown in ParaView."""
        pairs = zip(self.kind_names, self.kind_states, strict=True)
        return [f"{k}/{s}" for k, states in pairs for s in states]

    def class_codes(self, kind, state) -> np.ndarray:
        """Index into :attr:`class_names` of every cell (int16; -1 for unknown codes)."""
        kind = np.asarray(kind, dtype=np.int64)
        state = np.asarray(state, dtype=np.int64)
        sizes = np.array([len(s) for s in self.kind_states], dtype=np.int64)
        offset = np.concatenate([[0], np.cumsum(sizes)])[:-1] if sizes.size else sizes
        ok = (kind >= 0) & (kind < sizes.size)
        k = np.where(ok, kind, 0)
        ok &= (state >= 0) & (state < (sizes[k] if sizes.size else 0))
        out = np.where(ok, (offset[k] if sizes.size else 0) + state, -1)
        return out.astype(np.int16)

    # storage ----------------------------------------------------------------------------
    def write(self, group) -> None:
        """Store as attributes of an HDF5 group (``/cells``)."""
        import h5py

        strings = h5py.string_dtype()
        group.attrs["kind_names"] = np.array(self.kind_names, dtype=strings)
        group.attrs["kind_models"] = np.array(self.kind_models, dtype=strings)
        group.attrs["kind_states"] = json.dumps([list(s) for s in self.kind_states])
        group.attrs["kind_colours"] = json.dumps(
            [list(c) if c is not None else None for c in self.kind_colours]
        )
        group.attrs["class_names"] = np.array(self.class_names, dtype=strings)
        group.attrs["column_owners"] = json.dumps(
            {k: list(v) for k, v in self.column_owners.items()}
        )
        group.attrs["column_units"] = json.dumps(self.column_units)

    @classmethod
    def read(cls, group, version: int, scenario_text: str = "") -> CellVocabulary:
        """From the attributes of ``/cells`` (``group`` may be None: no population)."""
        if group is None:
            return cls()
        names = tuple(_strings(group.attrs.get("kind_names", [])))
        if version < 2:
            return cls.v1(names, scenario_text)
        colours = json.loads(_text(group.attrs.get("kind_colours", "[]")) or "[]")
        return cls(
            kind_names=names,
            kind_models=tuple(_strings(group.attrs.get("kind_models", []))),
            kind_states=tuple(
                tuple(s) for s in json.loads(_text(group.attrs.get("kind_states", "[]")))
            ),
            kind_colours=tuple(tuple(c) if c is not None else None for c in colours),
            column_owners={
                k: tuple(v)
                for k, v in json.loads(_text(group.attrs.get("column_owners", "{}"))).items()
            },
            column_units=json.loads(_text(group.attrs.get("column_units", "{}"))),
        )

    @classmethod
    def v1(cls, names: Sequence[str], scenario_text: str = "") -> CellVocabulary:
        """The vocabulary of a format-1 file (see the module docstring)."""
        try:
            kinds = tomllib.loads(scenario_text).get("cells", {}).get("kinds", {})
        except (tomllib.TOMLDecodeError, AttributeError, TypeError):
            kinds = {}
        models = tuple(
            "tumour" if isinstance(kinds.get(n), dict) and "growth" in kinds[n] else ""
            for n in names
        )
        return cls(
            kind_names=tuple(names),
            kind_models=models,
            kind_states=(V1_STATES,) * len(names),
            kind_colours=(None,) * len(names),
        )


def _text(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _strings(values) -> list[str]:
    if isinstance(values, (str, bytes)):
        return [_text(values)]
    return [_text(v) for v in values]
