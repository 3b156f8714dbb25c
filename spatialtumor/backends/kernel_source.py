"""Find, read and compile the CUDA sources (``kernels/*.cu``, ``kernels/*.cuh``).

In an installed wheel the sources live in the package as ``spatialtumor/kernels/`` (hatch
``force-include`` of the checkout's ``kernels/`` folder); in an editable install or a plain
checkout they are read from ``kernels/`` next to the package. Compiled modules are cached
per (file, options, device).

Compiled modules can also be made ahead of time (:func:`prebuilt_name`, used by
``benchmarks/gpu_prepare.py``) and registered with :func:`use_prebuilt`: a module whose
name records this exact source text, headers, options and device architecture is then loaded
instead of compiled. Nothing is looked up unless a folder was registered.

``cupy`` is imported only inside :func:`load_raw_module`, so this module imports anywhere.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from importlib import resources
from pathlib import Path

#: options every kernel file is compiled with (NVRTC through ``cupy.RawModule``)
BASE_OPTIONS = ("-std=c++17",)
#: extra options of the sources whose launch wrappers pass any (all others: none)
#: (no fused multiply-adds: sums and products round as in the NumPy twins)
MODULE_OPTIONS = {"contacts.cu": ("--fmad=false",), "motility.cu": ("--fmad=false",)}

_CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "kernels"
_lock = threading.Lock()
_module_cache: dict = {}
_include_dir: Path | None = None
_prebuilt_dirs: list[Path] = []


class KernelSourceError(FileNotFoundError):
    """A CUDA source file cannot be found in the package or the checkout."""


def _package_dir():
    """``spatialtumor/kernels`` inside the installed package (a Traversable), or None."""
    try:
        d = resources.files("spatialtumor").joinpath("kernels")
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - package always importable
        return None
    return d if d.is_dir() else None


def kernel_dir():
    """The folder holding the CUDA sources: the installed package's, else the checkout's.

    Returns
    -------
    importlib.resources.abc.Traversable or pathlib.Path
    """
    pkg = _package_dir()
    if pkg is not None:
        return pkg
    if _CHECKOUT_DIR.is_dir():
        return _CHECKOUT_DIR
    raise KernelSourceError(
        "CUDA sources not found: neither the installed package folder spatialtumor/kernels "
        f"nor the checkout folder {_CHECKOUT_DIR} exists"
    )


def list_sources(suffix: str = ".cu") -> list[str]:
    """Names of the source files with ``suffix`` (``.cu`` or ``.cuh``), sorted."""
    return sorted(p.name for p in kernel_dir().iterdir() if p.name.endswith(suffix))


def read_source(filename: str) -> str:
    """Text of one source file, e.g. ``read_source("diffusion.cu")``."""
    p = kernel_dir().joinpath(filename)
    if not p.is_file():
        raise KernelSourceError(f"CUDA source {filename!r} not found in {kernel_dir()}")
    return p.read_text(encoding="utf-8")


def headers_digest() -> str:
    """SHA-256 of all headers (``*.cuh``), so a header change also changes the cache key."""
    h = hashlib.sha256()
    for name in list_sources(".cuh"):
        h.update(name.encode())
        h.update(read_source(name).encode())
    return h.hexdigest()


def include_dir() -> Path:
    """A real folder holding the headers, for NVRTC's ``-I`` option.

    The source folder itself when it is on the file system; otherwise (a zipped install)
    the sources are copied once into a temporary folder.
    """
    global _include_dir
    d = kernel_dir()
    if isinstance(d, Path):
        return d
    with _lock:
        if _include_dir is None:
            tmp = Path(tempfile.mkdtemp(prefix="spatialtumor-kernels-"))
            for name in list_sources(".cuh") + list_sources(".cu"):
                (tmp / name).write_text(read_source(name), encoding="utf-8")
            _include_dir = tmp
        return _include_dir


def compile_options(options=()) -> tuple[str, ...]:
    """Full NVRTC option tuple: :data:`BASE_OPTIONS`, the include folder, then ``options``."""
    return BASE_OPTIONS + (f"-I{include_dir()}",) + tuple(options)


def prebuilt_name(filename: str, options=(), arch: str = "sm_90") -> str:
    """File name of the module compiled ahead of time from ``filename`` with ``options`` for
    ``arch`` (``"sm_80"``, ``"sm_90"``): ``<stem>-<digest>-<arch>.cubin``, where the digest
    covers the source text, every header, the options and the architecture, so a module
    made from other sources never matches."""
    h = hashlib.sha256()
    for part in (read_source(filename), headers_digest(), "\0".join(options), arch):
        h.update(part.encode())
        h.update(b"\0")
    return f"{Path(filename).stem}-{h.hexdigest()[:20]}-{arch}.cubin"


def use_prebuilt(folder) -> None:
    """Look for modules compiled ahead of time in ``folder`` before compiling (see
    :func:`prebuilt_name`); ``None`` forgets every registered folder."""
    with _lock:
        if folder is None:
            _prebuilt_dirs.clear()
        elif Path(folder) not in _prebuilt_dirs:
            _prebuilt_dirs.append(Path(folder))
        _module_cache.clear()


def find_prebuilt(filename: str, options=(), arch: str = "sm_90") -> Path | None:
    """The registered prebuilt module for (source, options, arch), or None."""
    if not _prebuilt_dirs:
        return None
    name = prebuilt_name(filename, options, arch)
    for d in _prebuilt_dirs:
        if (d / name).is_file():
            return d / name
    return None


def _device_arch(cupy) -> str | None:
    try:
        return f"sm_{cupy.cuda.Device().compute_capability}"
    except Exception:  # a device without the attribute (stand-ins in tests)
        return None


def load_raw_module(filename: str, options=()):
    """Compile one ``.cu`` file as a ``cupy.RawModule``, cached per (file, options, device).

    Parameters
    ----------
    filename : name inside the kernel folder, e.g. ``"diffusion.cu"``
    options : extra NVRTC options (``-std=c++17`` and ``-I<kernel folder>`` are always given)

    Notes
    -----
    CuPy's own on-disk cache keys on the source text and the options but not on included
    headers, so the headers' digest is appended to the source as a comment.
    """
    import cupy

    device = cupy.cuda.Device().id
    key = (filename, tuple(options), device)
    with _lock:
        mod = _module_cache.get(key)
    if mod is not None:
        return mod
    arch = _device_arch(cupy) if _prebuilt_dirs else None
    path = find_prebuilt(filename, options, arch) if arch else None
    if path is not None:
        mod = cupy.RawModule(path=str(path))
    else:
        code = read_source(filename) + f"\n// spatialtumor headers sha256 {headers_digest()}\n"
        mod = cupy.RawModule(code=code, options=compile_options(options))
        mod.compile()  # compile now, on this device: errors surface here, not at first launch
    with _lock:
        _module_cache.setdefault(key, mod)
        return _module_cache[key]


def clear_cache() -> None:
    """Forget compiled modules and any temporary include folder (tests, reloading sources)."""
    global _include_dir
    with _lock:
        _module_cache.clear()
        if _include_dir is not None:
            shutil.rmtree(_include_dir, ignore_errors=True)
            _include_dir = None
