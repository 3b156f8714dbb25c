"""Vessels, compartments and therapies on the schedule over mpirun -n 1, 2, 4 equal one
process bit for bit: doses into two compartments (one feeding a drug field through random
and spherical vessels, one holding a field's walls), a pulse into a sphere across slab
faces, chemotherapy and radiation killing tumour cells."""

from __future__ import annotations

from pathlib import Path

import pytest
from _mpirun import needs_mpi
from test_mpi_cells import assert_same_run, contents, run

pytestmark = needs_mpi

SCENARIO = """\
[run]
stop = 60.0
seed = 2

[clock]
dt_diffusion = 0.1
dt_mechanics = 0.1
dt_phenotype = 6.0

[grid]
nx = 12
ny = 14
nz = 16
spacing = 20.0

[fields.oxygen]
diffusivity = 1.0e5
decay = 0.1
initial = 38.0
boundary = 38.0

[fields.doxorubicin]
preset = "doxorubicin"

[fields.antibody]
preset = "antibody"
boundary = 0.0

[cells.kinds.tumour]
model = "tumour"
exchange.oxygen = { uptake = 10.0 }

[cells.kinds.tumour.params]
birth_rate = 0.01

[[cells.initial]]
kind = "tumour"
shape = "sphere"
radius = 70.0

[[vessels]]
shape = "random"
fraction = 0.05
seed = 3

[[vessels]]
shape = "sphere"
centre = [0.0, 40.0, 10.0]
radius = 30.0

[compartments.plasma]
model = "drug_pk"

[compartments.plasma.params]
field = "doxorubicin"

[compartments.ab]
model = "antibody_pk"

[compartments.ab.params]
field = "antibody"
feed = "boundary"

[[therapy.doses]]
into = "plasma"
amount = 500.0
at = 0.0
every = 30.0
count = 2

[[therapy.doses]]
into = "ab"
amount = 200.0
at = 12.0

[[therapy.pulses]]
field = "oxygen"
amount = 3.0e7
at = 10.0
duration = 20.0
region = "sphere"
centre = [10.0, -20.0, 5.0]
radius = 70.0

[[therapy.chemotherapy]]
field = "doxorubicin"
kill.tumour = { max_rate = 0.05, half_effect = 50.0, immunogenic = true }

[[therapy.radiation]]
dose = 2.0
at = 24.0
every = 12.0
count = 2
region = "box"
lower = [-200.0, -200.0, -45.0]
upper = [200.0, 30.0, 45.0]

[output]
every = 12.0
checkpoint_every = 30.0
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "therapy.toml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture(scope="module")
def alone(scenario, tmp_path_factory):
    return run(tmp_path_factory.mktemp("alone") / "run", 0, [scenario])


@pytest.mark.parametrize(("ranks", "split"), [(1, "auto"), (2, "z"), (4, "z"), (2, "x")])
def test_therapies_match_one_process(scenario, alone, tmp_path, ranks, split):
    got = run(tmp_path / "run", ranks, [scenario], split)
    assert_same_run(got, alone)
    header = (alone / "timeseries.csv").read_text().splitlines()[0]
    for column in ("plasma_central", "ab_central", "tumour_chemo_killed", "radiation_fractions"):
        assert column in header


def test_resume_in_the_middle_of_the_schedule(alone, tmp_path):
    """Resumed at -n 4 from the checkpoint at 30 min (a dose due at once, a radiation
    fraction given, one to come), the run ends as the uninterrupted one."""
    got = run(tmp_path / "again", 4, ["--resume", alone / "checkpoints/checkpoint_000000300.h5"])
    last = "checkpoints/checkpoint_000000600.h5"
    want = {k: v for k, v in contents(alone).items() if k.startswith(last)}
    assert want and {k: v for k, v in contents(got).items() if k.startswith(last)} == want
