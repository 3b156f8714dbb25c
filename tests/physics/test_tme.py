"""The suppressive microenvironment: NK missing-self killing, macrophage polarisation and its
reversal, CD8 suppression by macrophages and regulatory T cells, and priming through
dendritic cells and the lymph node. Ensembles of a few seeds on small grids (NumPy);
tolerances are stated with each check."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _immune import merge, scenario, simulation  # noqa: E402

from spatialtumor.checkpoint import latest_checkpoint, resume_simulation  # noqa: E402

SEEDS = (1, 2, 3)


# NK cells ---------------------------------------------------------------------------------
def _nk_scenario(seed):
    raw = scenario(seed, t_cells=0, run={"stop": 240.0})
    raw["cells"]["kinds"]["tumour"]["params"].update(
        birth_rate=0.0, apoptosis_rate=0.0, mhc_initial=0.5, mhc_sd=0.35
    )
    raw["cells"]["kinds"]["nk"] = {
        "model": "nk",
        "chemotaxis": {"field": "chemokine", "bias": 0.5},
        "params": {"targets": ["tumour"], "kill_capacity": 100},
    }
    raw["cells"]["initial"].append(
        {"kind": "nk", "shape": "shell", "inner_radius": 75.0, "outer_radius": 110.0, "count": 80}
    )
    return raw


def test_nk_cells_kill_mhc_low_targets_preferentially():
    """Kill fraction by quartile of the targets' MHC-I (3 seeds pooled): it falls from the
    lowest quartile to the highest, and targets with MHC-I ≥ θ = 0.5 are never killed."""
    killed_mhc, all_mhc = [], []
    for seed in SEEDS:
        sim = simulation(_nk_scenario(seed))
        pop = sim.population.to_host()
        tum = pop["kind"] == 0
        mhc_of = dict(zip(pop["id"][tum].tolist(), pop["mhc"][tum].tolist(), strict=True))
        sim.cells.kill_log = []
        sim.run()
        killed = np.concatenate([e["target"] for e in sim.cells.kill_log])
        killed_mhc += [mhc_of[i] for i in killed.tolist()]
        all_mhc += list(mhc_of.values())
    all_mhc, killed_mhc = np.array(all_mhc), np.array(killed_mhc)
    edges = np.quantile(all_mhc, [0.25, 0.5, 0.75])
    q_all = np.searchsorted(edges, all_mhc)
    q_killed = np.searchsorted(edges, killed_mhc)
    fraction = [np.sum(q_killed == q) / np.sum(q_all == q) for q in range(4)]
    print("MHC-I quartile edges", np.round(edges, 3), "kill fraction", np.round(fraction, 3))
    assert len(killed_mhc) > 40
    assert fraction[0] > fraction[1] > fraction[2] >= fraction[3]
    assert fraction[0] > 0.3
    assert np.all(killed_mhc < 0.5)


# macrophages ------------------------------------------------------------------------------
def _macrophage_sim(seed=2):
    raw = {
        "run": {"stop": 1440.0, "seed": seed},
        "clock": {"dt_diffusion": 6.0, "dt_mechanics": 6.0, "dt_phenotype": 6.0},
        "grid": {"nx": 8, "ny": 4, "nz": 4, "spacing": 20.0},
        "fields": {
            "ifng": {"diffusivity": 0.0, "units": "ng/mL"},
            "il10": {"diffusivity": 0.0, "units": "ng/mL"},
        },
        "cells": {
            "kinds": {
                "mac": {
                    "model": "macrophage",
                    "speed": 0.0,
                    "repulsion": 0.0,
                    "params": {
                        "targets": [],
                        "ifng_field": "ifng",
                        "il10_field": "il10",
                        "ifng_half_saturation": 0.1,
                        "il10_half_saturation": 0.1,
                        "m1_rate": 1.0 / 360.0,
                        "m2_rate": 1.0 / 360.0,
                        "m0_rate": 1.0 / 2880.0,
                        "lifespan": 1e12,
                    },
                }
            },
            "initial": [
                {
                    "kind": "mac",
                    "shape": "box",
                    "lower": [-75, -35, -35],
                    "upper": [-5, 35, 35],
                    "count": 1500,
                },
                {
                    "kind": "mac",
                    "shape": "box",
                    "lower": [5, -35, -35],
                    "upper": [75, 35, 35],
                    "count": 1500,
                },
            ],
        },
    }
    from spatialtumor.build import build_simulation, make_backend
    from spatialtumor.scenario import scenario_from_dict

    sim = build_simulation(scenario_from_dict(raw, "mac"), make_backend("numpy", "float64"))
    values = sim.fields.values
    values[0, :, :, :4] = 50.0  # IFN-γ on the left half (x < 0)
    values[1, :, :, 4:] = 50.0  # IL-10 on the right half
    return sim


def test_macrophages_polarise_by_region_and_switch_back_at_the_rates():
    """Left (IFN-γ) cells settle M1 at r₁/(r₁ + r₀), right (IL-10) cells M2 at r₂/(r₂ + r₀);
    after the fields are swapped the M1 cells leave M1 at r₂ + r₀ (binomial 4-σ bounds)."""
    sim = _macrophage_sim()
    sim.run()
    pop = sim.population.to_host()
    left = pop["position"][:, 0] < 0
    k = 1.0 / 360.0
    h = 50.0 / (0.1 + 50.0)
    r_pol, r0 = k * h, 1.0 / 2880.0
    # after a day the two-state chains M0 ↔ M1 (left), M0 ↔ M2 (right) are near stationary
    t = sim.time
    p_stat = r_pol / (r_pol + r0)
    p_m1 = p_stat * (1.0 - math.exp(-(r_pol + r0) * t))
    frac_m1 = np.mean(pop["state"][left] == 1)
    frac_m2 = np.mean(pop["state"][~left] == 2)
    n = left.sum()
    sd = math.sqrt(p_m1 * (1 - p_m1) / n)
    print(f"M1 on the left {frac_m1:.3f}, M2 on the right {frac_m2:.3f}, expected {p_m1:.3f}")
    assert abs(frac_m1 - p_m1) < 4 * sd and abs(frac_m2 - p_m1) < 4 * sd
    assert np.all(pop["state"][left] != 2) and np.all(pop["state"][~left] != 1)
    # swap: IL-10 on the left, nothing on the right
    m1_ids = pop["id"][left & (pop["state"] == 1)]
    values = sim.fields.values
    values[...] = 0.0
    values[1, :, :, :4] = 50.0
    sim.stop = t + 360.0
    sim.run()
    pop = sim.population.to_host()
    still = np.isin(pop["id"], m1_ids) & (pop["state"] == 1)
    stay = still.sum() / m1_ids.size
    expected = math.exp(-(r_pol + r0) * 360.0)
    sd = math.sqrt(expected * (1 - expected) / m1_ids.size)
    print(f"M1 after the swap: {stay:.3f} stay, expected {expected:.3f}")
    assert abs(stay - expected) < 4 * sd


# suppression ------------------------------------------------------------------------------
def _suppressed(seed, suppressors: bool):
    raw = scenario(seed, t_cells=80, run={"stop": 360.0})
    raw["fields"]["tgfb"] = {"preset": "tgf_beta", "boundary": 0.0}
    raw["fields"]["il10"] = {"preset": "il10", "boundary": 0.0}
    raw["cells"]["kinds"]["t8"]["params"].update(
        tgfb_field="tgfb", il10_field="il10", suppressors=["tam/m2", "treg"], lifespan=1e9
    )
    raw["cells"]["kinds"]["tam"] = {
        "model": "macrophage",
        "chemotaxis": {"field": "chemokine", "bias": 0.5},
        "state_exchange": {"m2": {"il10": {"release": 2e4}, "tgfb": {"release": 2e4}}},
        "params": {
            "il10_field": "il10",
            "tgfb_field": "tgfb",
            "m2_rate": 1.0 / 60.0,
            "targets": [],
            "phagocytosis_rate": 0.0,
        },
    }
    raw["cells"]["kinds"]["treg"] = {
        "model": "treg",
        "chemotaxis": {"field": "chemokine", "bias": 0.5},
        "exchange": {"il10": {"release": 1e4}, "tgfb": {"release": 1e4}},
    }
    n = 60 if suppressors else 0
    for kind in ("tam", "treg"):
        raw["cells"]["initial"].append(
            {
                "kind": kind,
                "shape": "shell",
                "inner_radius": 75.0,
                "outer_radius": 110.0,
                "count": n,
            }
        )
    return raw


def test_macrophages_and_tregs_blunt_the_cd8_attack():
    """Same seeds with and without M2 macrophages and regulatory T cells (6 h): fewer kills
    per T cell and more live tumour cells with them, in every seed."""
    rows = []
    for seed in SEEDS[:2]:  # the shipped scenario's own test adds seeds at its full set-up
        out = []
        for on in (True, False):
            sim = simulation(_suppressed(seed, on))
            sim.run()
            pop = sim.population.to_host()
            n_t = int(np.sum(pop["kind"] == 1))
            live = int(np.sum((pop["kind"] == 0) & (pop["state"] == 0)))
            out.append((float(sim.cells.counters["t8_kills"]) / n_t, live))
        rows.append(out)
    print("kills per T cell, live tumour cells (with, without suppressors):", rows)
    for (k_on, live_on), (k_off, live_off) in rows:
        assert k_on < 0.8 * k_off
        assert live_on > live_off


# dendritic cells and the lymph node -------------------------------------------------------
def _priming(seed, killing: bool, stop=600.0):
    raw = scenario(seed, t_cells=60, run={"stop": stop})
    raw["fields"]["antigen"] = {"preset": "antigen", "boundary": 0.0}
    tum = raw["cells"]["kinds"]["tumour"]
    tum["state_exchange"] = {"apoptotic": {"antigen": {"release": 5e4}}}
    if not killing:
        tum["params"].update(apoptosis_rate=0.0)
    t8 = raw["cells"]["kinds"]["t8"]["params"]
    t8.update(recruitment_from="ln.effector_outflow", recruitment_sites=["boundary"])
    if not killing:
        t8["kill_rate"] = 0.0
    raw["cells"]["kinds"]["dc"] = {
        "model": "dendritic",
        "exchange": {"antigen": {"uptake": 0.5}},
        "params": {
            "lymph_node": "ln",
            "maturation_rate": 1.0 / 60.0,
            "exit_rate": 1.0 / 60.0,
            "danger_half_saturation": 0.01,
        },
    }
    raw["cells"]["initial"].append(
        {"kind": "dc", "shape": "shell", "inner_radius": 75.0, "outer_radius": 110.0, "count": 60}
    )
    raw["compartments"] = {
        "ln": {
            "model": "lymph_node",
            "params": {"antigen_half_saturation": 1e3, "priming_rate": 1.0, "tumour_fraction": 0.5},
        }
    }
    return raw


def test_antigen_from_killing_primes_the_lymph_node_and_recruits_t_cells():
    """With killing: dying tumour cells release antigen, dendritic cells carry it to the
    lymph node, priming rises and primed T cells enter the tissue. Without dying cells:
    no antigen, no priming, no recruitment — exactly zero."""
    on = simulation(_priming(1, True))
    off = simulation(_priming(1, False))
    for sim in (on, off):
        sim.run()
    ln_on, ln_off = on.compartments["ln"], off.compartments["ln"]
    print("with killing: LN antigen", ln_on.y, "recruited", on.cells.counters["t8_recruited"])
    assert float(on.cells.counters["dc_antigen_delivered"]) > 0
    assert ln_on.value("antigen") > 0 and ln_on.value("primed") > 0
    assert float(on.cells.counters["t8_recruited"]) > 0
    assert float(off.cells.counters["t8_kills"]) == 0
    assert float(off.cells.counters["dc_antigen_delivered"]) == 0
    assert ln_off.value("antigen") == 0 and ln_off.value("primed") == 0
    assert float(off.cells.counters["t8_recruited"]) == 0


def test_lymph_node_restarts_exactly(tmp_path):
    raw = _priming(2, True, stop=360.0)
    raw["output"] = {"every": 60.0, "checkpoint_every": 180.0}
    full = simulation(raw, run_dir=tmp_path / "full")
    full.run()
    half_raw = merge(raw, {"run": {"stop": 180.0}})
    half = simulation(half_raw, run_dir=tmp_path / "half")
    half.run()
    sim, _, _ = resume_simulation(latest_checkpoint(tmp_path / "half"), stop=360.0, backend="numpy")
    sim.run()
    assert sim.compartments["ln"].y.tobytes() == full.compartments["ln"].y.tobytes()
    a, b = full.population.to_host(), sim.population.to_host()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    assert (tmp_path / "full/timeseries.csv").read_text() == (
        tmp_path / "half/timeseries.csv"
    ).read_text()


@pytest.mark.parametrize("kind", ["nk", "tam", "treg", "dc"])
def test_new_kinds_keep_their_names_in_snapshots(kind, tmp_path):
    raw = (
        _suppressed(1, True)
        if kind in ("tam", "treg")
        else (_nk_scenario(1) if kind == "nk" else _priming(1, True))
    )
    raw["run"]["stop"] = 12.0
    sim = simulation(raw, run_dir=tmp_path / "run")
    sim.run()
    from spatialtumor.runs import open_run

    vocab = open_run(tmp_path / "run").vocabulary
    i = vocab.kind_names.index(kind)
    assert vocab.kind_states[i] == sim.cells.by_name[kind].states


# the shipped scenario, at reduced size --------------------------------------------------
TME = str(Path(__file__).resolve().parents[2] / "scenarios" / "tme_suppression.toml")
TME_SMALL = [
    "run.stop=240",
    "clock.dt_diffusion=0.1",
    "grid.nx=20",
    "grid.ny=20",
    "grid.nz=20",
    "cells.initial.0.radius=80",
    *(f"cells.initial.{i}.inner_radius=90" for i in (1, 2, 3)),
    *(f"cells.initial.{i}.outer_radius=140" for i in (1, 2, 3)),
    "cells.initial.1.count=45",
    "cells.initial.2.count=240",
    "cells.initial.3.count=120",
    "output.every=240",
    "output.checkpoint_every=0",
]
#: the header's way of removing the suppressors
TME_OFF = [
    "cells.initial.2.count=0",
    "cells.initial.3.count=0",
    "cells.kinds.tam.params.recruitment_rate=0",
    "cells.kinds.treg.params.recruitment_rate=0",
]


def _kills_per_t_cell_hour(seed, extra):
    from spatialtumor.build import build_simulation, make_backend
    from spatialtumor.scenario import load_scenario

    sim = build_simulation(load_scenario(TME, TME_SMALL + extra), make_backend("numpy"), seed=seed)
    t8 = sim.cells.by_name["t8"].index
    pop = sim.population
    t_cell_minutes = 0.0
    while sim.step_index < sim.stop_step:
        sim.step()
        if sim.step_index % sim.clock.phenotype_every == 0:
            n = int(np.sum(pop["alive"] & (pop["kind"] == t8)))
            t_cell_minutes += n * sim.clock.dt_phenotype
    host = pop.to_host()
    live = int(np.sum((host["kind"] == 0) & (host["state"] == 0)))
    return float(sim.cells.counters["t8_kills"]) / (t_cell_minutes / 60.0), live


@pytest.mark.parametrize("seed", [1, 2])
def test_tme_suppression_scenario_blunts_killing_per_t_cell(seed):
    """``tme_suppression.toml`` at reduced size (4 h): kills per T-cell-hour are lower with
    macrophages and regulatory T cells than with them removed as its header says, and the
    tumour keeps more live cells."""
    on = _kills_per_t_cell_hour(seed, [])
    off = _kills_per_t_cell_hour(seed, TME_OFF)
    print(f"seed {seed}: kills per T-cell-hour, live tumour (with, without): {on}, {off}")
    assert on[0] < 0.9 * off[0]
    assert on[1] > off[1]
