"""Cell biology: one module per cell kind, each added to the registry with one line.

A scenario selects a kind by its model name (``[cells.kinds.t8] model = "cd8"``).
"""

from ..cells.kinds import KindRegistry
from . import cd8, inert, tumour

KINDS = KindRegistry()
KINDS.add(inert.Inert)
KINDS.add(tumour.Tumour)
KINDS.add(cd8.CD8)

__all__ = ["KINDS"]
