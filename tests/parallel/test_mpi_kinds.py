"""Every immune kind over MPI ranks equals one process bit for bit: macrophages eating and
killing across slab faces, regulatory T cells and CD8 suppression by contact (a phenotype
rule that searches partners), dendritic cells delivering antigen to a lymph node that
recruits T cells, recruitment at vessel voxels, and infusions of CAR-T and NK cells; every
dataset of every snapshot and checkpoint and the time series are compared.

Each scenario is a shipped one at a reduced size, with rates raised so that every process
under test happens several times in 36 simulated minutes (checked on the one-process run).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from _mpirun import needs_mpi
from test_mpi_cells import assert_same_run, face_box, hand_placed, run

pytestmark = needs_mpi

SMALL = [
    "--stop", "36",
    "--set", "grid.nx=20", "--set", "grid.ny=20", "--set", "grid.nz=22",
    "--set", "clock.dt_diffusion=0.1",
    "--set", "output.every=12", "--set", "output.checkpoint_every=24",
]  # fmt: skip

SCENARIOS = {
    # CD8 T cells, M0/M1/M2 macrophages (eating and killing) and Tregs (suppressing CD8
    # division by contact), all three recruited at vessels
    "tme": [
        "tme_suppression", *SMALL,
        "--set", "cells.kinds.tam.params.m1_rate=0.05",
        "--set", "cells.kinds.tam.params.kill_rate=0.05",
        "--set", "cells.kinds.tam.params.recruitment_rate=5",
        "--set", "cells.kinds.treg.params.recruitment_rate=5",
        "--set", "cells.kinds.t8.params.recruitment_rate=5",
        "--set", "cells.kinds.t8.params.proliferation_rate=0.05",
    ],
    # dendritic cells carry antigen to the lymph node, which recruits CD8 T cells
    "dc": [
        "immune_surveillance", *SMALL,
        "--set", "cells.initial.1.outer_radius=180",
        "--set", "cells.initial.2.lower=[-190.0, -190.0, -210.0]",
        "--set", "cells.initial.2.upper=[190.0, 190.0, 210.0]",
        "--set", "cells.kinds.dc.params.maturation_rate=0.05",
        "--set", "cells.kinds.dc.params.exit_rate=0.05",
        "--set", "compartments.ln.params.initial_primed=1e6",
    ],
    # CAR-T cells infused into a ball, entering memory and reactivated by contact
    "cart": [
        "car_t", *SMALL,
        "--set", "therapy.infusions.0.at=3",
        "--set", "cells.kinds.cart.params.memory_rate=0.05",
    ],
    # NK cells recruited at vessels and infused at vessel voxels
    "nk": [
        "nk_surveillance", *SMALL,
        "--set", "cells.kinds.nk.params.recruitment_rate=5",
        "--set", "cells.kinds.nk.params.recruitment_half_saturation=0.001",
        "--set",
        'therapy.infusions=[{ kind = "nk", cells = 40, at = 6.0, site = "vessels" }]',
    ],
}  # fmt: skip

#: counters (running totals) that must have counted in the one-process run
BUSY = {
    "tme": ("tam_eaten", "tam_kills", "tam_recruited", "treg_recruited", "t8_recruited"),
    "dc": ("dc_exited", "dc_antigen_delivered", "t8_recruited", "t8_kills"),
    "cart": ("cart_infused", "cart_kills", "cart_memory_formed", "cart_reactivated"),
    "nk": ("nk_recruited", "nk_infused", "nk_kills"),
}

#: (scenario, ranks, split): every scenario on an uneven or a 4-way cut, and each axis
CASES = [
    ("tme", 2, "auto"),
    ("tme", 4, "z"),
    ("dc", 3, "y"),
    ("cart", 2, "x"),
    ("nk", 4, "z"),
]


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = run(tmp_path_factory.mktemp(name) / "run", 0, SCENARIOS[name])
        return done[name]

    return get


@pytest.mark.parametrize(("name", "ranks", "split"), CASES)
def test_immune_kinds_match_one_process(alone, tmp_path, name, ranks, split):
    want = alone(name)
    table = np.genfromtxt(want / "timeseries.csv", delimiter=",", names=True)
    for counter in BUSY[name]:
        assert table[f"{counter}_total"][-1] > 0, counter
    got = run(tmp_path / "run", ranks, SCENARIOS[name], split)
    assert_same_run(got, want)


#: M1 macrophages facing cells across the face z = 0 of two slabs: each eats a dead cell or
#: kills a live one on the other side; two of them on either side of one dead cell (the
#: smaller id is credited). An eaten cell leaves the forces of the same step on both ranks.
EAT = (
    face_box(18.0, 7, 0.3)
    + """
[fields.ifng]
diffusivity = 0.0
decay = 0.0
initial = 10.0

