"""The prepared GPU check: its dry run here, its summary, and the files prepared ahead."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from spatialtumor.backends import cupy_status, kernel_source

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check_steps  # noqa: E402
import gpu_prepare  # noqa: E402


def test_script_parses():
    res = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_wheel_list_pins_each_package_once():
    names = gpu_prepare.wheel_names()
    assert all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9a-z.]*", n) for n in names), names
    dists = [n.split("==")[0] for n in names]
    assert len(dists) == len(set(dists))
    # what the GPU image lacks or has too old (the check's own list of requirements)
    for dist in ("pydantic", "pydantic-core", "tomli-w", "typing-extensions"):
        assert dist in dists
    required = {d for d, _ in gpu_check_steps.REQUIRED.values()}
    assert set(dists) <= required


@pytest.mark.slow
@pytest.mark.skipif(cupy_status()[0], reason="a CUDA device works here: no dry run")
def test_dry_run_stops_where_a_device_is_needed(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out), PREPARED=str(tmp_path / "none"))
    res = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert res.returncode == gpu_check_steps.NO_DEVICE, res.stdout[-3000:] + res.stderr
    assert "NEEDS A DEVICE from here" in res.stdout
    tail = res.stdout.strip().splitlines()
    assert tail[-1].startswith("total ") and "gpu_check.json" in tail[-1]
    record = json.loads((out / "gpu_check.json").read_text())
    status = {s["step"]: s["status"] for s in record["steps"]}
    for name in ("packages", "prepared files", "collect gpu tests"):
        assert status[name] == "PASS", status
    assert status["device"] == "NEEDS A DEVICE"
    assert status["gpu tests"] == status["transport"] == "SKIP (no device)"
    assert status["fused"] == "SKIP (no device)"
    assert (out / "gpu_check.log").read_text().count("=== ") >= 5


def test_summary_reads_the_benchmark_files(tmp_path, capsys):
    (tmp_path / "bench_transport_f32.json").write_text(
        json.dumps(
            {
                "bandwidth_bytes_per_s": 4.0e12,
                "transport": [
                    {
                        "size": 256,
                        "fields": 8,
                        "method": "lod",
                        "ms_per_step": 2.0,
                        "bytes_per_step": 10 * 4 * 8 * 256**3,
                        "passes": 10,
                    }
                ],
            }
        )
    )
    (tmp_path / "bench_agents.json").write_text(
        json.dumps({"rows": [{"cells": 1000000, "process": "mechanics step", "ms": 1.5}]})
    )
    (tmp_path / "bench_cancer_immune.json").write_text(json.dumps({"seconds_per_minute": 0.5}))
    fused = {
        "move": [
            {"cells": 10**6, "fused_ms": 0.7, "arrays_ms": 2.0, "max_position_difference_um": 0}
        ],
        "graph": [
            {"size": 32, "fields": 2, "plain_ms": 0.2, "graph_ms": 0.05, "graph_status": "on"}
        ],
    }
    (tmp_path / "bench_fused.json").write_text(json.dumps(fused))
    rows = [{"kernel": "lod_sweep", "dtype": "float32", "max_rel": 1e-7, "ok": True}]
    (tmp_path / "contract.json").write_text(json.dumps({"rows": rows}))
    steps = tmp_path / "steps.tsv"
    steps.write_text("gpu tests\tPASS\t12\ntransport\tPASS\t30\n")
    assert gpu_check_steps.main(["summary", str(tmp_path), str(steps)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("total 42 s")
    text = "\n".join(printed)
    floor = 6 * 4 * 8 * 256**3 / 4.0e12 * 1e3  # each sweep reads and writes once
    assert f"2.000 ms, {2.0 / floor:.2f}x the 2-pass floor {floor:.3f} ms" in text
    assert "mechanics step 1e+06 cells" in text and "0.500 s per simulated minute" in text
    assert "0.700 / 2.000 ms" in text and "0.200 / 0.050 ms, on" in text
    record = json.loads((tmp_path / "gpu_check.json").read_text())
    assert record["steps"][1] == {"step": "transport", "status": "PASS", "seconds": 30}
    assert set(record["files"]) == {
        "bench_transport_f32.json",
        "bench_agents.json",
        "bench_cancer_immune.json",
        "bench_fused.json",
        "contract.json",
    }


# ---------------------------------------------------------------------------------------
# modules compiled ahead


def test_prebuilt_name_records_source_options_and_arch():
    a = kernel_source.prebuilt_name("diffusion.cu", (), "sm_90")
    assert a.startswith("diffusion-") and a.endswith("-sm_90.cubin")
    assert a == kernel_source.prebuilt_name("diffusion.cu", (), "sm_90")
    assert a != kernel_source.prebuilt_name("diffusion.cu", (), "sm_80")
    assert a != kernel_source.prebuilt_name("diffusion.cu", ("--fmad=false",), "sm_90")
    assert a != kernel_source.prebuilt_name("exchange.cu", (), "sm_90")


def _fake_cupy(cc="90"):
    made = []

    class RawModule:
        def __init__(self, code=None, options=(), path=None):
            made.append(("path", path) if path else ("code", options))

        def compile(self):
            pass

    device = types.SimpleNamespace(id=0, compute_capability=cc)
    mod = types.ModuleType("cupy")
    mod.RawModule = RawModule
    mod.cuda = types.SimpleNamespace(Device=lambda *a: device)
    return mod, made


def test_registered_prebuilt_module_is_loaded_instead_of_compiled(tmp_path, monkeypatch):
    fake, made = _fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(kernel_source, "_prebuilt_dirs", [])
    name = kernel_source.prebuilt_name("exchange.cu", (), "sm_90")
    (tmp_path / name).write_bytes(b"cubin")
    kernel_source.clear_cache()
    try:
        kernel_source.load_raw_module("exchange.cu")  # nothing registered: compiled
        kernel_source.use_prebuilt(tmp_path)
        kernel_source.load_raw_module("exchange.cu")  # the prebuilt module
        kernel_source.load_raw_module("mechanics.cu")  # none prebuilt: compiled
        kernel_source.load_raw_module("exchange.cu", ("-DX",))  # other options: compiled
        kernel_source.use_prebuilt(None)
        kernel_source.load_raw_module("exchange.cu")
    finally:
        kernel_source.clear_cache()
    assert [m[0] for m in made] == ["code", "path", "code", "code", "code"]
    assert made[1][1] == str(tmp_path / name)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
def test_prepare_compiles_every_source_under_its_prebuilt_name(tmp_path):
    made = gpu_prepare.compile_kernels(tmp_path, ["sm_90"])
    want = {
        kernel_source.prebuilt_name(n, kernel_source.MODULE_OPTIONS.get(n, ()), "sm_90")
        for n in kernel_source.list_sources(".cu")
    }
    assert set(made) == want
    assert all((tmp_path / n).stat().st_size > 0 for n in made)


# ---------------------------------------------------------------------------------------
# NumPy results computed ahead


def test_prepared_results_are_used_only_while_the_sources_match(tmp_path, monkeypatch):
    import _prepared

    monkeypatch.setattr(_prepared, "FOLDER", tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return [1, 2.5]

    assert _prepared.numpy_result("k", compute) == [1, 2.5] and len(calls) == 1
    _prepared.store(tmp_path, "k", [3, 4.5])
    assert _prepared.numpy_result("k", compute) == [3, 4.5] and len(calls) == 1
    assert _prepared.numpy_result("other key", compute) == [1, 2.5] and len(calls) == 2
    monkeypatch.setattr(_prepared, "code_digest", lambda: "changed sources")
    assert _prepared.numpy_result("k", compute) == [1, 2.5] and len(calls) == 3


def test_every_numpy_half_of_the_run_comparisons_can_be_prepared():
    sys.path.insert(0, str(ROOT / "tests" / "regression"))
    import test_backends_agree

    keys = [k for k, _ in test_backends_agree.numpy_references()]
    assert len(keys) == len(set(keys)) == 2 + len(test_backends_agree.IMMUNE_SEEDS)
