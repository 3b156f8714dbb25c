"""The cell layer: kinds and rules as plug-ins, events, the shared neighbour structure."""

from .events import Events
from .kinds import CheckContext, Column, Kind, KindError, KindRegistry, Observable, Rule, Stage
from .layer import CellLayer, StepContext
from .neighbours import Neighbours

__all__ = [
    "CellLayer",
    "CheckContext",
    "Column",
    "Events",
    "Kind",
    "KindError",
    "KindRegistry",
    "Neighbours",
    "Observable",
    "Rule",
    "Stage",
    "StepContext",
]
