"""Options from every source, the key from ROBOFLOW_API_KEY, and readiness in one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from segkit.errors import ConfigError
from segkit.plugins.options import parse_overrides, resolve_options
from segkit.plugins.host import get_host
from segkit_roboflow.backend import RoboflowSam2Segmenter
from segkit_roboflow.options import HOSTED_API_URL, RoboflowOptions, api_host, resolve_api_key


def options(config=None, flags=(), environ=None) -> RoboflowOptions:
    return resolve_options(RoboflowSam2Segmenter, config or {}, parse_overrides(list(flags)), environ or {})


def test_defaults_are_the_hosted_api_with_exact_masks():
    got = options()
    assert (got.api_url, got.format, got.multimask, got.concurrency, got.api_key) == (HOSTED_API_URL, "rle", True, 4, None)


def test_api_url_by_config_env_and_flag_in_that_precedence():
    config = {"roboflow": {"api_url": "https://my-deployment.roboflow.cloud/"}}
    assert options(config).api_url == "https://my-deployment.roboflow.cloud"
    env = {"SEGKIT_ROBOFLOW_API_URL": "http://localhost:9001"}
    assert options(config, environ=env).api_url == "http://localhost:9001"
    assert options(config, ["roboflow.api_url=http://10.0.0.5:9001"], env).api_url == "http://10.0.0.5:9001"


@pytest.mark.parametrize("value", ["serverless.roboflow.com", "ftp://x", "https://serverless.roboflow.com?api_key=abcdef123"])
def test_bad_api_url_is_one_clear_line(value):
    with pytest.raises(ConfigError, match=r"option roboflow.api_url: Value error, must") as caught:
        options(flags=[f"roboflow.api_url={value}"])
    assert "\n" not in str(caught.value)


def test_bad_format_names_the_choices():
    with pytest.raises(ConfigError, match=r"roboflow.format: Input should be 'rle' or 'polygon'"):
        options(flags=["roboflow.format=jpeg"])


def test_key_from_options_else_roboflow_api_key():
    assert resolve_api_key(options(), {"ROBOFLOW_API_KEY": " rf_env "}) == "rf_env"
    assert resolve_api_key(options(environ={"SEGKIT_ROBOFLOW_API_KEY": "rf_segkit"}), {"ROBOFLOW_API_KEY": "rf_env"}) == "rf_segkit"
    assert resolve_api_key(options(flags=["roboflow.api_key="]), {}) is None
    assert "rf_secret" not in repr(options(flags=["roboflow.api_key=rf_secret"]))


def test_a_bad_key_value_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        resolve_options(RoboflowSam2Segmenter, {"roboflow": {"api_key": ["rf_secret_in_a_list"]}}, {}, {})
    assert "rf_secret_in_a_list" not in str(caught.value)


def test_missing_key_is_one_clear_line(monkeypatch):
    monkeypatch.delenv("ROBOFLOW_API_KEY", raising=False)
    monkeypatch.delenv("SEGKIT_ROBOFLOW_API_KEY", raising=False)
    for name in ("roboflow-sam2-large", "roboflow-sam3"):
        readiness = get_host().backend(name).create(RoboflowOptions()).check_ready()
        assert not readiness.ready
        assert readiness.reason == "no Roboflow API key: set ROBOFLOW_API_KEY (get a key at https://app.roboflow.com/settings/api)"
    monkeypatch.setenv("ROBOFLOW_API_KEY", "rf_from_env_1234")
    readiness = get_host().backend("roboflow-sam3").create(RoboflowOptions()).check_ready()
    assert readiness.ready and readiness.reason == "/sam3/visual_segment at https://serverless.roboflow.com"


def test_api_host_keeps_no_credentials_or_query():
    assert api_host("http://localhost:9001") == "http://localhost:9001"
    assert api_host("https://x.example/api/") == "https://x.example/api"
    assert api_host("http://[::1]:9001") == "http://[::1]:9001"


def test_listing_backends_does_not_import_the_sdk():
    code = ("import sys; from segkit.plugins.host import get_host; h = get_host();"
            "[e.create().check_ready() for n, e in h.backends().items() if n.startswith('roboflow-')];"
            "print(sorted(n for n in h.backends() if n.startswith('roboflow-')), 'inference_sdk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ("['roboflow-sam2-b+', 'roboflow-sam2-large', 'roboflow-sam2-small', 'roboflow-sam2-tiny', "
                   "'roboflow-sam3'] False")


def test_unknown_version_id_is_refused():
    with pytest.raises(ValueError, match="unknown sam2_version_id 'hiera_huge'"):
        RoboflowSam2Segmenter("x", version_id="hiera_huge")


@pytest.mark.parametrize("url", ["https://user:s3cretpass@my-deployment.roboflow.cloud", "https://s3cretpass@localhost:9001/x"])
def test_credentials_in_api_url_are_refused_without_being_echoed(url):
    with pytest.raises(ConfigError, match="must not carry a query, fragment or credentials") as caught:
        options(flags=[f"roboflow.api_url={url}"])
    assert "s3cretpass" not in str(caught.value) and "***@" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        options({"roboflow": {"api_url": url + "?api_key=k3yvalue"}})
    assert "s3cretpass" not in str(caught.value) and "k3yvalue" not in str(caught.value)
