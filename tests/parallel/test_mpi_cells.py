"""Cells over mpirun -n 1, 2, 3, 4 equal one process bit for bit: every cell column of every
snapshot and checkpoint, the fields and the time series; and the three cases at a slab
face (a cell crossing it, a cell dividing on it, a contact across it)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from _mpirun import needs_mpi, spatialtumor

pytestmark = needs_mpi

#: 629 tumour cells dividing fast in a 320 µm box (16³ voxels, z = 0 is the face of 2 ranks)
SPHEROID = [
    "--set", "grid.nx=16", "--set", "grid.ny=16", "--set", "grid.nz=16",
    "--set", "cells.initial.0.radius=80",
    "--set", "clock.dt_diffusion=0.1", "--set", "clock.dt_mechanics=0.1",
    "--set", "cells.kinds.tumour.params.birth_rate=0.01",
    "--set", "output.every=12", "--set", "output.checkpoint_every=24",
]  # fmt: skip


def face_box(stop, seed: int, dt_mechanics: float) -> str:
    """The ``[run]``, ``[clock]``, ``[grid]`` (8 × 8 × 16 voxels of 20 µm, so z = 0 is the
    face of 2 ranks and of the middle ranks of 4) and oxygen tables of the scenarios that
    place cells by hand about that face."""
    return f"""\
[run]
stop = {stop}
seed = {seed}

[clock]
dt_diffusion = 0.1
dt_mechanics = {dt_mechanics}
dt_phenotype = 6.0

[grid]
nx = 8
ny = 8
nz = 16
spacing = 20.0

[fields.oxygen]
diffusivity = 1.0e5
decay = 0.1
initial = 38.0
boundary = 38.0
"""


#: cells placed by hand about the face z = 0 of a 2-rank (or 4-rank) run
FACE = (
    face_box("{stop}", 4, 0.1)
    + """
[cells.kinds.tumour]
model = "tumour"
exchange.oxygen = {{ uptake = 10.0 }}

[cells.kinds.tumour.params]
birth_rate = {birth}
apoptosis_rate = 0.0

[cells.kinds.walker]
model = "inert"
radius = 5.0
speed = 4.0
persistence = 5.0

[[cells.initial]]
kind = "tumour"  # the file names each cell's kind
shape = "csv"
file = "cells.csv"

[output]
every = 6.0
"""
)


def run(out: Path, ranks: int, args, split: str = "auto") -> Path:
    more = ["--split", split] if ranks else []
    cmd = ["run", *args, "--backend", "numpy", "--quiet", "--out", out, *more]
    done = spatialtumor(cmd, ranks, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def contents(folder: Path) -> dict[str, bytes]:
    """Every dataset of every snapshot and checkpoint, and the time-series table, as bytes."""
    out = {"timeseries.csv": (folder / "timeseries.csv").read_bytes()}
    for path in sorted(folder.glob("*/*.h5")):

        def put(name, obj, path=path):
            if isinstance(obj, h5py.Dataset):
                a = obj[()]
                out[f"{path.relative_to(folder)}:{name}"] = np.asarray(a).tobytes()

        with h5py.File(path, "r") as f:
            f.visititems(put)
    return out


def assert_same_run(got: Path, want: Path) -> None:
    a, b = contents(got), contents(want)
    assert sorted(a) == sorted(b)
    assert any("/cells/" in k or ":cells/" in k for k in a)  # cells are compared
    for key in a:
        assert a[key] == b[key], f"{key} differs"


def last_cells(folder: Path) -> dict[str, np.ndarray]:
    snap = sorted((folder / "snapshots").glob("snapshot_*.h5"))[-1]
    with h5py.File(snap, "r") as f:
        return {n: f["cells"][n][()] for n in ("id", "position", "kind")}


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    out = tmp_path_factory.mktemp("alone") / "run"
    return run(out, 0, ["spheroid", "--stop", "60", *SPHEROID])


@pytest.mark.parametrize(("ranks", "split"), [(1, "auto"), (2, "auto"), (4, "z"), (3, "x")])
def test_tumour_cells_match_one_process(alone, tmp_path, ranks, split):
    got = run(tmp_path / "run", ranks, ["spheroid", "--stop", "60", *SPHEROID], split)
    assert_same_run(got, alone)


def final_checkpoint(folder: Path) -> dict[str, bytes]:
    return {
        k: v for k, v in contents(folder).items() if k.startswith("checkpoints/") and "600" in k
    }


@pytest.mark.parametrize("ranks", [4, 2])
def test_resume_with_cells_on_ranks(alone, tmp_path, ranks):
    """A checkpoint (the whole domain) resumed at -n 4 or -n 2 ends as the uninterrupted run."""
    middle = alone / "checkpoints" / "checkpoint_000000480.h5"
    got = run(tmp_path / "again", ranks, ["--resume", middle], "z")
    want = final_checkpoint(alone)
    assert want and final_checkpoint(got) == want


def test_slabs_thinner_than_the_cells_reach_are_refused(tmp_path):
    small = ["--set", "grid.spacing=5", "--set", "cells.initial.0.radius=30"]
    done = spatialtumor(["run", "spheroid", "--backend", "numpy", *SPHEROID, *small], 4)
    assert done.returncode == 2
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")][0]
    assert "too many ranks for the cells" in line and "thinner than the interaction" in line


def hand_placed(folder: Path, name: str, text: str, cells: list[tuple]) -> Path:
    """Write scenario ``name``.toml (``text``) and the ``cells.csv`` it reads ((x, y, z,
    kind) rows) into ``folder``; returns the scenario's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{x},{y},{z},{k}\n" for x, y, z, k in cells)
    (folder / "cells.csv").write_text("x,y,z,kind\n" + rows)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def face_scenario(folder: Path, cells: list[tuple], stop: float, birth: float) -> Path:
    return hand_placed(folder, "face", FACE.format(stop=stop, birth=birth), cells)


