"""`segkit detect` with detectors registered through the hook (no network here: the vlm detector's own
tests speak HTTP): images in flight at once, what stops the run, what fails one image, registration."""

from __future__ import annotations

import json
import threading
import time

import pytest
from cli_helpers import write_rgb

import segkit
from segkit.errors import UnknownDetectorError
from segkit.plugins.host import PluginHost, get_host
from segkit.testing import sample_image

SIZE = (200, 100)


class PerMille(segkit.Detector):
    """Answers one per-mille box over the middle of every image, after ``delay`` seconds."""

    max_concurrency = 4
    delay = 0.0
    in_flight = 0
    most_in_flight = 0
    refuse_after: int | None = None
    calls = 0
    lock = threading.Lock()

    def detect(self, image, prompt):
        cls = type(self)
        with cls.lock:
            cls.calls += 1
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
            calls = cls.calls
        try:
            if cls.refuse_after is not None and calls > cls.refuse_after:
                raise segkit.ConfigError("permille: the server refused the key; check PERMILLE_KEY")
            time.sleep(cls.delay)
            if prompt == "broken":
                return "not an answer"
            answer = [{"bbox_2d": [250, 250, 750, 750], "label": prompt}, {"bbox_2d": [10, 10, 10, 500], "label": f"flat {prompt}"}]
            return segkit.DetectorAnswer(json.dumps(answer), {"calls": calls})
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def box_space(self):
        return segkit.PER_MILLE


class Plugin:
    @staticmethod
    @segkit.hookimpl
    def register_detectors(register):
        register("permille", PerMille)


class BadPlugin:
    @staticmethod
    @segkit.hookimpl
    def register_detectors(register):
        register("Bad Name", PerMille)
        register("not-a-detector", dict)
        register("permille", PerMille, aliases=("mille",))
        register("permille", PerMille)


@pytest.fixture
def detector(cli):
    host = get_host()
    host.register(Plugin, name="permille-plugin")
    PerMille.delay, PerMille.calls, PerMille.most_in_flight, PerMille.refuse_after = 0.0, 0, 0, None
    for i in range(8):
        write_rgb(cli.images / f"{i:02d}.png", SIZE, seed=i)
    yield cli
    host.unregister("permille-plugin")


def detect(cli, *extra):
    return cli("detect", "--detector", "permille", "-i", cli.images, "-o", cli.out, "--prompt", "thing", *extra)


def test_boxes_are_converted_and_written_for_segkit_run(detector):
    cli = detector
    result = detect(cli)
    assert result.exit_code == 0, result.output
    record = json.loads((cli.out / "00.json").read_text(encoding="utf-8"))
    assert record["detections"] == [{"bbox_xyxy_norm": [0.25, 0.25, 0.75, 0.75], "label": "thing", "bbox_2d": [250, 250, 750, 750]}]
    assert record["skipped"] == [{"index": 1, "label": "flat thing", "reason": "box has zero area inside the image"}]
    assert record["box_space"] == "per-mille" and record["answer_info"] == {"calls": record["answer_info"]["calls"]}
    assert "00.png: detection 1 (flat thing) skipped: box has zero area inside the image" in " ".join(result.output.split())
    run = cli("run", "-i", cli.images, "-d", cli.out, "-o", cli.root / "runs", "-b", "mock")
    assert run.exit_code == 0, run.output
    segmented = json.loads((cli.root / "runs" / "json" / "00.json").read_text(encoding="utf-8"))
    assert segmented["detections"][0]["bbox_xyxy_px"] == [50, 25, 150, 75]


def test_images_are_in_flight_at_once_up_to_max_concurrency(detector):
    PerMille.delay = 0.2
    started = time.perf_counter()
    result = detect(detector)
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert PerMille.most_in_flight == 4 and seconds < 8 * 0.2  # two rounds of four, not eight one by one


def test_a_settings_error_stops_taking_images_keeps_what_was_written_and_exits_2(detector):
    cli = detector
    PerMille.refuse_after, PerMille.delay = 2, 0.05
    result = detect(cli)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "error: stopped: permille: the server refused the key; check PERMILLE_KEY" in said and "not asked" in said
    assert len(list(cli.out.glob("*.json"))) == 2 and PerMille.calls <= 2 + 4  # what was in flight, then nothing
    for path in cli.out.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))  # whole files only


def test_a_detector_that_breaks_the_contract_fails_each_image_in_one_line(detector):
    result = detect(detector, "--prompt", "broken", "--limit", "2")
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert said.count("detector 'permille' returned str, expected segkit.DetectorAnswer") == 2 and "Traceback" not in said


def test_bad_registrations_are_reported_and_the_good_one_kept():
    host = PluginHost(load_entry_points=False)
    host.register(BadPlugin, name="bad-plugin")
    detectors = host.detectors()
    assert list(detectors) == ["permille"] and host.detector("mille").name == "permille"
    assert [p.message for p in host.problems] == [
        "detector name 'Bad Name' is invalid: use lower-case letters, digits, '.', '+' and '-'",
        "detector 'not-a-detector': <class 'dict'> is not a segkit.Detector subclass",
        "detector name 'permille' is already registered by bad-plugin; keeping that one",
    ]
    with pytest.raises(UnknownDetectorError, match="unknown detector 'vlm'; known detectors: permille"):
        host.detector("vlm")


def test_model_output_is_never_terminal_markup_or_control(detector):
    cli = detector
    result = detect(cli, "--prompt", "[bold red]x[/] \x1b[31m", "--limit", "1")
    assert result.exit_code == 0
    assert "detection 1 (flat [bold red]x[/] \\x1b[31m) skipped" in result.output  # the label as data, ESC shown as text
    assert "\x1b" not in result.output


def test_the_contract_checks_for_detectors_are_cheap_to_construct():
    detector = PerMille("permille")
    assert detector.check_ready().ready and detector.settings() == {} and detector.reader == "qwen-grounding"
    assert isinstance(detector.detect(sample_image(), "x"), segkit.DetectorAnswer)
