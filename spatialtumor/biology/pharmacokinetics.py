"""Drug pharmacokinetics: a linear two-compartment plasma model feeding a tissue field
through the vessel voxels, with antibody (``antibody_pk``) and small-molecule (``drug_pk``)
defaults (equations, values and sources in docs/MODEL.md, "Antibody pharmacokinetics" and
"Chemotherapy").

States ``central`` A₁ and ``peripheral`` A₂ [mg] of the drug in the body::

    dA₁/dt = −(CL/V₁) A₁ − (Q/V₁) A₁ + (Q/V₂) A₂ + J(t)
    dA₂/dt =  (Q/V₁) A₁ − (Q/V₂) A₂

with clearance CL, inter-compartmental clearance Q [mL/min] and volumes V₁, V₂ [mL];
``Q = 0`` is the one-compartment model. Doses enter the central compartment
(``[[doses]] into = "<name>"``). The output ``concentration`` is the plasma concentration
C₁ = A₁/V₁ in nM (molar mass M). When ``field`` is set, every vessel voxel exchanges with
plasma at ``dc/dt = (PS/V)/φ_v · (f C₁ − c)``: ``PS/V`` [1/min] the permeability–surface
product per tissue volume, gathered into the vessel voxels (a fraction ``φ_v`` of the
grid), and ``f`` the interstitial-to-plasma ratio at equilibrium. The tissue is a
negligible part of the body, so nothing flows back into plasma.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..cells.kinds import KindError
from ..compartments import Compartment, CompartmentModel

#: minutes in a day, for the per-day clinical values
DAY = 1440.0


class AntibodyPKParams(BaseModel):
    """Parameters of ``model = "antibody_pk"`` (pembrolizumab defaults, Ahamadi et al. 2017)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    clearance: float = Field(
        220.0 / DAY,
        ge=0,
        description="clearance CL [mL/min] (0.22 L/day, pembrolizumab)",
    )
    central_volume: float = Field(3480.0, gt=0, description="central volume V₁ [mL] (3.48 L)")
    intercompartmental_clearance: float = Field(
        795.0 / DAY, ge=0, description="Q [mL/min] (0.795 L/day); 0: one compartment"
    )
    peripheral_volume: float = Field(4060.0, gt=0, description="peripheral volume V₂ [mL]")
    molar_mass: float = Field(146_000.0, gt=0, description="molar mass M [g/mol] (IgG4, ≈146 kDa)")
    field: str | None = Field(None, description="tissue field of the antibody [nM] fed by vessels")
    feed: Literal["vessels", "boundary"] = Field(
        "vessels",
        description='"vessels": exchange through the vessel voxels; "boundary": the field\'s '
        "Dirichlet faces hold f C₁ (tissue fed from its edge)",
    )
    permeability_surface: float = Field(
        2.7e-3,
        ge=0,
        description="PS/V of the tissue [1/min] (P ≈ 3e-7 cm/s × S/V ≈ 150 /cm, IgG)",
    )
    tissue_fraction: float = Field(
        0.3, ge=0, le=1, description="interstitial-to-plasma concentration at equilibrium f"
    )
    initial_central: float = Field(0.0, ge=0, description="A₁ at the start [mg]")
    initial_peripheral: float = Field(0.0, ge=0, description="A₂ at the start [mg]")
    max_substep: float = Field(60.0, gt=0, description="longest internal ODE step [min]")


class AntibodyPK(CompartmentModel):
    model = "antibody_pk"
    Params = AntibodyPKParams
    states = ("central", "peripheral")
    outputs = ("concentration",)
    dose_state = "central"

    @classmethod
    def check(cls, name, params, ctx) -> None:
        ctx.field("params.field", params.field)
        if params.field is not None and params.feed == "vessels" and ctx.vessels == 0:
            raise KindError(
                "params.field",
                'feeds the tissue through vessels but there are none (or set feed = "boundary")',
            )
        if params.field is not None and params.feed == "boundary":
            if params.field not in (ctx.dirichlet_fields or ()):
                raise KindError(
                    "params.feed",
                    f"feeds field {params.field!r} through its boundary, but every face of it is "
                    "zero-flux: give the field a boundary value (e.g. boundary = 0.0)",
                )

    @classmethod
    def matrix(cls, p: AntibodyPKParams) -> np.ndarray:
        """The linear system ``dA/dt = K A`` [1/min] (states in ``states`` order)."""
        k10 = p.clearance / p.central_volume
        k12 = p.intercompartmental_clearance / p.central_volume
        k21 = p.intercompartmental_clearance / p.peripheral_volume
        return np.array([[-(k10 + k12), k21], [k12, -k21]])

    @classmethod
    def build(cls, name: str, p: AntibodyPKParams) -> Compartment:
        k = cls.matrix(p)
        # A₁/V₁ [mg/mL] × 10³ = mg/L, and 1 mg/L of a molecule of M g/mol is 10⁶/M nM
        nanomolar = 1.0e3 * 1.0e6 / p.molar_mass
        return Compartment(
            name,
            cls.states,
            {"central": p.initial_central, "peripheral": p.initial_peripheral},
            lambda t, y: k @ y,
            units={"central": "mg", "peripheral": "mg"},
            max_substep=p.max_substep,
            outputs={"concentration": lambda y: y[0] / p.central_volume * nanomolar},
        )

    @classmethod
    def attach(cls, sim, comp: Compartment, p: AntibodyPKParams, vessels) -> None:
        """Feed ``field`` from plasma: through the vessel voxels (a source depositor) or by
        holding its Dirichlet faces at ``f C₁`` (a wall-value feed before each transport)."""
        if p.field is None:
            return
        if p.feed == "boundary":
            sim.boundary_feeds.append(BoundaryFeed(comp, p))
            return
        if p.permeability_surface == 0 or vessels is None:
            return
        sim.sources.depositors.append(VesselSupply(sim, comp, p, vessels))


