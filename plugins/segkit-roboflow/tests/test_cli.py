"""`segkit run` with the roboflow backends against the loopback server: outputs, settings, errors, a
server that is not there, and the key in no output at all, not even in pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segkit.testing import sample_image
from segkit_http.testing import assert_no_secret, closed_port, fast_flags, run_segkit
from segkit_roboflow.testing import SAM2_PATH, SAM3_PATH, Fault, RoboflowTestServer, fill_holes, pixels_digest, reference_mask

NO_KEYS = {"ROBOFLOW_API_KEY": None, "SEGKIT_ROBOFLOW_API_KEY": None, "SEGKIT_ROBOFLOW_API_URL": None,
           "SEGKIT_ROBOFLOW_FORMAT": None}


def flags(server, *more: str) -> list[str]:
    return ["-O", f"roboflow.api_url={server.url}", *fast_flags("roboflow"), *(arg for pair in more for arg in ("-O", pair))]


def env(key: str, **more) -> dict:
    return {**NO_KEYS, "ROBOFLOW_API_KEY": key, **more}


def read_mask(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) > 0


def assert_no_key(result, *keys: str) -> None:
    """The key is nowhere: not on the terminal, not in failures.json, the per-image JSON or any file."""
    for key in keys:
        assert_no_secret(key, result.output, folder=result.out)


def test_run_writes_exact_masks_and_records_settings(segkit_cli, server):
    server.expected_boxes = segkit_cli.dataset.boxes.astype(np.float64)  # boxes must arrive centre-based
    backends = ["roboflow-sam2-large", "roboflow-sam3"]
    result = segkit_cli.run(*backends, extra=flags(server), env=env(server.api_key))
    records = segkit_cli.assert_outputs(result, backends)
    assert server.problems == []
    for name, record in zip(segkit_cli.dataset.names, records):
        for det, box in zip(record["detections"], segkit_cli.dataset.boxes):
            want = reference_mask(box, record["height"], record["width"])
            for backend in backends:
                got = read_mask(result.out / det["backends"][backend]["mask"])
                assert np.array_equal(got, want), (name, backend)
        sam2, sam3 = (record["backends"][b]["settings"] for b in backends)
        assert sam2["sam2_version_id"] == "hiera_large" and sam2["api_host"] == server.url
        assert (sam2["format"], sam2["multimask_output"]) == ("rle", True)
        assert sam3["endpoint"] == "/sam3/visual_segment" and sam3["api_host"] == server.url
    assert len(server.seen(SAM2_PATH)) == 2 and len(server.seen(SAM3_PATH)) == 6  # 2 images, 3 boxes each
    assert {s.image_digest for s in server.seen()} == {pixels_digest(sample_image(i)) for i in range(2)}
    assert_no_key(result, server.api_key)


def test_server_and_format_from_environment_variables(segkit_cli, server):
    result = segkit_cli.run("roboflow-sam2-small", env=env(server.api_key, SEGKIT_ROBOFLOW_API_URL=server.url,
                                                             SEGKIT_ROBOFLOW_FORMAT="polygon"))
    (record, _) = segkit_cli.assert_outputs(result, ["roboflow-sam2-small"])
    assert record["backends"]["roboflow-sam2-small"]["settings"]["format"] == "polygon"
    det, box = record["detections"][0], segkit_cli.dataset.boxes[0]
    got = read_mask(result.out / det["backends"]["roboflow-sam2-small"]["mask"])
    assert np.array_equal(got, fill_holes(reference_mask(box, 120, 160)))
    assert {s.format for s in server.seen()} == {"json"}


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_missing_key_is_one_clear_line(segkit_cli, server):
    result = segkit_cli.run("roboflow-sam2-tiny", extra=flags(server), env=NO_KEYS)
    assert result.exit_code == 2
    assert error_lines(result) == [
        "error: backend 'roboflow-sam2-tiny' is not ready: no Roboflow API key: set ROBOFLOW_API_KEY "
        "(get a key at https://app.roboflow.com/settings/api)"
    ]
    assert "Traceback" not in result.output and server.seen() == []


@pytest.mark.parametrize("transport", ["auto", "query"])
def test_wrong_key_stops_the_run_with_one_line_and_leaks_nothing(segkit_cli, server, transport):
    wrong = "rf_WRONGbutPlausible42"
    result = segkit_cli.run("roboflow-sam2-tiny", extra=flags(server, f"roboflow.api_key_transport={transport}"),
                            env=env(wrong))
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result)
    # Two images are in flight: the one whose 401 is reported may be the one cut off by the abort before
    # the server's explanation arrived, so that part is optional.
    said = ("HTTP 401 Unauthorized", "HTTP 401 Unauthorized: Unauthorized access to roboflow API - check API key and"
            " make sure the key is valid for workspace you use")
    assert line in {f"error: run stopped: roboflow-sam2-tiny: {server.url} refused the API key ({reason}); check the key"
                    " in ROBOFLOW_API_KEY (or options.roboflow.api_key)" for reason in said}, line
    assert "Traceback" not in result.output
    assert 1 <= len(server.seen()) <= 2  # images already in flight stop too (cut off mid-request); nothing is retried
    assert {s.key_channel for s in server.seen() if s.payload is not None} == {"query" if transport == "query" else "body"}
    assert_no_key(result, wrong, server.api_key)


def test_an_image_whose_requests_keep_failing_is_recorded_and_the_run_goes_on(segkit_cli, server):
    bad = pixels_digest(sample_image(1))
    server.inject(Fault(status=500, times=None, match=lambda seen: seen.image_digest == bad,
                        message=f"upstream said api_key={server.api_key}"))
    result = segkit_cli.run("roboflow-sam2-b+", extra=flags(server, "roboflow.max_tries=2"), env=env(server.api_key))
    assert result.exit_code == 1
    assert "1 image(s) failed" in result.output and "Traceback" not in result.output
    failures = json.loads((result.out / "failures.json").read_text(encoding="utf-8"))
    assert [f["image"] for f in failures] == ["sample01.png"]
    assert failures[0]["error"].startswith(f"sample01.png: {server.url}/sam2/segment_image failed after 2 tries:"
                                           " HTTP 500 Internal Server Error: upstream said api_key=***")
    good = json.loads((result.out / "json" / "sample00.json").read_text(encoding="utf-8"))
    assert good["failed_backends"] == {} and len(good["detections"]) == 3
    failed = json.loads((result.out / "json" / "sample01.json").read_text(encoding="utf-8"))
    assert "failed after 2 tries" in failed["failed_backends"]["roboflow-sam2-b+"]
    assert len([s for s in server.seen() if s.image_digest == bad]) == 2
    assert_no_key(result, server.api_key)


def test_bad_option_value_is_one_line(segkit_cli, server):
    result = segkit_cli.run("roboflow-sam3", extra=flags(server, "roboflow.format=jpeg"), env=env(server.api_key))
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert "option roboflow.format: Input should be 'rle' or 'polygon'" in line


def test_a_server_that_is_not_there_is_one_line_at_the_start_and_no_image_is_written(segkit_cli):
    port = closed_port()
    result = segkit_cli.run("roboflow-sam2-tiny", extra=["-O", f"roboflow.api_url=http://127.0.0.1:{port}"],
                            env=env("rf_Zq8Lw3Xn5Vt7"))
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [f"error: roboflow-sam2-tiny: cannot connect to http://127.0.0.1:{port} (Connection refused);"
                                   " check -O roboflow.api_url=URL and that the server runs and is reachable from here"]
    assert "Traceback" not in result.output
    assert [p.relative_to(result.out) for p in result.out.rglob("*") if p.is_file() and p.name != ".segkit.lock"] == []


@pytest.mark.parametrize("transport", ["query", "body"])
def test_a_key_the_server_repeats_is_in_no_output(segkit_cli, transport):
    key = "rf_Zq8Lw3Xn5Vt7"  # no sk- prefix: masked because it is the key, not because of its shape
    with RoboflowTestServer(api_key=key) as server:
        bad = pixels_digest(sample_image(1))
        # cut at 300 characters inside the key, and quoted as a URL parameter
        server.inject(Fault(status=500, times=None, match=lambda seen: seen.image_digest == bad,
                            message="x" * 290 + f" {key} (POST {server.url}/sam2/segment_image?api_key={key})"))
        data = segkit_cli.dataset
        out = segkit_cli.root / "out"
        result = run_segkit("run", "-b", "roboflow-sam2-tiny", "-i", data.images, "-d", data.detections, "-o", out,
                            "--conf", "0", *flags(server, f"roboflow.api_key_transport={transport}", "roboflow.max_tries=2"),
                            env=env(key))
    assert result.returncode == 1, result.stderr
    assert "sample01.png" in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert_no_secret(key, result.stdout, result.stderr, folder=out)
