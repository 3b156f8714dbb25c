"""The CuPy paths of the GPU check's own code, run on the CuPy stand-in of test_host_sync.

Device time is short: the benchmarks, the contract step and the device probe of
``benchmarks/gpu_check.sh`` run here first on the CPU, with the custom kernels emulated,
so that a mistake in their CuPy-only branches shows here rather than on the device.
Timings from the stand-in mean nothing and are not looked at.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import test_agent_contract as agent_emu
import test_host_sync

# the stand-in's fixtures
emulators, standin = test_host_sync.emulators, test_host_sync.standin

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


class _Event:
    def __init__(self):
        self.t = 0.0

    def record(self):
        import time

        self.t = time.perf_counter()

    def synchronize(self):
        pass


@pytest.fixture
def device(standin, emulators, monkeypatch):
    """The stand-in as a working device: ``get_backend("cupy")`` returns it."""
    (_, _), (alib, aentries) = emulators
    mod = standin.xp
    base_module = mod.RawModule
    launches = []

    class RawModule:
        def __init__(self, code=None, options=(), path=None):
            self.inner = base_module(code, options)

        def compile(self):
            pass

        def get_function(self, name):
            if name in aentries:
                return agent_emu._Kernel(alib, name, aentries[name], launches)
            return self.inner.get_function(name)

    props = {
        "name": b"stand-in",
        "major": 9,
        "minor": 0,
        "multiProcessorCount": 4,
        "totalGlobalMem": 2**34,
        "sharedMemPerBlockOptin": 232448,
    }
    mod.RawModule = RawModule
    mod.cuda = types.SimpleNamespace(
        is_available=lambda: True,
        Device=lambda *a: types.SimpleNamespace(id=0, compute_capability="90"),
        Event=_Event,
        get_elapsed_time=lambda a, b: 1e3 * max(b.t - a.t, 1e-9),
        get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None),
        runtime=types.SimpleNamespace(
            getDeviceProperties=lambda dev: props,
            runtimeGetVersion=lambda: 13000,
            driverGetVersion=lambda: 13000,
            memGetInfo=lambda: (2**33, 2**34),
            getDeviceCount=lambda: 1,
        ),
    )
    mod.__version__ = "stand-in"
    return mod, launches


def test_transport_benchmark_cupy_path(device, tmp_path, monkeypatch, capsys):
    import bench_transport

    monkeypatch.setattr(bench_transport, "copy_bandwidth", lambda backend: 1e11)
    out = tmp_path / "t.json"
    argv = ["--backend", "cupy", "--sizes", "8", "--fields", "1,2", "--method", "lod"]
    argv += ["--x-sweep", "all", "--repeats", "1", "--json", str(out)]
    assert bench_transport.main(argv) == 0
    data = json.loads(out.read_text())
    assert [r["fields"] for r in data["transport"]] == [1, 2]
    sweeps = {r["sweep"] for r in data["sweeps"]}
    assert {"x/resident", "y/strided", "y/resident", "z/resident", "explicit"} <= sweeps
    assert {r["passes"] for r in data["sweeps"] if r["sweep"] == "z/resident"} == {2}
    argv = ["--backend", "cupy", "--sizes", "8", "--fields", "1", "--method", "lod"]
    assert bench_transport.main(argv + ["--yz-sweep", "resident", "--repeats", "1"]) == 0
    row = [ln.split() for ln in capsys.readouterr().out.splitlines() if " lod " in ln][-1]
    assert row[:3] == ["8", "1", "lod"] and row[6] == "6"  # all three sweeps resident


def test_cell_benchmark_cupy_path(device, tmp_path):
    import bench_agents

    out = tmp_path / "a.json"
    argv = ["--backend", "cupy", "--precision", "float32", "--counts", "300", "--repeats", "1"]
    bench_agents.main(argv + ["--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert {r["process"] for r in rows} >= {"mechanics step", "whole step"}
    assert all(np.isfinite(r["ms"]) for r in rows)


def test_cancer_immune_benchmark_cupy_path(device, tmp_path):
    import bench_cancer_immune

    out = tmp_path / "c.json"
    argv = ["--backend", "cupy", "--precision", "float32", "--minutes", "0.02"]
    argv += ["--set", "grid.nx=38", "--set", "grid.ny=38", "--set", "grid.nz=38"]  # ±380 µm
    argv += ["--set", "clock.dt_diffusion=0.1"]  # a tenth of the steps
    bench_cancer_immune.main(argv + ["--no-split", "--json", str(out)])
    record = json.loads(out.read_text())
    assert record["seconds_per_minute"] > 0 and record["cells_end"] > 0


def test_fused_benchmark_cupy_path(device, tmp_path):
    """The fused-move and graph rows run; the stand-in has no streams, so the graph falls
    back to plain launches and says so; both comparisons agree."""
    import bench_fused

    out = tmp_path / "f.json"
    argv = ["--backend", "cupy", "--precision", "float32", "--cells", "300", "--sizes", "8"]
    assert bench_fused.main(argv + ["--repeats", "1", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    (move,) = record["move"]
    assert move["max_position_difference_um"] < 1e-3 and move["fused_ms"] > 0
    (graph,) = record["graph"]
    assert graph["graph_status"].startswith("fell back") and graph["max_field_difference"] == 0


def test_gpu_check_device_and_contract_steps(device, tmp_path, capsys, monkeypatch):
    import functools

    import gpu_check_steps

    from spatialtumor import checks

    small = functools.partial(checks.kernel_contract, shapes=[(1, 1, 1), (3, 5, 7)])
    monkeypatch.setattr(checks, "kernel_contract", small)

    assert gpu_check_steps.main(["device"]) == 0
    assert "stand-in: cc 9.0" in capsys.readouterr().out
    assert gpu_check_steps.main(["contract", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "contract.json").read_text())["rows"]
    kernels = {r["kernel"] for r in rows}
    assert {"lod_sweep", "explicit_step", "pair_forces", "contact_search", "move_cells"} <= kernels
    assert all(r["ok"] for r in rows)