class BoundaryFeed:
    """Holds the Dirichlet faces of one field at ``f C₁`` [nM]: the transport's wall values
    are set before every diffusion step (a write only when C₁ changed, on phenotype steps)."""

    def __init__(self, comp: Compartment, p: AntibodyPKParams):
        self.comp = comp
        self.params = p

    def __call__(self, sim) -> None:
        p = self.params
        sim.transport.set_boundary(p.field, p.tissue_fraction * self.comp.output("concentration"))


class VesselSupply:
    """Adds ``k f C₁`` to the source and ``k`` to the uptake of one field in the vessel
    voxels, ``k = (PS/V)/φ_v`` [1/min].

    Per diffusion step: two scatter-adds over the vessel voxels with a host scalar; nothing
    is allocated besides their small temporaries.
    """

    def __init__(self, sim, comp: Compartment, p: AntibodyPKParams, vessels):
        xp = sim.backend.xp
        self.comp = comp
        self.params = p
        self.field = sim.fields.index(p.field)
        mask = np.asarray(vessels, dtype=bool).ravel()
        self.voxels = xp.asarray(np.flatnonzero(mask), dtype=np.int64)
        #: exchange rate of one vessel voxel [1/min]
        whole, vessels = sim.total(mask.size), sim.total(int(mask.sum()))  # whole domain
        self.rate = p.permeability_surface * whole / max(vessels, 1)

    def deposit(self, sim, source, uptake) -> None:
        p = self.params
        s = source[self.field].reshape(-1)
        u = uptake[self.field].reshape(-1)
        target = p.tissue_fraction * self.comp.output("concentration")
        s[self.voxels] += self.rate * target
        u[self.voxels] += self.rate


class DrugPKParams(AntibodyPKParams):
    """Parameters of ``model = "drug_pk"``: a small molecule; doxorubicin defaults (the
    central and deep peripheral compartments of Kontny et al. 2013 / Pérez-Blanco et al.
    2016, whose three-compartment model this reduces to two)."""

    clearance: float = Field(
        62_400.0 / 60.0, ge=0, description="clearance CL [mL/min] (62.4 L/h, doxorubicin)"
    )
    central_volume: float = Field(17_700.0, gt=0, description="central volume V₁ [mL] (17.7 L)")
    intercompartmental_clearance: float = Field(
        50_700.0 / 60.0, ge=0, description="Q [mL/min] (50.7 L/h); 0: one compartment"
    )
    peripheral_volume: float = Field(
        1_830_000.0, gt=0, description="peripheral volume V₂ [mL] (1830 L, tissue binding)"
    )
    molar_mass: float = Field(543.5, gt=0, description="molar mass M [g/mol] (doxorubicin)")
    field: str | None = Field(None, description="tissue field of the drug [nM] fed by vessels")
    permeability_surface: float = Field(
        0.9,
        ge=0,
        description="PS/V of the tissue [1/min] (P ≈ 1e-4 cm/s × S/V ≈ 150 /cm, small molecule)",
    )
    tissue_fraction: float = Field(
        0.25,
        ge=0,
        le=1,
        description="interstitial-to-plasma concentration at equilibrium f (unbound fraction)",
    )
    max_substep: float = Field(
        1.0, gt=0, description="longest internal ODE step [min] (distribution t½ ≈ 6.5 min)"
    )


class DrugPK(AntibodyPK):
    """A small-molecule drug: the antibody model's equations with ``DrugPKParams``."""

    model = "drug_pk"
    Params = DrugPKParams
