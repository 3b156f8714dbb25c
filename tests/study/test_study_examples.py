"""Every shipped study file validates, with the number of members its description gives."""

from __future__ import annotations

import pytest
from _study import ROOT

from spatialtumor.study.members import load_study

EXPECTED = {
    "laptop": 12,
    "sweep": 24,
    "lhs": 16,
    "cluster": 96,
    "fit_birth_rate": 2,
    "mrd_relapse": 15,
}


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_study_validates(path):
    study = load_study(path)
    assert len(study.members) == EXPECTED[path.stem]
    assert study.spec.title
