"""Contract tests: the CUDA diffusion kernels against their NumPy twins (reference.py).

Three layers:

* GPU tests (``@pytest.mark.gpu``) run the CuPy kernels on a device; they skip elsewhere.
* Emulated tests run the same ``kernels/diffusion.cu`` source on the CPU: it is compiled
  with g++ behind a few macros (one host thread per CUDA thread where warps synchronise,
  ``__syncwarp`` as a barrier) and launched through ``CupyKernels`` by a stand-in for the
  handful of ``cupy`` calls the wrappers make. The stand-in checks each launch the way the
  device would: argument count and exact scalar types against the parsed ``extern "C"``
  signatures, grid and block limits, dynamic shared memory and its opt-in, and guard zones
  around every array (writes out of bounds fail the test). They skip without g++.
* Harness tests show that the contract itself catches a wrong kernel.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import pytest

import spatialtumor as st
from spatialtumor import checks
from spatialtumor.backends import get_backend, kernel_source, reference
from spatialtumor.backends.base import Backend

SHAPES = [(1, 1, 1), (3, 5, 7), (16, 17, 33), (2, 3, 130), (9, 33, 64)]
DTYPES = ["float32", "float64"]
KERNEL_CHECKS = {
    "lod_sweep": checks.check_lod_sweep,
    "explicit_step": checks.check_explicit_step,
    "apply_sources": checks.check_apply_sources,
}
KERNELS_DIR = Path(__file__).resolve().parents[2] / "kernels"


def _assert_rows(rows):
    assert rows, "the check produced no rows"
    bad = [r for r in rows if not r["ok"]]
    assert not bad, "\n" + checks.format_contract(bad)


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# ---------------------------------------------------------------------------------------
# CPU emulation of the CUDA kernels

_PRELUDE = r"""
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>
struct dim3 { unsigned x, y, z; };
static thread_local dim3 threadIdx;
static thread_local dim3 blockIdx;
static dim3 blockDim, gridDim;
struct EmuBarrier {
  std::mutex m; std::condition_variable cv; int count = 0, gen = 0, n = 32;
  void wait() {
    std::unique_lock<std::mutex> lock(m);
    const int g = gen;
    if (++count == n) { count = 0; ++gen; cv.notify_all(); return; }
    if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return gen != g; })) {
      std::fprintf(stderr, "emulator: __syncwarp never completed\n"); std::abort();
    }
  }
};
static thread_local EmuBarrier* emu_warp = nullptr;
static inline void __syncwarp(unsigned = 0xffffffffu) { if (emu_warp) emu_warp->wait(); }
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __align__(n) __attribute__((aligned(n)))
// Blocks run one after another. Kernels that use shared memory run one host thread per CUDA
// thread (warps meet at __syncwarp); the others run their threads in a loop.
static void emu_launch(dim3 g, dim3 b, bool concurrent, const std::function<void()>& body) {
  gridDim = g; blockDim = b;
  const unsigned nt = b.x * b.y * b.z;
  for (unsigned bz = 0; bz < g.z; ++bz) for (unsigned by = 0; by < g.y; ++by)
  for (unsigned bx = 0; bx < g.x; ++bx) {
    if (!concurrent) {
      for (unsigned t = 0; t < nt; ++t) {
        blockIdx = {bx, by, bz}; threadIdx = {t % b.x, (t / b.x) % b.y, t / (b.x * b.y)};
        emu_warp = nullptr; body();
      }
      continue;
    }
    std::vector<EmuBarrier> bars((nt + 31) / 32);
    for (unsigned w = 0; w < bars.size(); ++w) bars[w].n = (w + 1) * 32 <= nt ? 32 : nt - w * 32;
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < nt; ++t) threads.emplace_back([&, t] {
      blockIdx = {bx, by, bz}; threadIdx = {t % b.x, (t / b.x) % b.y, t / (b.x * b.y)};
      emu_warp = &bars[t / 32]; body();
    });
    for (auto& th : threads) th.join();
  }
}
"""
_SMEM_BYTES = 1 << 20
_GUARD = 64
_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_CTYPES = {
    "float": ("float32", ctypes.c_float),
    "double": ("float64", ctypes.c_double),
    "int": ("int32", ctypes.c_int32),
    "long long": ("int64", ctypes.c_int64),
}


def _parse_params(text):
    """``[(base type, is pointer, name)]`` of one parameter list."""
    params = []
    for p in text.split(","):
        p = " ".join(p.replace("*", " * ").split())
        m = re.match(r"(?:const )?(.+?)( \*)? (\w+)$", p)
        params.append((m.group(1), bool(m.group(2)), m.group(3)))
    return params


def _build_emulator(source: Path, workdir: Path):
    """Compile ``source`` for the host; return the library and its entry-point signatures."""
    include = f"-I{source.parent}"
    pre = subprocess.run(
        ["g++", "-E", "-P", "-x", "c++", "-std=c++17", include, str(source)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries = {m.group(1): _parse_params(m.group(2)) for m in _SIGNATURE.finditer(pre)}
    wrappers = []
    for name, params in entries.items():
        decl = ", ".join(f"{b}{'*' if ptr else ''} {n}" for b, ptr, n in params)
        call = ", ".join(n for _, _, n in params)
        wrappers.append(
            f'extern "C" void emu_{name}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, '
            f"unsigned by, unsigned bz, int conc, {decl}) {{ emu_launch({{gx, gy, gz}}, "
            f"{{bx, by, bz}}, conc != 0, [&] {{ {name}({call}); }}); }}"
        )
    code = _PRELUDE + source.read_text() + "\n"
    code += f"namespace {{ alignas(16) unsigned char smem_raw[{_SMEM_BYTES}]; }}\n"
    code += "\n".join(wrappers) + "\n"
    (workdir / "emu.cpp").write_text(code)
    cmd = ["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-pthread", "-Wno-unknown-pragmas"]
    cmd += [include, str(workdir / "emu.cpp"), "-o", str(workdir / "emu.so")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stderr}"
    return ctypes.CDLL(str(workdir / "emu.so")), entries


class _DeviceArray(np.ndarray):
    """Host array standing in for a device array; its allocation has NaN guard zones."""

    _root = None

    def __array_finalize__(self, obj):
        self._root = getattr(obj, "_root", None)

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)


def _alloc(shape, dtype):
    dtype = np.dtype(dtype)
    shape = tuple(np.atleast_1d(shape).tolist()) if np.ndim(shape) == 0 else tuple(shape)
    n = int(np.prod(shape, dtype=np.int64))
    fill = np.nan if dtype.kind == "f" else (np.iinfo(dtype).max if dtype.kind in "iu" else 1)
    root = np.full(n + 2 * _GUARD, fill, dtype=dtype)
    arr = root[_GUARD : _GUARD + n].reshape(shape).view(_DeviceArray)
    arr._root = root
    return arr


def _guards_intact(a) -> bool:
    g = np.concatenate([a._root[:_GUARD], a._root[-_GUARD:]])
    return bool(np.all(np.isnan(g))) if g.dtype.kind == "f" else bool(np.all(g == g[0]))


def _fake_cupy(lib, entries, optin=232448):
    """A module with the few ``cupy`` names the wrappers, checks and transport use."""
    mod = types.ModuleType("cupy")
    mod.ndarray = _DeviceArray
    mod.int32, mod.float32, mod.float64 = np.int32, np.float32, np.float64
    mod.launches = []

    def asarray(a, dtype=None):
        src = np.asarray(a, dtype=dtype)
        out = _alloc(src.shape, src.dtype)
        out[...] = src
        return out

    def full(shape, value, dtype=np.float64):
        out = _alloc(shape, dtype)
        out[...] = value
        return out

    mod.asarray = asarray
    mod.full = full
    mod.zeros = lambda shape, dtype=np.float64: full(shape, 0, dtype)
    mod.empty_like = lambda a: _alloc(a.shape, a.dtype)
    mod.asnumpy = lambda a: np.array(a).view(np.ndarray)
    mod.sum = np.sum

    class RawKernel:
        def __init__(self, name):
            self.name, self.params = name, entries[name]
            self.max_dynamic_shared_size_bytes = 48 * 1024

        def __call__(self, grid, block, args, shared_mem=0):
            grid = tuple(grid) + (1,) * (3 - len(grid))
            block = tuple(block) + (1,) * (3 - len(block))
            where = f"{self.name} grid {grid} block {block}"
            assert all(type(v) is int and v >= 1 for v in grid + block), where
            assert grid[1] <= 65535 and grid[2] <= 65535 and np.prod(block) <= 1024, where
            assert shared_mem <= max(48 * 1024, self.max_dynamic_shared_size_bytes), (
                f"{where}: {shared_mem} B of dynamic shared memory without opting in"
            )
            assert shared_mem <= min(optin, _SMEM_BYTES), where
            assert len(args) == len(self.params), f"{where}: {len(args)} arguments"
            ctargs, arrays = [], []
            for (base, ptr, pname), a in zip(self.params, args, strict=True):
                want, ctype = _CTYPES[base]
                if ptr:
                    assert isinstance(a, _DeviceArray), f"{where}: {pname} is no device array"
                    assert a.dtype == np.dtype(want), f"{where}: {pname} {a.dtype} != {want}"
                    assert a.flags.c_contiguous, f"{where}: {pname} not contiguous"
                    ctargs.append(ctypes.c_void_p(a.ctypes.data))
                    arrays.append(a)
                else:
                    assert type(a) is np.dtype(want).type, f"{where}: {pname} {type(a)} != {want}"
                    ctargs.append(ctype(a.item()))
            mod.launches.append((self.name, grid, block, shared_mem))
            fn = getattr(lib, "emu_" + self.name)
            fn(*(ctypes.c_uint(v) for v in grid + block), ctypes.c_int(shared_mem > 0), *ctargs)
            for a in arrays:
                assert _guards_intact(a), f"{where}: wrote outside the array {a.shape}"

    class RawModule:
        def __init__(self, code, options=()):
            assert "-std=c++17" in options and any(o.startswith("-I") for o in options)

        def compile(self):
            pass

        def get_function(self, name):
            return RawKernel(name)

    props = {"name": b"emulated", "sharedMemPerBlockOptin": optin, "multiProcessorCount": 4}
    mod.RawModule = RawModule
    mod.cuda = types.SimpleNamespace(
        Device=lambda *a: types.SimpleNamespace(id=0),
        runtime=types.SimpleNamespace(getDeviceProperties=lambda dev: props),
        get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None),
    )
    return mod


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: no CPU emulation of the CUDA kernels")
    return _build_emulator(KERNELS_DIR / "diffusion.cu", tmp_path_factory.mktemp("emu"))


def _emulated_backend(monkeypatch, emulator, dtype="float64", optin=232448):
    from spatialtumor.backends.cupy_kernels import CupyKernels

    fake = _fake_cupy(*emulator, optin=optin)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    kernel_source.clear_cache()
    return Backend("cupy", fake, CupyKernels(), np.dtype(dtype), "emulated", "test")


@pytest.fixture
def emulated(monkeypatch, emulator):
    """A float64 "cupy" backend whose kernels run emulated on the CPU."""
    yield _emulated_backend(monkeypatch, emulator)
    kernel_source.clear_cache()  # no emulated module may outlive the test


def _cupy_backend():
    pytest.importorskip("cupy")
    return get_backend("cupy", "float64")


@pytest.fixture(params=[pytest.param("cupy", marks=pytest.mark.gpu), "emulated"])
def cuda_backend(request):
    """The CuPy backend on a device, and the emulated one on the CPU."""
    if request.param == "cupy":
        return _cupy_backend()
    return request.getfixturevalue("emulated")


# ---------------------------------------------------------------------------------------
# kernels against their twins


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", sorted(KERNEL_CHECKS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_cuda_kernel_matches_twin(kernel, shape, dtype):
    rows = KERNEL_CHECKS[kernel](
        _cupy_backend(), (3,) + shape, np.dtype(dtype), _rng(kernel, shape, dtype)
    )
    _assert_rows(rows)


def test_emulated_kernels_match_twins(emulated):
    rows = checks.kernel_contract(emulated)
    assert len(rows) == len(checks.DEFAULT_SHAPES) * 2 * (7 + 1 + 1)  # x in 5 variants, y, z
    _assert_rows(rows)
    launched = {name for name, *_ in emulated.xp.launches}
    for entry in ("lod_sweep", "lod_sweep_rows", "explicit_step", "apply_sources"):
        assert {f"{entry}_f32", f"{entry}_f64"} <= launched


def test_every_x_sweep_variant_is_checked(cuda_backend):
    rows = checks.check_lod_sweep(cuda_backend, (2, 4, 3, 70), np.dtype("float32"), _rng(1))
    cases = {r["case"] for r in rows}
    for mode in ("strided", "tiled", "2", "resident"):
        assert f"axis=x x_sweep={mode}" in cases
    _assert_rows(rows)


@pytest.mark.parametrize("yz_sweep", ["strided", "resident", "auto"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_yz_sweep_variant_matches_twin(cuda_backend, yz_sweep, dtype):
    from spatialtumor.backends.cupy_kernels import CupyKernels

    be = Backend(
        "cupy", cuda_backend.xp, CupyKernels(yz_sweep=yz_sweep), cuda_backend.dtype, "", ""
    )
    rows = []
    for shape in [(2, 1, 1, 1), (3, 4, 5, 7), (2, 33, 17, 40), (1, 9, 70, 3)]:
        rng = _rng("yz", shape, dtype, yz_sweep)
        for axis, n in (("y", shape[2]), ("z", shape[1])):
            coeff = checks.lod_coefficients(shape[0], n, rng, decay=False)
            c0 = rng.uniform(0.0, 50.0, shape).astype(dtype)
            host = [np.ascontiguousarray(a, dtype=dtype) for a in coeff]
            want = c0.copy()
            reference.lod_sweep(want, axis, *host)
            c = be.xp.asarray(c0)
            be.kernels.lod_sweep(c, axis, *(be.xp.asarray(a) for a in host))
            got = be.asnumpy(c)
            rows.append(checks.compare("lod_sweep", f"{axis} {yz_sweep}", got, want, shape, dtype))
    _assert_rows(rows)
    if hasattr(be.xp, "launches"):
        cols = {name for name, *_ in be.xp.launches if name.startswith("lod_sweep_cols")}
        assert bool(cols) == (yz_sweep != "strided")


@pytest.mark.parametrize("x_sweep", ["auto", "strided", "tiled", 2, "resident"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_source_sweep_matches_twin(cuda_backend, x_sweep, dtype):
    from spatialtumor.backends.cupy_kernels import CupyKernels

    be = Backend("cupy", cuda_backend.xp, CupyKernels(x_sweep=x_sweep), cuda_backend.dtype, "", "")
    rows = []
    for shape in [(1, 1, 1, 1), (3, 4, 5, 7), (2, 3, 4, 70), (2, 2, 33, 40)]:
        rng = _rng("fused", shape, dtype, x_sweep)
        for axis, n in (("x", shape[3]), ("y", shape[2])):
            coeff = checks.lod_coefficients(shape[0], n, rng, decay=axis == "x")
            host = [np.ascontiguousarray(a, dtype=dtype) for a in coeff]
            c0, s, u = (rng.uniform(0.0, hi, shape).astype(dtype) for hi in (50.0, 10.0, 10.0))
            want = c0.copy()
            reference.lod_sweep_sources(want, axis, *host, s, u, 0.01)
            c = be.xp.asarray(c0)
            dev = [be.xp.asarray(a) for a in host + [s, u]]
            be.kernels.lod_sweep_sources(c, axis, *dev, 0.01)
            case = f"{axis} x_sweep={x_sweep}"
            rows.append(
                checks.compare("lod_sweep_sources", case, be.asnumpy(c), want, shape, dtype)
            )
    _assert_rows(rows)
    if hasattr(be.xp, "launches"):
        fused = {name for name, *_ in be.xp.launches if "sources" in name and "rows" in name}
        assert bool(fused) == (x_sweep != "strided")
    c = be.xp.zeros((1, 2, 3, 4), dtype=dtype)
    bad = be.xp.zeros((1, 2, 3, 5), dtype=dtype)
    coeff = [be.xp.zeros((1, 4), dtype) for _ in range(2)] + [be.xp.zeros(1, dtype)] * 3
    with pytest.raises(ValueError, match="shape"):
        be.kernels.lod_sweep_sources(c, "x", *coeff, bad, c, 0.01)


def test_transport_step_with_sources_equals_sources_then_step(cuda_backend):
    """The fused path of Transport.step against apply_sources + step on NumPy."""
    results = []
    for be in (get_backend("numpy", "float64"), cuda_backend):
        grid = st.Grid(be, shape=(5, 6, 40), spacing=20.0)
        fields = st.Fields(
            grid,
            oxygen=st.Species(1e5, 0.1, 38.0, boundary=st.Boundary.dirichlet(38.0)),
            drug=st.Species(10.0, 0.01, 1.0, boundary=st.Boundary(x_min=5.0), solver="explicit"),
        )
        rng = np.random.default_rng(8)
        fields.values[:] = be.asarray(rng.uniform(0, 40, fields.values.shape))
        s = be.asarray(rng.uniform(0, 5, fields.values.shape))
        u = be.asarray(rng.uniform(0, 5, fields.values.shape))
        transport = st.Transport(fields, dt=0.01)
        if be.name == "numpy":
            for _ in range(3):
                be.kernels.apply_sources(fields.values, s, u, 0.01)
                transport.step()
        else:
            for _ in range(3):
                transport.step(0.01, source=s, uptake=u)
        results.append(be.asnumpy(fields.values))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-11, atol=1e-10)
    with pytest.raises(ValueError, match="both"):
        transport.step(0.01, source=s)


def test_emulated_resident_yz_lines_opt_in_or_fall_back(monkeypatch, emulator):
    """float64 lines of 300 voxels need 75 KiB per block: opted in where the device allows
    it ("resident"), strided under "auto" and on a device allowing less."""
    from spatialtumor.backends.cupy_kernels import CupyKernels

    shape = (1, 300, 2, 40)
    for optin, mode, want in [
        (232448, "resident", 300 * 32 * 8),
        (232448, "auto", 0),
        (64 * 1024, "resident", 0),
    ]:
        base = _emulated_backend(monkeypatch, emulator, optin=optin)
        be = Backend("cupy", base.xp, CupyKernels(yz_sweep=mode), base.dtype, "", "")
        assert be.kernels.yz_sweep_smem(300, 8) == want
        rng = _rng("long z", mode, optin)
        coeff = [np.ascontiguousarray(a) for a in checks.lod_coefficients(1, 300, rng, False)]
        c0 = rng.uniform(0.0, 50.0, shape)
        ref = c0.copy()
        reference.lod_sweep(ref, "z", *coeff)
        c = be.xp.asarray(c0)
        be.kernels.lod_sweep(c, "z", *(be.xp.asarray(a) for a in coeff))
        np.testing.assert_allclose(be.asnumpy(c), ref, rtol=1e-12, atol=1e-12)
        smem = [m for name, _, _, m in be.xp.launches if name.startswith("lod_sweep_cols")]
        assert smem == ([want] if want else [])
    kernel_source.clear_cache()


def test_emulated_long_x_lines_opt_in_to_more_shared_memory(monkeypatch, emulator):
    """Resident float64 lines of 200 voxels need 59 KiB per warp: above the 48 KiB default."""
    be = _emulated_backend(monkeypatch, emulator)
    be = Backend("cupy", be.xp, type(be.kernels)(x_sweep="resident"), be.dtype, "", "")
    rows = checks.check_lod_sweep(be, (2, 3, 2, 200), np.dtype("float64"), _rng(2))
    _assert_rows(rows)
    smem = {s for name, _, _, s in be.xp.launches if name == "lod_sweep_rows_f64"}
    assert max(smem) == 7 * 32 * 33 * 8
    # a device allowing less keeps fewer tiles resident instead of failing to launch
    small = _emulated_backend(monkeypatch, emulator, optin=40 * 1024)
    kernels = type(small.kernels)(x_sweep="resident")
    assert kernels.x_sweep_plan(200, 8) == (4, 1)
    be = Backend("cupy", small.xp, kernels, small.dtype, "", "")
    _assert_rows(checks.check_lod_sweep(be, (2, 3, 2, 200), np.dtype("float64"), _rng(3)))
    kernel_source.clear_cache()


def test_kernels_reject_bad_arguments(cuda_backend):
    from spatialtumor.backends.cupy_kernels import KernelArgumentError

    xp, k = cuda_backend.xp, cuda_backend.kernels
    c = xp.zeros((1, 2, 3, 4), dtype=xp.float32)
    coeff = [xp.zeros((1, 4), xp.float32) for _ in range(2)]
    coeff += [xp.zeros(1, xp.float32) for _ in range(3)]
    with pytest.raises(KernelArgumentError, match="dtype float32"):
        k.lod_sweep(c, "x", xp.zeros((1, 4), xp.float64), *coeff[1:])
    with pytest.raises(KernelArgumentError, match=r"shape \(1, 4\)"):
        k.lod_sweep(c, "x", xp.zeros((1, 3), xp.float32), *coeff[1:])
    with pytest.raises(KernelArgumentError, match="C-contiguous"):
        k.apply_sources(c[..., ::2], c[..., ::2], c[..., ::2], 0.1)
    with pytest.raises(KernelArgumentError, match="cupy array"):
        k.apply_sources(c, np.zeros(c.shape, np.float32), c, 0.1)
    with pytest.raises(KernelArgumentError, match="different buffer"):
        k.explicit_step(
            c,
            c,
            0.1,
            *[xp.zeros(n, xp.float32) for n in (3, 1, 1)],
            xp.zeros((1, 6), xp.int32),
            xp.zeros((1, 6), xp.float32),
        )
    with pytest.raises(ValueError, match="axis"):
        k.lod_sweep(c, "w", *coeff)
    # a wrong shape is a ValueError too, for every wrapper, and nothing is launched
    assert issubclass(KernelArgumentError, ValueError)
    before = len(getattr(xp, "launches", ()))
    with pytest.raises(ValueError, match="shape"):
        k.apply_sources(c, c[:, :1].copy(), c, 0.1)
    with pytest.raises(ValueError, match="shape"):
        k.lod_sweep(c, "y", *coeff)  # coefficients of x lines (4) for y lines (3)
    explicit = [xp.zeros(n, xp.float32) for n in (3, 1, 1)]
    bc = [xp.zeros((1, 6), xp.int32), xp.zeros((1, 6), xp.float32)]
    with pytest.raises(ValueError, match="shape"):
        k.explicit_step(c, xp.zeros((1, 2, 3, 5), xp.float32), 0.1, *explicit, *bc)
    with pytest.raises(ValueError, match="shape"):
        k.explicit_step(c, c.copy(), 0.1, *explicit, bc[0], xp.zeros((1, 5), xp.float32))
    assert len(getattr(xp, "launches", ())) == before


def test_transport_step_matches_numpy_backend(cuda_backend):
    """Three whole LOD + explicit steps through the package API on both backends."""
    results = []
    for be in (get_backend("numpy", "float64"), cuda_backend):
        grid = st.Grid(be, shape=(6, 7, 40), spacing=20.0)
        fields = st.Fields(
            grid,
            oxygen=st.Species(1e5, 0.1, 38.0, boundary=st.Boundary.dirichlet(38.0)),
            drug=st.Species(10.0, 0.01, 1.0, boundary=st.Boundary(x_min=5.0), solver="explicit"),
        )
        fields.values[:] = be.asarray(np.random.default_rng(3).uniform(0, 40, fields.values.shape))
        transport = st.Transport(fields, dt=0.01)
        for _ in range(3):
            transport.step()
        results.append(be.asnumpy(fields.values))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-11, atol=1e-10)


# ---------------------------------------------------------------------------------------
# the harness itself (runs everywhere)


def test_contract_of_reference_with_itself_passes():
    rows = checks.kernel_contract(get_backend("numpy"), shapes=[(1, 1, 1), (3, 5, 7)])
    assert {r["kernel"] for r in rows} >= set(KERNEL_CHECKS)
    assert len(rows) == 2 * 2 * (3 + 1 + 1)  # dtypes × shapes × (3 axes + 2 kernels)
    _assert_rows(rows)
    assert "20 of 20 checks passed" in checks.format_contract(rows)


def _broken(**overrides):
    """The reference kernel set with some functions replaced."""
    funcs = {n: getattr(reference, n) for n in ("lod_sweep", "explicit_step", "apply_sources")}
    funcs.update(overrides)
    return types.SimpleNamespace(**funcs)


def _no_low_wall(c, axis, cp, inv, a, lo, hi):
    """Forgets the Dirichlet right-hand side on the low wall."""
    reference.lod_sweep(c, axis, cp, inv, a, 0 * lo, hi)


def _all_zero_flux(c, out, dt, inv_h2, d, k, kind, value):
    """Treats every face as zero flux, whatever the boundary kinds say."""
    reference.explicit_step(c, out, dt, inv_h2, d, k, 0 * kind, value)


def _explicit_uptake(c, s, u, dt):
    """Explicit instead of implicit uptake."""
    c += dt * (s - u * c)


@pytest.mark.parametrize(
    "kernel, wrong",
    [
        ("lod_sweep", _no_low_wall),
        ("explicit_step", _all_zero_flux),
        ("apply_sources", _explicit_uptake),
    ],
)
def test_contract_catches_a_wrong_kernel(kernel, wrong):
    be = get_backend("numpy")
    wrong_backend = types.SimpleNamespace(
        kernels=_broken(**{kernel: wrong}), xp=np, asnumpy=be.asnumpy
    )
    rows = KERNEL_CHECKS[kernel](wrong_backend, (3, 4, 5, 6), np.dtype("float64"), _rng(7))
    assert not all(r["ok"] for r in rows)
    assert "FAILED" in checks.format_contract(rows)


def test_unwritten_output_fails_the_contract():
    """An explicit step that writes nothing leaves the NaN poison: the row must fail."""
    be = get_backend("numpy")
    lazy = types.SimpleNamespace(
        kernels=_broken(explicit_step=lambda *a: None), xp=np, asnumpy=be.asnumpy
    )
    (row,) = checks.check_explicit_step(lazy, (2, 3, 3, 3), np.dtype("float32"), _rng(0))
    assert not row["ok"] and row["max_abs"] == float("inf")


def test_more_checks_can_be_registered():
    calls = []

    def check_extra(backend, shape, dtype, rng):
        calls.append((shape, dtype.name))
        return [checks.compare("extra", "", np.ones(2), np.ones(2), shape, dtype)]

    checks.register_check(check_extra)
    checks.register_check(check_extra)  # registering twice keeps one entry
    try:
        rows = checks.kernel_contract(get_backend("numpy"), shapes=[(2, 2, 2)], dtypes=("float32",))
    finally:
        checks.CHECKS.remove(check_extra)
    assert calls == [((3, 2, 2, 2), "float32")]
    assert [r["kernel"] for r in rows].count("extra") == 1