def both(tmp_path, cells, stop, birth=0.0, ranks=2):
    scenario = face_scenario(tmp_path / "scenario", cells, stop, birth)
    one = run(tmp_path / "one", 0, [scenario])
    many = run(tmp_path / "many", ranks, [scenario], "z")
    assert_same_run(many, one)
    return last_cells(one)


def test_cells_crossing_a_face(tmp_path):
    """Walkers starting within 3 µm of z = 0 (the face of two slabs) wander across it."""
    rng = np.random.default_rng(2)
    start = [(*rng.uniform(-60, 60, 2), z, "walker") for z in rng.uniform(-3, 3, 24)]
    end = both(tmp_path, start, stop=30.0)
    z0 = np.array([c[2] for c in start])
    z1 = end["position"][np.argsort(end["id"]), 2]
    assert np.any(np.sign(z0) != np.sign(z1))  # some did cross


def test_cell_dividing_on_a_face(tmp_path):
    """Tumour cells 0.5 µm off the face divide; their daughters (ids from 3) are numbered
    as in one process and land on both sides of it."""
    start = [
        (x, y, 0.5 * (-1) ** i, "tumour") for i, (x, y) in enumerate([(-40, 0), (0, 0), (40, 0)])
    ]
    end = both(tmp_path, start, stop=60.0, birth=0.05)
    daughters = end["id"] >= 3
    z = end["position"][daughters, 2]
    assert np.any(z < 0) and np.any(z > 0)


def test_contact_across_a_face(tmp_path):
    """Two overlapping cells on either side of a face push each other apart."""
    start = [(0.0, 0.0, -2.0, "tumour"), (0.0, 0.0, 2.0, "tumour")]
    end = both(tmp_path, start, stop=6.0, ranks=4)
    z = np.sort(end["position"][:, 2])
    assert z[0] < -2.0 and z[1] > 2.0


#: walkers climbing the oxygen gradient: away from the tumour cells above z = 0 that use it
CHEMOTAXIS = [
    "--set", 'cells.kinds.walker.chemotaxis={ field = "oxygen", bias = 0.8 }',
    "--set", "cells.kinds.tumour.exchange.oxygen.uptake=1000.0",
]  # fmt: skip


@pytest.mark.parametrize(("ranks", "split"), [(1, "z"), (2, "z"), (4, "z"), (2, "x")])
def test_chemotaxis_across_a_face(tmp_path, ranks, split):
    """Walkers within 3 µm of z = 0 sense a gradient whose voxels lie on both sides of the
    face (the ghost planes of the attractant) and move exactly as in one process; cut
    along x, the walkers near x = 0 cross that face."""
    rng = np.random.default_rng(3)
    walkers = [(*rng.uniform(-60, 60, 2), z, "walker") for z in rng.uniform(-3, 3, 24)]
    diggers = [(x, y, 30.0, "tumour") for x in (-40, 0, 40) for y in (-40, 0, 40)]
    scenario = face_scenario(tmp_path / "scenario", walkers + diggers, 30.0, 0.0)
    one = run(tmp_path / "one", 0, [scenario, *CHEMOTAXIS])
    many = run(tmp_path / "many", ranks, [scenario, *CHEMOTAXIS], split)
    assert_same_run(many, one)
    end = last_cells(one)
    walker = end["kind"] == 1
    z0 = np.array([c[2] for c in walkers])
    assert np.mean(end["position"][walker, 2]) < np.mean(z0) - 5.0  # they fled the diggers
