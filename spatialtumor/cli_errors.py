"""How the command line fails: one line on stderr, ``error: <where>: <what>``, and an exit code.

Exit codes (also in ``docs/FORMAT.md``):

* 0 — done;
* 1 — an unexpected failure (a bug: please report it with its traceback);
* 2 — bad input: a scenario, an option, a ``--set`` value or a checkpoint that cannot be
  used; nothing was written (click's own usage errors also exit 2, in the same form);
* 3 — an output file could not be written (disk full, permissions, I/O error): the line
  names the file and the errno; every snapshot and checkpoint completed before stays
  readable, the partial file is removed;
* 4 — the run stopped because a field or a cell column blew up (non-finite or beyond
  ``blowup.limit``): the line names the step, the time, the field or column and the value,
  after a diagnostic snapshot was written.
"""

from __future__ import annotations

import errno as errno_codes
import math
import os
import re

import click

EXIT_BAD_INPUT = 2
EXIT_OUTPUT = 3
EXIT_BLOWUP = 4


#: set on every MPI rank but rank 0 of a parallel run: errors every rank meets alike are
#: printed once, by rank 0
SILENT = False


class BadInput(click.ClickException):
    """A user error: one line on stderr, exit code 2, no traceback."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None, force: bool = False):
        if SILENT and not force:
            return
        click.echo(f"error: {_one_line(self.message)}", err=True)


class OutputFailed(BadInput):
    """An output file could not be written: exit code 3."""

    exit_code = EXIT_OUTPUT


class RunStopped(BadInput):
    """The blow-up check stopped the run: exit code 4."""

    exit_code = EXIT_BLOWUP


class OneLineGroup(click.Group):
    """A click group whose usage errors (and its subcommands') are one ``error:`` line."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise BadInput(usage_line(exc)) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise BadInput(usage_line(exc)) from None


def usage_line(exc: click.UsageError) -> str:
    """``<where>: <what>`` of a click usage error (``--stop: 'x' is not a valid float``)."""
    ctx = exc.ctx
    command = ctx.command_path if ctx is not None else "spatialtumor"
    if isinstance(exc, click.MissingParameter):
        param = exc.param
        where = _param_name(param) if param is not None else command
        kind = exc.param_type or (param.param_type_name if param is not None else "parameter")
        return f"{where}: missing {kind} (see '{command} --help')"
    if isinstance(exc, click.BadParameter):
        param = exc.param
        where = _param_name(param) if param is not None else str(exc.param_hint or command)
        return f"{where}: {_sentence(exc.message)}"
    if isinstance(exc, click.NoSuchOption):
        hint = f"; did you mean {', '.join(exc.possibilities)}?" if exc.possibilities else ""
        return f"{exc.option_name}: no such option of '{command}'{hint}"
    if isinstance(exc, click.BadOptionUsage):
        return f"{exc.option_name}: {_sentence(exc.message)}"
    return f"{command}: {_sentence(exc.format_message())} (see '{command} --help')"


def _param_name(param) -> str:
    opts = getattr(param, "opts", None)
    if isinstance(param, click.Option) and opts:
        return max(opts, key=len)
    return param.human_readable_name


def _sentence(text: str) -> str:
    return _one_line(text).rstrip(".")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class Minutes(click.ParamType):
    """A simulated duration [min]: a finite number > 0."""

    name = "MINUTES"

    def convert(self, value, param, ctx):
        try:
            minutes = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of minutes", param, ctx)
        if not (math.isfinite(minutes) and minutes > 0):
            self.fail(f"must be a finite number of minutes > 0, got {value!r}", param, ctx)
        return minutes


class Seed(click.ParamType):
    """A random seed: an integer in 0 … 2⁶³ − 1 (as ``run.seed``)."""

    name = "SEED"

    def convert(self, value, param, ctx):
        from .limits import MAX_SEED

        if isinstance(value, int) and not isinstance(value, bool):
            seed = value
        else:
            try:
                seed = int(str(value).strip(), 10)
            except ValueError:
                self.fail(f"{value!r} is not an integer", param, ctx)
        if not 0 <= seed <= MAX_SEED:
            self.fail(f"must be in 0..{MAX_SEED}, got {seed}", param, ctx)
        return seed


def check_out_folder(path: os.PathLike) -> None:
    """Refuse a ``--out`` folder that is not empty, or that cannot be created (writes nothing)."""
    from pathlib import Path

    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise BadInput(f"--out: {p} is a file, not a folder")
        if any(p.iterdir()):
            raise BadInput(f"--out: run folder {p} exists and is not empty; choose another --out")
        if not os.access(p, os.W_OK | os.X_OK):
            raise BadInput(f"--out: {p}: cannot write there (permission denied)")
        return
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"--out: cannot create {p}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"--out: cannot create {p}: no permission to write in {parent}")


_H5_ERRNO = re.compile(r"errno = (\d+)")
_H5_FILE = re.compile(r"filename = '([^']*)'")


def output_error_line(exc: OSError) -> str:
    """``<file>: cannot write: <strerror> (errno N, NAME)`` of an I/O error during a run.

    h5py reports the C library's errno inside its message; Python's own errors carry it.
    """
    text = str(exc)
    code = exc.errno
    if code is None:
        m = _H5_ERRNO.search(text)
        code = int(m.group(1)) if m else None
    name = exc.filename
    if name is None:
        m = _H5_FILE.search(text)
        name = m.group(1) if m else None
    if code:
        what = f"{os.strerror(code)} (errno {code}, {errno_codes.errorcode.get(code, '?')})"
    else:
        what = _one_line(text.split("(")[0]) or type(exc).__name__
    where = str(name) if name is not None else "output"
    return f"{where}: cannot write: {what}"
