"""Bad input is refused in one line naming the key, with exit code 2."""

from __future__ import annotations

from click.testing import CliRunner

from spatialtumor.cli import cli


def assert_refused(scenario, *settings: str, key: str, words: str) -> None:
    """``spatialtumor validate SCENARIO --set ...`` exits 2 with one line holding ``key``
    and ``words``."""
    args = ["validate", str(scenario)]
    for s in settings:
        args += ["--set", s]
    r = CliRunner().invoke(cli, [*args, "--quiet"])
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and key in line and words in line, line
