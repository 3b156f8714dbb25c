"""Every CUDA source compiles (nvcc and NVRTC, no GPU needed) and loads from wheel or checkout."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from spatialtumor.backends import kernel_source

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "kernels"
CU_FILES = sorted(KERNELS.glob("*.cu"))
HEADERS = sorted(KERNELS.glob("*.cuh"))
ARCHS = ["sm_80", "sm_90"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", CU_FILES, ids=lambda p: p.name)
def test_nvcc_compiles_to_ptx(source, arch, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found")
    cmd = [nvcc, "-std=c++17", "-ptx", "-I", str(KERNELS), f"-arch={arch}", str(source)]
    cmd += ["-o", str(tmp_path / (source.stem + ".ptx"))]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout}\n{res.stderr}"
    assert (tmp_path / (source.stem + ".ptx")).stat().st_size > 0


def _find_nvrtc():
    """``(libnvrtc, CUDA include folder or None)`` from the system, a CUDA toolkit or the
    nvidia-cuda-nvrtc wheel; ``(None, None)`` when there is none."""
    candidates = []
    name = ctypes.util.find_library("nvrtc")
    if name:
        candidates.append(name)
    roots = [os.environ.get(v) for v in ("CUDA_HOME", "CUDA_PATH")] + ["/usr/local/cuda"]
    for root in filter(None, roots):
        candidates += sorted(glob.glob(os.path.join(root, "lib*", "libnvrtc.so*")))
    try:
        import nvidia  # namespace package of the CUDA wheels

        for base in nvidia.__path__:
            candidates += sorted(glob.glob(os.path.join(base, "*", "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    for cand in candidates:
        if "builtins" in cand:
            continue
        try:
            # NVRTC opens its builtins library by name at compile time: load the one beside
            # it first (a wheel's folder is on no library path)
            for builtins in sorted(
                glob.glob(os.path.join(os.path.dirname(cand), "libnvrtc-builtins.so*"))
            ):
                ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
            lib = ctypes.CDLL(cand)
        except OSError:
            continue
        # CuPy also puts the CUDA runtime headers on the include path
        path = Path(cand)
        include = path.parent.parent / "include" if path.is_absolute() else None
        return lib, include if include is not None and include.is_dir() else None
    return None, None


def _nvrtc_compile(lib, source: str, name: str, options: list[str]) -> tuple[int, str]:
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
    assert rc == 0, f"nvrtcCreateProgram failed ({rc})"
    try:
        opts = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        rc = lib.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(max(size.value, 1))
        lib.nvrtcGetProgramLog(prog, log)
        return rc, log.value.decode(errors="replace")
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", CU_FILES, ids=lambda p: p.name)
def test_nvrtc_compiles_like_cupy(source, arch):
    """NVRTC has no host headers: compile with the options ``load_raw_module`` uses."""
    lib, cuda_include = _find_nvrtc()
    if lib is None:
        pytest.skip("libnvrtc not found")
    # CuPy adds these to every RawModule compiled with NVRTC
    options = list(kernel_source.compile_options()) + [
        "-ftz=true",
        "--device-as-default-execution-space",
        f"-arch={arch}",
    ]
    if cuda_include is not None:
        options.append(f"-I{cuda_include}")
    rc, log = _nvrtc_compile(lib, source.read_text(), source.name, options)
    assert rc == 0, f"NVRTC {' '.join(options)} {source.name}:\n{log}"


@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
def test_header_compiles_alone_with_nvrtc(header):
    """A header that a kernel may include must compile under NVRTC on its own too."""
    lib, cuda_include = _find_nvrtc()
    if lib is None:
        pytest.skip("libnvrtc not found")
    options = list(kernel_source.compile_options()) + ["--device-as-default-execution-space"]
    options += ["-arch=sm_80"] + ([f"-I{cuda_include}"] if cuda_include else [])
    source = f'#include "{header.name}"\nextern "C" __global__ void probe() {{}}\n'
    rc, log = _nvrtc_compile(lib, source, "probe.cu", options)
    assert rc == 0, f"NVRTC, {header.name} included alone:\n{log}"


@pytest.mark.parametrize("source", CU_FILES, ids=lambda p: p.name)
def test_source_names_its_reference_twin(source):
    head = source.read_text().splitlines()[:5]
    assert head and head[0].startswith("//"), f"{source.name} must begin with a comment"
    assert any("twin" in line.lower() or "reference" in line.lower() for line in head), (
        f"{source.name}: the opening comment must name the reference twin"
    )


def test_sources_load_from_the_checkout():
    assert {p.name for p in CU_FILES} <= set(kernel_source.list_sources(".cu"))
    assert "common.cuh" in kernel_source.list_sources(".cuh")
    text = kernel_source.read_source("diffusion.cu")
    for entry in ("lod_sweep_f32", "explicit_step_f64", "apply_sources_f32"):
        assert entry in text
    assert (Path(kernel_source.include_dir()) / "common.cuh").is_file()
    with pytest.raises(kernel_source.KernelSourceError, match="nothere.cu"):
        kernel_source.read_source("nothere.cu")


def test_package_folder_wins_and_zipped_sources_get_an_include_folder(tmp_path, monkeypatch):
    archive = tmp_path / "pkg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("spatialtumor/kernels/common.cuh", "// packaged header\n")
        zf.writestr("spatialtumor/kernels/diffusion.cu", "// packaged source\n")
    packaged = zipfile.Path(archive, "spatialtumor/kernels/")
    monkeypatch.setattr(kernel_source, "_package_dir", lambda: packaged)
    kernel_source.clear_cache()
    try:
        assert kernel_source.read_source("diffusion.cu") == "// packaged source\n"
        inc = kernel_source.include_dir()
        assert (inc / "common.cuh").read_text() == "// packaged header\n"
        assert f"-I{inc}" in kernel_source.compile_options(("-DX",))
        digest = kernel_source.headers_digest()
    finally:
        kernel_source.clear_cache()
    assert not inc.exists()  # the temporary include folder is removed again
    monkeypatch.setattr(kernel_source, "_package_dir", lambda: None)
    assert kernel_source.kernel_dir() == KERNELS
    assert kernel_source.headers_digest() != digest


def test_sources_load_from_a_built_wheel(tmp_path):
    """Build the wheel, unpack it elsewhere, and read the sources from the package."""
    pytest.importorskip("hatchling")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + [str(ROOT), "-w", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if res.returncode != 0:
        pytest.skip(f"could not build the wheel here: {res.stderr[-500:]}")
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = (
        "from spatialtumor.backends import kernel_source as k; "
        "print(k.kernel_dir()); print(k.include_dir()); print(len(k.read_source('diffusion.cu')))"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    kdir, inc, size = out.stdout.split()
    assert Path(kdir) == site / "spatialtumor" / "kernels"
    assert (Path(inc) / "common.cuh").is_file()
    assert int(size) == len((KERNELS / "diffusion.cu").read_text())
