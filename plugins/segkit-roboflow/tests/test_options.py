"""Options, the key from ROBOFLOW_API_KEY, and readiness in one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

import segkit
from segkit import ConfigError
from segkit_roboflow import RoboflowSam2Segmenter, RoboflowSam3Segmenter
from segkit_roboflow.options import HOSTED_API_URL, RoboflowOptions, resolve_api_key


def test_defaults_are_the_hosted_api_with_exact_masks():
    got = RoboflowOptions()
    assert (got.api_url, got.format, got.multimask, got.concurrency, got.api_key) == (HOSTED_API_URL, "rle", True, 4, None)


def test_api_url_loses_its_trailing_slash():
    assert RoboflowOptions(api_url=" https://my-deployment.roboflow.cloud/ ").api_url == "https://my-deployment.roboflow.cloud"


@pytest.mark.parametrize("value", ["serverless.roboflow.com", "ftp://x", "https://serverless.roboflow.com?api_key=abcdef123"])
def test_bad_api_url_is_one_clear_line(value):
    with pytest.raises(ConfigError, match=r"option roboflow.api_url: Value error, must") as caught:
        segkit.get_backend("roboflow-sam2-tiny", api_url=value)
    assert "\n" not in str(caught.value)


def test_bad_format_names_the_choices():
    with pytest.raises(ConfigError, match=r"roboflow.format: Input should be 'rle' or 'polygon'"):
        segkit.get_backend("roboflow-sam2-tiny", format="jpeg")


def test_key_from_options_else_roboflow_api_key():
    assert resolve_api_key(RoboflowOptions(), {"ROBOFLOW_API_KEY": " rf_env "}) == "rf_env"
    assert resolve_api_key(RoboflowOptions(api_key="rf_options"), {"ROBOFLOW_API_KEY": "rf_env"}) == "rf_options"
    assert resolve_api_key(RoboflowOptions(api_key=" "), {}) is None
    assert "rf_secret" not in repr(RoboflowOptions(api_key="rf_secret"))


def test_a_bad_key_value_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        segkit.get_backend("roboflow-sam2-tiny", api_key=["rf_secret_in_a_list"])
    assert "rf_secret_in_a_list" not in str(caught.value)


def test_missing_key_is_one_clear_line(monkeypatch):
    monkeypatch.delenv("ROBOFLOW_API_KEY", raising=False)
    for segmenter in (RoboflowSam2Segmenter("roboflow-sam2-large", version_id="hiera_large"), RoboflowSam3Segmenter("roboflow-sam3")):
        readiness = segmenter.check_ready()
        assert not readiness.ready
        assert readiness.reason == "no Roboflow API key: set ROBOFLOW_API_KEY (get a key at https://app.roboflow.com/settings/api)"
    monkeypatch.setenv("ROBOFLOW_API_KEY", "rf_from_env_1234")
    readiness = RoboflowSam3Segmenter("roboflow-sam3").check_ready()
    assert readiness.ready and readiness.reason == "/sam3/visual_segment at https://serverless.roboflow.com"


def test_listing_backends_is_cheap():
    """Readiness imports neither the mask decoders nor an HTTP library beyond the standard one."""
    code = ("import sys, segkit_roboflow as r;"
            "[r.RoboflowSam2Segmenter(n, version_id=v).check_ready() for n, v in r.SAM2_BACKENDS.items()];"
            "r.RoboflowSam3Segmenter('roboflow-sam3').check_ready();"
            "print(sorted(m for m in ('pycocotools', 'segkit_roboflow.decode', 'inference_sdk', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_unknown_version_id_is_refused():
    with pytest.raises(ValueError, match="unknown sam2_version_id 'hiera_huge'"):
        RoboflowSam2Segmenter("x", version_id="hiera_huge")


@pytest.mark.parametrize("url", ["https://user:s3cretpass@my-deployment.roboflow.cloud", "https://s3cretpass@localhost:9001/x"])
def test_credentials_in_api_url_are_refused_without_being_echoed(url):
    with pytest.raises(ConfigError, match="must not carry a query, fragment or credentials") as caught:
        segkit.get_backend("roboflow-sam2-tiny", api_url=url)
    assert "s3cretpass" not in str(caught.value) and "***@" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        segkit.get_backend("roboflow-sam2-tiny", api_url=url + "?api_key=k3yvalue")
    assert "s3cretpass" not in str(caught.value) and "k3yvalue" not in str(caught.value)
