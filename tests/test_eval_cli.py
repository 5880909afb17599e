"""`segkit eval` and `segkit run --gt` on real files in temporary folders, with the mock backends, whose
masks against the ground truth are known exactly."""

from __future__ import annotations

import math
import shutil
import unicodedata

import numpy as np
import pytest
from compare_helpers import ellipse_pixels
from eval_helpers import (
    SIZE,
    label_row,
    load,
    one_line_error,
    rect_mask,
    row,
    write_coco,
    write_images,
    write_png,
)
from rich.console import Console

from segkit.cli.eval_tables import render_evaluation
from segkit.outputs.mask_metrics import boundary_iou, iou

BIG = (4, 4, 124, 60)  # 120 x 56: its inscribed ellipse covers pi/4 of it to within 0.5%
APPLE = (8, 8, 48, 40)
PLATE = (60, 4, 124, 60)
ELSEWHERE = (90, 44, 120, 62)


def ellipse_iou(box) -> float:
    """IoU of the box filled and its inscribed ellipse on the pixel grid: ellipse area / box area."""
    x1, y1, x2, y2 = box
    return float(ellipse_pixels(box).sum()) / ((x2 - x1) * (y2 - y1))


@pytest.fixture
def analytic(cli, tmp_path):
    """Two images, three detections; the ground truth is exactly the boxes."""
    write_images(cli, {"one": [(APPLE, "りんご", 0.9), (PLATE, "皿", 0.8)], "two": [(BIG, "皿", 0.7)]})
    cli.gt = write_coco(tmp_path / "gt.json", {"one": [(APPLE, "apple"), (PLATE, "plate")], "two": [(BIG, "plate")]})
    return cli


