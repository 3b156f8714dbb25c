"""Contract tests of the cell-layer CUDA kernels against their NumPy twins.

* GPU tests (``@pytest.mark.gpu``) run ``kernels/mechanics.cu``, ``kernels/exchange.cu``,
  ``kernels/contacts.cu`` and ``kernels/motility.cu`` through CuPy; they skip where no device works.
* Emulated tests compile the same sources for the CPU with g++ (one loop over the CUDA
  threads of every block) and launch them through ``AgentKernels`` with a stand-in for the
  few ``cupy`` calls the wrappers make; each launch is checked against the parsed
  ``extern "C"`` signature (argument count, exact scalar types, array dtypes, contiguity).
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

from spatialtumor import checks_agents
from spatialtumor.agents import CellKind, FieldExchange, Population
from spatialtumor.backends import get_backend
from spatialtumor.backends.base import Backend
from spatialtumor.backends.cupy_agent_kernels import AgentKernels

KERNELS_DIR = Path(__file__).resolve().parents[2] / "kernels"
SHAPES = [(1, 1, 1), (3, 5, 7), (2, 3, 40), (6, 2, 1), (5, 9, 11)]
DTYPES = ["float32", "float64"]
CELL_SOURCES = ("mechanics.cu", "exchange.cu", "contacts.cu", "motility.cu")
CHECKS = {c.__name__.removeprefix("check_"): c for c in checks_agents.CHECKS}


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _assert_rows(rows):
    assert rows
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad


# ---------------------------------------------------------------------------------------
# GPU


def _cupy_backend(dtype="float64"):
    pytest.importorskip("cupy")
    return get_backend("cupy", dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", sorted(CHECKS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_cuda_kernel_matches_twin(kernel, shape, dtype):
    rows = CHECKS[kernel](_cupy_backend(), (3,) + shape, np.dtype(dtype), _rng(kernel, shape))
    _assert_rows(rows)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_mechanics_and_exchange_match_numpy_backend(dtype):
    from spatialtumor.exchange import CellExchange
    from spatialtumor.fields import Fields, Species
    from spatialtumor.grid import Grid
    from spatialtumor.mechanics import Mechanics

    results = []
    for be in (get_backend("numpy", dtype), _cupy_backend(dtype)):
        rng = np.random.default_rng(4)
        kinds = (
            CellKind("t", speed=0.5, exchange={"o": FieldExchange(uptake=10.0)}),
            CellKind("c", radius=5.0, speed=1.0, chemotaxis_field="o", chemotaxis_bias=0.5),
        )
        grid = Grid(be, (8, 9, 10), spacing=20.0)
        fields = Fields(grid, o=Species(diffusivity=1000.0, initial=38.0))
        pop = Population(be, kinds)
        pop.append(
            {"position": rng.random((2000, 3)) * grid.extent, "kind": rng.integers(0, 2, 2000)}
        )
        mech = Mechanics(pop, grid.origin, grid.upper, 0.1, seed=3, fields=fields)
        ex = CellExchange(pop, fields)
        for s in range(5):
            mech.step(s)
        s_, u_ = grid.zeros((1,)), grid.zeros((1,))
        ex.deposit(None, s_, u_)
        results.append([be.asnumpy(a) for a in (pop["position"], s_, u_)])
    tol = 1e-4 if dtype == "float32" else 1e-10
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol * np.abs(a).max())


# ---------------------------------------------------------------------------------------
# CPU emulation

_PRELUDE = r"""
#include <cstdint>
#include <cmath>
struct dim3 { unsigned x, y, z; };
static dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
using std::sqrt;
"""
_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_TYPES = {
    "float": np.float32,
    "double": np.float64,
    "long long": np.int64,
    "unsigned long long": np.uint64,
    "short": np.int16,
    "signed char": np.int8,
    "int": np.int32,
    "bool": np.bool_,
}
_CT = {
    np.int32: ctypes.c_int32,
    np.float32: ctypes.c_float,
    np.float64: ctypes.c_double,
    np.int64: ctypes.c_int64,
    np.uint64: ctypes.c_uint64,
}


def _params(text):
    out = []
    for p in text.split(","):
        p = " ".join(p.replace("*", " * ").split())
        m = re.match(r"(?:const )?(.+?)( \*)? (\w+)$", p)
        out.append((m.group(1), bool(m.group(2)), m.group(3)))
    return out


def _build(workdir: Path):
    entries, code = {}, _PRELUDE
    for f in CELL_SOURCES:
        pre = subprocess.run(
            [
                "g++",
                "-E",
                "-P",
                "-x",
                "c++",
                "-std=c++17",
                f"-I{KERNELS_DIR}",
                str(KERNELS_DIR / f),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        entries.update({m.group(1): _params(m.group(2)) for m in _SIGNATURE.finditer(pre)})
        code += (KERNELS_DIR / f).read_text() + "\n"
    for name, params in entries.items():
        decl = ", ".join(f"{b}{'*' if ptr else ''} {n}" for b, ptr, n in params)
        call = ", ".join(n for _, _, n in params)
        code += (
            f'extern "C" void emu_{name}(unsigned gx, unsigned bx, {decl}) {{\n'
            f"  gridDim = {{gx, 1, 1}}; blockDim = {{bx, 1, 1}};\n"
            f"  for (unsigned b = 0; b < gx; ++b) for (unsigned t = 0; t < bx; ++t) {{\n"
            f"    blockIdx = {{b, 0, 0}}; threadIdx = {{t, 0, 0}}; {name}({call}); }} }}\n"
        )
    (workdir / "emu.cpp").write_text(code)
    cmd = ["g++", "-std=c++17", "-O2", "-ffp-contract=off", "-shared", "-fPIC"]
    cmd += [f"-I{KERNELS_DIR}", str(workdir / "emu.cpp"), "-o", str(workdir / "emu.so")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return ctypes.CDLL(str(workdir / "emu.so")), entries


class _Kernel:
    def __init__(self, lib, name, params, launches):
        self.fn, self.name, self.params, self.launches = (
            getattr(lib, "emu_" + name),
            name,
            params,
            launches,
        )

    def __call__(self, grid, block, args):
        assert len(grid) == 1 and len(block) == 1 and 1 <= block[0] <= 1024, (grid, block)
        assert type(grid[0]) is int and grid[0] >= 1
        assert len(args) == len(self.params), f"{self.name}: {len(args)} arguments"
        ct = []
        for (base, ptr, pname), a in zip(self.params, args, strict=True):
            want = np.dtype(_TYPES[base])
            if ptr:
                assert isinstance(a, np.ndarray) and a.dtype == want, (self.name, pname, a.dtype)
                assert a.flags.c_contiguous, (self.name, pname)
                ct.append(ctypes.c_void_p(a.ctypes.data))
            else:
                assert type(a) is want.type, (self.name, pname, type(a))
                ct.append(_CT[want.type](a.item()))
        self.launches.append(self.name)
        self.fn(ctypes.c_uint(grid[0]), ctypes.c_uint(block[0]), *ct)


def _fake_cupy():
    mod = types.ModuleType("cupy")
    for n in ("int8", "int16", "int64", "uint64", "bool_", "float32", "float64"):
        setattr(mod, n, getattr(np, n))
    mod.asarray = lambda a, dtype=None: np.array(a, dtype=dtype)
    mod.ascontiguousarray = lambda a, dtype=None: np.ascontiguousarray(a, dtype=dtype)
    mod.asnumpy = lambda a: np.array(a)
    return mod


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: no CPU emulation of the CUDA kernels")
    return _build(tmp_path_factory.mktemp("agent_emu"))


@pytest.fixture
def emulated(monkeypatch, emulator):
    lib, entries = emulator
    fake = _fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    kernels = AgentKernels()
    kernels.launches = []
    kernels._agent_function = lambda filename, name, options=(): _Kernel(
        lib, name, entries[name], kernels.launches
    )
    return Backend("cupy", fake, kernels, np.dtype("float64"), "emulated", "test")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_emulated_kernels_match_twins(emulated, shape, dtype):
    for name, check in CHECKS.items():
        _assert_rows(check(emulated, (2,) + shape, np.dtype(dtype), _rng(name, shape)))
    suffix = "f32" if dtype == "float32" else "f64"
    assert set(emulated.kernels.launches) == {
        f"pair_forces_{suffix}",
        f"deposit_runs_{suffix}",
        f"contact_search_{suffix}",
        f"move_cells_{suffix}",
    }


def test_contract_catches_a_wrong_kernel(emulated, monkeypatch):
    from spatialtumor.backends import reference_agents

    real = reference_agents.pair_forces

    def off_by_a_bit(*args):
        real(*args)
        args[-1][5] *= 1.01

    monkeypatch.setattr(reference_agents, "pair_forces", off_by_a_bit)
    rows = checks_agents.check_pair_forces(emulated, (1, 3, 5, 7), np.dtype("float64"), _rng(0))
    assert not rows[0]["ok"]


@pytest.mark.parametrize("shape", SHAPES)
def test_emulated_pair_forces_equal_the_twin_to_the_bit(emulated, shape):
    """In float64 the kernel (threads in sorted order, far candidates cut on d² before the
    root) sums the same terms in the same order as the twin: not one bit differs."""
    rows = checks_agents.check_pair_forces(emulated, (1,) + shape, np.dtype("float64"), _rng(shape))
    assert rows[0]["max_abs"] == 0.0, rows


def test_move_contract_catches_a_wrong_draw(emulated, monkeypatch):
    """A twin drawing from another stream (or step) no longer agrees with the kernel."""
    from spatialtumor.backends import reference_motility

    real = reference_motility.move_cells

    def next_step(*args):
        real(*args[:-1], args[-1] + 1)

    monkeypatch.setattr(reference_motility, "move_cells", next_step)
    rows = checks_agents.check_move_cells(emulated, (2, 3, 5, 7), np.dtype("float64"), _rng(0))
    assert not any(r["ok"] for r in rows if "switches" in r["case"])
    assert not all(r["ok"] for r in rows)


def test_move_is_compiled_without_fused_multiply_adds(emulated):
    from spatialtumor.backends.kernel_source import MODULE_OPTIONS

    seen = []
    run = emulated.kernels._agent_function

    def record(filename, name, options=()):
        seen.append((filename, tuple(options)))
        return run(filename, name, options)

    emulated.kernels._agent_function = record
    _assert_rows(
        checks_agents.check_move_cells(emulated, (1, 2, 3, 4), np.dtype("float32"), _rng())
    )
    assert set(seen) == {("motility.cu", MODULE_OPTIONS["motility.cu"])}
    assert "--fmad=false" in MODULE_OPTIONS["motility.cu"]


def test_register_adds_the_checks_once(monkeypatch):
    from spatialtumor import checks

    monkeypatch.setattr(checks, "CHECKS", list(checks.CHECKS))
    checks_agents.register()
    checks_agents.register()
    names = [c.__name__ for c in checks.CHECKS]
    for name in (
        "check_pair_forces",
        "check_deposit_sorted",
        "check_contact_search",
        "check_move_cells",
    ):
        assert names.count(name) == 1


def test_nvcc_compiles_the_cell_kernels():
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found")
    for arch in ("sm_80", "sm_90"):
        for f in CELL_SOURCES:
            cmd = [nvcc, "-std=c++17", "-ptx", f"-I{KERNELS_DIR}", f"-arch={arch}"]
            res = subprocess.run(
                cmd + [str(KERNELS_DIR / f), "-o", "/dev/null"], capture_output=True, text=True
            )
            assert res.returncode == 0, res.stderr


class _Recorder:
    """Kernels proxy that records the arguments of every wrapper call."""

    def __init__(self, kernels):
        self.kernels, self.calls = kernels, []

    def __getattr__(self, name):
        fn = getattr(self.kernels, name)

        def call(*args):
            self.calls.append((name, args))
            return fn(*args)

        return call


@pytest.mark.parametrize("kernel", sorted(CHECKS))
def test_wrappers_reject_every_wrong_shape_before_launching(emulated, kernel):
    """Each array argument cut short by one row (or field) raises ValueError, no launch."""
    rec = _Recorder(emulated.kernels)
    be = Backend("cupy", emulated.xp, rec, emulated.dtype, "emulated", "test")
    _assert_rows(CHECKS[kernel](be, (2, 3, 5, 7), np.dtype("float64"), _rng(kernel)))
    name, args = rec.calls[0]
    assert {n for n, _ in rec.calls} == {name}
    launched = len(emulated.kernels.launches)
    cut = 0
    for i, a in enumerate(args):
        if not isinstance(a, np.ndarray) or a.ndim == 0 or a.shape[0] < 2:
            continue
        if name == "move_cells" and a.ndim == 4:
            continue  # the fields: kind_field's values index them, unchecked like kinds
        bad = list(args)
        bad[i] = np.ascontiguousarray(a[:-1])
        with pytest.raises(ValueError):
            getattr(emulated.kernels, name)(*bad)
        cut += 1
    want = {"pair_forces": 10, "deposit_sorted": 10, "contact_search": 12, "move_cells": 12}
    assert cut >= want[name]
    assert len(emulated.kernels.launches) == launched
    # dims that disagree with the bin arrays
    if name in ("pair_forces", "contact_search"):
        k = next(i for i, a in enumerate(args) if isinstance(a, tuple))
        bad = list(args)
        bad[k] = (args[k][0] + 1,) + tuple(args[k][1:])
        with pytest.raises(ValueError, match="bin_start"):
            getattr(emulated.kernels, name)(*bad)
