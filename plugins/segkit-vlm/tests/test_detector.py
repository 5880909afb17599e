"""The vlm detector's options, readiness and settings: cheap, explicit, and never showing the key."""

import re

import pytest

import segkit
from segkit import PER_MILLE, BoxSpace, ConfigError, redact
from segkit_vlm import VlmDetector
from segkit_vlm.options import VlmOptions, resolve_api_key


@pytest.mark.parametrize("given, kept", [
    ("http://localhost:8000/v1/", "http://localhost:8000/v1"),
    ("http://localhost:8000/v1/chat/completions", "http://localhost:8000/v1"),
    ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
])
def test_api_urls(given, kept):
    assert VlmOptions(api_url=given).api_url == kept


@pytest.mark.parametrize("field, value, message", [
    ("api_url", "localhost:8000", "must be an http(s) URL"),
    ("api_url", "http://u:sk-secret@host/v1", "must not carry a query, fragment or credentials"),
    ("api_key_env", "sk-live-0123456789abcdef", "must be the name of an environment variable"),
    ("max_tokens", "0", "greater than or equal to 1"),
    ("concurrency", "65", "less than or equal to 64"),
])
def test_bad_options_are_one_line_that_never_echo_a_key(field, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        segkit.get_detector("vlm", **{field: value})
    assert "sk-" not in redact(str(caught.value))  # what the CLI prints


def test_readiness_needs_a_model_and_says_where_the_key_comes_from(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    readiness = VlmDetector("vlm").check_ready()
    assert not readiness.ready and "pass --model NAME" in readiness.reason
    readiness = VlmDetector("vlm", VlmOptions(model="Qwen/Qwen3-VL-8B-Instruct")).check_ready()
    assert readiness.ready and readiness.reason == (
        "Qwen/Qwen3-VL-8B-Instruct at http://localhost:8000/v1, no key (OPENAI_API_KEY is unset: fine for a local server)")
    monkeypatch.setenv("MY_KEY", "sk-live-abcdef123456")
    readiness = VlmDetector("vlm", VlmOptions(model="m", api_key_env="MY_KEY")).check_ready()
    assert readiness.reason.endswith("key from MY_KEY") and "sk-live" not in readiness.reason


def test_the_key_comes_from_the_named_variable_only():
    options = VlmOptions(api_key_env="DASHSCOPE_API_KEY")
    assert resolve_api_key(options, {"DASHSCOPE_API_KEY": " sk-1 ", "OPENAI_API_KEY": "sk-2"}) == "sk-1"
    assert resolve_api_key(options, {"DASHSCOPE_API_KEY": "  "}) is None


@pytest.mark.parametrize("model, space", [
    ("Qwen/Qwen2.5-VL-72B-Instruct", BoxSpace.smart_resized(12845056)),
    ("qwen3-vl:8b", PER_MILLE),
    ("llava-1.6", None),
])
def test_the_box_space_follows_the_model_name(model, space):
    assert VlmDetector("vlm", VlmOptions(model=model)).box_space() == space


def test_settings_say_what_ran_and_hold_no_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef123456")
    settings = VlmDetector("vlm", VlmOptions(model="m", api_url="http://h:1/v1")).settings()
    assert settings == {"model": "m", "api_url": "http://h:1/v1", "max_tokens": 4096, "temperature": 0.0}
