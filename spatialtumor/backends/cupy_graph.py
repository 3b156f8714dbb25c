"""Replay a fixed sequence of kernel launches as one CUDA graph (CuPy stream capture).

A diffusion step launches the same kernels on the same buffers with the same scalars every
time between two changes of the step length or of the buffers: captured once, it is
replayed by one ``cudaGraphLaunch`` instead of ~10 launches from Python. Nothing here is
needed for correctness: where capture is not possible the work runs as plain launches and
gives the same result.

``cupy`` is reached only through the array module given to :class:`StepGraph`.
"""

from __future__ import annotations


class StepGraph:
    """Run ``fn()`` (device work only, in place) as a CUDA graph while its ``key`` holds.

    Parameters
    ----------
    xp : the ``cupy`` module

    The first call with a new key runs ``fn`` directly: it compiles and loads the modules
    and fills the launch caches, none of which may happen inside a capture. The second call
    with that key captures ``fn`` on a private non-blocking stream and launches the graph on
    the current stream; later calls launch it again. The key must change whenever a buffer
    (its device pointer), a scalar argument or the sequence of launches would: arrays the
    kernels read are read at each replay, so values changed in place (wall values) need no
    new capture.

    Anything that fails while capturing (a CuPy without graphs, an allocation or a host
    read inside ``fn``) ends the capture, switches the graph off for good (``disabled``
    says why) and runs ``fn`` directly: nothing captured ever executed, so the step is
    done exactly once either way.
    """

    def __init__(self, xp):
        self.xp = xp
        #: why capture is off (None while it is on)
        self.disabled: str | None = None
        #: number of captures and of graph launches made (for tests and benchmarks)
        self.captures = 0
        self.launches = 0
        self._key = None
        self._graph = None
        self._seen = None
        self._stream = None

    def run(self, key, fn) -> None:
        """Do the work of ``fn()`` once: by a graph launch where possible, else directly."""
        if self.disabled is not None:
            fn()
            return
        if self._graph is not None and key == self._key:
            self._launch()
            return
        if key != self._seen:
            self._graph, self._seen = None, key
            fn()
            return
        graph = self._capture(fn)
        if graph is None:
            fn()
            return
        self._graph, self._key = graph, key
        self.captures += 1
        self._launch()

    def _launch(self) -> None:
        self._graph.launch(stream=self.xp.cuda.get_current_stream())
        self.launches += 1

    def _capture(self, fn):
        """The graph of ``fn``'s launches, or None (and ``disabled`` set) if capture fails."""
        try:
            if self._stream is None:
                self._stream = self.xp.cuda.Stream(non_blocking=True)
            stream = self._stream
            with stream:
                stream.begin_capture()
                try:
                    fn()
                finally:
                    graph = stream.end_capture()
        except Exception as exc:  # whatever CuPy or the driver refused: plain launches
            self.disabled = f"{type(exc).__name__}: {exc}"
            self._graph = None
            return None
        return graph
