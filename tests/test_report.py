"""The dataset report of `segkit run`: numbers checked against IoUs known exactly on the pixel grid."""

from __future__ import annotations

import csv
import json
import math
import statistics

import numpy as np
import pytest
from cli_helpers import write_qwen, write_rgb
from compare_helpers import (
    DATASET,
    SIZE,
    all_boxes,
    ellipse_pixels,
    extra_backends,  # noqa: F401  (fixture)
    grid_iou,
    inset_iou,
    percentile_5,
    rect_pixels,
    write_dataset,
)

from segkit.outputs.agreement import build_report


def read_report(cli) -> dict:
    return json.loads((cli.out / "report.json").read_text(encoding="utf-8"))


def pair(report, name) -> dict:
    return next(p for p in report["pairs"] if p["pair"] == name)


def expected_stats(values, ratios=None, threshold=0.5) -> dict:
    ratios = values if ratios is None else ratios
    return {
        "detections": len(values),
        "mean_iou": pytest.approx(sum(values) / len(values), abs=2e-6),
        "median_iou": pytest.approx(statistics.median(values), abs=2e-6),
        "p5_iou": pytest.approx(percentile_5(values), abs=2e-6),
        "min_iou": pytest.approx(min(values), abs=2e-6),
        "below_threshold": sum(v < threshold for v in values),
        "fraction_below": pytest.approx(sum(v < threshold for v in values) / len(values)),
        "median_area_ratio": pytest.approx(statistics.median(ratios), abs=2e-6),
    }


def test_three_backends_report_matches_the_exact_ious(cli, extra_backends):
    write_dataset(cli)
    result = cli.run("mock", "mock-ellipse", "inset2")
    assert result.exit_code == 0, result.output
    report = read_report(cli)
    assert report["backends"] == ["mock", "mock-ellipse", "inset2"]
    assert [p["pair"] for p in report["pairs"]] == ["mock vs mock-ellipse", "mock vs inset2", "mock-ellipse vs inset2"]
    assert (report["images"], report["detections"]) == (2, 5)

    boxes = all_boxes()
    rect = [rect_pixels(b) for _, _, b, _ in boxes]
    ellipse = [ellipse_pixels(b) for _, _, b, _ in boxes]
    inset = [rect_pixels((b[0] + 2, b[1] + 2, b[2] - 2, b[3] - 2)) for _, _, b, _ in boxes]

    # mock vs inset2: (w - 4)(h - 4) / wh, by hand: 36*28/1280, 60*52/3584, 12*12/256, 36*28/1280, 2*2/36.
    by_hand = [1008 / 1280, 3120 / 3584, 144 / 256, 1008 / 1280, 4 / 36]
    assert [inset_iou(b) for _, _, b, _ in boxes] == pytest.approx(by_hand)
    got = pair(report, "mock vs inset2")
    assert got == {**got, **expected_stats(by_hand)}
    assert got["below_threshold"] == 1 and got["fraction_below"] == pytest.approx(0.2)  # the 6 x 6 box

    # mock vs mock-ellipse: the ellipse lies inside its box, so IoU = area ratio = ellipse pixels / box pixels.
    ell = [grid_iou(r, e) for r, e in zip(rect, ellipse)]
    assert ell == pytest.approx([e.sum() / r.sum() for r, e in zip(rect, ellipse)])
    got = pair(report, "mock vs mock-ellipse")
    assert got == {**got, **expected_stats(ell)}
    big = [v for v, (_, _, b, _) in zip(ell, boxes) if (b[2] - b[0]) >= 16]
    assert big == pytest.approx([math.pi / 4] * len(big), abs=0.03)  # tends to pi/4 as boxes grow

    # mock-ellipse vs inset2: neither holds the other; counted pixel by pixel.
    both = [grid_iou(e, i) for e, i in zip(ellipse, inset)]
    ratios = [i.sum() / e.sum() for e, i in zip(ellipse, inset)]
    got = pair(report, "mock-ellipse vs inset2")
    assert got == {**got, **expected_stats(both, ratios)}

    # Every detection's IoU in its image record is the same number.
    records = {stem: cli.record(stem) for stem in DATASET}
    for (stem, det_id, _, _), value in zip(boxes, by_hand):
        assert records[stem]["detections"][det_id]["iou"]["mock vs inset2"] == pytest.approx(value, abs=1e-6)

    # Per label: りんご has detections 0 and 2 of `one` and 1 of `two`.
    apples = next(e for e in report["labels"] if e["label"] == "りんご" and e["pair"] == "mock vs inset2")
    assert apples == {**apples, **expected_stats([by_hand[0], by_hand[2], by_hand[4]])}
    assert {e["label"] for e in report["labels"]} == {"りんご", "皿", "cup"} and len(report["labels"]) == 9

    # Worst first, one entry per detection, with the pair that disagrees most and the panel to look at.
    worst = report["worst"][0]
    assert (worst["image"], worst["detection"], worst["label"]) == ("two.png", 1, "りんご")
    assert worst["iou"] == pytest.approx(min(by_hand[4], ell[4], both[4]), abs=1e-6)
    assert worst["panel"] == "viz/two_panel.jpg" and (cli.out / worst["panel"]).is_file()
    assert all((cli.out / m).is_file() for m in worst["masks"])
    assert len(report["worst"]) == 5 and [w["iou"] for w in report["worst"]] == sorted(w["iou"] for w in report["worst"])

    stats = {s["backend"]: s for s in report["backend_stats"]}
    assert stats["inset2"]["images"] == 2 and stats["inset2"]["detections"] == 5 and stats["inset2"]["failures"] == 0
    assert stats["inset2"]["mean_score"] == 0.75 and stats["mock"]["seconds_per_image"] is not None

    # The closing tables say the same.
    out = " ".join(result.output.replace("│", " ").split())
    assert "IoU per pair of backends: 5 detections in 2 images" in out
    assert "mock vs inset2 5 %.3f" % (sum(by_hand) / 5) in out
    assert "0.111 20.0% 0.787" in out and "viz/two_panel.jpg" in out


