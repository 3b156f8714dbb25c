"""A new cell kind is one module plus one registry line.

The toy kind below is written to its own module file, imported, and added to the registry
with ``KINDS.add(toy.Blinker)`` (the registry line of ``spatialtumor/biology/__init__.py``).
Nothing else changes: the scenario selects it by ``model``, its parameters are validated
with full keys, its states and column reach the snapshots, the time series and the readers.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest

from spatialtumor.biology import KINDS
from spatialtumor.build import build_simulation, make_backend
from spatialtumor.cells import Rule, Stage
from spatialtumor.runs import open_run
from spatialtumor.scenario import ScenarioError, scenario_from_dict

TOY_MODULE = '''
"""Blinkers: cells that switch a light on and off at rates per minute."""

from pydantic import BaseModel, ConfigDict, Field

from spatialtumor.cells import Column, Kind, Observable, Rule, Stage


class BlinkerParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    on_rate: float = Field(0.05, ge=0, description="off → on [1/min]")
    off_rate: float = Field(0.05, ge=0, description="on → off [1/min]")


class Blinker(Kind):
    model = "blinker"
    Params = BlinkerParams
    states = ("off", "on")
    colour = (0.9, 0.8, 0.1)
    columns = (Column("flashes", "float", (), 0.0, "1", "times the light went on"),)

    def rules(self, layer):
        return [Rule(self.switch, "phenotype", Stage.STATE, "blink")]

    def switch(self, ctx, events):
        pop = ctx.population
        mine = pop["alive"] & (pop["kind"] == self.index)
        rate = ctx.xp.where(pop["state"] == 0, self.params.on_rate, self.params.off_rate)
        flip = mine & (ctx.uniform(pop["id"], "contact") < ctx.probability(rate))
        turned_on = events.change_state(flip & (pop["state"] == 0), 1)
        events.change_state(flip & (pop["state"] == 1), 0)
        pop["flashes"][...] += turned_on

    def observables(self, layer):
        pop = layer.population
        n = float(pop.xp.sum(pop["alive"] & (pop["kind"] == self.index) & (pop["state"] == 1)))
        return [Observable(f"{self.name}_lit", n, f"{self.name}: lit cells", "cells")]
'''

SCENARIO = {
    "run": {"stop": 240.0, "seed": 5},
    "clock": {"dt_diffusion": 1.0, "dt_mechanics": 2.0, "dt_phenotype": 2.0},
    "grid": {"nx": 6, "ny": 6, "nz": 6, "spacing": 20.0},
    "fields": {"oxygen": {"preset": "oxygen", "initial": 38.0}},
    "cells": {
        "kinds": {"b": {"model": "blinker", "repulsion": 0.0, "params": {"on_rate": 0.03}}},
        "initial": [
            {"kind": "b", "shape": "box", "lower": [-50] * 3, "upper": [50] * 3, "count": 2000}
        ],
    },
    "output": {"every": 60.0},
}


@pytest.fixture
def toy(tmp_path, monkeypatch):
    (tmp_path / "toy_blinker.py").write_text(textwrap.dedent(TOY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = importlib.import_module("toy_blinker")
    KINDS.add(toy.Blinker)  # the one registry line
    yield toy
    KINDS.remove("blinker")
    sys.modules.pop("toy_blinker", None)


def test_a_toy_kind_runs_from_a_scenario(toy, tmp_path):
    sim = build_simulation(
        scenario_from_dict(SCENARIO, "toy"),
        make_backend("numpy", "float64"),
        run_dir=tmp_path / "run",
    )
    sim.run()
    pop = sim.population.to_host()
    lit = np.mean(pop["state"] == 1)
    # two-state chain: stationary share on = k_on / (k_on + k_off) = 0.03 / 0.08
    assert lit == pytest.approx(0.375, abs=0.04)
    assert pop["flashes"].sum() > 0
    run = open_run(tmp_path / "run")
    vocab = run.vocabulary
    assert vocab.kind_models == ("blinker",) and vocab.kind_states == (("off", "on"),)
    assert vocab.column_owners["flashes"] == ("b",)
    assert set(run.last.cells["state"].unique()) == {"off", "on"}
    ts = run.timeseries
    assert {"cells_b_off", "cells_b_on", "b_lit"} <= set(ts.columns)
    assert ts["cells_b_on"].iloc[-1] == ts["b_lit"].iloc[-1] == int(np.sum(pop["state"] == 1))
    assert run.timeseries_columns["b_lit"]["panel"] == "b: lit cells"


def test_a_typo_in_the_toy_kind_names_the_full_key(toy):
    raw = {**SCENARIO, "cells": {**SCENARIO["cells"]}}
    raw["cells"]["kinds"] = {"b": {"model": "blinker", "params": {"on_rat": 0.1}}}
    with pytest.raises(ScenarioError, match=r"cells\.kinds\.b\.params\.on_rat: unknown key"):
        scenario_from_dict(raw, "toy")


def test_unregistered_model_is_refused():
    with pytest.raises(
        ScenarioError,
        match="unknown model 'blinker'; models: car_t, cd8, dendritic, inert, macrophage, nk, "
        "treg, ",
    ):
        scenario_from_dict(SCENARIO, "toy")


def test_rules_run_in_stage_order_and_one_compaction_per_phenotype_step(toy, monkeypatch):
    """Rules listed in reverse stage order still run sense → … → recruit, and the population
    is rebuilt (one compaction) once per phenotype step however many rules record events."""
    calls = []

    def make(stage):
        def rule(ctx, events):
            calls.append(stage)
            pop = ctx.population
            # every rule removes one cell and divides another: events, not compactions
            mask = np.zeros(pop.size, dtype=bool)
            mask[int(stage)] = True
            events.remove(mask)
            mask[:] = False
            mask[10 + int(stage)] = True
            events.divide(mask)

        return rule

    order = [Stage.RECRUIT, Stage.FATE, Stage.STATE, Stage.CONTACT, Stage.SENSE]
    monkeypatch.setattr(
        toy.Blinker,
        "rules",
        lambda self, layer: [Rule(make(s), "phenotype", s, s.name) for s in order],
    )
    sim = build_simulation(scenario_from_dict(SCENARIO, "toy"), make_backend("numpy", "float64"))
    rebuilds = []
    real = type(sim.population).rebuild

    def counting(pop, keep, appended=None):
        rebuilds.append(sim.step_index)
        return real(pop, keep, appended)

    monkeypatch.setattr(type(sim.population), "rebuild", counting)
    n0 = sim.population.n
    sim.stop = 6.0  # three phenotype steps
    sim.run()
    assert calls == [s for _ in range(3) for s in sorted(order)]
    assert rebuilds == [2, 4, 6]  # diffusion steps of the phenotype steps (dt 1 min)
    assert sim.population.n == n0  # 5 removed and 5 daughters per step


def test_rules_of_no_kind_run_after_the_kinds_within_their_stage(toy, monkeypatch):
    """``CellLayer.add_rules`` (a therapy acting on cells) slots its rules into the stage
    order after every kind's rules of the same stage."""
    calls = []

    def named(label):
        return lambda ctx, events: calls.append(label)

    monkeypatch.setattr(
        toy.Blinker,
        "rules",
        lambda self, layer: [
            Rule(named("kind fate"), "phenotype", Stage.FATE),
            Rule(named("kind sense"), "phenotype", Stage.SENSE),
        ],
    )
    sim = build_simulation(scenario_from_dict(SCENARIO, "toy"), make_backend("numpy", "float64"))
    sim.cells.add_rules([Rule(named("therapy sense"), "phenotype", Stage.SENSE)])
    sim.cells.add_rules([Rule(named("second contact"), "phenotype", Stage.CONTACT)])
    sim.stop = 2.0
    sim.run()
    assert calls == ["kind sense", "therapy sense", "second contact", "kind fate"]
