"""The small steps of ``benchmarks/gpu_check.sh`` that are easier in Python than in bash.

    python benchmarks/gpu_check_steps.py packages            # every package the check needs
    python benchmarks/gpu_check_steps.py prepared FOLDER     # what gpu_prepare.py made, still valid
    python benchmarks/gpu_check_steps.py device              # exit 3 where no CUDA device works
    python benchmarks/gpu_check_steps.py contract OUT        # check-backend rows, OUT/contract.json
    python benchmarks/gpu_check_steps.py summary OUT STEPS   # table (last) and OUT/gpu_check.json

Not a test.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: import name -> what needs it (all must import on the node)
REQUIRED = {
    "numpy": ("numpy", "everything"),
    "h5py": ("h5py", "snapshots"),
    "click": ("click", "the command line"),
    "pandas": ("pandas", "metrics"),
    "pydantic": ("pydantic", "scenarios"),
    "pydantic_core": ("pydantic-core", "pydantic"),
    "annotated_types": ("annotated-types", "pydantic"),
    "typing_inspection": ("typing-inspection", "pydantic"),
    "typing_extensions": ("typing-extensions", "pydantic"),
    "tomli_w": ("tomli-w", "resolved scenarios in output files"),
    "pytest": ("pytest", "the GPU tests"),
}
#: exit status of ``device`` (and of gpu_check.sh) where everything before the device is done
NO_DEVICE = 3


def packages() -> int:
    from importlib import metadata

    missing = []
    for name, (dist, why) in REQUIRED.items():
        try:
            mod = importlib.import_module(name)
            version = metadata.version(dist)
        except Exception as exc:  # ImportError, or a broken wheel
            missing.append(f"{name} ({why}): {type(exc).__name__}: {exc}")
            continue
        print(f"  {name:20s} {version:12s} {Path(mod.__file__).parent}")
    try:
        import cupy

        print(f"  {'cupy':20s} {cupy.__version__:12s} {Path(cupy.__file__).parent}")
    except Exception as exc:
        print(f"  cupy: not importable ({type(exc).__name__}: {exc})")
    print(f"python {platform.python_version()} at {sys.executable}")
    if missing:
        print("missing packages:\n  " + "\n  ".join(missing))
        return 1
    import spatialtumor
    from spatialtumor import cli  # noqa: F401  (the check-backend command)
    from spatialtumor.scenario import load_scenario

    scn = load_scenario("bench_cancer_immune")
    print(f"spatialtumor {spatialtumor.__version__} from {Path(spatialtumor.__file__).parent}")
    print(f"scenario bench_cancer_immune validates ({type(scn).__name__})")
    return 0


def prepared(folder: str) -> int:
    """Report which prepared modules and references match the sources here (never fails)."""
    from spatialtumor.backends import kernel_source

    folder = Path(folder)
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "regression")]
    kdir = folder / "kernels"
    for arch in ("sm_90", "sm_80"):
        want = [
            kernel_source.prebuilt_name(n, kernel_source.MODULE_OPTIONS.get(n, ()), arch)
            for n in kernel_source.list_sources(".cu")
        ]
        have = [n for n in want if (kdir / n).is_file()]
        print(f"compiled modules for {arch}: {len(have)} of {len(want)} match the sources")
    import _prepared
    import test_backends_agree

    _prepared.FOLDER = folder
    sentinel = object()
    cases = test_backends_agree.numpy_references()
    hits = sum(_prepared.numpy_result(key, lambda: sentinel) is not sentinel for key, _ in cases)
    print(f"NumPy references: {hits} of {len(cases)} match the sources")
    return 0


def device() -> int:
    from spatialtumor.backends import cupy_status

    ok, why = cupy_status()
    if not ok:
        print(f"NEEDS A DEVICE from here: {why}")
        return NO_DEVICE
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print(
        f"{name}: cc {props['major']}.{props['minor']}, {props['multiProcessorCount']} SMs, "
        f"{props['totalGlobalMem'] / 2**30:.1f} GiB; cupy {cupy.__version__}, runtime "
        f"{cupy.cuda.runtime.runtimeGetVersion()}, driver {cupy.cuda.runtime.driverGetVersion()}"
    )
    return 0


def contract(out: str) -> int:
    """What ``spatialtumor check-backend`` runs, with the rows also written as JSON."""
    from spatialtumor.backends import get_backend
    from spatialtumor.checks import format_contract, kernel_contract
    from spatialtumor.checks_agents import register

    be = get_backend("cupy", "float64")
    register()
    rows = kernel_contract(be)
    Path(out, "contract.json").write_text(json.dumps({"device": be.device, "rows": rows}))
    print(format_contract([r for r in rows if not r["ok"]]) if rows else "no rows")
    return 0 if rows and all(r["ok"] for r in rows) else 1


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _results(out: Path) -> list[tuple[str, str]]:
    """Headline numbers from the JSON files the steps wrote."""
    lines = []
    for name, label in (("bench_transport_f32.json", ""), ("bench_transport_f32_yz.json", " yz")):
        t = _load(out / name)
        if not t:
            continue
        bw = t["bandwidth_bytes_per_s"]
        lines.append((f"copy bandwidth (read + write){label}", f"{bw / 1e9:.0f} GB/s"))
        for r in t["transport"]:
            # the floor of an LOD step: each sweep reads and writes every voxel-field once
            itemsize = r["bytes_per_step"] / (r["passes"] * r["fields"] * r["size"] ** 3)
            floor = 6 * itemsize * r["fields"] * r["size"] ** 3 / bw * 1e3
            ratio = r["ms_per_step"] / floor if r["method"] == "lod" else float("nan")
            extra = f", {ratio:.2f}x the 2-pass floor {floor:.3f} ms" if ratio == ratio else ""
            lines.append(
                (
                    f"{r['method']}{label} {r['size']}^3 x {r['fields']} float32",
                    f"{r['ms_per_step']:.3f} ms{extra}",
                )
            )
    a = _load(out / "bench_agents.json")
    if a:
        for r in a["rows"]:
            if r["process"] in ("mechanics step", "whole step"):
                lines.append((f"{r['process']} {r['cells']:.0e} cells", f"{r['ms']:.3f} ms"))
    c = _load(out / "bench_cancer_immune.json")
    if c:
        lines.append(
            ("cancer-immune scenario", f"{c['seconds_per_minute']:.3f} s per simulated minute")
        )
    f = _load(out / "bench_fused.json")
    if f:
        for r in f["move"]:
            lines.append(
                (
                    f"mechanics {r['cells']:.0e} cells fused/arrays",
                    f"{r['fused_ms']:.3f} / {r['arrays_ms']:.3f} ms, "
                    f"max |dx| {r['max_position_difference_um']:.1e} um",
                )
            )
        for r in f["graph"]:
            lines.append(
                (
                    f"lod {r['size']}^3 x {r['fields']} plain/graph",
                    f"{r['plain_ms']:.3f} / {r['graph_ms']:.3f} ms, {r['graph_status']}",
                )
            )
    k = _load(out / "contract.json")
    if k:
        worst = {}
        for r in k["rows"]:
            w = worst.setdefault((r["kernel"], r["dtype"]), [0.0, True])
            w[0] = max(w[0], r["max_rel"])
            w[1] = w[1] and r["ok"]
        for (kernel, dtype), (rel, ok) in sorted(worst.items()):
            lines.append(
                (f"contract {kernel} {dtype}", f"max rel {rel:.2e} {'ok' if ok else 'FAIL'}")
            )
    return lines


def summary(out: str, steps: str) -> int:
    """Print the step table and the headline numbers (last); write OUT/gpu_check.json."""
    out = Path(out)
    rows = []
    for line in Path(steps).read_text().splitlines():
        name, status, seconds = line.split("\t")
        rows.append({"step": name, "status": status, "seconds": int(seconds)})
    results = _results(out)
    record = {
        "steps": rows,
        "results": dict(results),
        "files": {
            p.name: _load(p) for p in sorted(out.glob("*.json")) if p.name != "gpu_check.json"
        },
    }
    (out / "gpu_check.json").write_text(json.dumps(record, indent=1))
    print("\n=== results")
    for name, value in results:
        print(f"{name:38s} {value}")
    print("\n=== summary")
    for r in rows:
        print(f"{r['step']:24s} {r['status']:22s} {r['seconds']:5d} s")
    print(f"total {sum(r['seconds'] for r in rows)} s; details in {out}/gpu_check.json")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    return {
        "packages": packages,
        "prepared": prepared,
        "device": device,
        "contract": contract,
        "summary": summary,
    }[cmd](*args)


if __name__ == "__main__":
    sys.exit(main())
