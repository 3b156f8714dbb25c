"""Input fuzzing through the command line: mutated scenario files, ``--set`` values and options.

Every case is run with click's CliRunner and must end with exit code 0 (accepted) or 2
(refused with one ``error:`` line on stderr): never a traceback, never a hang. A scenario
that ``validate`` accepts and that is small enough is also run for one diffusion step,
which must start (exit 0, or 4 when the blow-up check stops it), never refuse it.

Used by ``tests/test_fuzz.py`` (seeded, bounded) and ``tests/fuzz_long.py`` (thousands).
"""

from __future__ import annotations

import random
import signal
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from spatialtumor.cli import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))

#: values that break things: extremes, non-finite, wrong types, odd text, nesting
VALUES = [
    "1e308", "-1e308", "5e-324", "1e400", "inf", "-inf", "nan", "+nan", "0", "-0.0", "-1",
    "1e15", "1.0000001e15", "1e16", "99999999999999999999", "-99999999999999999999",
    "9223372036854775807", "9223372036854775808", "0.5", "1.5", "2", "3.0", "1e-300",
    "true", "false", '"text"', '""', "[]", "{}", "[1, 2, 3]", "[[1], [2]]", "[1.0, 2.0]",
    "[0.0, 0.0, 0.0]", "[1e308, 0.0, 0.0]", "[nan, 1, 1]", "{ a = 1 }", "{ x_min = 1.0 }",
    "[", "]", "{", '"unterminated', "1979-05-27", "0x10", "0o17", "0b11", "1_000",
    "'literal'", '"\\u0000"', '"\\ud800"', "é", "🙂", "zero_flux", '"zero_flux"', '"lod"',
    '"explicit"', '"sphere"', '"csv"', '"box"', '"shell"', '"tumour"', '"cd8"', '"inert"',
    '["tumour"]', '["vessels"]', '["x_min", "y_max"]', "x" * 300, "[" * 40 + "]" * 40,
    "[" * 3000 + "]" * 3000, "{ a = " * 50 + "1" + " }" * 50,
]  # fmt: skip
KEYS_EXTRA = [
    "", ".", "a..b", "run..stop", "grid.nx.deep", "fields", "fields.oxygen", "cells",
    "cells.kinds", "cells.initial", "cells.initial.9", "cells.initial.-1", "sources.0",
    "nonexistent.key", "run.stopp", "a." * 40 + "b", "blowup.every", "blowup.limit",
    "blowup.check", "output.every", "run.seed", "vessels.0.fraction",
]  # fmt: skip
OPTION_VALUES = [
    "inf", "-inf", "nan", "-5", "0", "1e308", "1e-320", "abc", "", "1e15", "0.02",
    "99999999999999999999", "-1", "1.5", "9223372036854775807", "9223372036854775808",
]  # fmt: skip


@dataclass
class Case:
    """One command line, with the files it needs (name → bytes) in a fresh folder."""

    kind: str
    args: list[str]
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Outcome:
    case: Case
    exit_code: int
    stderr: str
    problem: str | None  # None: the contract held


class Hang(BaseException):
    """Raised by the alarm (a BaseException, so CliRunner does not swallow it)."""


