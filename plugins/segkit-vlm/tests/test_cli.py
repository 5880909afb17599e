"""`segkit detect` on the example photographs against the loopback server, then `segkit run` on what it
wrote: boxes land where they should for Qwen2.5-VL and Qwen3-VL answers, cut-off answers keep their
complete boxes, retries, a refused key (one line, exit 2, never shown), timeouts, a server that is not
there (one line at the start), a key repeated by the server or the model (in no output), resuming."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segkit import load_rgb
from segkit_http.testing import assert_no_secret, closed_port, fast_flags, run_segkit
from segkit_vlm.testing import ChatCompletionsTestServer, Fault, pixels_digest, qwen25_input_size, render_boxes

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PROMPT = "Locate every object, output bbox_2d coordinates and labels in JSON format."
FAST = fast_flags("vlm")


def example_boxes() -> dict[str, tuple[np.ndarray, list[tuple[str, list[float]]]]]:
    """The hand-drawn boxes of the example photos, normalized: what the stand-in model 'sees'. The files
    are Qwen JSON (``bbox_xyxy_norm``, ``label_ja``) or a Qwen answer (``bbox_2d`` in pixels, ``label``)."""
    out = {}
    for image in sorted((EXAMPLES / "images").iterdir()):
        rgb = load_rgb(image)
        height, width = rgb.shape[:2]
        data = json.loads((EXAMPLES / "detections" / f"{image.stem}.json").read_text(encoding="utf-8"))
        boxes = []
        for entry in data["detections"] if isinstance(data, dict) else data:
            if "bbox_xyxy_norm" in entry:
                boxes.append((entry["label_ja"], [float(v) for v in entry["bbox_xyxy_norm"]]))
            else:
                x1, y1, x2, y2 = entry["bbox_2d"]
                boxes.append((entry["label"], [x1 / width, y1 / height, x2 / width, y2 / height]))
        out[image.stem] = (rgb, boxes)
    return out


TRUTH = example_boxes()
BOXES = sum(len(boxes) for _, boxes in TRUTH.values())


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    shutil.copytree(EXAMPLES / "images", folder)
    return folder


def serve(style, **kwargs) -> ChatCompletionsTestServer:
    server = ChatCompletionsTestServer(style=style, **kwargs).start()
    for rgb, boxes in TRUTH.values():
        server.add_image(rgb, boxes)
    return server


@pytest.fixture
def segkit(segkit_cli):
    """``segkit("run", ...)``: the CLI in this process (segkit.testing's runner)."""
    return lambda *args, env=None: segkit_cli.invoke(*map(str, args), env=env)


@pytest.fixture
def detect(segkit):
    """``detect(server, photos, out, *flags)``: `segkit detect` against ``server`` with its key."""

    def run(server, photos, out, *extra, key: str | None = None, env: dict | None = None):
        args = ["detect", "-i", photos, "-o", out, "--prompt", PROMPT, "--model", server.model, "--api-url", server.url, *FAST, *extra]
        return segkit(*args, env={"OPENAI_API_KEY": server.api_key if key is None else key, **(env or {})})

    return run


def written(out: Path, stem: str) -> dict:
    return json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))


def assert_boxes_land(out: Path, frame_of) -> None:
    """Every written box is the true box, to within the rounding of the model's integer coordinates."""
    for stem, (rgb, boxes) in TRUTH.items():
        record = written(out, stem)
        height, width = rgb.shape[:2]
        frame_w, frame_h = frame_of(width, height)
        tolerance = np.array([0.5 / frame_w, 0.5 / frame_h] * 2) + 1e-6
        assert [d["label"] for d in record["detections"]] == [label for label, _ in boxes]
        for detection, (_, box) in zip(record["detections"], boxes):
            error = np.abs(np.array(detection["bbox_xyxy_norm"]) - np.array(box))
            assert np.all(error <= tolerance), (stem, detection, box)


def test_qwen25_vl_answers_in_pixels_of_its_resized_input_land_on_the_photos(photos, tmp_path, detect):
    out = tmp_path / "dets"
    with serve("qwen2.5-vl", max_pixels=200704) as server:  # 256*28*28: every example photo is shrunk
        result = detect(server, photos, out, "--box-space", "qwen2.5-vl:200704")
    assert result.exit_code == 0, result.output
    assert f"5 images asked, 0 already done, 0 failed; {BOXES} boxes" in result.output
    assert_boxes_land(out, lambda w, h: qwen25_input_size(w, h, 200704))
    record = written(out, "rocket")
    assert (record["width"], record["height"], record["box_space"], record["detector"]) == (640, 427, "smart-resize:200704", "vlm")
    assert record["prompt"] == PROMPT and record["settings"]["model"] == server.model
    assert record["answer"].startswith("```json\n[\n\t{\"bbox_2d\": [") and record["answer_info"]["finish_reason"] == "stop"
    assert record["detections"][0]["bbox_2d"] == json.loads(record["answer"][8:-4])[0]["bbox_2d"]  # the model's own numbers kept
    assert all(s.image_digest for s in server.seen())


def test_qwen3_vl_answers_in_per_mille_land_on_the_photos_with_the_space_from_the_model_name(photos, tmp_path, detect):
    out = tmp_path / "dets"
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        result = detect(server, photos, out)
    assert result.exit_code == 0, result.output
    assert_boxes_land(out, lambda w, h: (1000, 1000))
    assert written(out, "coins")["box_space"] == "per-mille"


def test_the_wrong_space_is_warned_about_naming_the_likely_one(photos, tmp_path, detect):
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        result = detect(server, photos, tmp_path / "dets", "--box-space", "pixels")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "coins.png: boxes do not fit pixels (pixels): boxes reach" in out and "likely 0..1000 (--box-space per-mille" in out


def test_segkit_run_segments_what_detect_wrote(photos, tmp_path, detect, segkit):
    dets, runs = tmp_path / "dets", tmp_path / "runs"
    with serve("qwen2.5-vl", max_pixels=200704) as server:
        assert detect(server, photos, dets, "--box-space", "qwen2.5-vl:200704").exit_code == 0
    result = segkit("run", "-i", photos, "-d", dets, "-o", runs, "-b", "mock", "--conf", "0")
    assert result.exit_code == 0, result.output
    for stem, (rgb, boxes) in TRUTH.items():
        record = json.loads((runs / "json" / f"{stem}.json").read_text(encoding="utf-8"))
        assert [d["label"] for d in record["detections"]] == [label for label, _ in boxes]
        height, width = rgb.shape[:2]
        for detection, (_, box) in zip(record["detections"], boxes):
            pixels = np.array(detection["bbox_xyxy_px"])
            frame_w, frame_h = qwen25_input_size(width, height, 200704)
            half_a_model_pixel = np.array([width / frame_w, height / frame_h] * 2) / 2 + 1e-3
            assert np.all(np.abs(pixels - np.array(box) * ([width, height] * 2)) <= half_a_model_pixel)
            mask = np.asarray(Image.open(runs / detection["backends"]["mock"]["mask"])) > 0
            rows, columns = np.nonzero(mask)  # the mock backend fills the box: a full rectangle on it
            assert mask.sum() == (np.ptp(rows) + 1) * (np.ptp(columns) + 1)
            assert np.all(np.abs([columns.min(), rows.min(), columns.max() + 1, rows.max() + 1] - pixels) <= 1)


def test_a_cut_off_answer_keeps_its_complete_boxes_and_says_how_to_avoid_it(photos, tmp_path, detect):
    out = tmp_path / "dets"
    rgb, boxes = TRUTH["coins"]  # seven coins: the answer is cut inside the fourth
    answer = render_boxes(boxes, rgb.shape[1], rgb.shape[0], "qwen3-vl")
    fourth = [line for line in answer.splitlines() if "bbox_2d" in line][3]
    cut = answer.index(fourth) + 20
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        server.inject(Fault(cut_at=cut, image=pixels_digest(rgb), times=None))
        result = detect(server, photos, out, "-O", "vlm.max_tokens=99")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (f"{photos / 'coins.png'}: the answer was cut off (it ends inside the JSON, line 6 column 2); kept the 3 complete"
            " objects before it (the model stopped at max_tokens=99: raise it with -O vlm.max_tokens=N)") in said
    record = written(out, "coins")
    assert [d["bbox_xyxy_norm"] for d in record["detections"]] == [pytest.approx(b, abs=0.0006) for _, b in boxes[:3]]
    assert record["answer"] == answer[:cut] and record["answer_info"]["finish_reason"] == "length"
    assert len(record["warnings"]) == 1 and "kept the 3 complete objects" in record["warnings"][0]
    assert len(written(out, "rocket")["detections"]) == len(TRUTH["rocket"][1])  # the other images are whole