[cells.kinds.live]
model = "tumour"

[cells.kinds.live.params]
birth_rate = 0.0
apoptosis_rate = 0.0

[cells.kinds.dying]
model = "tumour"

[cells.kinds.dying.params]
birth_rate = 0.0
apoptosis_rate = 10.0

[cells.kinds.mac]
model = "macrophage"
speed = 0.0

[cells.kinds.mac.params]
targets = ["live"]
ifng_field = "ifng"
m1_rate = 10.0
m2_rate = 0.0
m0_rate = 0.0
kill_rate = 3.0
phagocytosis_rate = 3.0

[[cells.initial]]
kind = "live"  # the file names each cell's kind
shape = "csv"
file = "cells.csv"

[output]
every = 3.0
"""
)


def eat_scenario(folder: Path) -> Path:
    cells = [
        (-60.0, 0.0, 5.0, "dying"), (-60.0, 0.0, -8.0, "mac"),  # eater below, dead above
        (0.0, 0.0, 0.5, "dying"), (0.0, 0.0, -12.0, "mac"), (0.0, 0.0, 13.0, "mac"),
        (60.0, 0.0, -6.0, "live"), (60.0, 0.0, 8.0, "mac"),  # killer above, live below
        (60.0, 40.0, 6.0, "dying"), (60.0, 40.0, -6.0, "live"), (60.0, 40.0, -19.0, "mac"),
    ]  # fmt: skip
    return hand_placed(folder, "eat", EAT, cells)


@pytest.mark.parametrize("ranks", [2, 4])
def test_macrophages_eat_and_kill_across_a_face(tmp_path, ranks):
    scenario = eat_scenario(tmp_path / "scenario")
    one = run(tmp_path / "one", 0, [scenario])
    many = run(tmp_path / "many", ranks, [scenario], "z")
    assert_same_run(many, one)
    table = np.genfromtxt(one / "timeseries.csv", delimiter=",", names=True)
    assert table["mac_eaten_total"][-1] >= 3 and table["mac_kills_total"][-1] >= 1


def test_immune_kinds_in_parts_match_one_process(alone, tmp_path):
    """The default output under mpirun (each rank writes its part): the fields and the
    checkpoints bit for bit, the cells the same rows, the table to rounding."""
    from test_mpi_parts import assert_same_snapshots, assert_same_table, checkpoint_bytes

    want = alone("tme")
    got = run(tmp_path / "run", 3, [*SCENARIOS["tme"], "--write", "parts"], "z")
    assert (got / "snapshots" / "parts").is_dir()
    assert_same_snapshots(got, want)
    assert_same_table(got, want)
    assert checkpoint_bytes(got) == checkpoint_bytes(want)


#: CD8 T cells dividing on IL-2, each braked by a Treg in contact on the other side of the
#: face z = 0 (a phenotype rule searching partners across a face) and one T cell without
SUPPRESS = (
    face_box(30.0, 9, 0.3)
    + """
[fields.il2]
diffusivity = 0.0
decay = 0.0
initial = 10.0

[cells.kinds.t8]
model = "cd8"
speed = 0.0

[cells.kinds.t8.params]
targets = []
il2_field = "il2"
proliferation_rate = 0.2
division_limit = 1
suppressors = ["treg"]
suppressor_half_inhibition = 0.001

[cells.kinds.treg]
model = "treg"
speed = 0.0

[[cells.initial]]
kind = "t8"  # the file names each cell's kind
shape = "csv"
file = "cells.csv"

[output]
every = 6.0
"""
)


@pytest.mark.parametrize("ranks", [2, 4])
def test_suppression_by_contact_across_a_face(tmp_path, ranks):
    cells = []
    for x in (-60.0, -20.0, 20.0):  # a T cell below the face, its Treg above, and mirrored
        cells += [(x, 0.0, -4.0, "t8"), (x, 0.0, 4.0, "treg")]
        cells += [(x, 30.0, 4.0, "t8"), (x, 30.0, -4.0, "treg")]
    cells += [(60.0, 0.0, -4.0, "t8"), (60.0, 30.0, 4.0, "t8")]  # no Treg near
    scenario = hand_placed(tmp_path / "scenario", "suppress", SUPPRESS, cells)
    one = run(tmp_path / "one", 0, [scenario])
    many = run(tmp_path / "many", ranks, [scenario], "z")
    assert_same_run(many, one)
    last = sorted((one / "snapshots").glob("snapshot_*.h5"))[-1]
    with h5py.File(last, "r") as f:
        kind, x = f["cells/kind"][()], f["cells/position"][()][:, 0]
    t8 = kind == 0
    assert np.sum(t8 & (x > 40)) > 2  # the two unbraked T cells divided
    assert np.sum(t8 & (x < 40)) == 6  # the braked ones did not
