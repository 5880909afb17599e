"""segkit.text: input-derived text made safe for the terminal and rich; bounded previews of bad values."""

import io
import json

from rich.console import Console

from segkit.cli.app import safe_line
from segkit.redact import redact
from segkit.text import for_terminal, json_for_terminal, preview

HOSTILE = "a\x1b]0;pwned\x07b\x1b[31mred\rc\nd\te\x9bf\u202eg\u2028h\x7f"


def test_control_and_layout_characters_are_shown_as_escapes():
    shown = for_terminal(HOSTILE)
    assert shown == "a\\x1b]0;pwned\\x07b\\x1b[31mred\\rc\\nd\\te\\x9bf\\u202eg\\u2028h\\x7f"
    assert all(c.isprintable() for c in shown)


def test_ordinary_text_is_unchanged():
    for text in ("りんご", "photo 1.jpg", "a/b\\c", "emoji 🍎", "Ünïcödé"):
        assert for_terminal(text) == text


def printed(*messages) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    for message in messages:
        console.print(safe_line(message, "warning:", "yellow"), soft_wrap=True)
    return out.getvalue()


def test_markup_in_labels_is_printed_literally():
    text = printed("label [/]", "label [bold red]x", "label [link=http://evil]y[/link]", "label :warning: a\\")
    assert "label [/]" in text and "label [bold red]x" in text and "[link=http://evil]y[/link]" in text
    assert "\x1b]8;" not in text and ":warning: a\\" in text  # no hyperlink, no emoji


def test_nothing_of_a_hostile_message_reaches_the_terminal_raw():
    text = printed(HOSTILE)
    assert "\x1b]0;" not in text and "\x07" not in text and "\x9b" not in text
    assert "\u202e" not in text and "\r" not in text and text.count("\n") == 1
    assert "\\x1b]0;pwned\\x07b" in text


def test_json_for_the_terminal_escapes_c1_and_bidi_and_keeps_the_data():
    data = {"label": HOSTILE, "name": "りんご"}
    text = json_for_terminal(data)
    assert json.loads(text) == data
    assert not any(c in text for c in "\x1b\x07\x9b\u202e\u2028\r")
    assert "りんご" in text  # not \u escaped


def test_preview_bounds_any_value():
    assert preview([0, 0]) == "[0, 0]"
    assert preview("high") == "'high'"
    assert len(preview("x" * 1_000_000)) <= 120
    assert len(preview([list(range(1000))] * 1000)) <= 120
    assert len(preview({str(i): "y" * 500 for i in range(100)})) <= 120

    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no")

    assert preview(BadRepr()).startswith("<BadRepr instance")


def test_url_credentials_are_masked():
    assert redact("https://user:s3cret@host.example/v1?api_key=abc123") == "https://user:***@host.example/v1?api_key=***"
    assert redact("http://tokenonly@localhost:9001/x") == "http://***@localhost:9001/x"
    assert redact("connect to https://serverless.roboflow.com failed") == "connect to https://serverless.roboflow.com failed"
    assert redact("?password=pw&design=2&monkey=3") == "?password=***&design=2&monkey=3"