def test_retries_on_429_and_503_finish_every_image(photos, tmp_path, detect):
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        server.inject(Fault(status=429, retry_after=0.01, times=2), Fault(status=503, times=2))
        result = detect(server, photos, tmp_path / "dets")
        statuses = [s.status for s in server.seen()]
    assert result.exit_code == 0, result.output
    assert sorted(statuses) == [200] * 5 + [429, 429, 503, 503]
    assert len(list((tmp_path / "dets").glob("*.json"))) == 5


def test_a_refused_key_is_one_line_exit_2_and_never_shown(photos, tmp_path, detect):
    wrong = "sk-live-WRONGKEY0123456789abcdef"
    out = tmp_path / "dets"
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        result = detect(server, photos, out, key=wrong)
        asked = len(server.seen())
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith(
        f"error: stopped: vlm: {server.url}/chat/completions refused the API key (HTTP 401 Unauthorized (invalid_api_key));"
        " check the key in OPENAI_API_KEY")
    assert "Traceback" not in result.output and "WRONGKEY" not in result.output
    assert asked <= 4  # the images already in flight, then nothing more
    assert not any("WRONGKEY" in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


def test_the_key_can_come_from_another_variable(photos, tmp_path, detect):
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        result = detect(server, photos, tmp_path / "dets", "--api-key-env", "DASHSCOPE_API_KEY", "--limit", "1",
                        key="", env={"DASHSCOPE_API_KEY": server.api_key})
        assert server.seen()[0].key_ok
    assert result.exit_code == 0, result.output
    key_text = server.api_key
    assert not any(key_text in p.read_text() for p in (tmp_path / "dets").glob("*.json"))


def test_images_that_time_out_fail_alone_and_the_run_says_so(photos, tmp_path, detect):
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        server.inject(Fault(delay=1.0, image=pixels_digest(TRUTH["chelsea"][0]), times=None))
        result = detect(server, photos, tmp_path / "dets", "-O", "vlm.timeout=0.2", "-O", "vlm.max_tries=2")
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert f"failed: chelsea.jpg: vlm: {server.url}/chat/completions failed after 2 tries: did not answer within 0.2 s (timeout: raise it with -O vlm.timeout=SECONDS)" in said
    assert "1 image(s) failed" in said and "Traceback" not in said
    assert sorted(p.stem for p in (tmp_path / "dets").glob("*.json")) == ["astronaut", "coffee", "coins", "rocket"]


def test_a_second_run_skips_what_is_done_and_a_new_prompt_asks_again(photos, tmp_path, detect, segkit):
    out = tmp_path / "dets"
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        assert detect(server, photos, out).exit_code == 0
        again = detect(server, photos, out)
        assert len(server.seen()) == 5
        assert f"0 images asked, 5 already done, 0 failed; {BOXES} boxes" in again.output
        forced = detect(server, photos, out, "--force", "--limit", "1")
        assert len(server.seen()) == 6 and forced.exit_code == 0
        changed = segkit("detect", "-i", photos, "-o", out, "--prompt", "Find the coins.", "--model", server.model,
                         "--api-url", server.url, *FAST, env={"OPENAI_API_KEY": server.api_key})
        assert changed.exit_code == 0 and len(server.seen()) == 11
    assert written(out, "coins")["prompt"] == "Find the coins."


def test_an_answer_without_boxes_fails_its_image_and_is_kept(photos, tmp_path, detect, segkit):
    out = tmp_path / "dets"
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct") as server:
        server.inject(Fault(answer="I'm sorry, I cannot see any coins.", image=pixels_digest(TRUTH["coins"][0])))
        result = detect(server, photos, out)
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert (f"failed: coins.png: the answer cannot be read: the answer holds no JSON list or object; it is kept in"
            f" {out / 'unreadable' / 'coins.txt'}") in said
    assert (out / "unreadable" / "coins.txt").read_text() == "I'm sorry, I cannot see any coins."
    assert not (out / "coins.json").exists()
    runs = segkit("run", "-i", photos, "-d", out, "-o", tmp_path / "r", "-b", "mock")
    assert "unreadable" not in runs.output  # the kept answer is not taken for a detection file


@pytest.mark.parametrize("extra, message", [
    (["--model", "llava-1.6"], "cannot tell what 'vlm''s boxes are measured in; pass --box-space: qwen2.5-vl[:MAX_PIXELS]"),
    (["--box-space", "qwen9"], "--box-space: 'qwen9' is not a box space"),
    (["--detector", "nope"], "unknown detector 'nope'; known detectors: vlm"),
    (["--prompt", " "], "--prompt is empty"),
    (["-O", "vlm.api_url=ftp://x"], "option vlm.api_url: Value error, must be an http(s) URL"),
])
def test_bad_arguments_are_one_line_and_exit_2(photos, tmp_path, extra, message, segkit):
    args = ["detect", "-i", str(photos), "-o", str(tmp_path / "d"), "--prompt", PROMPT, "--model", "Qwen/Qwen3-VL-8B-Instruct", *extra]
    result = segkit(*args, env={"OPENAI_API_KEY": "sk-live-abcdefgh12345678"})
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in " ".join(result.output.split())
    assert "Traceback" not in result.output and "sk-live" not in result.output


def test_plugins_lists_the_detector(segkit):
    result = segkit("plugins", "--json", env={"SEGKIT_VLM_MODEL": "Qwen/Qwen3-VL-8B-Instruct"})
    detectors = json.loads(result.output)["detectors"]
    assert [(d["name"], d["plugin"], d["ready"], d["reader"], d["options"]) for d in detectors] == [("vlm", "vlm", True, "qwen-grounding", "vlm")]
    vlm = next(p for p in json.loads(result.output)["plugins"] if p["name"] == "vlm")
    assert vlm["hooks"] == ["register_detectors"] and vlm["distribution"].startswith("segkit-vlm ")


def test_a_server_that_is_not_there_is_one_line_at_the_start_and_nothing_is_written(photos, tmp_path, segkit):
    port, out = closed_port(), tmp_path / "dets"
    result = segkit("detect", "-i", photos, "-o", out, "--prompt", PROMPT, "--model", "Qwen/Qwen3-VL-8B-Instruct",
                    "--api-url", f"http://127.0.0.1:{port}/v1", env={"OPENAI_API_KEY": None})
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [f"error: vlm: cannot connect to http://127.0.0.1:{port}/v1 (Connection refused);"
                                          " check --api-url and that the server runs and is reachable from here"]
    assert [p for p in out.rglob("*") if p.is_file()] == []


def test_a_key_the_server_or_the_model_repeats_is_in_no_output(photos, tmp_path):
    key = "rf_ABCDEF123456"  # no sk- prefix
    out = tmp_path / "dets"
    digest = {stem: pixels_digest(rgb) for stem, (rgb, _) in TRUTH.items()}
    with serve("qwen3-vl", model="Qwen/Qwen3-VL-8B-Instruct", api_key=key) as server:
        server.inject(
            Fault(answer=f'```json\n[{{"bbox_2d": [10, 10, 200, 200], "label": "{key}"}}]\n``` (asked with key {key})',
                  image=digest["coins"]),
            Fault(answer=f"I cannot see anything. Your key is {key}.", image=digest["chelsea"]),  # kept as unreadable
            Fault(status=500, body={"error": {"message": "x" * 290 + f" {key} (api_key={key})"}},  # cut inside the key
                  image=digest["rocket"], times=None),
        )
        result = run_segkit("detect", "-i", photos, "-o", out, "--prompt", PROMPT, "--model", server.model,
                            "--api-url", server.url, *FAST, "-O", "vlm.max_tries=2", env={"OPENAI_API_KEY": key})
    assert result.returncode == 1, result.stderr
    said = " ".join((result.stdout + result.stderr).split())
    assert "rocket.jpg: vlm:" in said and "chelsea.jpg" in said and "Traceback" not in said
    assert json.loads((out / "coins.json").read_text(encoding="utf-8"))["detections"][0]["label"] == "***"
    assert (out / "unreadable" / "chelsea.txt").read_text() == "I cannot see anything. Your key is ***."
    assert_no_secret(key, result.stdout, result.stderr, folder=out)