@contextmanager
def deadline(seconds: float):
    if not hasattr(signal, "SIGALRM"):  # pragma: no cover - not POSIX
        yield
        return

    def _fire(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- generating cases ----------------------------------------------------------------------


def _leaf_keys(tree, prefix="") -> list[str]:
    out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _leaf_keys(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(tree, list) and tree and isinstance(tree[0], dict):
        for i, v in enumerate(tree):
            out += _leaf_keys(v, f"{prefix}.{i}")
    else:
        out.append(prefix)
    return out


def mutate_text(rng: random.Random, text: str) -> bytes:
    """One random mutation of a scenario file (bytes, encoding, lines, tokens, nesting)."""
    data = text.encode("utf-8")
    lines = text.splitlines(keepends=True)
    how = rng.randrange(16)
    if how == 0:  # flip bytes
        b = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if how == 1:  # insert random bytes
        at = rng.randrange(len(data))
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[at:]
    if how == 2:  # delete a range
        at = rng.randrange(len(data))
        return data[:at] + data[at + rng.randint(1, 200) :]
    if how == 3:  # truncate
        return data[: rng.randrange(len(data))]
    if how == 4:  # another encoding
        enc = rng.choice(["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252"])
        return (text + "\n# µm²\n").encode(enc, errors="replace")
    if how == 5:  # binary
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 4000)))
    if how == 6:  # duplicate, delete or swap lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        op = rng.randrange(3)
        if op == 0:
            lines.insert(j, lines[i])
        elif op == 1:
            del lines[i]
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines).encode("utf-8")
    if how == 7:  # deep nesting
        depth = rng.choice([33, 40, 600, 2000])
        opener, closer = rng.choice([("[", "]"), ("{ a = ", " }")])
        value = opener * depth + "1" + closer * depth
        return (text + f"\nzz = {value}\n").encode("utf-8")
    if how == 8:  # dotted key nesting
        return (text + "\n" + ".".join(["k"] * rng.choice([33, 500])) + " = 1\n").encode()
    if how == 9:  # BOM, NUL, CR
        return rng.choice([b"\xef\xbb\xbf", b"\x00", b"\r"]) + data
    # token mutations on a line holding "key = value"
    candidates = [i for i, ln in enumerate(lines) if "=" in ln and not ln.lstrip().startswith("#")]
    if not candidates:
        return data
    i = rng.choice(candidates)
    key, _, value = lines[i].partition("=")
    if how in (10, 11, 12):  # replace the value
        lines[i] = f"{key}= {rng.choice(VALUES)}\n"
    elif how == 13:  # misspell the key
        k = key.strip()
        if k:
            pos = rng.randrange(len(k))
            k = k[:pos] + rng.choice("abcxyz_.") + k[pos + 1 :]
        lines[i] = f"{k} = {value.strip()}\n"
    elif how == 14:  # scale a number
        try:
            num = float(value.split("#")[0])
        except ValueError:
            num = 1.0
        lines[i] = f"{key}= {num * rng.choice([1e10, 1e300, -1, 0, 1e-10, 7.3])!r}\n"
    else:  # drop a table header
        headers = [j for j, ln in enumerate(lines) if ln.startswith("[")]
        if headers:
            del lines[rng.choice(headers)]
    return "".join(lines).encode("utf-8", errors="surrogateescape")


def scenario_cases(rng: random.Random, n: int) -> list[Case]:
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SHIPPED}
    out = []
    for _ in range(n):
        name = rng.choice(sorted(texts))
        out.append(Case(f"file:{name}", ["validate", "s.toml", "--quiet"], {"s.toml": b""}))
        out[-1].files["s.toml"] = mutate_text(rng, texts[name])
    return out


def set_cases(rng: random.Random, n: int) -> list[Case]:
    keys = {}
    for p in SHIPPED:
        keys[p.stem] = _leaf_keys(tomllib.loads(p.read_text(encoding="utf-8")))
    out = []
    for _ in range(n):
        name = rng.choice(sorted(keys))
        if rng.random() < 0.8:
            key = rng.choice(keys[name])
            parts = key.split(".")
            if rng.random() < 0.2:  # a table rather than a leaf
                key = ".".join(parts[: rng.randint(1, len(parts))])
        else:
            key = rng.choice(KEYS_EXTRA)
        value = rng.choice(VALUES)
        args = ["validate", name, "--quiet", "--set", f"{key}={value}"]
        if rng.random() < 0.1:
            args += ["--set", rng.choice(["noequals", "=1", "x=", " = "])]
        out.append(Case(f"set:{name}", args))
    return out


def option_cases(rng: random.Random, n: int) -> list[Case]:
    out = []
    for _ in range(n):
        opt = rng.choice(["--stop", "--seed", "--stop", "--seed", "--precision", "--backend"])
        value = rng.choice(OPTION_VALUES + ["float16", "cuda", "auto"])
        args = ["run", "diffusion", "--out", "r", "--quiet", "--backend", "numpy", opt, value]
        if opt != "--stop":
            args += ["--stop", "0.04"]  # two steps when the options are good
        if rng.random() < 0.2:
            args.append(rng.choice(["--stopp", "--set", "extra", "--resume"]))
        out.append(Case(f"option:{opt}", args))
    return out


