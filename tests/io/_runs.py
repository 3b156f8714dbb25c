"""Shared pieces of the output tests: a small real simulation, a stand-in cell population,
a recorder of what was written, and the checks a run folder must pass after a crash."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np

import spatialtumor as st
from spatialtumor.output import (
    SIDECAR_NAME,
    Schedule,
    list_snapshots,
    read_snapshot,
    read_timeseries,
)

SHAPE = (5, 7, 11)  # (nz, ny, nx)
SPACING = (2.0, 3.0, 5.0)  # (dx, dy, dz) µm
ORIGIN = (-10.0, 4.0, 100.0)  # lower corner (x, y, z) µm
SPIKE = (1, 5, 9)  # (k, j, i) of the one non-zero voxel of the "marker" field
SPIKE_VALUE = 7.0


class FakePopulation:
    """Stand-in for the cell population: columns regenerated from (seed, step).

    Used as a mechanics process, so the cells (and their number) change over time. The
    number of cells at each update is ``counts[update % len(counts)]`` (0 allowed).
    """

    clock = "mechanics"
    kind_names = ("tumour", "cd8", "nk")

    def __init__(self, grid, counts=(4, 0, 3, 6), seed=7):
        self.grid = grid
        self.counts = tuple(counts)
        self.seed = seed
        self.updates = 0
        self._make(0)

    def _make(self, step: int) -> None:
        rng = np.random.default_rng([self.seed, step])
        n = self.counts[self.updates % len(self.counts)]
        lo = self.grid.origin
        hi = self.grid.upper
        self.columns = {
            "id": np.arange(100 * step, 100 * step + n, dtype=np.int64),
            "position": lo + (hi - lo) * rng.random((n, 3)),
            "kind": rng.integers(0, 3, n).astype(np.int32),
            "volume": rng.uniform(1000.0, 3000.0, n).astype(np.float32),
            "alive": rng.random(n) < 0.5,
            "velocity": rng.normal(size=(n, 3)),
            "polarity": rng.random((n, 2)),
        }

    def __call__(self, sim) -> None:
        self.updates += 1
        self._make(sim.step_index)

    def to_host(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.columns.items()}


def make_sim(
    stop: float = 5.5, *, population: bool = True, shape=SHAPE, dtype: str = "float64"
) -> st.Simulation:
    """A small real simulation on a non-cubic, anisotropic grid with a shifted origin.

    Species: ``oxygen`` (random initial values, diffuses and decays) and ``marker``
    (D = 0, λ = 0: zero everywhere except ``SPIKE_VALUE`` at voxel ``SPIKE``, forever).
    Clock: dt_diffusion 0.5 min, mechanics 1 min, phenotype 2 min.
    """
    backend = st.get_backend("numpy", dtype)
    grid = st.Grid(backend, shape=shape, spacing=SPACING, origin=ORIGIN)
    fields = st.Fields(
        grid,
        oxygen=st.Species(diffusivity=20.0, decay=0.05, initial=1.0, units="mmHg"),
        marker=st.Species(diffusivity=0.0, decay=0.0, initial=0.0, units="nM"),
    )
    rng = np.random.default_rng(3)
    fields.values[fields.index("oxygen")] = rng.uniform(0.5, 40.0, grid.shape)
    fields.values[fields.index("marker")][SPIKE] = SPIKE_VALUE
    clock = st.Clock(dt_diffusion=0.5, dt_mechanics=1.0, dt_phenotype=2.0)
    pop = FakePopulation(grid) if population else None
    info = st.RunInfo(
        seed=42,
        scenario_text='[grid]\nshape = [5, 7, 11]\nname = "tëst"\n',
        scenario_path="scenarios/test.toml",
        extra={"note": "round trip"},
    )
    return st.Simulation(
        grid, fields, pop, clock=clock, stop=stop, info=info, processes=[pop] if pop else []
    )


class Recorder:
    """A writer that keeps host copies of what the real writers see, on the same schedule."""

    def __init__(self, every: float):
        self.schedule = Schedule(every)
        self.records: list[dict] = []

    def due(self, sim) -> bool:
        return self.schedule.due(sim)

    def write(self, sim) -> None:
        pop = sim.population
        self.records.append(
            {
                "step": sim.step_index,
                "time": sim.time,
                "fields": {n: np.array(sim.fields[n]) for n in sim.fields.names},
                "totals": sim.fields.totals(),
                "cells": None if pop is None else pop.to_host(),
            }
        )
        self.schedule.mark(sim)

    def close(self) -> None:
        pass


def sidecar_files(run_dir) -> list[tuple[float, str]]:
    """(time, file) of every fields grid listed in the sidecar, in order."""
    root = ET.parse(Path(run_dir) / SIDECAR_NAME).getroot()
    assert root.tag == "Xdmf"
    out = []
    for coll in root.iter("Grid"):
        if coll.get("Name") != "fields" or coll.get("CollectionType") != "Temporal":
            continue
        for g in coll.findall("Grid"):
            t = float(g.find("Time").get("Value"))
            item = g.find("Attribute/DataItem")
            out.append((t, item.text.strip().split(":")[0]))
    return out


def vtk_times(xdmf_path) -> tuple:
    """Time values that ``vtkXdmfReader`` reports for a sidecar."""
    import vtk

    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(xdmf_path))
    reader.UpdateInformation()
    info = reader.GetOutputInformation(0)
    key = vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS()
    return tuple(info.Get(key)) if info.Has(key) else ()


def check_run_folder(run_dir, *, require_snapshots: int = 1) -> dict:
    """Assert that a (possibly killed) run folder is fully readable; return a summary.

    Every ``snapshot_*.h5`` present opens with h5py and the reader; the sidecar parses as
    XML, lists only files that exist and reads with ``vtkXdmfReader`` (same number of time
    steps); ``timeseries.csv`` parses with ``csv``, ``read_timeseries`` and (if installed)
    pandas, with increasing steps.
    """
    run_dir = Path(run_dir)
    files = list_snapshots(run_dir)
    assert len(files) >= require_snapshots, f"only {len(files)} snapshots in {run_dir}"
    steps = []
    for p in files:
        with h5py.File(p, "r") as f:
            assert f.attrs["format"] == "spatialtumor-snapshot"
            for name in f["fields"]:
                f["fields"][name][()]
        snap = read_snapshot(p)
        assert all(np.all(np.isfinite(v)) for v in snap.fields.values())
        steps.append(snap.step)
    assert steps == sorted(steps) and len(set(steps)) == len(steps)

    listed = sidecar_files(run_dir)
    present = {p.relative_to(run_dir).as_posix() for p in files}
    assert listed, "the sidecar lists no snapshot"
    for _, rel in listed:
        assert rel in present, f"sidecar lists {rel}, which is not a complete snapshot"
    # a kill between renaming a snapshot and rewriting the sidecar leaves at most one unlisted
    assert len(present) - len(listed) in (0, 1)
    times = vtk_times(run_dir / SIDECAR_NAME)
    assert np.allclose(times, [t for t, _ in listed])

    if not (run_dir / "timeseries.csv").exists():
        # the table follows each snapshot: it can be missing only if the first row never was
        assert len(files) <= 1, f"{len(files)} snapshots but no timeseries.csv"
        return {"snapshots": len(files), "listed": len(listed), "rows": 0}
    with open(run_dir / "timeseries.csv", newline="") as f:
        table = list(csv.reader(f))
    width = len(table[0])
    assert all(len(r) == width for r in table[1:])
    ts = read_timeseries(run_dir)
    assert np.all(np.diff(ts["step"]) > 0)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pass
    else:
        df = pd.read_csv(run_dir / "timeseries.csv")
        assert len(df) == len(ts["step"]) and not df.isna().any().any()
    return {"snapshots": len(files), "listed": len(listed), "rows": len(ts["step"])}
