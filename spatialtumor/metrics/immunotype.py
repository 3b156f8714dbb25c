"""Immunotype of a tumour from CD8 T-cell densities in its centre and at its margin.

Thresholds of Muijlwijk et al., "Immune cell topography of head and neck cancer",
J Immunother Cancer 2024;12(7):e009550 (doi:10.1136/jitc-2024-009550), Fig. 2: a tumour is
*infiltrated* (here: inflamed) when CD8⁺ T cells exceed 100 cells/mm² in the tumour centre;
otherwise *immune-excluded* when they exceed 200 cells/mm² in the invasive margin, and
*immune-desert* when they do not. (The paper further splits infiltrated tumours into fully
infiltrated and stroma-restricted by the density inside tumour fields versus stroma, a
distinction a model without stroma cannot make.) The densities are per mm² of a tissue
section; see :mod:`.density` for how 3D densities are converted.
"""

from __future__ import annotations

import math
from enum import Enum

#: CD8⁺ cells/mm² in the tumour centre above which a tumour is inflamed (infiltrated)
CENTRE_INFLAMED = 100.0
#: CD8⁺ cells/mm² at the invasive margin above which a non-inflamed tumour is excluded
MARGIN_EXCLUDED = 200.0


class Immunotype(str, Enum):
    """Immune phenotype of a tumour; ``code`` orders them (desert 0 → inflamed 2)."""

    DESERT = "desert"
    EXCLUDED = "excluded"
    INFLAMED = "inflamed"
    UNDETERMINED = "undetermined"

    @property
    def code(self) -> float:
        """0 desert, 1 excluded, 2 inflamed, NaN undetermined (the table's value)."""
        return {"desert": 0.0, "excluded": 1.0, "inflamed": 2.0}.get(self.value, math.nan)


def classify(
    centre: float,
    margin: float,
    *,
    centre_threshold: float = CENTRE_INFLAMED,
    margin_threshold: float = MARGIN_EXCLUDED,
) -> Immunotype:
    """Immunotype from section-equivalent densities [cells/mm²].

    Parameters
    ----------
    centre : CD8 density in the tumour centre [cells/mm²]; NaN when the tumour has no
        centre (no tumour, or a tumour thinner than half the margin width)
    margin : CD8 density at the invasive margin [cells/mm²]
    centre_threshold, margin_threshold : [cells/mm²], defaults from Muijlwijk et al. 2024

    Returns
    -------
    Immunotype
        inflamed if centre > 100; else excluded if margin > 200; else desert;
        undetermined when ``centre`` is NaN.
    """
    if not math.isfinite(centre):
        return Immunotype.UNDETERMINED
    if centre > centre_threshold:
        return Immunotype.INFLAMED
    if math.isfinite(margin) and margin > margin_threshold:
        return Immunotype.EXCLUDED
    return Immunotype.DESERT
