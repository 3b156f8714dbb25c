"""Crash-safe file replacement: write to a temporary name, fsync, then ``os.replace``.

A reader (or a run killed at any moment) sees either the previous complete file or the new
complete file, never a partial one. Temporary files live in the destination folder (so the
rename never crosses a filesystem) and start with a dot and end in ``.tmp``; they can be
removed with :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_SUFFIX = ".tmp"


def temporary_path(path: str | os.PathLike) -> Path:
    """The temporary name used while ``path`` is being written (same folder, hidden)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}{TMP_SUFFIX}")


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's data and metadata to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (makes a rename durable); ignored where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through; publish it atomically on success.

    The caller writes and *closes* the temporary file inside the ``with`` block. On normal
    exit it is fsynced and renamed over ``path`` (``os.replace``) and the folder is fsynced;
    on an exception it is removed and ``path`` is left untouched.
    """
    dest = Path(path)
    tmp = temporary_path(dest)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, dest)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    fsync_dir(dest.parent)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace the text file ``path`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files left in ``folder`` by a killed run; return what was removed."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX) and p.is_file():
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed
