"""Progress over a study's members: one bar on a terminal, a status line in batch logs."""

from __future__ import annotations

import sys
import time

import click

from .runner import Outcome


class MemberProgress:
    """Call with each member's :class:`Outcome`; ``finish()`` at the end.

    On a terminal: one click progress bar over the members. Otherwise (batch logs): a line
    every 10 % of the members or 30 s. A failure is always printed at once, on stderr.
    """

    def __init__(self, total: int, label: str = "members", quiet: bool = False):
        self.total, self.done, self.failed = total, 0, 0
        self.quiet = quiet
        self.start = self.last = time.perf_counter()
        self.last_fraction = 0.0
        self.bar = None
        if not quiet and sys.stderr.isatty() and total:
            self.bar = click.progressbar(
                length=total, label=label, file=sys.stderr, show_eta=True, show_pos=True
            )
            self.bar.__enter__()

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        if outcome.status == "failed":
            self.failed += 1
            if not self.quiet:
                click.echo(f"\nmember {outcome.id} failed: {outcome.error}", err=True)
        if self.bar is not None:
            self.bar.update(1)
            return
        if self.quiet:
            return
        now = time.perf_counter()
        fraction = self.done / max(self.total, 1)
        if fraction - self.last_fraction >= 0.1 or now - self.last >= 30 or self.done == self.total:
            self.last, self.last_fraction = now, fraction
            click.echo(
                f"[{now - self.start:8.1f} s] {self.done}/{self.total} members finished"
                f" ({self.failed} failed)",
                err=True,
            )

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
