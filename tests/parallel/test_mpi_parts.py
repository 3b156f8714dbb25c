"""Output written in parts under mpirun (``--write parts``, the default): every rank writes
its slab and its cells, rank 0 a snapshot file of virtual datasets over them. The folder
reads as one process's: fields bit for bit, cells the same rows (in rank order, sorted by
id here), the table within rtol 1e-12, checkpoints bit for bit; it can be moved, opened
with ``open_run`` and by ParaView, resumed, and a part that cannot be written ends the run
with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from _mpirun import environment, needs_mpi, run_fields, spatialtumor
from test_mpi_cells import SPHEROID

from spatialtumor.output import read_run, read_timeseries, rebuild_sidecar
from spatialtumor.runs import open_run

pytestmark = needs_mpi

#: relative tolerance of the table's field totals and means: sums of per-slab sums
RTOL = 1e-12


def snapshots(run: Path) -> list[Path]:
    return sorted((run / "snapshots").glob("snapshot_*.h5"))


def _attrs(obj, skip=()) -> dict:
    return {k: np.asarray(v).tolist() for k, v in obj.attrs.items() if k not in skip}


def assert_same_snapshots(got: Path, want: Path) -> None:
    """Every snapshot of ``got`` (parts) as ``want`` (one process): attributes (but the
    time of writing), fields bit for bit, cell rows the same once sorted by id."""
    a, b = snapshots(got), snapshots(want)
    assert [p.name for p in a] == [p.name for p in b] and a
    for pa, pb in zip(a, b, strict=True):
        with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
            assert _attrs(fa, ("created",)) == _attrs(fb, ("created",)), pa.name
            assert list(fa) == list(fb)
            for group in ("grid", "cells"):
                assert _attrs(fa[group]) == _attrs(fb[group]), f"{pa.name}:{group}"
            assert list(fa["fields"]) == list(fb["fields"])
            for name, ds in fa["fields"].items():
                assert ds.is_virtual, name
                want_ds = fb["fields"][name]
                assert ds.dtype == want_ds.dtype and _attrs(ds) == _attrs(want_ds)
                assert np.array_equal(ds[()], want_ds[()]), f"{pa.name}: {name} differs"
            if not fb["cells"].attrs["has_population"]:
                continue
            oa = np.argsort(fa["cells/id"][()], kind="stable")
            ob = np.argsort(fb["cells/id"][()], kind="stable")
            n = oa.size
            assert np.array_equal(fa["xdmf/connectivity"][()], np.arange(n))
            rows = [f"cells/{c}" for c in fb["cells"]] + ["xdmf/kind_state"]
            rows += [f"xdmf/components/{c}" for c in fb.get("xdmf/components", {})]
            assert [f"cells/{c}" for c in fa["cells"]] == rows[: len(fb["cells"])]
            for path in rows:
                x, y = fa[path], fb[path]
                assert x.dtype == y.dtype and x.shape == y.shape, path
                assert _attrs(x) == _attrs(y), path
                assert np.array_equal(x[()][oa], y[()][ob]), f"{pa.name}:{path} differs"


def assert_same_table(got: Path, want: Path) -> None:
    a, b = read_timeseries(got), read_timeseries(want)
    assert list(a) == list(b)
    assert np.array_equal(a["step"], b["step"])
    for name in a:
        if name.startswith("cells_") or name.endswith(("_min", "_max")):
            assert np.array_equal(a[name], b[name], equal_nan=True), name  # exact
        else:
            np.testing.assert_allclose(a[name], b[name], rtol=RTOL, atol=0, err_msg=name)


def checkpoint_bytes(run: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted((run / "checkpoints").glob("*.h5")):

        def put(name, obj, path=path):
            if isinstance(obj, h5py.Dataset):
                out[f"{path.name}:{name}"] = np.asarray(obj[()]).tobytes()

        with h5py.File(path, "r") as f:
            f.visititems(put)
    return out


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    return run_fields(tmp_path_factory.mktemp("alone") / "run", 0, "--stop", "1")


# the grid is nx × ny × nz = 20 × 18 × 16: "auto" cuts x, the longest
@pytest.mark.parametrize(("ranks", "split"), [(2, "auto"), (4, "z"), (3, "y")])
def test_fields_in_parts_match_one_process(alone, tmp_path, ranks, split):
    run = run_fields(tmp_path / "run", ranks, "--stop", "1", "--split", split, write="parts")
    assert_same_snapshots(run, alone)
    assert_same_table(run, alone)
    assert checkpoint_bytes(run) == checkpoint_bytes(alone)
    parts = sorted(p.name for p in (run / "snapshots" / "parts").iterdir())
    assert parts == [f"snapshot_{i:06d}.r{r:04d}.h5" for i in range(3) for r in range(ranks)]
    assert (run / "run.xdmf").read_text() == (alone / "run.xdmf").read_text()


@pytest.fixture(scope="module")
def cells_alone(tmp_path_factory):
    out = tmp_path_factory.mktemp("cells") / "run"
    done = spatialtumor(["run", "spheroid", "--stop", "24", *SPHEROID, "--backend", "numpy",
                         "--quiet", "--out", out])  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def run_cells(out: Path, ranks: int, split: str, *more) -> Path:
    args = ["run", "spheroid", "--stop", "24", *SPHEROID, *more, "--backend", "numpy", "--quiet"]
    done = spatialtumor([*args, "--out", out, "--split", split], ranks, write="parts")
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.parametrize(("ranks", "split"), [(2, "auto"), (4, "z")])
def test_cells_in_parts_match_one_process(cells_alone, tmp_path, ranks, split):
    run = run_cells(tmp_path / "run", ranks, split)
    assert_same_snapshots(run, cells_alone)
    assert_same_table(run, cells_alone)
    assert checkpoint_bytes(run) == checkpoint_bytes(cells_alone)
    with h5py.File(snapshots(run)[-1], "r") as f:
        ids = f["cells/id"][()]
        assert f["cells"].attrs["count"] == ids.size > 100
        counts = []
        for r in range(ranks):  # the rows are the parts' in rank order, each in id order
            with h5py.File(run / "snapshots" / "parts" / f"snapshot_000002.r{r:04d}.h5") as p:
                assert p.attrs["first_cell"] == sum(counts) and p.attrs["rank"] == r
                part = p["cells/id"][()]
                assert np.all(np.diff(part) > 0)
                assert np.array_equal(ids[sum(counts) : sum(counts) + part.size], part)
                counts.append(part.size)
        assert sum(counts) == ids.size and sum(c > 0 for c in counts) >= 2


def test_a_parts_folder_opens_and_moves(alone, tmp_path):
    run = run_fields(tmp_path / "run", 4, "--stop", "1", "--split", "z", write="parts")
    sidecar = (run / "run.xdmf").read_text()
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(run, moved)
    assert not run.exists()
    opened = open_run(moved)
    assert tuple(opened.grid.shape) == (16, 18, 20)
    want = read_run(alone)
    got = read_run(moved)
    assert [s.time for s in got] == [s.time for s in want]
    for s, w in zip(got, want, strict=True):
        for name in w.fields:
            assert np.array_equal(s.fields[name], w.fields[name])
    rebuild_sidecar(moved)
    assert (moved / "run.xdmf").read_text() == sidecar
    for command in (["info", moved], ["render", moved], ["plot", moved]):
        done = spatialtumor(command)
        assert done.returncode == 0, done.stdout + done.stderr
    assert (moved / "frames" / "snapshot_000002.png").stat().st_size > 0


def test_resume_in_parts_is_bit_identical(tmp_path):
    """Resumed at -n 4 into a new folder, a parts run ends with the same bits; resumed at
    -n 2 in its own folder, the rewritten snapshot has two parts (stale parts are removed)
    and the earlier ones keep their four."""
    every = ("--set", "output.checkpoint_every=0.5", "--split", "z")
    whole = run_fields(tmp_path / "whole", 4, "--stop", "1", *every, write="parts")
    want = read_run(whole)[-1].fields
    keep = tmp_path / "copy"
    shutil.copytree(whole, keep)
    middle = keep / "checkpoints" / "checkpoint_000000025.h5"
    again = run_fields(tmp_path / "again", 4, "--resume", middle, write="parts")
    assert checkpoint_bytes(again).keys() <= checkpoint_bytes(whole).keys()
    ck = checkpoint_bytes(whole)
    assert all(ck[k] == v for k, v in checkpoint_bytes(again).items())
    last = read_run(again)[-1].fields
    for name, values in want.items():
        assert np.array_equal(last[name], values), name
    # in place, on two ranks: the snapshot at the end is written anew, the earlier kept
    done = spatialtumor(["run", "--resume", middle, "--backend", "numpy", "--quiet"], 2,
                        write="parts")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    parts = sorted(p.name for p in (keep / "snapshots" / "parts").iterdir())
    assert parts == [f"snapshot_{i:06d}.r{r:04d}.h5" for i in (0, 1) for r in range(4)] + [
        f"snapshot_000002.r{r:04d}.h5" for r in range(2)
    ]
    ck = sorted(p.name for p in (keep / "checkpoints" / "parts").iterdir())
    assert ck == [f"checkpoint_000000025.r{r:04d}.h5" for r in range(4)] + [
        f"checkpoint_000000050.r{r:04d}.h5" for r in range(2)
    ]
    snaps = read_run(keep)
    assert [s.time for s in snaps] == [0.0, 0.5, 1.0]
    for name, values in want.items():
        assert np.array_equal(snaps[-1].fields[name], values), name


@pytest.mark.parametrize("ranks", [2, 0])
def test_a_parts_checkpoint_with_cells_resumes_on_other_rank_counts(cells_alone, tmp_path, ranks):
    """The middle checkpoint of a -n 4 parts run (fields over four part files, the cells
    whole) resumed at -n 2 or in one process: the last checkpoint is the uninterrupted
    run's, bit for bit; a missing part is refused with one line."""
    run = run_cells(tmp_path / "run", 4, "z", "--set", "output.checkpoint_every=12")
    parts = sorted(p.name for p in (run / "checkpoints" / "parts").iterdir())
    assert parts == [f"checkpoint_{s:09d}.r{r:04d}.h5" for s in (120, 240) for r in range(4)]
    with h5py.File(run / "checkpoints" / "checkpoint_000000120.h5", "r") as f:
        assert f["fields"].is_virtual
    middle = run / "checkpoints" / "checkpoint_000000120.h5"
    again = tmp_path / "again"
    args = ["run", "--resume", middle, "--backend", "numpy", "--quiet", "--out", again]
    done = spatialtumor(args, ranks, write="parts")
    assert done.returncode == 0, done.stdout + done.stderr
    want = checkpoint_bytes(cells_alone)
    got = checkpoint_bytes(again)
    assert got and all(want[k] == v for k, v in got.items())
    (run / "checkpoints" / "parts" / "checkpoint_000000120.r0002.h5").unlink()
    done = spatialtumor([*args[:-1], tmp_path / "third"], ranks, write="parts")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln[ln.index("error:") :] for ln in done.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1 and "checkpoint_000000120.r0002.h5 is missing" in lines[0], lines


