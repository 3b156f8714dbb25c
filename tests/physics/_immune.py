"""A small tumour with CD8 T cells, for the immune-system tests (16³ voxels of 20 µm).

Oxygen is held uniform (no uptake) so the diffusion step can be as long as the mechanics
step: these tests are about the T cells, not about oxygen gradients.
"""

from __future__ import annotations

import copy

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.scenario import scenario_from_dict

BASE = {
    "run": {"stop": 360.0, "seed": 1},
    "clock": {"dt_diffusion": 0.25, "dt_mechanics": 0.5, "dt_phenotype": 6.0},
    "grid": {"nx": 16, "ny": 16, "nz": 16, "spacing": 20.0},
    "fields": {
        "oxygen": {"preset": "oxygen", "initial": 38.0, "boundary": 38.0},
        "chemokine": {"preset": "chemokine", "boundary": 0.0},
        "ifng": {"preset": "ifn_gamma", "boundary": 0.0},
    },
    "cells": {
        "kinds": {
            "tumour": {
                "model": "tumour",
                "exchange": {
                    "chemokine": {"release": 500.0},
                    "ifng": {"uptake": 0.06},
                },
                "params": {"ifng_field": "ifng", "antigen_sd": 0.25},
            },
            "t8": {
                "model": "cd8",
                "chemotaxis": {"field": "chemokine", "bias": 0.5},
                "state_exchange": {"engaged": {"ifng": {"release": 34000.0}}},
                "params": {"targets": ["tumour"]},
            },
        },
        "initial": [
            {"kind": "tumour", "shape": "sphere", "radius": 70.0},
            {
                "kind": "t8",
                "shape": "shell",
                "inner_radius": 75.0,
                "outer_radius": 110.0,
                "count": 80,
            },
        ],
    },
    "output": {"every": 60.0},
}


def merge(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged in, table by table (lists and values replaced)."""
    out = copy.deepcopy(base)
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def scenario(seed: int = 1, *, t_cells: int = 80, **changes) -> dict:
    raw = merge(BASE, changes)
    raw["run"]["seed"] = seed
    raw["cells"]["initial"][1]["count"] = t_cells
    if t_cells == 0:
        raw["cells"]["initial"] = raw["cells"]["initial"][:1]
    return raw


def simulation(raw: dict, run_dir=None):
    scn = scenario_from_dict(raw, "immune-test")
    return build_simulation(scn, make_backend("numpy", "float64"), run_dir=run_dir)