def test_report_csv_has_a_row_per_pair_label_and_backend(cli, extra_backends):
    write_dataset(cli)
    assert cli.run("mock", "inset2", extra=["--iou-threshold", "0.8"]).exit_code == 0
    with open(cli.out / "report.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["scope"] for r in rows] == ["pair", "label", "label", "label", "backend", "backend"]
    whole = rows[0]
    assert (whole["pair"], whole["backend_a"], whole["backend_b"], whole["label"]) == ("mock vs inset2", "mock", "inset2", "")
    values = [inset_iou(b) for _, _, b, _ in all_boxes()]
    assert float(whole["mean_iou"]) == pytest.approx(sum(values) / 5, abs=1e-6)
    assert int(whole["below_threshold"]) == sum(v < 0.8 for v in values) == 4 and whole["iou_threshold"] == "0.8"
    assert {r["label"] for r in rows if r["scope"] == "label"} == {"りんご", "皿", "cup"}
    backend_rows = {r["backend"]: r for r in rows if r["scope"] == "backend"}
    assert backend_rows["inset2"]["images"] == "2" and backend_rows["inset2"]["failures"] == "0"


def test_one_backend_has_no_pairs(cli):
    write_dataset(cli)
    result = cli.run("mock")
    assert result.exit_code == 0
    report = read_report(cli)
    assert report["pairs"] == [] and report["labels"] == [] and report["worst"] == []
    assert report["backend_stats"][0]["detections"] == 5
    assert "One backend (mock): no pairs to compare" in " ".join(result.output.split())


def test_no_detections_gives_empty_statistics(cli):
    write_rgb(cli.images / "e.png", SIZE)
    write_qwen(cli.dets / "e.json", [])
    result = cli.run("mock", "mock-ellipse")
    assert result.exit_code == 0, result.output
    report = read_report(cli)
    assert report["images"] == 1 and report["detections"] == 0
    assert report["pairs"] == [{
        "pair": "mock vs mock-ellipse", "a": "mock", "b": "mock-ellipse", "detections": 0, "mean_iou": None,
        "median_iou": None, "p5_iou": None, "min_iou": None, "below_threshold": 0, "fraction_below": None,
        "median_area_ratio": None, "empty_a": 0, "empty_b": 0,
    }]
    assert report["backend_stats"][0] == {"backend": "mock", "images": 1, "detections": 0, "empty_masks": 0,
                                          "mean_score": None, "seconds_per_image": None, "failures": 0, "flagged": 0,
                                          "flags": {"empty": 0, "spill": 0, "low_fill": 0, "fragmented": 0}}


def test_empty_masks_count_as_disagreement_and_leave_the_area_ratio(cli, extra_backends):
    write_dataset(cli)
    assert cli.run("empty", "mock", "inset2").exit_code == 0
    report = read_report(cli)
    vs_mock = pair(report, "empty vs mock")
    assert vs_mock["mean_iou"] == 0.0 and vs_mock["fraction_below"] == 1.0
    assert vs_mock["median_area_ratio"] is None and vs_mock["empty_a"] == 5 and vs_mock["empty_b"] == 0
    assert pair(report, "mock vs inset2")["median_area_ratio"] == pytest.approx(statistics.median(
        [inset_iou(b) for _, _, b, _ in all_boxes()]), abs=1e-6)
    assert {s["backend"]: s["empty_masks"] for s in report["backend_stats"]} == {"empty": 5, "mock": 0, "inset2": 0}


def test_a_failing_backend_is_counted_per_backend(cli, extra_backends):
    from test_plugins import (
        TestPlugin,  # wrong-shape: breaks the contract on every image
    )

    host = extra_backends
    host.register(TestPlugin, name="test-plugin")
    try:
        write_dataset(cli)
        result = cli.run("mock", "wrong-shape")
    finally:
        host.unregister("test-plugin")
    assert result.exit_code == 1
    stats = {s["backend"]: s for s in read_report(cli)["backend_stats"]}
    assert stats["wrong-shape"]["failures"] == 2 and stats["wrong-shape"]["images"] == 0
    assert stats["mock"]["failures"] == 0 and stats["mock"]["images"] == 2
    assert json.loads((cli.out / "backends" / "wrong-shape" / "one.json").read_text())["failed"].startswith("backend 'wrong-shape'")


def test_build_report_pairs_follow_the_given_order_whichever_way_the_record_holds_them():
    from segkit.outputs.records import ImageRecord

    record = ImageRecord.model_validate({
        "version": 2, "image": "x.png", "width": 64, "height": 48, "panel": None, "failed_backends": {},
        "backends": {"a": {"seconds": 0.5}, "b": {"seconds": 1.5}},
        "detections": [{"id": 0, "label": "cat", "iou": {"a vs b": 0.25}, "bbox_xyxy_px": [0, 0, 8, 5],
                        "bbox_xyxy_norm": [0, 0, 0.125, 0.1], "box_area_px": 40,
                        "backends": {"a": {"area_px": 40, "score": 1.0, "mask": None},
                                     "b": {"area_px": 10, "score": 0.5, "mask": None}}}],
    })
    forward = build_report([record], ["a", "b"]).model_dump(mode="json")
    backward = build_report([record], ["b", "a"]).model_dump(mode="json")
    assert forward["pairs"][0]["pair"] == "a vs b" and forward["pairs"][0]["median_area_ratio"] == 0.25
    assert backward["pairs"][0]["pair"] == "b vs a" and backward["pairs"][0]["median_area_ratio"] == 4.0
    assert backward["pairs"][0]["mean_iou"] == forward["pairs"][0]["mean_iou"] == 0.25
    assert [s["seconds_per_image"] for s in forward["backend_stats"]] == [0.5, 1.5]
    assert np.isclose(build_report([record], ["a", "b"], iou_threshold=0.2).pairs[0].fraction_below, 0.0)
