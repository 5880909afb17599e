"""The HTML page: the packaged template, stylesheet and script, with the page's index embedded as JSON.

Everything the page needs is in the file or beside it under OUT/html/; it loads nothing from a network,
and its Content-Security-Policy says so to the browser: no connections, the one inline script allowed
by its hash, the data chunks (html/data/*.js) and pictures only from files next to the page, the font
only from the page itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib import resources
from typing import Any

from segkit.redact import redact_secrets

STATIC = "static"


def _static(name: str) -> str:
    return resources.files("segkit.html_report").joinpath(STATIC, name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a <script type="application/json"> element (``escape_for_script``)."""
    return escape_for_script(json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")))


def escape_for_script(text: str) -> str:
    """JSON text made safe inside a script element or a script file.

    Every '<', '>' and '&' becomes a \\u escape (so no '</script>' or '<!--' from a label can end or
    bend the element), and so do U+2028 / U+2029; JSON.parse and JavaScript read the escapes back as the
    characters. (Inside JSON strings only: outside them JSON has none of these characters.)
    """
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        if char in text:  # a quick scan first: most chunks (masks, numbers) hold none of them
            text = text.replace(char, escape)
    return text


def chunk_script(callback: str, number: int, data: str) -> str:
    """A data chunk as a script file: ``callback(number, JSON.parse('...'))``.

    A string for JSON.parse, not an object literal: V8 parses JSON faster than a literal of the same data,
    and keeps no literal template of it (with 100 chunks, about 15 % less memory). The JSON is made safe
    as for the page (``escape_for_script``), then quoted.
    """
    quoted = escape_for_script(redact_secrets(data)).replace("\\", "\\\\").replace("'", "\\'")  # no key reaches a file
    return f"{callback}({int(number)},JSON.parse('{quoted}'));\n"


def content_security_policy(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return "; ".join((
        "default-src 'none'",
        # The inline script by its hash; the data chunks are script files beside the page (file: when
        # opened from disk, 'self' when served): the page fetches nothing, it adds script elements.
        f"script-src 'sha256-{digest}' 'self' file:",
        "style-src 'unsafe-inline'",  # matplotlib's SVG and the page style elements by attribute
        "img-src 'self' file: data:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ))


def font_face(woff: bytes | None) -> str:
    """An @font-face rule for the page's cut-down CJK font, used after the reader's own fonts."""
    if not woff:
        return ""
    encoded = base64.b64encode(woff).decode("ascii")
    return f'@font-face{{font-family:"segkit-cjk";src:url(data:font/woff;base64,{encoded}) format("woff");}}'


def render_page(title: str, data: str, font: bytes | None = None) -> str:
    """The page, ``data`` being its index as JSON text already made safe (``escape_for_script``)."""
    script = _static("report.js")
    page = _static("report.html")
    parts = {
        "%%CSP%%": html.escape(content_security_policy(script), quote=False),  # no '"' in it: quotes kept readable
        "%%TITLE%%": html.escape(title, quote=True),
        "%%STYLE%%": font_face(font) + _static("report.css"),
        "%%DATA%%": data,
        "%%SCRIPT%%": script,
    }
    missing = [m for m in parts if page.count(m) != 1]
    if missing:
        raise ValueError(f"page template must hold each of {', '.join(missing)} once")
    # One pass over the template: text put in (a label that reads '%%SCRIPT%%') is never searched again.
    page = re.sub("|".join(map(re.escape, parts)), lambda m: parts[m.group(0)], page)
    return redact_secrets(page)  # a key echoed into a label never reaches the page
