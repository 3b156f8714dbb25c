"""Therapies that act on cells directly: radiation fractions, cytotoxic drugs, infusions of
cells. Each is a list-valued key of ``[therapy]`` (``[[therapy.radiation]]``, …) whose items
derive from :class:`CellTherapy`.

An item checks itself against the scenario while it loads (:meth:`CellTherapy.check`,
raising :class:`~spatialtumor.cells.KindError` with a key relative to the item), gives the
rules it runs in the cell layer (:meth:`CellTherapy.build`; within a stage they run after
every kind's rules), and lists its events for ``info`` and the marks on ``plot``
(:meth:`CellTherapy.events`). Items should keep no state of their own: what they do at a
step follows from the step's time, so a run restarted from a checkpoint continues a
schedule exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from .cells.kinds import CheckContext, KindError, Rule

if TYPE_CHECKING:  # pragma: no cover
    from .cells.layer import CellLayer


class CellTherapy(BaseModel):
    """Base of one item of a cell-therapy key of ``[therapy]``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def check(self, ctx: CheckContext, stop: float) -> None:
        """Cross-check against the scenario (``stop`` the run's end [min]); raise KindError."""

    def build(self, sim, layer: CellLayer, name: str, index: int) -> list[Rule]:
        """The rules this item runs (``name`` is unique among the run's therapy items,
        ``index`` the item's place in its key's list)."""
        return []

    def events(self) -> list[tuple[float, str, float]]:
        """``(time [min], label, amount)`` of every event, for ``info`` and ``plot``."""
        return []


def cell_therapy_items(therapy) -> list[tuple[str, CellTherapy]]:
    """``("<key>.<i>", item)`` of every cell-therapy item of a :class:`TherapySpec`."""
    return [(f"{key}.{i}", item) for key, i, item in _indexed(therapy)]


def _indexed(therapy):
    for key in type(therapy).cell_keys:
        for i, item in enumerate(getattr(therapy, key)):
            yield key, i, item


def check_cell_therapies(therapy, ctx: CheckContext, stop: float) -> tuple[str, str] | None:
    """``(key, message)`` of the first item that cannot run, or None."""
    for key, item in cell_therapy_items(therapy):
        if not ctx.kinds:
            return f"therapy.{key}", "acts on cells, but the scenario has no [cells]"
        try:
            item.check(ctx, stop)
        except KindError as exc:
            return f"therapy.{key}.{exc.key}", exc.message
    return None


def attach_cell_therapies(sim, layer: CellLayer, therapy) -> None:
    """Add every item's rules to the cell layer, in scenario order."""
    for key, i, item in _indexed(therapy):
        rules = item.build(sim, layer, f"{key}_{i}", i)
        if rules:
            layer.add_rules(rules)
