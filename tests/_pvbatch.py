"""Run ParaView's ``pvbatch`` under a virtual X server, one at a time across test workers.

Two ``xvfb-run -a`` started at once can pick the same display and crash each other, so
every call holds an exclusive lock on one file in the temporary directory while it runs.
"""

from __future__ import annotations

import fcntl
import subprocess
import tempfile
import time
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "spatialtumor-tests-pvbatch.lock"


def pvbatch(script, *args, tries: int = 3, timeout: float = 180.0):
    """``xvfb-run -a pvbatch SCRIPT ARGS…``; further tries, a few seconds apart, cover an X
    server that was not ready in time (seen as pvbatch aborting while it probes the
    rendering capabilities on a loaded machine). Returns the last CompletedProcess (text
    output captured)."""
    cmd = ["xvfb-run", "-a", "pvbatch", str(script), *map(str, args)]
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for attempt in range(tries):
                if attempt:
                    time.sleep(3.0 * attempt)
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
                if p.returncode == 0:
                    break
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return p
