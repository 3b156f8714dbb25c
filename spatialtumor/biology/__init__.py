"""Cell biology: one module per cell kind, each added to the registry with one line.

A scenario selects a kind by its model name (``[cells.kinds.t8] model = "cd8"``).
"""

from ..cells.kinds import KindRegistry
from ..compartments import CompartmentRegistry
from . import (
    car_t,
    cd8,
    dendritic,
    inert,
    lymph_node,
    macrophage,
    nk,
    pharmacokinetics,
    treg,
    tumour,
)

KINDS = KindRegistry()
KINDS.add(inert.Inert)
KINDS.add(tumour.Tumour)
KINDS.add(cd8.CD8)
KINDS.add(nk.NK)
KINDS.add(macrophage.Macrophage)
KINDS.add(treg.Treg)
KINDS.add(dendritic.Dendritic)
KINDS.add(car_t.CarT)

COMPARTMENTS = CompartmentRegistry()
COMPARTMENTS.add(lymph_node.LymphNode)
COMPARTMENTS.add(pharmacokinetics.AntibodyPK)
COMPARTMENTS.add(pharmacokinetics.DrugPK)

__all__ = ["COMPARTMENTS", "KINDS"]
