"""Immune cells over mpirun -n 1, 2, 4 equal one process bit for bit: NK cells (and CD8 T
cells) attaching to and killing tumour cells, every cell column of every snapshot and
checkpoint, the fields and the time series (kills and engaged time included); and a kill
across a slab face, the killer on one rank and its target on the other."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from _mpirun import needs_mpi
from test_mpi_cells import assert_same_run, face_box, hand_placed, run

pytestmark = needs_mpi

#: a small tumour (MHC-I low) with 80 NK cells around it, no recruitment: about 150 kills
NK = [
    "--stop", "30",
    "--set", "grid.nx=16", "--set", "grid.ny=16", "--set", "grid.nz=16",
    "--set", "cells.initial.0.radius=60",
    "--set", "cells.initial.1.inner_radius=62", "--set", "cells.initial.1.outer_radius=90",
    "--set", "cells.initial.1.count=80",
    "--set", "cells.kinds.nk.params.recruitment_rate=0",
    "--set", "cells.kinds.nk.params.attach_rate=2.0",
    "--set", "cells.kinds.nk.params.kill_rate=0.5",
    "--set", "cells.kinds.tumour.params.mhc_initial=0.1",
    "--set", "clock.dt_diffusion=0.06",
    "--set", "output.every=6", "--set", "output.checkpoint_every=12",
]  # fmt: skip


@pytest.fixture(scope="module")
def nk_alone(tmp_path_factory):
    return run(tmp_path_factory.mktemp("nk") / "run", 0, ["nk_surveillance", *NK])


@pytest.mark.parametrize(("ranks", "split"), [(1, "auto"), (2, "auto"), (4, "z"), (2, "x")])
def test_nk_cells_match_one_process(nk_alone, tmp_path, ranks, split):
    got = run(tmp_path / "run", ranks, ["nk_surveillance", *NK], split)
    assert_same_run(got, nk_alone)
    kills = np.genfromtxt(nk_alone / "timeseries.csv", delimiter=",", names=True)["nk_kills_total"]
    assert kills[-1] > 50


#: a small tumour with 60 CD8 T cells around it, no recruitment: about 50 kills
CD8 = [
    "--stop", "30",
    "--set", "grid.nx=16", "--set", "grid.ny=16", "--set", "grid.nz=16",
    "--set", "cells.initial.0.radius=60",
    "--set", "cells.initial.1.inner_radius=62", "--set", "cells.initial.1.outer_radius=90",
    "--set", "cells.initial.1.count=60",
    "--set", "cells.kinds.t8.params.attach_rate=2.0",
    "--set", "cells.kinds.t8.params.kill_rate=0.5",
    "--set", "clock.dt_diffusion=0.05",
    "--set", "output.every=6", "--set", "output.checkpoint_every=12",
]  # fmt: skip


@pytest.fixture(scope="module")
def cd8_alone(tmp_path_factory):
    return run(tmp_path_factory.mktemp("cd8") / "run", 0, ["bench_cancer_immune", *CD8])


@pytest.mark.parametrize(("ranks", "split"), [(1, "auto"), (2, "auto"), (4, "z")])
def test_cd8_cells_match_one_process(cd8_alone, tmp_path, ranks, split):
    got = run(tmp_path / "run", ranks, ["bench_cancer_immune", *CD8], split)
    assert_same_run(got, cd8_alone)
    kills = np.genfromtxt(cd8_alone / "timeseries.csv", delimiter=",", names=True)["t8_kills_total"]
    assert kills[-1] > 20


#: one NK cell facing tumour cells across the face z = 0 of two slabs, and two NK cells on
#: either side of one tumour cell on the face (the smaller id is credited)
KILL = (
    face_box(12.0, 5, 0.3)
    + """
[cells.kinds.tumour]
model = "tumour"

[cells.kinds.tumour.params]
birth_rate = 0.0
apoptosis_rate = 0.0
mhc_initial = 0.0
mhc_sd = 0.0

[cells.kinds.nk]
model = "nk"
speed = 0.0

[cells.kinds.nk.params]
recruitment_rate = 0.0
attach_rate = 5.0
kill_rate = 2.0
detach_rate = 0.0

[[cells.initial]]
kind = "tumour"  # the file names each cell's kind
shape = "csv"
file = "cells.csv"

[output]
every = 3.0
"""
)


def kill_scenario(folder: Path) -> Path:
    cells = [
        (-40.0, 0.0, 6.0, "tumour"), (-40.0, 0.0, -3.0, "nk"),  # killer below, target above
        (0.0, 0.0, 0.5, "tumour"), (0.0, 0.0, -8.0, "nk"), (0.0, 0.0, 9.0, "nk"),
        (40.0, 0.0, -6.0, "tumour"), (40.0, 0.0, 3.0, "nk"),  # killer above, target below
    ]  # fmt: skip
    return hand_placed(folder, "kill", KILL, cells)


@pytest.mark.parametrize("ranks", [2, 4])
def test_kill_across_a_face(tmp_path, ranks):
    """Each killer sits on the other side of z = 0 from its target; the kills, the credited
    killers and the targets' deaths are those of one process."""
    scenario = kill_scenario(tmp_path / "scenario")
    one = run(tmp_path / "one", 0, [scenario])
    many = run(tmp_path / "many", ranks, [scenario], "z")
    assert_same_run(many, one)
    snap = sorted((one / "snapshots").glob("snapshot_*.h5"))[-1]
    with h5py.File(snap, "r") as f:
        c = {n: f["cells"][n][()] for n in ("id", "kind", "state", "kills")}
    tumour = c["kind"] == 0
    assert np.all(c["state"][tumour] != 0)  # all three targets were killed
    kills = dict(zip(c["id"][~tumour], c["kills"][~tumour], strict=True))
    assert kills == {1: 1, 3: 1, 4: 0, 6: 1}  # of the two on one target, id 3 is credited
