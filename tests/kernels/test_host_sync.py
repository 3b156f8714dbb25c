"""No host synchronisation inside a diffusion step or a mechanics step.

A CuPy stand-in runs the CuPy backend on the CPU: every ``cupy`` function is NumPy's, its
arrays are a NumPy subclass, and the custom kernels run emulated from the ``kernels/*.cu``
sources (the emulators of ``test_diffusion_contract`` and ``test_agent_contract``). Each
operation that would make the host wait for the device on a real GPU is counted with the
line of package code that asked for it:

* reading a device value on the host: ``int()``, ``float()``, ``bool()``, ``__index__``,
  ``.item()``, ``.tolist()``, ``.get()``, ``cupy.asnumpy``;
* operations whose output size depends on the data: boolean-mask indexing, ``nonzero``,
  ``flatnonzero``, ``argwhere``, ``unique``, ``compress``, ``extract``, one-argument
  ``where``; and ``bincount``, which reads the largest value to size its output.

The steps then run and the count must be zero. Skips without g++.
"""

from __future__ import annotations

import shutil
import sys
import traceback
import types
from pathlib import Path

import numpy as np
import pytest
import test_agent_contract as agent_emu
import test_diffusion_contract as diffusion_emu

import spatialtumor as st
from spatialtumor.agents import CellKind, FieldExchange, Population
from spatialtumor.backends import kernel_source
from spatialtumor.backends.base import Backend

PACKAGE = Path(st.__file__).resolve().parent


class Syncs:
    """What asked the host to wait, as ``(operation, package line)``."""

    def __init__(self):
        self.events = []
        self.counting = False

    def add(self, what: str) -> None:
        if not self.counting:
            return
        where = "?"
        for frame in reversed(traceback.extract_stack()[:-2]):
            if Path(frame.filename).resolve().is_relative_to(PACKAGE):
                where = f"{Path(frame.filename).name}:{frame.lineno} {frame.line}"
                break
        self.events.append((what, where))


SYNCS = Syncs()


def _has_mask(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype == np.bool_ and k.ndim > 0 for k in keys)


class DeviceArray(diffusion_emu._DeviceArray):
    """Host array standing in for ``cupy.ndarray``; host reads of its values are counted."""

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return np.ndarray.__array_wrap__(self, arr, context, False)  # 0-d arrays, as CuPy

    def __getitem__(self, key):
        if _has_mask(key):
            SYNCS.add("boolean mask indexing")
        out = np.ndarray.__getitem__(self, key)
        return out if isinstance(out, np.ndarray) else _device(np.asarray(out))

    def __setitem__(self, key, value):
        if _has_mask(key) and np.ndim(value) > 0:
            SYNCS.add("boolean mask assignment of an array")
        np.ndarray.__setitem__(self, key, value)

    def _read(self, what):
        SYNCS.add(what)
        return np.asarray(self).view(np.ndarray)

    def __int__(self):
        return int(self._read("int()"))

    def __float__(self):
        return float(self._read("float()"))

    def __bool__(self):
        return bool(self._read("bool()"))

    def __index__(self):
        return self._read("__index__").__index__()

    def item(self, *args):
        return self._read(".item()").item(*args)

    def tolist(self):
        return self._read(".tolist()").tolist()

    def get(self):
        return self._read(".get()").copy()

    def nonzero(self):
        SYNCS.add("nonzero")
        return tuple(_device(a) for a in np.ndarray.nonzero(self))


def _device(a):
    """A guarded stand-in device copy of ``a`` (arrays and scalars)."""
    a = np.asarray(a)
    out = diffusion_emu._alloc(a.shape, a.dtype)
    np.ndarray.__setitem__(out, ..., a)
    return out.view(DeviceArray)


def _wrap(value):
    if isinstance(value, DeviceArray):
        return value
    if isinstance(value, np.ndarray | np.generic):
        return _device(value)
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


_SYNCING = ("nonzero", "flatnonzero", "argwhere", "unique", "compress", "extract", "bincount")


class StandIn(types.ModuleType):
    """``cupy``: NumPy's functions returning stand-in device arrays."""

    ndarray = DeviceArray

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, type) or not callable(attr):
            return attr

        def call(*args, **kwargs):
            if name in _SYNCING or (name == "where" and len(args) == 1):
                SYNCS.add(f"cupy.{name}")
            counting, SYNCS.counting = SYNCS.counting, False  # one call, one count
            try:
                return _wrap(attr(*args, **kwargs))
            finally:
                SYNCS.counting = counting

        call.__name__ = name
        return call

    @staticmethod
    def asnumpy(a):
        if isinstance(a, DeviceArray):
            return a._read("cupy.asnumpy").copy()
        return np.asarray(a)

    @staticmethod
    def asarray(a, dtype=None):
        if isinstance(a, DeviceArray) and (dtype is None or a.dtype == np.dtype(dtype)):
            return a
        return _device(np.asarray(a, dtype=dtype))

    @staticmethod
    def ascontiguousarray(a, dtype=None):
        if isinstance(a, DeviceArray) and a.flags.c_contiguous:
            if dtype is None or a.dtype == np.dtype(dtype):
                return a
        return _device(np.ascontiguousarray(a, dtype=dtype))


