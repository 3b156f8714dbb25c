"""Reading what users give: bytes → text → TOML, each step checked, each failure one line.

Scenario files, study files, cell CSV files, ``--set`` values and the scenario stored in a
checkpoint are read here, so a binary file, a UTF-16 file, a file of gigabytes or a
2,000-deep array is refused with a one-line :class:`InputError` before anything recursive
(the TOML parser, ``copy.deepcopy``, pydantic) sees it.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: largest scenario or study file [bytes]; shipped scenarios are a few KiB
MAX_TOML_BYTES = 4 * 2**20
#: largest CSV file of initial cells [bytes]
MAX_CSV_BYTES = 2**30
#: largest ``--set`` value [characters]
MAX_VALUE_CHARS = 2**16
#: deepest nesting of tables, arrays and inline tables (shipped scenarios need 6)
MAX_DEPTH = 32

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
# what changes the scanner's state: quotes, comments, brackets, escapes, line ends
_TOKENS = re.compile(r'"""|\'\'\'|["\'#\[\]{}\n\\]')


class InputError(ValueError):
    """Input that cannot be read; ``message`` is one line (without the file name)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def read_bytes(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a file, refused when larger than ``limit``."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except IsADirectoryError:
        raise InputError("is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"larger than {_size(limit)}; is this the right file?")
    return data


def decode_text(data: bytes) -> str:
    """UTF-8 bytes (an optional byte-order mark is dropped) → text, or one line on why not."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise InputError(f"{name} text (byte-order mark {bom.hex(' ')}); save it as UTF-8")
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(f"a binary file (NUL byte at offset {nul}, line {_line(data, nul)})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise InputError(
            f"not UTF-8 text: byte 0x{bad:02x} at offset {exc.start} "
            f"(line {_line(data, exc.start)}); save it as UTF-8"
        ) from None


def read_text(path: str | os.PathLike, limit: int = MAX_TOML_BYTES) -> str:
    """A UTF-8 text file of at most ``limit`` bytes."""
    return decode_text(read_bytes(path, limit))


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """A TOML file: size, encoding and nesting checked before parsing."""
    return parse_toml(read_text(path, MAX_TOML_BYTES))


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text → dict; refuses nesting deeper than :data:`MAX_DEPTH` before parsing."""
    check_text(text)
    depth, pos = bracket_depth(text)
    if depth > MAX_DEPTH:
        raise InputError(
            f"arrays or inline tables nested more than {MAX_DEPTH} deep "
            f"(line {text.count(chr(10), 0, pos) + 1})"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}") from None
    except RecursionError:  # the scan above keeps this out of reach; never a traceback
        raise InputError(f"not valid TOML: nested more than {MAX_DEPTH} deep") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        why = "an integer of too many digits" if "digits" in str(exc) else _first_line(exc)
        raise InputError(f"not valid TOML: {why}") from None
    check_depth(data)
    return data


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML (``0.2``, ``[1, 2]``, ``{ a = 1 }``, ``"x"``), else the text."""
    if len(text) > MAX_VALUE_CHARS:
        raise InputError(f"longer than {MAX_VALUE_CHARS} characters")
    check_text(text)
    try:
        return parse_toml(f"v = {text}")["v"]
    except InputError as exc:
        if exc.message.startswith("not valid TOML"):
            return text
        raise


def check_text(text: str) -> None:
    """Refuse text that cannot be stored as UTF-8 (lone surrogates) or holds NUL."""
    if "\0" in text:
        raise InputError("holds a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"not UTF-8 text (character {exc.start})") from None


def bracket_depth(text: str) -> tuple[int, int]:
    """Deepest nesting of ``[`` and ``{`` outside strings and comments, and where it is.

    Stops counting once past :data:`MAX_DEPTH` (returns the position where it was passed).
    """
    depth = best = best_at = 0
    state = ""  # "" code, "#" comment, '"' / "'" string, '"""' / "'''" multi-line string
    skip = -1  # an escaped character in a basic string
    for m in _TOKENS.finditer(text):
        tok, at = m.group(), m.start()
        if at <= skip:
            continue
        if state == "":
            if tok in ("[", "{"):
                depth += 1
                if depth > best:
                    best, best_at = depth, at
                    if best > MAX_DEPTH:
                        return best, best_at
            elif tok in ("]", "}"):
                depth = max(depth - 1, 0)
            elif tok == "#":
                state = "#"
            elif tok in ('"', "'", '"""', "'''"):
                state = tok
        elif state == "#":
            if tok == "\n":
                state = ""
        elif tok == "\\" and state in ('"', '"""'):
            skip = at + 1
        elif tok == state or (state in ('"', "'") and tok == state * 3):
            state = ""  # a one-line string closed (a tripled quote closes it, then opens "")
        elif tok == "\n" and state in ('"', "'"):
            state = ""  # not valid TOML; the parser will say so
    return best, best_at


def check_depth(data: Any) -> None:
    """Refuse tables and arrays (dotted keys included) nested deeper than :data:`MAX_DEPTH`."""
    stack = [(data, 0, "")]
    while stack:
        node, depth, key = stack.pop()
        if depth > MAX_DEPTH:
            shown = key if len(key) <= 60 else key[:57] + "..."
            raise InputError(f"{shown}: nested more than {MAX_DEPTH} deep")
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1, f"{key}.{k}" if key else str(k)))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1, f"{key}.{i}" if key else str(i)))


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _size(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