def all_cases(seed: int, n_files: int, n_sets: int, n_options: int) -> list[Case]:
    rng = random.Random(seed)
    return scenario_cases(rng, n_files) + set_cases(rng, n_sets) + option_cases(rng, n_options)


# --- running them --------------------------------------------------------------------------


def contract(exit_code: int, stderr: str, exception, allowed=(0, 2)) -> str | None:
    """None when the one-line / exit-code contract held, else what broke."""
    if exception is not None and not isinstance(exception, SystemExit):
        return f"exception {type(exception).__name__}: {exception}"
    if "Traceback" in stderr:
        return "traceback on stderr"
    if exit_code not in allowed:
        return f"exit code {exit_code}"
    if exit_code != 0:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"stderr is not one 'error:' line: {stderr[:500]!r}"
    return None


def run_case(case: Case, folder: Path, timeout: float = 20.0) -> Outcome:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    args = [str(folder / a) if a in case.files or a == "r" else a for a in case.args]
    runner = CliRunner()
    try:
        with deadline(timeout):
            res = runner.invoke(cli, args, catch_exceptions=True)
    except Hang:
        return Outcome(case, -1, "", f"no answer within {timeout:g} s")
    allowed = (0, 2, 4) if case.args[0] == "run" else (0, 2)
    problem = contract(res.exit_code, res.stderr, res.exception, allowed)
    if problem is None and case.args[0] == "run" and (folder / "r").exists() and res.exit_code:
        problem = "a refused run wrote its folder"
    return Outcome(case, res.exit_code, res.stderr, problem)


def small_enough(path: Path) -> bool:
    """Whether an accepted scenario is cheap to run for one step (for the run follow-up)."""
    from spatialtumor.scenario import load_scenario

    try:
        spec = load_scenario(path).spec
    except Exception:  # noqa: BLE001 - only accepted files get here
        return False
    cells = 0
    if spec.cells is not None:
        cells = sum(p.count for p in spec.cells.initial)
        if any(p.shape == "sphere" and p.radius > 150 for p in spec.cells.initial):
            return False
    return spec.grid.voxels * max(len(spec.fields), 1) <= 200_000 and cells <= 5_000


def follow_up_run(case: Case, folder: Path, timeout: float = 30.0) -> Outcome:
    """Run an accepted scenario file for one diffusion step: it must start."""
    from spatialtumor.scenario import load_scenario

    scn = folder / "s.toml"
    dt = load_scenario(scn).spec.clock.dt_diffusion
    args = ["run", str(scn), "--backend", "numpy", "--quiet", "--stop", repr(dt)]
    args += ["--out", str(folder / "run")]
    try:
        with deadline(timeout):
            res = CliRunner().invoke(cli, args, catch_exceptions=True)
    except Hang:
        return Outcome(case, -1, "", f"run: no answer within {timeout:g} s")
    problem = contract(res.exit_code, res.stderr, res.exception, allowed=(0, 4))
    if problem is not None:
        problem = f"validate accepted it, but run: {problem}"
    return Outcome(case, res.exit_code, res.stderr, problem)


def fuzz(cases: list[Case], workdir: Path, runs: int = 0, timeout: float = 20.0):
    """Run every case; returns (outcomes, counts) with up to ``runs`` follow-up runs."""
    outcomes: list[Outcome] = []
    counts: Counter = Counter()
    done_runs = 0
    for i, case in enumerate(cases):
        folder = workdir / f"c{i:05d}"
        out = run_case(case, folder, timeout)
        outcomes.append(out)
        counts["inputs"] += 1
        counts["accepted" if out.exit_code == 0 else "rejected" if out.exit_code == 2 else
               "other"] += 1  # fmt: skip
        if out.problem is not None:
            counts["broken"] += 1
            continue
        if (
            done_runs < runs
            and out.exit_code == 0
            and case.kind.startswith("file:")
            and small_enough(folder / "s.toml")
        ):
            done_runs += 1
            follow = follow_up_run(case, folder)
            counts["runs"] += 1
            counts[f"run exit {follow.exit_code}"] += 1
            if follow.problem is not None:
                counts["broken"] += 1
                outcomes.append(follow)
    return outcomes, counts