SHIM = """
import errno, os
if os.environ.get("OMPI_COMM_WORLD_RANK") == "1":
    from spatialtumor.parallel import parts
    first = parts.write_part
    calls = []
    def write_part(path, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", os.path.basename(path))
        return first(path, *args, **kwargs)
    parts.write_part = write_part
"""


def test_a_part_failing_on_rank_1_ends_every_rank(tmp_path):
    """Rank 1 cannot write its part of the second snapshot: one line, exit 3, and the
    first snapshot (parts and all) stays readable."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM)
    env = environment(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["PYTHONPATH"] = f"{shim}:{env['PYTHONPATH']}"
    out = tmp_path / "r"
    args = ["run", "diffusion", "--backend", "numpy", "--quiet", "--out", out, "--stop", "2"]
    args += ["--set", "grid.nx=20", "--set", "grid.ny=18", "--set", "grid.nz=16"]
    done = spatialtumor([*args, "--set", "output.every=0.5"], 2, env=env, timeout=60, write="parts")
    assert done.returncode == 3, done.stdout + done.stderr
    line = "error: snapshot_000001.r0001.h5: cannot write: No space left on device (errno 28"
    assert done.stderr.count("error:") == 1 and line in done.stderr, done.stderr
    assert [p.name for p in snapshots(out)] == ["snapshot_000000.h5"]
    (snap,) = read_run(out)
    assert all(np.isfinite(v).all() for v in snap.fields.values())


@pytest.mark.paraview
@pytest.mark.skipif(
    shutil.which("pvbatch") is None or shutil.which("xvfb-run") is None,
    reason="pvbatch (ParaView) and xvfb-run are needed",
)
def test_paraview_opens_a_parts_run_as_one_dataset(tmp_path):
    """A -n 4 parts run with cells: ParaView shows the whole domain, every field's range,
    a probed voxel and every cell with its arrays at each time."""
    from test_mpi_paraview import expected

    from tests._pvbatch import pvbatch

    run = run_cells(tmp_path / "run", 4, "z")
    snaps = read_run(run)
    first = snaps[0]
    columns = []
    for name, col in first.cells.items():
        k = col.shape[1] if col.ndim == 2 else 1
        columns += [name] if k in (1, 3, 9) else [f"{name}_{c}" for c in range(k)]
    columns.append("kind_state")
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(expected(snaps, columns)))
    script = Path(__file__).resolve().parents[1] / "io" / "_paraview_open.py"
    proc = pvbatch(script, run, path, tries=2, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for label in ("OpenDataFile", "XDMF Reader", "Xdmf3ReaderT"):
        assert f"{label}: " in proc.stdout and f"checked {len(snaps)} times" in proc.stdout, out


GATHER_LOG = """
import os
from spatialtumor.parallel import gather
first = gather.Gather.__call__
def call(self, values):
    with open(os.environ["GATHER_LOG"] + "." + os.environ["OMPI_COMM_WORLD_RANK"], "a") as f:
        f.write("gather\\n")
    return first(self, values)
gather.Gather.__call__ = call
"""


@pytest.mark.parametrize(("write", "gathers"), [("parts", 0), ("gathered", 3)])
def test_parts_mode_never_gathers_the_fields(tmp_path, write, gathers):
    """Three snapshots and table rows, a checkpoint with the last: in parts mode no rank
    gathers the whole fields; gathered mode gathers them at every write."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(GATHER_LOG)
    log = tmp_path / "gathers"
    env = environment(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["PYTHONPATH"] = f"{shim}:{env['PYTHONPATH']}"
    env["GATHER_LOG"] = str(log)
    out = tmp_path / "r"
    args = ["run", "diffusion", "--backend", "numpy", "--quiet", "--out", out, "--stop", "1"]
    args += ["--set", "grid.nx=20", "--set", "grid.ny=18", "--set", "grid.nz=16"]
    args += ["--set", "output.every=0.5"]
    done = spatialtumor(args, 2, env=env, timeout=60, write=write)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(snapshots(out)) == 3
    for r in range(2):
        calls = Path(f"{log}.{r}")
        assert (calls.read_text().count("gather") if calls.exists() else 0) == gathers
