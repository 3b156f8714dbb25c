"""Results of NumPy runs computed ahead of time, for the GPU tests that compare with them.

A GPU test comparing a CuPy run with a NumPy run spends most of its time on the NumPy half.
``benchmarks/gpu_prepare.py`` computes those halves on any machine and writes them
to a folder; ``pytest --prepared FOLDER`` then reads them instead of recomputing. A stored
result is used only when its key (the test's own description of the run) and the digest of
everything the NumPy run depends on (the package's Python sources, the scenarios, the test
helpers, the NumPy version) both match; otherwise the run is computed as usual.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: the folder given by ``pytest --prepared`` (set by conftest), or None
FOLDER: Path | None = None
#: what a NumPy reference run depends on (relative to the repository root)
INPUTS = (
    "spatialtumor/**/*.py",
    "scenarios/**/*.toml",
    "tests/regression/*.py",
    "tests/physics/_*.py",
)


def code_digest() -> str:
    """SHA-256 of the sources a NumPy run depends on, and the NumPy version."""
    h = hashlib.sha256(np.__version__.encode())
    for pattern in INPUTS:
        for p in sorted(ROOT.glob(pattern)):
            h.update(p.relative_to(ROOT).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _file(folder: Path, key: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")[:80]
    return folder / "reference" / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def numpy_result(key: str, compute):
    """``compute()`` (a JSON-able value), or its stored value from the prepared folder."""
    if FOLDER is not None:
        path = _file(FOLDER, key)
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("key") == key and data.get("digest") == code_digest():
                return data["value"]
    return compute()


def store(folder, key: str, value) -> Path:
    """Write one result (``benchmarks/gpu_prepare.py``)."""
    path = _file(Path(folder), key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "digest": code_digest(), "value": value}))
    return path
