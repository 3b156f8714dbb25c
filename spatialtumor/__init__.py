"""spatialtumor: a GPU-accelerated 3D spatial hybrid simulator of tumour–immune interactions.

Lengths are in micrometres (µm), times in minutes (min).
"""

from .backends import Backend, BackendError, get_backend
from .clock import Clock
from .fields import Boundary, Fields, Species
from .grid import Grid
from .guard import BlowUp, Guard
from .simulation import RunInfo, Simulation
from .sources import RegionSource, SourceTerms
from .transport import Transport
from .units import day, hour, minute, mm, um

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendError",
    "get_backend",
    "Clock",
    "Boundary",
    "Fields",
    "Species",
    "Grid",
    "BlowUp",
    "Guard",
    "RunInfo",
    "Simulation",
    "RegionSource",
    "SourceTerms",
    "Transport",
    "day",
    "hour",
    "minute",
    "mm",
    "um",
    "__version__",
    "open_run",
]


def __getattr__(name):
    # open_run loads lazily, so ``import spatialtumor`` imports neither pandas nor VTK
    if name == "open_run":
        from .runs import open_run

        return open_run
    raise AttributeError(f"module 'spatialtumor' has no attribute {name!r}")
