"""Reading a chat model's answer as JSON, forgivingly and with bounded work.

Vision-language models answer with JSON, usually inside a Markdown ```json fence, often with prose
around it and trailing commas, and cut off wherever the token limit fell (the closing fence then goes
missing too). ``parse_model_answer`` keeps what can be kept:

* the JSON value inside the first fence (a missing closing fence is fine), else the first bracket in
  the text where a JSON value starts (prose before and after is ignored);
* trailing commas before ``]`` or ``}`` are dropped (outside strings);
* a top-level list that was cut off, or that breaks part-way, keeps every complete item before the
  break; ``ModelAnswer.cut_off`` and ``problem`` say so, for the caller to warn about.

Work is bounded: the answer's length is capped, nesting deeper than ``MAX_DEPTH`` is refused before any
JSON parser sees it (measured with numpy over the text, no recursion), only the first ``MAX_STARTS``
brackets are tried as the start of the JSON, and the standard library's C decoder does the parsing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_ANSWER_CHARS = 2_000_000
MAX_DEPTH = 32
MAX_STARTS = 16  # brackets in prose tried as the start of the JSON

_FENCE_OPEN = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n?")
# A string, or one that never closes (runs to the end): every quote that starts a string matches at once,
# so scanning stays linear even for hostile text full of escaped quotes.
_STRING_BODY = r'"[^"\\]*(?:\\.[^"\\]*)*(?:(?P<close>")|\\?\Z)'
_STRING = re.compile(_STRING_BODY, re.DOTALL)
_STRING_OR_TRAILING_COMMA = re.compile(rf"(?P<string>{_STRING_BODY})|,(?=\s*[\]}}])", re.DOTALL)
_START = re.compile(r"[\[{]")
_LIST_VALUE_STARTS = '{["-0123456789tfn]'

_DECODER = json.JSONDecoder()


class AnswerError(ValueError):
    """An answer with no JSON value that can be read; the message says why and where."""


@dataclass(frozen=True)
class ModelAnswer:
    """A model's answer read as JSON: the value, what was forgiven, and whether items were lost."""

    data: Any
    text: str = ""  # the answer as received
    cut_off: bool = False  # the top-level list broke or ended early: only the complete items before it are in data
    problem: str = ""  # where and how it broke, when cut_off
    repairs: tuple[str, ...] = ()  # what was forgiven on the way ("a missing closing fence", ...)

    @property
    def kept(self) -> int:
        return len(self.data) if isinstance(self.data, list) else 0


@dataclass(frozen=True)
class _Shape:
    depth: int  # deepest nesting outside strings
    open_at_end: bool  # the text ends inside a string or an unclosed bracket: it was cut off


def parse_model_answer(text: str, max_chars: int = MAX_ANSWER_CHARS) -> ModelAnswer:
    """The JSON value in a model's answer; raises AnswerError when there is none to read."""
    if len(text) > max_chars:
        raise AnswerError(f"the answer is {len(text)} characters long, more than the {max_chars} segkit reads")
    body, offset, repairs = _json_region(text)
    cleaned, removed = _drop_trailing_commas(body)
    if removed:
        repairs.append("trailing commas")
    shape = _shape(cleaned)
    if shape.depth > MAX_DEPTH:
        raise AnswerError(f"the JSON is nested {shape.depth} levels deep, more than the {MAX_DEPTH} segkit reads")

    start = _json_start(cleaned)
    if start is None:
        raise AnswerError("the answer holds no JSON list or object")
    try:
        data, end = _DECODER.raw_decode(cleaned, start)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or a number too long to convert
        error_at, error = getattr(exc, "pos", start), _reason(exc)
    else:
        if cleaned[:start].strip() or cleaned[end:].strip():
            repairs.append("text around the JSON")
        return ModelAnswer(data, text, repairs=_unique(repairs))
    if cleaned[start] == "[":  # keep the complete items of a list that broke or was cut off
        items, stop, reason = _complete_items(cleaned, start)
        line, column = _line_column(text, offset + stop)
        if shape.open_at_end:
            problem = f"the answer was cut off (it ends inside the JSON, line {line} column {column})"
        else:
            problem = f"the answer's JSON breaks at line {line} column {column} ({reason})"
        return ModelAnswer(items, text, cut_off=True, problem=problem, repairs=_unique(repairs))
    line, column = _line_column(text, offset + error_at)
    raise AnswerError(f"not valid JSON (line {line}, column {column}: {error})")


def _json_start(body: str) -> int | None:
    """Where the JSON starts: the first of the first MAX_STARTS brackets that a JSON value could start
    with (``[`` then a value or ``]``, ``{`` then a key or ``}``); brackets in prose are passed over."""
    for match, _ in zip(_START.finditer(body), range(MAX_STARTS)):
        start = match.start()
        rest = body[start + 1 : start + 65].lstrip()
        if not rest:
            return start  # cut off right after the bracket
        if rest[0] in (_LIST_VALUE_STARTS if body[start] == "[" else '"}'):
            return start
    return None


def _unique(repairs: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(repairs))


def _json_region(text: str) -> tuple[str, int, list[str]]:
    """(the part of the answer that holds the JSON, its offset in the answer, what was forgiven)."""
    fence = _FENCE_OPEN.search(text)
    if fence is None:
        return text, 0, []
    repairs = []
    start = fence.end()
    close = text.find("```", start)
    if close < 0:
        repairs.append("a missing closing fence")
        close = len(text)
    if text[: fence.start()].strip() or text[close + 3 :].strip():
        repairs.append("text around the JSON")
    return text[start:close], start, repairs


def _drop_trailing_commas(body: str) -> tuple[str, bool]:
    removed = False

    def keep_strings(match: re.Match) -> str:
        nonlocal removed
        if match.group("string") is not None:
            return match.group("string")
        removed = True
        return ""

    return _STRING_OR_TRAILING_COMMA.sub(keep_strings, body), removed


def _shape(body: str) -> _Shape:
    """Nesting depth outside strings, and whether the text ends inside a string or open bracket."""
    ends_in_string = False

    def blank(match: re.Match) -> str:
        nonlocal ends_in_string
        ends_in_string = match.group("close") is None  # only the last string can be open
        return '""'

    skeleton = _STRING.sub(blank, body)
    raw = np.frombuffer(skeleton.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = np.isin(raw, (ord("["), ord("{"))).astype(np.int32) - np.isin(raw, (ord("]"), ord("}"))).astype(np.int32)
    depth = np.cumsum(steps) if len(steps) else np.zeros(1, np.int32)
    return _Shape(int(depth.max(initial=0)), ends_in_string or int(depth[-1]) > 0)


def _complete_items(body: str, start: int) -> tuple[list[Any], int, str]:
    """The items of the list at ``start`` that are complete, where reading stopped, and why."""
    items: list[Any] = []
    pos = start + 1
    end = len(body)
    while True:
        while pos < end and body[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return items, pos, "the text ends"
        try:
            item, pos = _DECODER.raw_decode(body, pos)
        except (ValueError, RecursionError) as exc:
            return items, pos, _reason(exc)
        items.append(item)
        while pos < end and body[pos] in " \t\r\n":
            pos += 1
        if pos < end and body[pos] == ",":
            pos += 1
            continue
        return items, pos, "expected ',' or ']' after an item"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


def _line_column(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
