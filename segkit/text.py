"""Text that came from input (labels, file names, fields, plugin messages), made safe to show.

Everything a detection file, a file name or a plugin says is data. On a terminal it must neither be
parsed as rich markup (a label ``[/]`` raises, ``[bold red]x`` renders bold: print it as ``rich.text.Text``,
never inside a markup string) nor act as terminal control (ESC and OSC sequences change the window title
or the colours, CR rewrites the line, bidi overrides reorder it). ``for_terminal`` shows such characters
as visible escapes (``\\x1b``, ``\\n``, ``\\u202e``). JSON files keep the original text: apply it only where
text is shown.

``preview`` bounds how much of a bad value goes into an error message. ``without_surrogates`` keeps text
that JSON allowed but UTF-8 cannot hold (a lone surrogate, ``"a\\ud800b"``) as data: U+FFFD in its place.
"""

from __future__ import annotations

import json
import re
import reprlib
from typing import Any

from segkit.redact import redact_secrets

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Characters that reorder or split a line without being control characters (category Cc): bidi
# embeddings, overrides and isolates, the directional marks, and the Unicode line/paragraph separators.
_INVISIBLE_LAYOUT = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0x2028, 0x2029]


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# C0 (incl. ESC, BEL, CR, LF, TAB), DEL and C1 (incl. CSI 0x9b, OSC 0x9d): every Unicode "Cc" character.
_TERMINAL_TABLE = {code: _escape(code) for code in [*range(0x00, 0x20), *range(0x7F, 0xA0), *_INVISIBLE_LAYOUT]}


def for_terminal(text: Any) -> str:
    """``text`` on one line with every control or layout character shown as a visible escape, and every
    registered secret masked (a key echoed into a label or a message never reaches the terminal)."""
    return redact_secrets(str(text)).translate(_TERMINAL_TABLE)


def json_for_terminal(data: Any, indent: int | None = 2) -> str:
    """JSON for stdout: the same data, with control and layout characters written as ``\\uXXXX`` escapes.

    ``json.dumps`` escapes C0 itself but writes C1 and bidi characters raw when ``ensure_ascii`` is off.
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)
    return redact_secrets(text).translate(_JSON_TABLE)


_JSON_TABLE = {code: f"\\u{code:04x}" for code in [*range(0x7F, 0xA0), *_INVISIBLE_LAYOUT]}

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlong = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3


def preview(value: Any, limit: int = 120) -> str:
    """A short repr of ``value`` for an error message: long strings, numbers and containers are elided."""
    return shorten(_REPR.repr(value), limit)  # reprlib also survives a __repr__ that raises


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads pairs the valid ones: what is left is alone
REPLACEMENT = "\ufffd"


def without_surrogates(value: Any, depth: int = 0) -> Any:
    """``value`` with every lone surrogate in its strings (keys included) replaced by U+FFFD; the same
    object when it has none. JSON may spell one (``"\\ud800"``), UTF-8 cannot encode it: left in, it
    fails the first file it is written to. Nesting beyond 64 levels is left as it is."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub(REPLACEMENT, value) if _LONE_SURROGATE.search(value) else value
    if depth > 64:
        return value
    if isinstance(value, dict):
        items = [(without_surrogates(k, depth + 1), without_surrogates(v, depth + 1)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items())):
            return value
        return dict(items)
    if isinstance(value, list):
        items = [without_surrogates(v, depth + 1) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    return value