def test_run_with_gt_scores_box_and_ellipse_masks_as_computed_by_hand(analytic):
    cli = analytic
    result = cli.run("mock", "mock-ellipse", extra=["--gt", cli.gt])
    assert result.exit_code == 0, result.output
    doc = load(cli.out / "eval.json")
    assert (doc["images"], doc["detections"], doc["matched"], doc["false_positives"], doc["misses"]) == (2, 3, 3, 0, 0)
    assert doc["backends"] == ["mock", "mock-ellipse"] and doc["class_aware"] is False

    mock = row(doc, "mock")
    assert (mock["mean_iou"], mock["mean_boundary_iou"], mock["ap"], mock["ap50"], mock["ap75"]) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert mock["worse_than_box"] == 0 and mock["best"] == 3.0
    ellipse = row(doc, "mock-ellipse")
    expected = [ellipse_iou(APPLE), ellipse_iou(PLATE), ellipse_iou(BIG)]
    assert ellipse["mean_iou"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert ellipse["median_iou"] == pytest.approx(np.median(expected), abs=1e-6)
    assert abs(ellipse_iou(BIG) - math.pi / 4) < 0.005
    # Every ellipse IoU lies in [0.75, 0.8]: a match at IoU 0.50 ... 0.75 (6 of COCO's 10 thresholds), none above.
    assert all(0.75 <= v < 0.8 for v in expected)
    assert (ellipse["ap"], ellipse["ap50"], ellipse["ap75"]) == (0.6, 1.0, 1.0)
    assert (ellipse["under_50"], ellipse["under_75"], ellipse["worse_than_box"], ellipse["best"]) == (0, 0, 3, 0.0)
    box = row(doc, "box", baseline=True)
    assert box["mean_iou"] == 1.0 and box["best"] is None and box["worse_than_box"] is None
    assert doc["best"] == {"detections": 3, "counts": {"mock": 3.0, "mock-ellipse": 0.0}}

    # Each image record carries, per detection, the scores against its ground truth.
    det = load(cli.out / "json" / "one.json")["detections"][1]
    plate = rect_mask(PLATE)
    assert det["ground_truth"] == {
        "status": "matched", "gt_id": 101, "category": "plate", "match_iou": 1.0,
        "backends": {"mock": {"iou": 1.0, "boundary_iou": 1.0},
                     "mock-ellipse": {"iou": round(ellipse_iou(PLATE), 6),
                                      "boundary_iou": round(boundary_iou(ellipse_pixels(PLATE), plate), 6)}},
        "box": {"iou": 1.0, "boundary_iou": 1.0},
    }
    worst = doc["worst"]["mock-ellipse"][0]
    assert worst["iou"] == round(min(expected), 6) and worst["panel"].startswith("viz/") and worst["mask"].startswith("masks/")
    csv = (cli.out / "eval.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("scope,label,backend,baseline,detections,matched") and len(csv) == 1 + 3 + 2 * 3
    text = " ".join(result.output.split())
    assert "Against ground truth" in text and "3 matched (box IoU ≥ 0.5, class-agnostic)" in text and "(box)" in text


def test_polygon_and_rle_ground_truth_of_the_same_shapes_score_the_same(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock", "mock-ellipse").exit_code == 0
    triangle = [10, 50, 40, 58, 20, 62]  # any polygon: its RLE is what pycocotools draws from it
    from pycocotools import mask as mask_utils

    drawn = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([triangle], SIZE[1], SIZE[0]))).astype(bool)
    truth = {"one": [(APPLE, "apple"), (PLATE, "plate"), (triangle, "crumb")], "two": [(BIG, "plate")]}
    as_rle = {"one": [(APPLE, "apple"), (PLATE, "plate"), (drawn, "crumb")], "two": [(BIG, "plate")]}
    polygons = write_coco(tmp_path / "poly.json", truth)
    rles = write_coco(tmp_path / "rle.json", as_rle, as_rle=True)
    assert cli("eval", cli.out, "--gt", polygons).exit_code == 0
    first = load(cli.out / "eval.json")
    assert cli("eval", cli.out, "--gt", rles).exit_code == 0
    second = load(cli.out / "eval.json")
    for key in ("per_backend", "per_label", "missed_ground_truth", "best", "worst"):
        assert first[key] == second[key]
    assert first["misses"] == 1 and first["missed_ground_truth"][0]["gt_id"] == 102


def test_a_missing_and_an_extra_detection_are_counted_listed_and_cost_ap(cli, tmp_path):
    # `one` has 3 ground-truth objects; the detector found 2 of them and boxed one thing that is not there
    # (listed first, with the lowest confidence). Perfect masks ranked by mask score x confidence: TP, TP, FP,
    # precision 1 up to recall 2/3, so COCO's 101-point AP is 67/101 at every IoU threshold.
    write_images(cli, {"one": [((34, 44, 56, 60), "りんご", 0.3), (APPLE, "りんご", 0.9), (PLATE, "皿", 0.8)]})
    gt = write_coco(tmp_path / "gt.json", {"one": [(APPLE, "apple"), (PLATE, "apple"), ((10, 44, 30, 60), "plate")]})
    result = cli.run("mock", extra=["--gt", gt])
    assert result.exit_code == 0, result.output
    doc = load(cli.out / "eval.json")
    assert (doc["detections"], doc["matched"], doc["false_positives"], doc["misses"]) == (3, 2, 1, 1)
    assert doc["unmatched_detections"] == [{"image": "one.png", "detection": 0, "label": "りんご", "confidence": 0.3, "best_box_iou": 0.0}]
    assert doc["missed_ground_truth"] == [{"image": "one.png", "gt_id": 102, "category": "plate", "bbox_xyxy_px": [10.0, 44.0, 30.0, 60.0]}]
    mock = row(doc, "mock")
    assert mock["ap"] == mock["ap50"] == mock["ap75"] == pytest.approx(67 / 101, abs=1e-6)
    assert (mock["false_positives"], mock["misses"], mock["matched"], mock["mean_iou"]) == (1, 1, 2, 1.0)
    fp = load(cli.out / "json" / "one.json")["detections"][0]["ground_truth"]
    assert fp == {"status": "false_positive", "gt_id": None, "category": None, "match_iou": None, "backends": {}, "box": None}
    text = " ".join(result.output.split())
    assert "false positives (no ground truth): one.png det 0 (りんご)" in text and "missed ground truth: one.png gt 102 (plate)" in text


def test_japanese_labels_through_a_label_map_make_matching_class_aware(cli, tmp_path):
    # The potato detection sits on the plate's ground truth: class-agnostic it matches the plate, class-aware
    # (ポテト -> potato) it is a false positive and the plate is missed. The map's key is written decomposed
    # (NFD), as some keyboards produce it.
    write_images(cli, {"one": [(APPLE, "りんご", 0.9), (PLATE, "ポテト", 0.8)]})
    gt = write_coco(tmp_path / "gt.json", {"one": [(APPLE, "apple"), (PLATE, "plate"), ((0, 44, 8, 64), "potato")]})
    label_map = tmp_path / "labels.yaml"
    label_map.write_text(f"りんご: apple\n{unicodedata.normalize('NFD', 'ポテト')}: potato\n", encoding="utf-8")
    assert cli.run("mock", extra=["--gt", gt]).exit_code == 0
    agnostic = load(cli.out / "eval.json")
    assert (agnostic["matched"], agnostic["false_positives"], agnostic["misses"]) == (2, 0, 1)
    assert {r["label"] for r in agnostic["per_label"]} == {"りんご", "ポテト"}

    result = cli("eval", cli.out, "--gt", gt, "--label-map", label_map)
    assert result.exit_code == 0, result.output
    doc = load(cli.out / "eval.json")
    assert doc["class_aware"] is True and (doc["matched"], doc["false_positives"], doc["misses"]) == (1, 1, 2)
    assert {r["label"] for r in doc["per_label"]} == {"apple", "plate", "potato"}  # categories missed included
    apple, potato = label_row(doc, "apple", "mock"), label_row(doc, "potato", "mock")
    assert (apple["matched"], apple["mean_iou"], apple["ap"], apple["misses"], apple["false_positives"]) == (1, 1.0, 1.0, 0, 0)
    assert (potato["matched"], potato["ap"], potato["misses"], potato["false_positives"]) == (0, 0.0, 1, 1)
    plate = label_row(doc, "plate", "mock")
    assert (plate["detections"], plate["matched"], plate["mean_iou"], plate["ap"], plate["misses"]) == (0, 0, None, 0.0, 1)
    assert "class-aware (label map)" in " ".join(result.output.split())
    # Labels the map does not name are left out, and said so.
    label_map.write_text("りんご: apple\n", encoding="utf-8")
    assert cli("eval", cli.out, "--gt", gt, "--label-map", label_map).exit_code == 0
    doc = load(cli.out / "eval.json")
    assert (doc["detections"], doc["unmapped"], doc["misses"]) == (1, 1, 2)
    assert load(cli.out / "json" / "one.json")["detections"][1]["ground_truth"]["status"] == "unmapped"


def test_semantic_masks_score_each_detection_against_its_class_inside_its_box(cli, tmp_path):
    write_images(cli, {"one": [(APPLE, "りんご", 0.9), (PLATE, "皿", 0.8), ((0, 44, 8, 64), "影", 0.5)]})
    classes = np.zeros((SIZE[1], SIZE[0]), np.uint8)
    classes[rect_mask(PLATE)] = 2
    classes[rect_mask(APPLE)] = 1
    classes[rect_mask((20, 0, 30, 4))] = 3  # a cup nobody detected
    classes[rect_mask((4, 4, 8, 8))] = 255  # void
    write_png(tmp_path / "sem" / "one.png", classes)
    names = tmp_path / "category_id.txt"
    names.write_text("0\tbackground\n1\tapple\n2\tplate\n3\tcup\n", encoding="utf-8")
    result = cli.run("mock", "mock-ellipse", extra=["--gt", tmp_path / "sem"])
    assert result.exit_code == 0 and "not evaluated" not in result.output  # a folder without --gt-classes: instance PNGs...
    assert load(cli.out / "eval.json")["ground_truth"]["format"] == "instance-pngs"  # ... where pixel values are ids
    result = cli("eval", cli.out, "--gt", tmp_path / "sem", "--gt-classes", names)
    assert result.exit_code == 0, result.output
    doc = load(cli.out / "eval.json")
    assert doc["ground_truth"]["format"] == "semantic" and doc["ground_truth"]["categories"] == ["apple", "cup", "plate"]
    assert (doc["matched"], doc["false_positives"], doc["misses"]) == (2, 1, 1)
    assert doc["missed_ground_truth"] == [{"image": "one.png", "gt_id": 3, "category": "cup", "bbox_xyxy_px": None}]
    mock = row(doc, "mock")
    assert mock["mean_iou"] == 1.0 and mock["ap"] is None  # the class's region inside the box is the box here
    det = load(cli.out / "json" / "one.json")["detections"][1]["ground_truth"]
    assert (det["gt_id"], det["category"], det["match_iou"]) == (2, "plate", None)
    assert det["backends"]["mock-ellipse"]["iou"] == round(ellipse_iou(PLATE), 6)
    assert "class region inside the box" in " ".join(result.output.split())


def test_instance_pngs_one_per_instance_or_indexed_score_like_coco(cli, tmp_path):
    write_images(cli, {"one": [(APPLE, "a", 0.9), (PLATE, "b", 0.8)], "two": [(BIG, "c", 0.7)]})
    write_png(tmp_path / "pngs" / "one_1.png", rect_mask(APPLE) * 255)
    write_png(tmp_path / "pngs" / "one_2.png", rect_mask(PLATE) * 255)
    write_png(tmp_path / "pngs" / "two.png", rect_mask(BIG) * 7)  # instance id 7
    assert cli.run("mock", "mock-ellipse", extra=["--gt", tmp_path / "pngs"]).exit_code == 0
    from_pngs = load(cli.out / "eval.json")
    coco = write_coco(tmp_path / "gt.json", {"one": [(APPLE, "x"), (PLATE, "x")], "two": [(BIG, "x")]})
    assert cli("eval", cli.out, "--gt", coco).exit_code == 0
    from_coco = load(cli.out / "eval.json")
    assert from_pngs["per_backend"] == from_coco["per_backend"]
    assert from_pngs["ground_truth"]["format"] == "instance-pngs" and from_pngs["ground_truth"]["categories"] is None
    assert [d["ground_truth"]["gt_id"] for d in load(cli.out / "json" / "one.json")["detections"]] == [100, 101]
    assert cli("eval", cli.out, "--gt", tmp_path / "pngs").exit_code == 0
    assert load(cli.out / "json" / "two.json")["detections"][0]["ground_truth"]["gt_id"] == 7


def test_images_without_ground_truth_are_listed_and_skipped(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock").exit_code == 0
    gt = write_coco(tmp_path / "only-one.json", {"one": [(APPLE, "apple"), (PLATE, "plate")]})
    result = cli("eval", cli.out, "--gt", gt)
    assert result.exit_code == 0, result.output
    doc = load(cli.out / "eval.json")
    assert doc["images"] == 1 and doc["images_without_ground_truth"] == ["two.png"] and doc["detections"] == 2
    assert "1 image(s) without ground truth, skipped: two.png" in " ".join(result.output.split())
    assert "ground_truth" not in load(cli.out / "json" / "two.json")["detections"][0]  # stale entries are dropped


def test_compare_keeps_the_ground_truth_entries_by_evaluating_again(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock", "mock-ellipse", extra=["--gt", cli.gt]).exit_code == 0
    before = load(cli.out / "eval.json")
    result = cli("compare", cli.out, "--no-panels")
    assert result.exit_code == 0, result.output
    assert "Against ground truth" in result.output
    assert "ground_truth" in load(cli.out / "json" / "one.json")["detections"][0]
    assert load(cli.out / "eval.json")["per_backend"] == before["per_backend"]
    # A compare of a subset scores that subset; the ground truth gone, it says what was lost and how to redo it.
    shutil.move(cli.gt, tmp_path / "moved.json")
    result = cli("compare", cli.out, "--no-panels", "-b", "mock")
    assert result.exit_code == 0
    assert "rewritten image records have no ground-truth entries; run `segkit eval" in " ".join(result.output.split())
    assert "ground_truth" not in load(cli.out / "json" / "one.json")["detections"][0]


def test_masks_stored_as_rle_score_like_mask_files(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock", "mock-ellipse", extra=["--gt", cli.gt]).exit_code == 0
    rle_out = tmp_path / "rle-out"
    result = cli.run("mock", "mock-ellipse", extra=["--gt", cli.gt, "--mask-format", "rle", "--out", rle_out])
    assert result.exit_code == 0, result.output
    assert not (rle_out / "masks").exists() or not any((rle_out / "masks").rglob("*.png"))  # the masks are in the records
    from_files, from_rle = load(cli.out / "eval.json"), load(rle_out / "eval.json")
    assert from_rle["per_backend"] == from_files["per_backend"] and from_rle["per_label"] == from_files["per_label"]
    assert load(rle_out / "json" / "one.json")["detections"][1]["ground_truth"]["backends"] == \
        load(cli.out / "json" / "one.json")["detections"][1]["ground_truth"]["backends"]


def test_the_terminal_tables_fit_80_columns_and_print_labels_as_text(cli, tmp_path):
    label = "[bold red]とても長いラベル名の検出[/]\x1b]0;title\x07 and more words"
    write_images(cli, {"one": [(APPLE, label, 0.9), (PLATE, "皿", 0.8)]})
    gt = write_coco(tmp_path / "gt.json", {"one": [(APPLE, "apple")]})
    assert cli.run("mock", "mock-ellipse", extra=["--gt", gt]).exit_code == 0
    doc = load(cli.out / "eval.json")
    for width in (80, 120):
        console = Console(width=width, record=True, color_system=None)
        render_evaluation(console, doc, ["out/eval.json", "out/eval.csv"])
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        assert f"{ellipse_iou(APPLE):.3f}" in text and "(box)" in text and "mask AP" in text
        assert "[bold" in text and "[/]" in text and "\\x1b]0" in text  # a label is data: never markup, controls escaped
        assert "\x1b" not in text and "\x07" not in text


# -- bad input: one line each, what and how to fix ------------------------------------------------


def test_ground_truth_for_none_of_the_images(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock").exit_code == 0
    gt = write_coco(tmp_path / "other.json", {"elsewhere": [(APPLE, "apple")]})
    text = one_line_error(cli("eval", cli.out, "--gt", gt))
    assert "covers none of the 2 image(s)" in text and "(one.png, two.png)" in text and "elsewhere.png" in text
    # From the config file (its example ground truth, other images): a warning, and the run succeeds.
    config = tmp_path / "config.yaml"
    config.write_text(f"gt: {gt}\n", encoding="utf-8")
    result = cli.run("mock", extra=["--config", config])
    assert result.exit_code == 0 and "warning: not evaluated: ground truth" in " ".join(result.output.split())
    result = cli.run("mock", extra=["--gt", gt, "--force"])  # given on the command line: an error
    assert result.exit_code == 2 and "error: evaluation: ground truth" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "content, message",
    [
        ("{ not json", "is not COCO instance annotations: not valid JSON (line 1"),
        ('[{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.9, "category_id": 1}]', "it is a list (COCO *results*?)"),
        ('{"images": []}', "expected an 'annotations' list"),
        ('{"images": [{"id": 1, "file_name": "one.png"}], "annotations": [{"image_id": 2, "segmentation": []}]}',
         "annotations[0] refers to image id 2, which 'images' does not list"),
    ],
)
def test_a_ground_truth_file_that_is_not_coco(analytic, tmp_path, content, message):
    cli = analytic
    assert cli.run("mock").exit_code == 0
    (tmp_path / "bad.json").write_text(content, encoding="utf-8")
    assert message in one_line_error(cli("eval", cli.out, "--gt", tmp_path / "bad.json"))


def test_a_polygon_of_two_points_skips_its_image_and_the_rest_is_scored(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock").exit_code == 0
    gt = write_coco(tmp_path / "gt.json", {"one": [(APPLE, "apple"), ([60, 4, 124, 60], "plate")], "two": [(BIG, "plate")]})
    result = cli("eval", cli.out, "--gt", gt)
    assert result.exit_code == 1 and "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and "one.png:" in failed[0] and "annotations[1]" in failed[0]
    assert "polygon 0 has 2 point(s); a polygon needs at least 3" in failed[0]
    doc = load(cli.out / "eval.json")
    assert doc["images"] == 1 and doc["image_problems"][0]["image"] == "one.png" and doc["detections"] == 1
    assert "1 image(s) could not be scored" in result.output
    # When that leaves nothing to score: one line.
    gt = write_coco(tmp_path / "gt1.json", {"one": [([1, 2, 3, 4], "apple")]})
    assert "no image could be scored: one.png:" in one_line_error(cli("eval", cli.out, "--gt", gt, "-b", "mock"))


def test_ground_truth_masks_of_another_size(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock").exit_code == 0
    write_png(tmp_path / "pngs" / "one.png", np.zeros((10, 20)))
    write_png(tmp_path / "pngs" / "two.png", rect_mask(BIG))
    result = cli("eval", cli.out, "--gt", tmp_path / "pngs")
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and "one.png is 20x10 but the image is 128x64" in " ".join(failed[0].split())
    gt = write_coco(tmp_path / "gt.json", {"one": [(rect_mask(APPLE, (64, 32)), "apple")], "two": [(BIG, "x")]})
    result = cli("eval", cli.out, "--gt", gt)
    assert result.exit_code == 1 and "the RLE mask is 64x32 but the image is 128x64" in " ".join(result.output.split())


def test_a_label_map_naming_unknown_categories(analytic, tmp_path):
    cli = analytic
    assert cli.run("mock").exit_code == 0
    label_map = tmp_path / "map.yaml"
    label_map.write_text("りんご: aple\n皿: plate\n", encoding="utf-8")
    text = one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--label-map", label_map))
    assert "names categories the ground truth does not have: 'aple' (for 'りんご'); its categories are: apple, plate" in text
    label_map.write_text("- not a mapping\n", encoding="utf-8")
    assert "is not a mapping of detector label to category" in one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--label-map", label_map))
    write_png(tmp_path / "pngs" / "one.png", rect_mask(APPLE))
    assert "instance PNGs have none" in one_line_error(cli("eval", cli.out, "--gt", tmp_path / "pngs", "--label-map", label_map))


def test_other_bad_arguments(cli, tmp_path):
    assert "does not exist; pass --gt" in one_line_error(cli("eval", tmp_path, "--gt", tmp_path / "nope.json"))
    (tmp_path / "gt.json").write_text('{"images": [], "annotations": []}', encoding="utf-8")
    assert "has no image records" in one_line_error(cli("eval", tmp_path, "--gt", tmp_path / "gt.json"))
    assert "is not a folder" in one_line_error(cli("eval", tmp_path / "missing", "--gt", tmp_path / "gt.json"))
    assert "needs its class names: pass --gt-classes" in one_line_error(
        cli("eval", tmp_path, "--gt", tmp_path, "--gt-format", "semantic"))


def test_boundary_iou_in_records_is_the_masks_module_measure(analytic):
    """The records hold what segkit.outputs.mask_metrics computes for the mask files: one implementation of each measure."""
    cli = analytic
    assert cli.run("mock-ellipse", extra=["--gt", cli.gt]).exit_code == 0
    from segkit.outputs.reading import read_mask

    det = load(cli.out / "json" / "two.json")["detections"][0]
    mask = read_mask(cli.out / det["backends"]["mock-ellipse"]["mask"])
    scores = det["ground_truth"]["backends"]["mock-ellipse"]
    assert scores["iou"] == round(iou(mask, rect_mask(BIG)), 6)
    assert scores["boundary_iou"] == round(boundary_iou(mask, rect_mask(BIG)), 6) < scores["iou"]


def test_the_shipped_ground_truth_covers_every_example_detection(cli):
    """examples/ground_truth.json: one hand-drawn object per example detection, each where its box is."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = cli("run", "-b", "mock", "-b", "mock-ellipse", "--out", cli.out, "--images", root / "examples" / "images",
                 "--detections", root / "examples" / "detections", "--gt", root / "examples" / "ground_truth.json")
    assert result.exit_code == 0, result.output
    doc = load(cli.out / "eval.json")
    assert (doc["images"], doc["detections"], doc["matched"], doc["false_positives"], doc["misses"]) == (5, 25, 25, 0, 0)
    assert doc["ground_truth"]["instances"] == 25 and doc["image_problems"] == []
    # `mock` fills the box: it scores exactly as the box baseline does.
    assert {k: v for k, v in row(doc, "mock").items() if k not in ("backend", "baseline", "best", "worse_than_box")} == \
        {k: v for k, v in row(doc, "box", baseline=True).items() if k not in ("backend", "baseline", "best", "worse_than_box")}
    assert 0.5 < row(doc, "mock")["mean_iou"] < 0.8  # the objects are not their boxes
    # The shipped label map names every example label: class-aware, the same 25 matches, 17 categories.
    result = cli("eval", cli.out, "--gt", root / "examples" / "ground_truth.json", "--label-map", root / "examples" / "label_map.yaml")
    assert result.exit_code == 0, result.output
    aware = load(cli.out / "eval.json")
    assert aware["class_aware"] and (aware["matched"], aware["unmapped"]) == (25, 0)
    assert len({r["label"] for r in aware["per_label"]}) == 17 and label_row(aware, "coin", "mock")["detections"] == 7
