"""Do ahead, on any machine, the work of the one-call GPU check that needs no GPU.

    python benchmarks/gpu_prepare.py                      # everything into build/gpu_check
    python benchmarks/gpu_prepare.py --only kernels,references --out /tmp/prepared

Writes three folders under ``--out`` (default ``build/gpu_check``, ignored by git), which
``benchmarks/gpu_check.sh`` reads on the GPU node (``PREPARED=...``):

``wheels/``     the packages listed in ``benchmarks/gpu_wheels.txt``, for Python 3.12 on
                x86-64 Linux (``pip download --no-deps --only-binary=:all:``; needs a package
                index);
``kernels/``    every ``kernels/*.cu`` compiled with ``nvcc -cubin`` for each ``--arch``, with
                the options its launch wrapper passes, under the names
                :func:`spatialtumor.backends.kernel_source.prebuilt_name` gives (they record
                the exact sources, so a stale module is never loaded);
``reference/``  the NumPy halves of the GPU tests that compare whole runs
                (``tests/regression/test_backends_agree.py``), keyed by the digest of the
                sources they depend on (``tests/_prepared.py``).

Also writes ``prepared.json`` (what was made, with versions). Not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS_TXT = ROOT / "benchmarks" / "gpu_wheels.txt"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
#: NVRTC options CuPy adds to every RawModule; nvcc gets the ones that change the code
NVRTC_LIKE = ("-ftz=true",)


def wheel_names() -> list[str]:
    """The ``name==version`` lines of ``gpu_wheels.txt``."""
    lines = (ln.split("#")[0].strip() for ln in WHEELS_TXT.read_text().splitlines())
    return [ln for ln in lines if ln]


def download_wheels(out: Path, python_version: str = "3.12") -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python_version, "--implementation", "cp"]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    cmd += ["-d", str(out), "-q", *wheel_names()]
    subprocess.run(cmd, check=True)
    return sorted(p.name for p in out.glob("*.whl"))


def compile_kernels(out: Path, archs) -> list[str]:
    """nvcc every source with the options of its wrapper; return the module names."""
    sys.path.insert(0, str(ROOT))
    from spatialtumor.backends import kernel_source

    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise SystemExit("nvcc not found: cannot compile the kernels ahead")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.cubin"):
        old.unlink()
    kdir = Path(str(kernel_source.kernel_dir()))
    made = []
    for name in kernel_source.list_sources(".cu"):
        options = tuple(kernel_source.MODULE_OPTIONS.get(name, ()))
        for arch in archs:
            target = out / kernel_source.prebuilt_name(name, options, arch)
            cmd = [nvcc, *kernel_source.BASE_OPTIONS, "-cubin", f"-I{kdir}", f"-arch={arch}"]
            cmd += [*NVRTC_LIKE, *options, str(kdir / name), "-o", str(target)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)}\n{res.stderr}")
            made.append(target.name)
    return made


def compute_references(out: Path) -> list[str]:
    """Run the NumPy halves of the run comparisons and store them."""
    for sub in ("tests", "tests/regression", "tests/physics"):
        sys.path.insert(0, str(ROOT / sub))
    sys.path.insert(0, str(ROOT))
    import _prepared
    import test_backends_agree

    written = []
    for key, compute in test_backends_agree.numpy_references():
        t0 = time.perf_counter()
        path = _prepared.store(out, key, compute())
        print(f"  {time.perf_counter() - t0:6.1f} s  {key[:70]}", flush=True)
        written.append(path.name)
    return written


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "build" / "gpu_check"))
    p.add_argument("--only", default="wheels,kernels,references")
    p.add_argument("--arch", default="sm_90,sm_80", help="architectures of the modules")
    a = p.parse_args(argv)
    out = Path(a.out)
    parts = set(a.only.split(","))
    try:  # parts made earlier stay recorded
        record = json.loads((out / "prepared.json").read_text())
    except (OSError, ValueError):
        record = {}
    record["python"] = platform.python_version()
    if "wheels" in parts:
        record["wheels"] = download_wheels(out / "wheels")
        print(f"wheels: {', '.join(record['wheels'])}")
    if "kernels" in parts:
        nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout
        record["nvcc"] = nvcc.strip().splitlines()[-1] if nvcc else None
        record["kernels"] = compile_kernels(out / "kernels", a.arch.split(","))
        print(f"kernels: {len(record['kernels'])} modules ({record['nvcc']})")
    if "references" in parts:
        print("NumPy references:")
        record["references"] = compute_references(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prepared.json").write_text(json.dumps(record, indent=1))
    print(f"prepared: {out}")


if __name__ == "__main__":
    main()
