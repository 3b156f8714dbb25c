"""The transport step replayed as a CUDA graph (``Transport(graph=True)``) on the stand-in.

The CuPy stand-in of ``test_host_sync`` gets a stream capture that behaves as CUDA's: while
a stream captures, kernel launches and array assignments are recorded, not run, and a
graph launch runs the recorded work again, reading its arrays at that moment. Any other
``cupy`` call inside the capture (an allocation, a host read) raises, as it would on a
device. The captured runs must take the graph path and give the uncaptured results bit
for bit; without graph support the transport falls back to plain launches.
"""

from __future__ import annotations

import functools
import types

import numpy as np
import pytest
import test_host_sync as host
from test_host_sync import emulators, standin  # noqa: F401  (fixtures)

import spatialtumor as st


class Capture:
    """Which stream captures now, and what it recorded."""

    def __init__(self):
        self.ops = None
        self.current = None


@pytest.fixture
def capturing(standin, monkeypatch):  # noqa: F811
    """The stand-in backend with streams and graphs; returns (backend, capture state)."""
    cap = Capture()
    mod = standin.xp
    kernel_cls = type(
        mod.RawModule("", options=("-std=c++17", "-I.")).get_function("apply_sources_f32")
    )
    run_kernel = kernel_cls.__call__

    def launch(self, grid, block, args, shared_mem=0):
        if cap.ops is not None:
            cap.ops.append(functools.partial(run_kernel, self, grid, block, args, shared_mem))
            return
        run_kernel(self, grid, block, args, shared_mem)

    monkeypatch.setattr(kernel_cls, "__call__", launch)
    assign = host.DeviceArray.__setitem__

    def setitem(self, key, value):
        if cap.ops is not None:
            cap.ops.append(functools.partial(assign, self, key, value))
            return
        assign(self, key, value)

    monkeypatch.setattr(host.DeviceArray, "__setitem__", setitem)
    lookup = host.StandIn.__getattr__

    def getattr_(self, name):
        attr = lookup(self, name)
        if cap.ops is None or not callable(attr) or isinstance(attr, type):
            return attr

        def refused(*args, **kwargs):
            raise RuntimeError(f"cupy.{name} during stream capture")

        return refused

    monkeypatch.setattr(host.StandIn, "__getattr__", getattr_)

    class Graph:
        def __init__(self, ops):
            self.ops = ops

        def launch(self, stream=None):
            assert cap.ops is None, "graph launched inside a capture"
            for op in self.ops:
                op()

    class Stream:
        def __init__(self, non_blocking=False):
            assert non_blocking, "capture on the legacy default stream is refused"

        def __enter__(self):
            self.previous, cap.current = cap.current, self
            return self

        def __exit__(self, *exc):
            cap.current = self.previous

        def begin_capture(self, mode=None):
            assert cap.current is self and cap.ops is None
            cap.ops = []

        def end_capture(self):
            ops, cap.ops = cap.ops, None
            return Graph(ops)

    cuda = types.SimpleNamespace(**vars(mod.cuda))
    cuda.Stream = Stream
    monkeypatch.setattr(mod, "cuda", cuda, raising=False)
    return standin, cap


def _run(be, graph: bool, steps: int = 8, change_wall_at: int = 3, new_dt_at: int = 5):
    """Diffusion steps with sources (fused) on LOD and explicit species; a wall value
    changed in place and a new step length on the way."""
    grid, fields, _pop, _mech, sources, _ = host._scene(be)
    transport = st.Transport(fields, dt=0.01, graph=graph)
    for step in range(steps):
        if step == change_wall_at:
            transport.set_boundary("o", 30.0)
        dt = 0.02 if step >= new_dt_at else 0.01
        sources.assemble(None)
        transport.step(dt, sources.source, sources.uptake)
    return transport, be.asnumpy(fields.values)


def test_captured_steps_take_the_graph_and_equal_plain_launches(capturing):
    be, _cap = capturing
    plain, want = _run(be, graph=False)
    assert plain.graph_status == "off"
    captured, got = _run(be, graph=True)
    # steps 0 and 5 (new dt) run directly, 1 and 6 capture and launch, the others replay;
    # the wall value changed at step 3 in place needs no new capture
    assert captured.graph_status == "on (2 captures, 6 launches)", captured.graph_status
    np.testing.assert_array_equal(got, want)


def test_the_step_runs_only_while_capturing_and_changes_nothing(capturing):
    be, cap = capturing
    grid, fields, *_ = host._scene(be)
    transport = st.Transport(fields, dt=0.01, graph=True)
    transport.step()  # direct
    before = be.asnumpy(fields.values)
    graph = transport._graph
    ran = []
    graph.run(graph._seen, lambda: ran.append(cap.ops is not None))
    assert ran == [True] and graph.captures == 1  # fn ran only while capturing
    np.testing.assert_array_equal(be.asnumpy(fields.values), before)


def test_without_graph_support_the_step_falls_back(capturing, monkeypatch):
    be, _cap = capturing
    _, want = _run(be, graph=False)
    cuda = types.SimpleNamespace(**vars(be.xp.cuda))
    del cuda.Stream
    monkeypatch.setattr(be.xp, "cuda", cuda, raising=False)
    transport, got = _run(be, graph=True)
    assert transport.graph_status.startswith("fell back: AttributeError"), transport.graph_status
    np.testing.assert_array_equal(got, want)


def test_work_outside_kernels_inside_the_capture_falls_back_once(capturing):
    be, _cap = capturing
    grid, fields, *_ = host._scene(be)
    transport = st.Transport(fields, dt=0.01, graph=True)
    graph = transport._graph
    calls = []

    def step():
        calls.append(1)
        be.xp.zeros(3)  # an allocation: refused while capturing

    graph.run("k", step)
    graph.run("k", step)  # capture fails, then runs directly
    graph.run("k", step)
    assert len(calls) == 4 and graph.disabled.startswith("RuntimeError: cupy.zeros")


def test_graph_is_ignored_on_numpy():
    be = st.get_backend("numpy", "float64")
    grid = st.Grid(be, (3, 4, 5), spacing=20.0)
    fields = st.Fields(grid, o=st.Species(1e3, 0.1, 1.0))
    transport = st.Transport(fields, dt=0.01, graph=True)
    transport.step()
    assert transport.graph_status == "off"


def test_captured_steps_make_no_host_sync(capturing):
    be, _cap = capturing
    grid, fields, _pop, _mech, sources, _ = host._scene(be)
    transport = st.Transport(fields, dt=0.01, graph=True)
    transport.step(None, sources.source, sources.uptake)  # set-up outside the count
    host.SYNCS.counting = True
    for _ in range(3):
        transport.step(None, sources.source, sources.uptake)
    host.SYNCS.counting = False
    assert not host.SYNCS.events, host._report()
    assert transport._graph.launches == 3  # the first counted step captures and launches
