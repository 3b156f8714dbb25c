"""Named species with sourced defaults: ``[fields.ifng] preset = "ifn_gamma"``.

A preset fills in the diffusivity [µm²/min], decay [1/min] and units of a field; any of
them given in the scenario wins. The values and their sources are discussed in
``docs/MODEL.md`` ("Fields of the immune model").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Defaults of one species.

    Parameters
    ----------
    diffusivity : D in tissue [µm²/min]
    decay : first-order decay λ [1/min]
    units : concentration units
    description : what the species stands for
    source : where the numbers come from (short; the full references are in docs/MODEL.md)
    """

    diffusivity: float
    decay: float
    units: str
    description: str
    source: str


PRESETS: dict[str, Preset] = {
    "oxygen": Preset(
        1.0e5, 0.1, "mmHg", "oxygen", "BioFVM/PhysiCell cancer-immune sample (Ghaffarizadeh 2016)"
    ),
    "chemokine": Preset(
        1000.0,
        0.006,
        "nM",
        "CXCL9/CXCL10-like T-cell chemokine (CXCR3 ligand)",
        "D of 8–12 kDa chemokines in tissue (Ramanujan 2002); t½ ≈ 2 h, tissue decay of the "
        "chemokine CXCL13 (Cosgrove 2020) as an analogue",
    ),
    "ifn_gamma": Preset(
        1000.0,
        3.9e-3,
        "ng/mL",
        "interferon-γ",
        "hindered D (Ramanujan 2002; spQSP-PDAC fit 990 µm²/min); t½ 2.96 h (spQSP-IO)",
    ),
    "il2": Preset(
        600.0,
        1.7e-3,
        "ng/mL",
        "interleukin-2",
        "D 10 µm²/s (Busse 2010; Thurley 2015); t½ 6.9 h (spQSP-IO)",
    ),
    "tgf_beta": Preset(
        1560.0,
        9.9e-3,
        "ng/mL",
        "transforming growth factor β",
        "D 2.6e-7 cm²/s (SPQSP_HCC_GPU); t½ ≈ 70 min",
    ),
    "il10": Preset(
        1000.0,
        2.75e-3,
        "ng/mL",
        "interleukin-10",
        "D as IFN-γ, a dimer of similar size (hindered tissue value); t½ 4.2 h (SPQSP_HCC_GPU)",
    ),
    "antigen": Preset(
        500.0,
        1.4e-3,
        "nM",
        "soluble tumour antigen and debris released by dying tumour cells",
        "D of a 20–50 kDa protein in tissue (Stokes–Einstein, hindered); t½ ≈ 8 h "
        "(antigen degradation 2/day, spQSP-IO)",
    ),
    "antibody": Preset(
        600.0,
        2.0e-5,
        "nM",
        "therapeutic IgG antibody (anti-PD-1, anti-PD-L1, anti-CTLA-4) in the interstitium",
        "D ≈ 1e-7 cm²/s of IgG in tumour interstitium (Pluen 2001); t½ ≈ 24 d, the "
        "FcRn-protected terminal half-life (Ahamadi 2017)",
    ),
    "tnf_alpha": Preset(
        1000.0,
        0.035,
        "ng/mL",
        "tumour necrosis factor α (soluble trimer, 51 kDa)",
        "D as IFN-γ (hindered tissue value of a 50 kDa protein, Ramanujan 2002); t½ ≈ 20 min "
        "in plasma (Selby 1987; Chapman 1987)",
    ),
    "il6": Preset(
        1000.0,
        0.0116,
        "ng/mL",
        "interleukin-6 (21 kDa)",
        "D as the other cytokines (hindered tissue value, a modelling choice); t½ 1 h, a "
        "modelling choice between the rat plasma β phase (0.38 h) and slower tissue loss",
    ),
    "vegf": Preset(
        1000.0,
        0.01,
        "ng/mL",
        "vascular endothelial growth factor A (VEGF165 dimer, 45 kDa)",
        "D 1e-5 cm²/min and decay 0.01 /min (Owen et al. 2011)",
    ),
    "doxorubicin": Preset(
        1.2e4,
        3.85e-4,
        "nM",
        "doxorubicin, a small-molecule cytotoxic drug (543 Da), unbound in the interstitium",
        "D ≈ 2e-6 cm²/s: Stokes–Einstein in water at 37 °C over the squared tortuosity of "
        "tissue (≈ 1.6², Thorne 2006); t½ ≈ 30 h, the drug's terminal half-life (label, "
        "20–48 h), as loss to cells and metabolism; washout through vessels is the PK model's",
    ),
}


def apply_preset(name: str, table: dict) -> dict:
    """``table`` with the preset's values filled in where it gives none (KeyError if unknown)."""
    p = PRESETS[name]
    out = {"diffusivity": p.diffusivity, "decay": p.decay, "units": p.units}
    out.update(table)
    return out