@pytest.fixture(scope="module")
def emulators(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: no CPU emulation of the CUDA kernels")
    diffusion = diffusion_emu._build_emulator(
        diffusion_emu.KERNELS_DIR / "diffusion.cu", tmp_path_factory.mktemp("emu_d")
    )
    cells = agent_emu._build(tmp_path_factory.mktemp("emu_a"))
    return diffusion, cells


@pytest.fixture
def standin(monkeypatch, emulators):
    """A float32 "cupy" backend on the stand-in, and the sync record."""
    from spatialtumor.backends.cupy_kernels import CupyKernels

    (dlib, dentries), (alib, aentries) = emulators
    base = diffusion_emu._fake_cupy(dlib, dentries)
    mod = StandIn("cupy")
    mod.RawModule, mod.cuda = base.RawModule, base.cuda
    monkeypatch.setitem(sys.modules, "cupy", mod)
    kernel_source.clear_cache()
    kernels = CupyKernels()
    kernels.launches = []
    kernels._agent_function = lambda filename, name, options=(): agent_emu._Kernel(
        alib, name, aentries[name], kernels.launches
    )
    SYNCS.events.clear()
    SYNCS.counting = False
    yield Backend("cupy", mod, kernels, np.dtype("float32"), "stand-in", "test")
    SYNCS.counting = False
    kernel_source.clear_cache()


def _scene(be, n=400):
    """Motile, chemotactic, oxygen-consuming cells in a 9 × 10 × 11 grid; some dead."""
    from spatialtumor.exchange import CellExchange
    from spatialtumor.mechanics import Mechanics

    rng = np.random.default_rng(5)
    kinds = (
        CellKind("t", speed=0.5, exchange={"o": FieldExchange(uptake=10.0)}),
        CellKind("c", radius=5.0, speed=1.0, chemotaxis_field="o", chemotaxis_bias=0.5),
    )
    grid = st.Grid(be, (9, 10, 11), spacing=20.0)
    fields = st.Fields(
        grid,
        o=st.Species(1e5, 0.1, 38.0, boundary=st.Boundary.dirichlet(38.0)),
        d=st.Species(10.0, 0.01, 1.0, solver="explicit"),
    )
    pop = Population(be, kinds)
    pop.append({"position": rng.random((n, 3)) * grid.extent, "kind": rng.integers(0, 2, n)})
    pop.kill(be.asarray(rng.random(n) < 0.1, dtype=np.bool_))
    mech = Mechanics(pop, grid.origin, grid.upper, 0.1, seed=3, fields=fields)
    sources = st.SourceTerms(fields)
    sources.depositors.append(CellExchange(pop, fields))
    return grid, fields, pop, mech, sources, st.Transport(fields, dt=0.01)


def _diffusion_step(be, fields, sources, transport, fused=False):
    """What the simulation does every dt_diffusion: deposit, implicit sources, sweeps
    (``fused``: the source step inside the x sweep)."""
    sources.assemble(None)
    if fused:
        transport.step(0.01, source=sources.source, uptake=sources.uptake)
        return
    be.kernels.apply_sources(fields.values, sources.source, sources.uptake, 0.01)
    transport.step()


def _report():
    return "\n".join(f"  {what:40s} at {where}" for what, where in SYNCS.events)


def test_no_host_sync_inside_the_motility_step(standin):
    """The fused move (directions, chemotaxis, integration, walls) alone: zero syncs, one
    launch per mechanics step besides the pair forces."""
    be = standin
    _grid, _fields, pop, mech, _sources, _transport = _scene(be)
    mech.step(0)  # set-up: columns, sort, caches
    before = len(be.kernels.launches)
    SYNCS.counting = True
    for step in range(1, 4):
        mech.move(step)
        pop.mark_changed()
    SYNCS.counting = False
    assert not SYNCS.events, f"{len(SYNCS.events)} host syncs:\n{_report()}"
    assert be.kernels.launches[before:].count("move_cells_f32") == 3
    assert np.isfinite(be.asnumpy(pop["position"])).all()


def test_standin_mechanics_matches_numpy_backend(standin):
    """The CuPy path (pair forces, fused move) on the stand-in equals the NumPy path."""
    from spatialtumor.backends import get_backend

    out = []
    for be in (get_backend("numpy", "float32"), standin):
        _grid, _fields, pop, mech, _sources, _transport = _scene(be)
        for step in range(4):
            mech.step(step)
        out.append([be.asnumpy(pop[c]) for c in ("position", "motility_direction")])
    for a, b in zip(*out, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-4)


def test_standin_counts_what_would_wait_for_the_device(standin):
    xp = standin.xp
    a = xp.arange(6.0)
    SYNCS.counting = True
    float(a.sum())
    a[a > 2]
    xp.bincount(xp.asarray([0, 1, 1]))
    xp.flatnonzero(a)
    b = a * 2 + xp.sqrt(a)  # elementwise work and reductions to 0-d arrays: no wait
    xp.max(b)
    SYNCS.counting = False
    assert [w for w, _ in SYNCS.events] == [
        "float()",
        "boolean mask indexing",
        "cupy.bincount",
        "cupy.flatnonzero",
    ]
    assert all("test_host_sync" not in where for _, where in SYNCS.events)


def test_no_host_sync_inside_diffusion_and_mechanics_steps(standin):
    be = standin
    grid, fields, pop, mech, sources, transport = _scene(be)
    # first steps outside the count: set-up, sorts, caches
    _diffusion_step(be, fields, sources, transport)
    mech.step(0)
    SYNCS.counting = True
    for step in range(1, 4):
        for fused in (False, True, True):
            _diffusion_step(be, fields, sources, transport, fused)
        mech.step(step)  # moves the cells: the next deposit re-sorts them
    SYNCS.counting = False
    assert not SYNCS.events, f"{len(SYNCS.events)} host syncs:\n{_report()}"
    assert {"pair_forces_f32", "deposit_runs_f32", "move_cells_f32"} <= set(be.kernels.launches)
    assert np.isfinite(be.asnumpy(fields.values)).all()
