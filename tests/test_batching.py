"""The runner feeds backends the way a GPU wants: several images per call up to their batch size, boxes
in bounded chunks, and falls back to one image at a time when a batched call fails. The outputs are
the same files whatever the batching."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb

import segkit
from segkit.plugins.host import get_host
from segkit.plugins.mock import box_mask

SIZE = (64, 48)
BOXES = [(4, 4, 20, 20), (10, 8, 50, 40), (30, 2, 62, 30), (0, 24, 16, 48), (40, 30, 64, 48)]


class Recorder(segkit.Segmenter):
    """Fills boxes like `mock`, and records every call: (kind, images, boxes per image)."""

    calls: list = []
    lock = threading.Lock()
    batch_size = 4

    def __init__(self, name, options=None, **params):
        super().__init__(name, options, **params)
        self.batch_size = params.get("batch", 4)

    def _fill(self, image, boxes):
        h, w = image.shape[:2]
        if self.params.get("fail_on") is not None and int(image[0, 0, 0]) == self.params["fail_on"]:
            raise RuntimeError("this image upsets the model")
        return segkit.Segmentation(np.stack([box_mask(b, h, w) for b in boxes]), np.ones(len(boxes)))

    def segment(self, image, boxes):
        with self.lock:
            self.calls.append(("one", [int(image[0, 0, 0])], [len(boxes)]))
        time.sleep(self.params.get("latency", 0))
        return self._fill(image, boxes)

    def segment_batch(self, images, boxes):
        with self.lock:
            self.calls.append(("batch", [int(i[0, 0, 0]) for i in images], [len(b) for b in boxes]))
        time.sleep(self.params.get("latency", 0))  # while the model works, the next images queue up
        if self.params.get("fail_on") is not None and any(int(i[0, 0, 0]) == self.params["fail_on"] for i in images):
            raise RuntimeError("the batch went wrong")
        return [self._fill(i, b) for i, b in zip(images, boxes)]


class RecorderPlugin:
    @staticmethod
    @segkit.hookimpl
    def register_segmenters(register):
        register("batched", Recorder, batch=4, latency=0.02)  # while it works, images queue up for a batch
        register("fussy", Recorder, batch=4, fail_on=3, latency=0.05)


@pytest.fixture
def recorder():
    host = get_host()
    host.register(RecorderPlugin, name="recorder-plugin")
    Recorder.calls = []
    yield Recorder
    host.unregister("recorder-plugin")


def dataset(cli, n=10):
    for i in range(n):
        rgb = write_rgb(cli.images / f"im{i:02d}.png", SIZE, seed=i)
        # the first pixel's red value tells the backend which image it sees
        from PIL import Image
        rgb[0, 0, 0] = i
        Image.fromarray(rgb).save(cli.images / f"im{i:02d}.png")
        write_qwen(cli.dets / f"im{i:02d}.json", [qwen_det(b, SIZE, f"l{j}") for j, b in enumerate(BOXES)])


def masks_of(out, stem, backend):
    record = json.loads((out / "json" / f"{stem}.json").read_text())
    return [d["backends"][backend]["area_px"] for d in record["detections"]], record


def test_images_are_batched_up_to_the_batch_size_and_give_the_same_outputs(cli, recorder, tmp_path):
    dataset(cli)
    result = cli.run("batched", extra=["--out", tmp_path / "batched"])
    assert result.exit_code == 0, result.output
    batched = [c for c in recorder.calls if c[0] == "batch"]
    assert batched and all(len(c[1]) <= 4 for c in recorder.calls)
    assert sorted(i for c in recorder.calls for i in c[1]) == list(range(10))  # every image exactly once
    assert cli.run("mock", extra=["--out", tmp_path / "mock"]).exit_code == 0
    for i in range(10):
        a, rec_a = masks_of(tmp_path / "batched", f"im{i:02d}", "batched")
        b, _ = masks_of(tmp_path / "mock", f"im{i:02d}", "mock")
        assert a == b
        for det in rec_a["detections"]:  # the mask files hold the same pixels as mock's
            other = json.loads((tmp_path / "mock" / "json" / f"im{i:02d}.json").read_text())
            mine = (tmp_path / "batched" / det["backends"]["batched"]["mask"]).read_bytes()
            theirs = (tmp_path / "mock" / next(d for d in other["detections"] if d["id"] == det["id"])["backends"]["mock"]["mask"]).read_bytes()
            assert mine == theirs


def test_a_failing_batch_is_retried_one_image_at_a_time_and_only_the_bad_image_fails(cli, recorder):
    dataset(cli)
    result = cli.run("fussy")
    assert result.exit_code == 1
    failures = json.loads((cli.out / "failures.json").read_text())
    assert [f["image"] for f in failures] == ["im03.png"]
    assert "this image upsets the model" in failures[0]["error"]
    failed_batch = next(c[1] for c in recorder.calls if c[0] == "batch" and 3 in c[1])
    assert len(failed_batch) > 1  # image 3 went in a batch with others...
    retried = sorted(i for c in recorder.calls if c[0] == "one" for i in c[1])
    assert set(failed_batch) <= set(retried)  # ...which were each retried alone
    assert all((cli.out / "json" / f"im{i:02d}.json").is_file() for i in range(10))


def test_boxes_go_in_chunks_of_at_most_max_boxes_per_call(cli, recorder, tmp_path):
    dataset(cli, n=2)
    config = tmp_path / "limits.yaml"
    config.write_text("limits:\n  max_boxes_per_call: 2\n", encoding="utf-8")
    result = cli.run("batched", extra=["--config", config])
    assert result.exit_code == 0, result.output
    assert all(n <= 2 for c in recorder.calls for n in c[2])
    assert sorted(n for c in recorder.calls for n in c[2]) == sorted([2, 2, 1] * 2)
    areas, record = masks_of(cli.out, "im00", "batched")
    assert [d["id"] for d in record["detections"]] == [0, 1, 2, 3, 4]
    assert areas == [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in BOXES]


def test_run_job_is_the_library_call_the_cli_makes(cli):
    from segkit import RunJob, run_job

    dataset(cli, n=3)
    seen = []

    class Events(segkit.RunEvents):
        def image_done(self, outcome):
            seen.append(outcome.image.name)

    result = run_job(RunJob(backends=["mock", "mock-ellipse"], images=cli.images, detections=cli.dets, out=cli.out,
                            panels="disagree", iou_threshold=0.9), Events())
    assert result.exit_code == 0 and sorted(seen) == ["im00.png", "im01.png", "im02.png"]
    assert [o.status for o in result.summary.outcomes] == ["done"] * 3
    assert result.report.pairs[0].pair == "mock vs mock-ellipse"
    # --panels disagree: box vs inscribed ellipse is about pi/4 < 0.9 everywhere, so every image has a panel
    assert all(o.panel == "drawn" for o in result.summary.outcomes)
    calm = run_job(RunJob(backends=["mock", "mock-ellipse"], images=cli.images, detections=cli.dets,
                          out=cli.root / "calm", panels="disagree", iou_threshold=0.5))
    assert all(o.panel == "skipped" for o in calm.summary.outcomes)
    assert all(json.loads(p.read_text())["panel"] is None for p in (cli.root / "calm" / "json").glob("*.json"))
    assert not list((cli.root / "calm" / "viz").iterdir())
