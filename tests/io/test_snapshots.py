"""Snapshots, sidecar and time-series table written by real runs read back exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import spatialtumor as st
from spatialtumor.build import build_simulation, make_backend
from spatialtumor.output import (
    FORMAT,
    FORMAT_VERSION,
    Schedule,
    SnapshotFormatError,
    SnapshotWriter,
    TimeSeriesWriter,
    add_writers,
    atomic_path,
    list_snapshots,
    read_run,
    read_snapshot,
    read_timeseries,
    rebuild_sidecar,
)
from spatialtumor.scenario import scenario_from_dict

sys.path.insert(0, str(Path(__file__).parent))
from _runs import (  # noqa: E402
    ORIGIN,
    SHAPE,
    SPACING,
    SPIKE,
    SPIKE_VALUE,
    Recorder,
    check_run_folder,
    make_sim,
    sidecar_files,
)


def run_with_recorder(run_dir, *, stop=5.5, every=1.0, **kwargs):
    """Run ``make_sim`` with snapshot + table writers and a recorder on the same schedule."""
    sim = make_sim(stop=stop, **kwargs)
    add_writers(sim, run_dir, every=every)
    rec = Recorder(every)
    sim.writers["recorder"] = rec
    sim.run()
    return sim, rec.records


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("small") / "run"
    sim, records = run_with_recorder(run_dir)
    return run_dir, sim, records


def test_fields_times_and_steps_round_trip_exactly(small_run):
    run_dir, sim, records = small_run
    snaps = read_run(run_dir)
    # dt_diffusion 0.5 min, every 1 min, stop 5.5 min: steps 0, 2, ..., 10 and the stop step 11
    assert [s.step for s in snaps] == [0, 2, 4, 6, 8, 10, 11]
    assert [s.time for s in snaps] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.5]
    assert [r["step"] for r in records] == [s.step for s in snaps]
    for snap, rec in zip(snaps, records, strict=True):
        assert snap.time == rec["time"]
        assert list(snap.fields) == ["oxygen", "marker"]
        for name, values in rec["fields"].items():
            assert snap.fields[name].dtype == np.float64
            np.testing.assert_array_equal(snap.fields[name], values)
        # the marker never moves: one voxel, at (k, j, i) = SPIKE
        marker = snap.fields["marker"]
        assert marker[SPIKE] == SPIKE_VALUE and np.count_nonzero(marker) == 1
    # oxygen evolves, so the comparison above compared different arrays at different times
    assert not np.array_equal(snaps[0].fields["oxygen"], snaps[-1].fields["oxygen"])


def test_geometry(small_run):
    run_dir, sim, _ = small_run
    snap = read_snapshot(list_snapshots(run_dir)[3])
    g = snap.grid
    assert g.shape == SHAPE == snap.fields["oxygen"].shape
    assert g.spacing == SPACING and g.origin == ORIGIN and g.offset == (0, 0, 0)
    assert g.first_centre == tuple(o + 0.5 * h for o, h in zip(ORIGIN, SPACING, strict=True))
    assert g.voxel_volume == 2.0 * 3.0 * 5.0
    np.testing.assert_array_equal(g.centres("x"), -9.0 + 2.0 * np.arange(11))
    np.testing.assert_array_equal(g.centres("y"), 5.5 + 3.0 * np.arange(7))
    np.testing.assert_array_equal(g.centres("z"), 102.5 + 5.0 * np.arange(5))
    k, j, i = SPIKE
    np.testing.assert_array_equal(g.centre(k, j, i), [-9.0 + 2 * i, 5.5 + 3 * j, 102.5 + 5 * k])
    # the same numbers the simulation's grid uses
    np.testing.assert_array_equal(g.first_centre, sim.grid.first_centre)
    for axis in "xyz":
        np.testing.assert_array_equal(g.centres(axis), sim.grid.centres(axis))


def test_attributes(small_run):
    run_dir, _, _ = small_run
    files = list_snapshots(run_dir)
    snap = read_snapshot(files[2])
    a = snap.attrs
    assert a["format"] == FORMAT == "spatialtumor-snapshot"
    assert a["format_version"] == FORMAT_VERSION == 2
    assert a["snapshot_index"] == 2 and files[2].name == "snapshot_000002.h5"
    assert a["seed"] == 42 and a["backend"] == "numpy" and a["dtype"] == "float64"
    assert a["dt_diffusion_min"] == 0.5
    assert snap.scenario == '[grid]\nshape = [5, 7, 11]\nname = "tëst"\n'
    assert a["scenario_path"] == "scenarios/test.toml"
    assert snap.extra == {"note": "round trip"}
    assert a["spatialtumor_version"] == st.__version__
    assert a["numpy_version"] == np.__version__
    assert a["h5py_version"] == h5py.__version__
    assert a["hdf5_version"] == h5py.version.hdf5_version
    assert a["field_names"] == ["oxygen", "marker"]
    assert snap.units == {"oxygen": "mmHg", "marker": "nM"}
    ox = snap.species["oxygen"]
    assert ox["diffusivity"] == 20.0 and ox["decay"] == 0.05 and ox["solver"] == "lod"
    assert json.loads(ox["boundary"]) == {
        f: None for f in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
    }
    assert snap.species["marker"]["diffusivity"] == 0.0
    # raw HDF5, as any other program sees it
    with h5py.File(files[2], "r") as f:
        assert f["fields/oxygen"].shape == SHAPE and f["fields/oxygen"].dtype == np.float64
        assert f["fields/marker"][SPIKE] == SPIKE_VALUE
        np.testing.assert_array_equal(f["grid"].attrs["spacing_xyz"], SPACING)
        np.testing.assert_array_equal(f["grid"].attrs["shape_zyx"], SHAPE)
        n = f["cells"].attrs["count"]
        np.testing.assert_array_equal(f["xdmf/connectivity"][()], np.arange(n))
        # the (N, 2) column is also stored per component for the sidecar
        assert list(f["xdmf/components"]) == ["polarity_0", "polarity_1"]
        for c in range(2):
            np.testing.assert_array_equal(
                f[f"xdmf/components/polarity_{c}"][()], f["cells/polarity"][:, c]
            )


def test_cell_columns_round_trip_including_empty(small_run):
    run_dir, _, records = small_run
    snaps = read_run(run_dir)
    counts = [s.n_cells for s in snaps]
    assert 0 in counts and max(counts) > 0  # the fake population has empty times
    for snap, rec in zip(snaps, records, strict=True):
        assert snap.has_population and snap.kind_names == ("tumour", "cd8", "nk")
        assert list(snap.cells) == list(rec["cells"])
        for name, col in rec["cells"].items():
            got = snap.cells[name]
            assert got.dtype == col.dtype, name  # bool comes back bool, float32 stays float32
            assert got.shape == col.shape, name
            np.testing.assert_array_equal(got, col)
    empty = snaps[counts.index(0)]
    assert empty.cells["position"].shape == (0, 3) and empty.cells["polarity"].shape == (0, 2)
    assert read_snapshot(snaps[0].path, cells=False).cells == {}


def test_run_without_population(tmp_path):
    _, records = run_with_recorder(tmp_path, stop=1.0, population=False)
    snaps = read_run(tmp_path)
    assert len(snaps) == len(records) == 2
    assert all(not s.has_population and s.cells == {} and s.kind_names == () for s in snaps)
    ts = read_timeseries(tmp_path)
    assert not any(c.startswith("cells_") for c in ts)
    check_run_folder(tmp_path)


def test_float32_run_keeps_its_dtype(tmp_path):
    _, records = run_with_recorder(tmp_path, stop=1.0, dtype="float32")
    snap = read_run(tmp_path)[-1]
    assert snap.attrs["dtype"] == "float32" and snap.fields["oxygen"].dtype == np.float32
    np.testing.assert_array_equal(snap.fields["oxygen"], records[-1]["fields"]["oxygen"])


def test_compressed_snapshots_read_the_same(tmp_path):
    sim = make_sim(stop=1.0)
    sim.writers["snapshots"] = SnapshotWriter(tmp_path, every=1.0, compression="gzip")
    rec = sim.writers["recorder"] = Recorder(1.0)
    sim.run()
    snap = read_run(tmp_path)[-1]
    with h5py.File(snap.path) as f:
        assert f["fields/oxygen"].compression == "gzip"
    np.testing.assert_array_equal(snap.fields["oxygen"], rec.records[-1]["fields"]["oxygen"])


def test_sidecar_lists_every_snapshot(small_run):
    run_dir, _, records = small_run
    listed = sidecar_files(run_dir)
    assert [t for t, _ in listed] == [r["time"] for r in records]
    assert [f for _, f in listed] == [f"snapshots/snapshot_{i:06d}.h5" for i in range(7)]
    check_run_folder(run_dir, require_snapshots=7)


def test_reader_refuses_other_files(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(SnapshotFormatError, match="not a spatialtumor snapshot"):
        read_snapshot(p)
    with h5py.File(p, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = 99
    with pytest.raises(SnapshotFormatError, match="format_version 99"):
        read_snapshot(p)


# schedule ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("every", "stop", "steps"),
    [
        (1.7, 5.5, [0, 3, 6, 9, 11]),  # 1.7 min → 3 steps of 0.5 min; stop step 11 added
        (2.0, 4.0, [0, 4, 8]),  # stop on the schedule: written once
        (0.1, 1.5, [0, 1, 2, 3]),  # shorter than dt_diffusion: every step
    ],
)
def test_schedule(tmp_path, every, stop, steps):
    sim = make_sim(stop=stop, population=False)
    sim.writers["snapshots"] = SnapshotWriter(tmp_path, every=every)
    sim.writers["timeseries"] = TimeSeriesWriter(tmp_path, every=every)
    sim.run()
    assert [s.step for s in read_run(tmp_path, cells=False)] == steps
    assert read_timeseries(tmp_path)["step"].tolist() == steps


def test_schedule_refuses_non_positive_interval():
    for every in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="must be > 0"):
            Schedule(every)


# existing run folders -----------------------------------------------------------------------
def test_existing_error(small_run):
    run_dir, _, _ = small_run
    with pytest.raises(FileExistsError, match="already holds snapshots"):
        SnapshotWriter(run_dir, every=1.0)
    with pytest.raises(FileExistsError, match="already exists"):
        TimeSeriesWriter(run_dir, every=1.0)
    with pytest.raises(ValueError, match="existing must be one of"):
        SnapshotWriter(run_dir, existing="keep")
    assert len(list_snapshots(run_dir)) == 7  # untouched


def test_existing_overwrite(tmp_path):
    run_with_recorder(tmp_path, stop=5.5)
    assert len(list_snapshots(tmp_path)) == 7
    sim = make_sim(stop=1.0)
    add_writers(sim, tmp_path, every=1.0, existing="overwrite")
    # both writers start afresh at once, before anything is written
    assert list_snapshots(tmp_path) == []
    assert not (tmp_path / "run.xdmf").exists() and not (tmp_path / "timeseries.csv").exists()
    sim.run()
    assert [s.step for s in read_run(tmp_path)] == [0, 2]
    assert read_timeseries(tmp_path)["step"].tolist() == [0, 2]
    assert len(sidecar_files(tmp_path)) == 2
    check_run_folder(tmp_path, require_snapshots=2)


def test_existing_append_continues_a_restarted_run(tmp_path):
    _, first = run_with_recorder(tmp_path, stop=5.5)  # steps 0 2 4 6 8 10 11
    before = {p.name: p.read_bytes() for p in list_snapshots(tmp_path)}
    # a restart from step 6 with different values, on a coarser schedule (every 4 steps)
    sim = make_sim(stop=5.5)
    sim.step_index = 6
    sim.fields.values[sim.fields.index("oxygen")] *= 2.0
    add_writers(sim, tmp_path, every=2.0, existing="append")
    rec = sim.writers["recorder"] = Recorder(2.0)
    sim.run()
    assert [r["step"] for r in rec.records] == [8, 11]
    snaps = read_run(tmp_path)
    # older snapshots kept as they were; 8, 10, 11 dropped; 8 and 11 written anew
    assert [s.step for s in snaps] == [0, 2, 4, 6, 8, 11]
    assert [p.name for p in list_snapshots(tmp_path)] == [f"snapshot_{i:06d}.h5" for i in range(6)]
    for p in list_snapshots(tmp_path)[:4]:
        assert p.read_bytes() == before[p.name]
    for snap, r in zip(snaps[4:], rec.records, strict=True):
        assert snap.attrs["snapshot_index"] == int(snap.path.stem.split("_")[1])
        np.testing.assert_array_equal(snap.fields["oxygen"], r["fields"]["oxygen"])
        assert not np.array_equal(
            snap.fields["oxygen"],
            first[[x["step"] for x in first].index(snap.step)]["fields"]["oxygen"],
        )
    assert [t for t, _ in sidecar_files(tmp_path)] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.5]
    ts = read_timeseries(tmp_path)
    assert ts["step"].tolist() == [0, 2, 4, 6, 8, 11]
    assert ts["oxygen_total"][4] == pytest.approx(rec.records[0]["totals"]["oxygen"], rel=1e-12)
    assert ts["oxygen_total"][3] == pytest.approx(first[3]["totals"]["oxygen"], rel=1e-12)
    check_run_folder(tmp_path, require_snapshots=6)


def test_append_to_an_empty_folder_starts_a_run(tmp_path):
    sim = make_sim(stop=1.0)
    add_writers(sim, tmp_path, every=1.0, existing="append")
    sim.run()
    assert [s.step for s in read_run(tmp_path)] == [0, 2]


# time-series table --------------------------------------------------------------------------
def test_timeseries_table(small_run):
    run_dir, sim, records = small_run
    ts = read_timeseries(run_dir)
    expected_columns = ["step", "time_min"]
    for n in ("oxygen", "marker"):
        expected_columns += [f"{n}_total", f"{n}_min", f"{n}_max", f"{n}_mean"]
    expected_columns += ["cells_total", "cells_tumour", "cells_cd8", "cells_nk"]
    assert list(ts) == expected_columns
    assert ts["step"].tolist() == [r["step"] for r in records]
    np.testing.assert_array_equal(ts["time_min"], [r["time"] for r in records])
    for row, rec in enumerate(records):
        for name, values in rec["fields"].items():
            assert ts[f"{name}_total"][row] == pytest.approx(rec["totals"][name], rel=1e-12)
            assert ts[f"{name}_min"][row] == values.min()
            assert ts[f"{name}_max"][row] == values.max()
            assert ts[f"{name}_mean"][row] == pytest.approx(values.mean(), rel=1e-12)
        kinds = rec["cells"]["kind"]
        assert ts["cells_total"][row] == kinds.size
        for code, kind in enumerate(("tumour", "cd8", "nk")):
            assert ts[f"cells_{kind}"][row] == np.count_nonzero(kinds == code)
    assert ts["marker_total"][0] == SPIKE_VALUE * 30.0  # one voxel of 2 × 3 × 5 µm³
    # the table is plain CSV that pandas reads as is
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(run_dir / "timeseries.csv")
    np.testing.assert_array_equal(df["oxygen_total"].to_numpy(), ts["oxygen_total"])


# a real cell population built from a scenario ---------------------------------------------
SCENARIO = {
    "run": {"stop": 12.0, "seed": 5},
    "clock": {"dt_diffusion": 0.1, "dt_mechanics": 0.1, "dt_phenotype": 3.0},
    "grid": {
        "nx": 12,
        "ny": 10,
        "nz": 8,
        "spacing": [20.0, 25.0, 30.0],
        "origin": [-100.0, -150.0, 40.0],
    },
    "fields": {
        "oxygen": {
            "diffusivity": 1.0e5,
            "decay": 0.1,
            "initial": 38.0,
            "units": "mmHg",
            "boundary": 38.0,
        },
    },
    "cells": {
        "kinds": {
            "tumour": {
                "model": "tumour",
                "exchange": {"oxygen": {"uptake": 10.0}},
                "params": {"birth_rate": 0.05},
            },
            "cd8": {"model": "inert", "speed": 4.0, "persistence": 5.0},
        },
        "initial": [
            {"kind": "tumour", "shape": "sphere", "centre": [20.0, -25.0, 160.0], "radius": 40.0},
            {
                "kind": "cd8",
                "shape": "box",
                "lower": [-90.0, -140.0, 50.0],
                "upper": [130.0, 90.0, 270.0],
                "count": 30,
            },
        ],
    },
    "output": {"every": 3.0},
}


def test_population_run_from_a_scenario(tmp_path):
    scenario = scenario_from_dict(SCENARIO, "test-population")
    be = make_backend("numpy", "float64")
    run_dir = tmp_path / "run"
    sim = build_simulation(scenario, be, run_dir=run_dir)
    assert set(sim.writers) == {"snapshots", "timeseries", "checkpoints"}
    rec = sim.writers["recorder"] = Recorder(3.0)
    sim.run()
    snaps = read_run(run_dir)
    assert [s.time for s in snaps] == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert [s.step for s in snaps] == [0, 30, 60, 90, 120]
    counts = [s.n_cells for s in snaps]
    assert counts[-1] > counts[0]  # tumour cells divided: N changes between snapshots
    for snap, r in zip(snaps, rec.records, strict=True):
        assert snap.kind_names == ("tumour", "cd8")
        assert set(snap.cells) >= {
            "id",
            "kind",
            "position",
            "radius",
            "volume",
            "age",
            "state",
            "active",
            "motility_direction",
        }
        assert list(snap.cells) == list(r["cells"])
        for name, col in r["cells"].items():
            assert snap.cells[name].dtype == col.dtype, name
            np.testing.assert_array_equal(snap.cells[name], col, err_msg=name)
        np.testing.assert_array_equal(snap.fields["oxygen"], r["fields"]["oxygen"])
    last = snaps[-1]
    live = sim.population.to_host()
    np.testing.assert_array_equal(last.cells["id"], live["id"])
    assert last.cells["motility_direction"].shape == (last.n_cells, 3)
    assert last.grid.spacing == (20.0, 25.0, 30.0) and last.grid.origin == (-100.0, -150.0, 40.0)
    assert last.grid.shape == (8, 10, 12)
    assert last.attrs["seed"] == 5 and last.attrs["scenario_path"] == "test-population"
    assert last.scenario == scenario.resolved_toml()
    ts = read_timeseries(run_dir)
    np.testing.assert_array_equal(ts["cells_total"], counts)
    for snap, row in zip(snaps, range(len(snaps)), strict=True):
        kinds = snap.cells["kind"]
        assert ts["cells_tumour"][row] == np.count_nonzero(kinds == 0)
        assert ts["cells_cd8"][row] == np.count_nonzero(kinds == 1)
    assert ts["cells_cd8"][-1] == 30
    np.testing.assert_array_equal(sim.population.kind_counts(), [ts["cells_tumour"][-1], 30])
    assert list((run_dir / "checkpoints").glob("checkpoint_*.h5"))
    check_run_folder(run_dir, require_snapshots=5)


def test_rebuild_sidecar_reproduces_it(small_run):
    run_dir, _, _ = small_run
    sidecar = run_dir / "run.xdmf"
    before = sidecar.read_text()
    sidecar.unlink()
    rebuild_sidecar(run_dir)
    assert sidecar.read_text() == before


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]
    with atomic_path(target) as tmp:
        tmp.write_text("new\n")
    assert target.read_text() == "new\n" and list(tmp_path.iterdir()) == [target]
