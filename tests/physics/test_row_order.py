"""A run does not depend on the order of the population's rows: ids decide every draw, the
order of every sum (forces, deposits into a voxel, observables) and the ids of daughters.

Each scenario is built twice; in the second the rows are shuffled after the build (every
column alike). Both runs must end with the same cells (compared in id order), the same
fields and the same observables, to the bit. This is what lets cells be dealt out to
several ranks and still give the single-process result.
"""

from __future__ import annotations

import numpy as np

from spatialtumor.build import build_simulation
from spatialtumor.scenario import load_scenario

SPHEROID = [  # 629 tumour cells dividing fast: mechanics, uptake, divisions
    "grid.nx=16",
    "grid.ny=16",
    "grid.nz=16",
    "cells.initial.0.radius=80",
    "clock.dt_diffusion=0.1",
    "clock.dt_mechanics=0.1",
    "cells.kinds.tumour.params.birth_rate=0.01",
]
IMMUNE = [  # T cells attaching and killing, dendritic cells leaving for the lymph node
    "grid.nx=12",
    "grid.ny=12",
    "grid.nz=12",
    "cells.initial.0.radius=60",
    "cells.initial.1.inner_radius=65",
    "cells.initial.1.outer_radius=100",
    "cells.initial.1.count=40",
    "cells.initial.2.lower=[-100,-100,-100]",
    "cells.initial.2.upper=[100,100,100]",
    "cells.initial.2.count=20",
    "cells.kinds.tumour.params.birth_rate=0.01",
    "cells.kinds.t8.params.attach_rate=2.0",
    "cells.kinds.t8.params.kill_rate=1.0",
    "cells.kinds.dc.params.maturation_rate=0.1",
    "cells.kinds.dc.params.exit_rate=0.1",
]


def shuffle_rows(sim, seed: int = 7) -> None:
    """Permute the in-use rows of every column consistently."""
    pop = sim.population
    n = pop.size
    perm = pop.xp.asarray(np.random.default_rng(seed).permutation(n))
    for col in pop.columns.values():
        col[:n] = col[:n][perm]
    pop.ids_sorted = False
    pop.mark_membership_changed()


def final_state(sim):
    """Every column in id order, the fields and the observables, on the host."""
    pop = sim.population
    be = sim.backend
    ids = be.asnumpy(pop["id"])
    order = np.argsort(ids, kind="stable")
    cells = {name: be.asnumpy(pop[name])[order] for name in pop.columns}
    observables = [(o.name, o.value) for o in sim.cells.observables()]
    return cells, be.asnumpy(sim.fields.values), observables, pop.next_id


def run(backend, scenario, overrides, stop, shuffle):
    sim = build_simulation(load_scenario(scenario, overrides), backend, stop=stop)
    assert sim.population.next_id == sim.population.size
    if shuffle:
        shuffle_rows(sim)
        assert not np.all(np.diff(backend.asnumpy(sim.population["id"])) > 0)
    sim.run()
    return final_state(sim)


def assert_same(a, b):
    cells_a, fields_a, obs_a, next_a = a
    cells_b, fields_b, obs_b, next_b = b
    assert next_a == next_b
    assert list(cells_a) == list(cells_b)
    for name in cells_a:
        assert cells_a[name].tobytes() == cells_b[name].tobytes(), f"column {name!r}"
    assert fields_a.tobytes() == fields_b.tobytes()
    assert [n for n, _ in obs_a] == [n for n, _ in obs_b]
    for (name, va), (_, vb) in zip(obs_a, obs_b, strict=True):
        assert np.float64(va).tobytes() == np.float64(vb).tobytes(), name


def test_spheroid_does_not_depend_on_row_order(backend):
    plain = run(backend, "spheroid", SPHEROID, 60.0, shuffle=False)
    shuffled = run(backend, "spheroid", SPHEROID, 60.0, shuffle=True)
    cells, _, _, given = plain
    assert given > 1000 and cells["id"].shape[0] == given  # 454 divisions
    assert_same(plain, shuffled)


def test_immune_run_does_not_depend_on_row_order(backend):
    plain = run(backend, "immune_surveillance", IMMUNE, 60.0, shuffle=False)
    shuffled = run(backend, "immune_surveillance", IMMUNE, 60.0, shuffle=True)
    obs = dict(plain[2])
    assert obs["t8_kills"] > 0 and obs["dc_exited"] > 0 and obs["t8_engaged_time"] > 0
    assert_same(plain, shuffled)
