"""Quality flags reach the records and the report: each backend answer lists its flags, the report
counts them per backend, and compare recomputes them from the masks as they are now."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb

import segkit
from segkit.plugins.host import get_host

SIZE = (96, 64)
BOXES = [(10, 10, 40, 40), (50, 10, 90, 50), (5, 45, 45, 60), (60, 52, 80, 62)]


class Troubled(segkit.Segmenter):
    """Box 0: a good fill. Box 1: spills far outside its box. Box 2: nothing. Box 3: five specks, 15% of its box."""

    def segment(self, image, boxes):
        h, w = image.shape[:2]
        masks = np.zeros((len(boxes), h, w), bool)
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, int)):
            kind = i % 4
            if kind == 0:
                masks[i, y1:y2, x1:x2] = True
            elif kind == 1:
                masks[i, :, :] = True
            elif kind == 3:
                for k in range(5):
                    masks[i, y1 + 1 : y1 + 4, x1 + 4 * k : x1 + 4 * k + 2] = True
        return segkit.Segmentation(masks, np.ones(len(boxes)))


class TroubledPlugin:
    @staticmethod
    @segkit.hookimpl
    def register_segmenters(register):
        register("troubled", Troubled)


@pytest.fixture
def troubled():
    host = get_host()
    host.register(TroubledPlugin, name="troubled-plugin")
    yield
    host.unregister("troubled-plugin")


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_flags_are_recorded_per_answer_and_counted_in_the_report(cli, troubled):
    write_rgb(cli.images / "t.png", SIZE)
    write_qwen(cli.dets / "t.json", [qwen_det(b, SIZE, f"l{i}") for i, b in enumerate(BOXES)])
    result = cli.run("troubled", "mock")
    assert result.exit_code == 0, result.output
    record = load(cli.out / "json" / "t.json")
    flags = [d["backends"]["troubled"]["flags"] for d in record["detections"]]
    assert flags == [[], ["spill"], ["empty"], ["fragmented"]]
    assert all(d["backends"]["mock"]["flags"] == [] for d in record["detections"])
    answers = load(cli.out / "backends" / "troubled" / "t.json")["answers"]
    assert [a["flags"] for a in answers] == flags
    stats = {s["backend"]: s for s in load(cli.out / "report.json")["backend_stats"]}
    assert stats["troubled"]["flagged"] == 3
    assert stats["troubled"]["flags"] == {"empty": 1, "spill": 1, "low_fill": 0, "fragmented": 1}
    assert stats["mock"]["flagged"] == 0
    assert "quality flags" in result.output and "3 of 4" in result.output


def test_thresholds_come_from_the_config_and_compare_recomputes_them(cli, troubled, tmp_path):
    write_rgb(cli.images / "t.png", SIZE)
    write_qwen(cli.dets / "t.json", [qwen_det(b, SIZE, f"l{i}") for i, b in enumerate(BOXES)])
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("quality:\n  max_spill: 0.99\n  max_pieces: 9\n  min_fill: 0.2\n", encoding="utf-8")
    assert cli.run("troubled", extra=["--config", lenient]).exit_code == 0
    flags = [d["backends"]["troubled"]["flags"] for d in load(cli.out / "json" / "t.json")["detections"]]
    assert flags == [[], [], ["empty"], ["low_fill"]]
    assert cli("compare", cli.out, "--no-panels").exit_code == 0  # default thresholds again
    flags = [d["backends"]["troubled"]["flags"] for d in load(cli.out / "json" / "t.json")["detections"]]
    assert flags == [[], ["spill"], ["empty"], ["fragmented"]]
