"""Crash-safe file replacement: write to a temporary name, fsync, then ``os.replace``.

A reader (or a run killed at any moment) sees either the previous complete file or the new
complete file, never a partial one. Temporary files live in the destination folder (so the
rename never crosses a filesystem) and start with a dot and end in ``.tmp``; they can be
removed with :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import errno
import os
import re
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
    on an exception it is removed and ``path`` is left untouched; an OSError (disk full,
    permissions, I/O error) is raised again as one naming ``path`` and its errno.
    """
    dest = Path(path)
    tmp = temporary_path(dest)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, dest)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass  # never written, or gone
        error = write_error(exc, dest)
        if error is not None:
            raise error from exc
        raise
    fsync_dir(dest.parent)


_ERRNO = re.compile(r"errno = (\d+)")


def write_error(exc: BaseException, dest: Path) -> OSError | None:
    """An OSError naming the file that could not be written (``dest``) and its errno.

    HDF5 reports the C library's errno inside h5py's messages rather than in ``errno``, and a
    write that fails often fails again when h5py closes the file (a RuntimeError whose
    context is the OSError): the chain is searched. None when ``exc`` is no I/O error.
    """
    chain, e = [], exc
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    if not any(isinstance(e, OSError) for e in chain):
        if not any(_ERRNO.search(str(e)) for e in chain):
            return None
    code = next((e.errno for e in chain if isinstance(e, OSError) and e.errno), None)
    if code is None:
        found = (_ERRNO.search(str(e)) for e in chain)
        code = next((int(m.group(1)) for m in found if m), None)
    if not code:
        text = " ".join(str(exc).split())[:200]
        return OSError(errno.EIO, f"{os.strerror(errno.EIO)} ({text})", str(dest))
    return OSError(code, os.strerror(code), str(dest))


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
