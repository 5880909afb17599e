"""The parts of `segkit eval` on their own: matching, COCOeval's numbers, the ground-truth readers, label maps."""

from __future__ import annotations

import contextlib
import io
import json
import unicodedata

import numpy as np
import pytest
from eval_helpers import rect_mask, write_png

from segkit.errors import ConfigError, InputError
from segkit.evaluation.coco_ap import ApCollector
from segkit.evaluation.ground_truth.base import GroundTruthProblem, GtImage, GtInstance
from segkit.evaluation.ground_truth.formats import open_ground_truth
from segkit.evaluation.ground_truth.semantic import read_class_names
from segkit.evaluation.label_map import UNMAPPED, load_label_map
from segkit.evaluation.matching import (
    Candidate,
    box_ious,
    match_instances,
    match_semantic,
)

SIZE = (128, 64)


def instance(gt_id, box, category=None, crowd=False) -> GtInstance:
    return GtInstance(gt_id, category, rect_mask(box, SIZE), crowd)


def test_box_ious_by_hand():
    np.testing.assert_allclose(box_ious([(0, 0, 10, 10), (5, 0, 15, 10)], [(0, 0, 10, 10), (20, 20, 30, 30)]),
                               [[1.0, 0.0], [50 / 150, 0.0]])
    assert box_ious([], [(0, 0, 1, 1)]).shape == (0, 1)


def test_matching_is_one_to_one_highest_confidence_first():
    gt = [instance(7, (0, 0, 40, 40)), instance(8, (60, 0, 100, 40))]
    # Two detections on the first object: the more confident one takes it although the other fits better.
    tight = Candidate(0, (0, 0, 40, 40), 0.5, None)  # box IoU 1.0, but less confident: a false positive
    loose = Candidate(1, (0, 0, 40, 48), 0.9, None)  # box IoU 40*40 / (40*48) = 0.833
    nothing = Candidate(2, (100, 44, 120, 60), None, None)  # no confidence counts as 1.0: matched first, to nothing
    matches, misses = match_instances([tight, loose, nothing], gt, 0.5)
    assert [m.gt_id for m in matches] == [None, 7, None]
    assert matches[1].match_iou == pytest.approx(40 / 48) and matches[0].best_box_iou == 1.0
    assert [g.gt_id for g in misses] == [8]
    # Below the threshold nothing matches.
    matches, misses = match_instances([Candidate(0, (0, 0, 40, 100), 0.9, None)], gt, 0.5)  # IoU 0.4
    assert matches[0].gt_id is None and len(misses) == 2


def test_class_aware_matching_and_crowds():
    gt = [instance(1, (0, 0, 40, 40), "apple"), instance(2, (0, 0, 40, 40), "plate"), instance(3, (60, 0, 100, 40), "plate", crowd=True)]
    matches, misses = match_instances([Candidate(0, (0, 0, 40, 40), 0.9, "plate"), Candidate(1, (60, 0, 100, 40), 0.8, "plate")], gt, 0.5)
    assert [m.gt_id for m in matches] == [2, None]  # the crowd region is never matched
    assert [g.gt_id for g in misses] == [1]  # nor counted as missed


def test_semantic_matching_takes_the_class_inside_the_box():
    classes = np.zeros((SIZE[1], SIZE[0]), np.int64)
    classes[rect_mask((0, 0, 40, 40))] = 5
    classes[rect_mask((30, 0, 60, 40))] = 6  # overlaps the first box by 10 columns
    gt = GtImage("x", classes=classes, class_names={0: "background", 5: "apple", 6: "plate"}, ignore=frozenset({0, 255}))
    by_majority, by_label, on_nothing = (Candidate(0, (0, 0, 40, 40), 0.9, None), Candidate(1, (0, 0, 40, 40), 0.9, "plate"),
                                         Candidate(2, (100, 40, 120, 60), 0.9, None))
    matches, missed = match_semantic([by_majority, by_label, on_nothing], gt)
    assert [m.gt_id for m in matches] == [5, 6, None]
    np.testing.assert_array_equal(matches[0].mask, rect_mask((0, 0, 30, 40), SIZE))  # apple's region inside the box
    np.testing.assert_array_equal(matches[1].mask, rect_mask((30, 0, 40, 40), SIZE))  # plate's region inside the box
    assert missed == []


def perfect(box):
    return rect_mask(box, SIZE)


def ap(collector: ApCollector, name="b"):
    scores = collector.scores(name)
    return scores.ap, scores.ap50, scores.ap75


def test_coco_ap_on_cases_whose_ap_is_known():
    a, b = (0, 0, 40, 40), (60, 0, 100, 40)
    # Every object found exactly: AP 1.
    c = ApCollector(False, None)
    c.add_image(SIZE, [(perfect(a), None, False), (perfect(b), None, False)], {"b": [(perfect(a), 0.9, None), (perfect(b), 0.8, None)]})
    assert ap(c) == (1.0, 1.0, 1.0)
    # A false positive ranked above the only true positive: precision 1/2 at full recall, so AP 1/2.
    c = ApCollector(False, None)
    c.add_image(SIZE, [(perfect(a), None, False)], {"b": [(perfect(b), 0.9, None), (perfect(a), 0.8, None)]})
    assert ap(c) == pytest.approx((0.5, 0.5, 0.5))
    # Half the objects found, ranked first: precision 1 up to recall 1/2, i.e. 51 of COCO's 101 recall points.
    c = ApCollector(False, None)
    c.add_image(SIZE, [(perfect(a), None, False), (perfect(b), None, False)], {"b": [(perfect(a), 0.9, None)]})
    assert ap(c) == pytest.approx((51 / 101,) * 3)
    # A mask of IoU 0.725 matches at thresholds 0.50 ... 0.70 (5 of 10): AP 0.5, AP50 1, AP75 0.
    c = ApCollector(False, None)
    c.add_image(SIZE, [(perfect((0, 0, 40, 40)), None, False)], {"b": [(perfect((0, 0, 40, 29)), 0.9, None)]})
    assert ap(c) == pytest.approx((0.5, 1.0, 0.0))
    # No detections at all: AP 0; nothing to find: no AP.
    c = ApCollector(False, None)
    c.add_image(SIZE, [(perfect(a), None, False)], {"b": []})
    assert ap(c) == (0.0, 0.0, 0.0)
    c = ApCollector(False, None)
    c.add_image(SIZE, [], {"b": [(perfect(a), 0.9, None)]})
    assert ap(c) == (None, None, None)


def test_coco_ap_is_what_cocoeval_summarize_prints_and_per_category_when_class_aware():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(3)
    c = ApCollector(True, ["apple", "plate"])
    dataset = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "apple"}, {"id": 2, "name": "plate"}]}
    results = []
    for image_id in range(1, 4):
        gts, dts = [], []
        for k in range(3):
            x, y = int(rng.integers(0, 80)), int(rng.integers(0, 30))
            box = (x, y, x + int(rng.integers(10, 40)), y + int(rng.integers(10, 30)))
            category = ["apple", "plate"][k % 2]
            gts.append((perfect(box), category, False))
            jitter = (box[0] + int(rng.integers(-4, 5)), box[1], box[2], box[3] + int(rng.integers(-4, 5)))
            dts.append((perfect(tuple(max(0, v) for v in jitter)), float(rng.random()), category))
        c.add_image(SIZE, gts, {"b": dts})
        from segkit.evaluation.coco_ap import rle_of

        dataset["images"].append({"id": image_id, "width": SIZE[0], "height": SIZE[1]})
        for mask, category, _ in gts:
            dataset["annotations"].append({"id": len(dataset["annotations"]) + 1, "image_id": image_id, "category_id": 1 + (category == "plate"),
                                           "segmentation": rle_of(mask), "area": float(mask.sum()), "iscrowd": 0})
        for mask, score, category in dts:
            results.append({"image_id": image_id, "category_id": 1 + (category == "plate"), "segmentation": rle_of(mask), "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    scores = c.scores("b")
    assert (scores.ap, scores.ap50, scores.ap75) == pytest.approx(tuple(evaluation.stats[:3]))
    assert set(scores.per_category) == {"apple", "plate"}
    assert np.mean([s.ap for s in scores.per_category.values()]) == pytest.approx(scores.ap)


def write_json(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_coco_reader_finds_images_by_file_name_and_reports_bad_annotations(tmp_path):
    gt = open_ground_truth(write_json(tmp_path / "gt.json", {
        "images": [{"id": 1, "file_name": "sub/one.png", "width": 128, "height": 64}, {"id": 2, "file_name": "two.jpg"}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 3, "segmentation": [[8, 8, 48, 8, 48, 40, 8, 40]], "iscrowd": 0},
            {"id": 6, "image_id": 2, "category_id": 3, "segmentation": [[1, 1, 2, 2, 3]]},
        ],
        "categories": [{"id": 3, "name": "apple"}],
    }))
    assert gt.has("one.png") and gt.has("two.png") and not gt.has("three.png")  # by file name, then by stem
    image = gt.load("one.png", SIZE)
    assert [(i.gt_id, i.category, i.box) for i in image.instances] == [(5, "apple", (8.0, 8.0, 48.0, 40.0))]
    np.testing.assert_array_equal(image.instances[0].mask, rect_mask((8, 8, 48, 40), SIZE))
    with pytest.raises(GroundTruthProblem, match="is 128x64 but the image is 64x64"):
        gt.load("one.png", (64, 64))
    with pytest.raises(GroundTruthProblem, match=r"annotations\[1\] \(id 6, image two.jpg\): polygon 0 has an odd count of numbers \(5\)"):
        gt.load("two.png", SIZE)
    with pytest.raises(InputError, match="categories\\[0\\] needs an 'id' and a 'name'"):
        open_ground_truth(write_json(tmp_path / "bad.json", {"images": [], "annotations": [], "categories": [{"id": 1}]}))


def test_instance_png_reader_and_colour_pictures(tmp_path):
    write_png(tmp_path / "a.png", rect_mask((0, 0, 10, 10), SIZE) * 3 + rect_mask((20, 0, 30, 10), SIZE) * 9)
    rgb = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    write_png(tmp_path / "b_1.png", rgb)
    gt = open_ground_truth(tmp_path)
    assert [i.gt_id for i in gt.load("a.jpg", SIZE).instances] == [3, 9]
    with pytest.raises(GroundTruthProblem, match="is a colour .* picture; ground-truth PNGs hold one id per pixel"):
        gt.load("b.jpg", SIZE)


def test_class_name_files_numbered_or_one_per_line(tmp_path):
    (tmp_path / "a.txt").write_text("0\tbackground\n1\tcandy\n2   egg tart\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("background\ncandy\n\negg tart\n", encoding="utf-8")
    assert read_class_names(tmp_path / "a.txt") == {0: "background", 1: "candy", 2: "egg tart"}
    assert read_class_names(tmp_path / "b.txt") == {0: "background", 1: "candy", 3: "egg tart"}
    (tmp_path / "c.txt").write_text("1 a\n1 b\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2: id 1 is listed twice"):
        read_class_names(tmp_path / "c.txt")


def test_label_maps_normalize_unicode_and_allow_null(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({unicodedata.normalize("NFD", " ポテト "): "potato", "影": None}), encoding="utf-8")
    label_map = load_label_map(path, ["potato", "plate"])
    assert label_map.class_aware and label_map.category("ポテト") == "potato"
    assert label_map.category("影") is None and label_map.category("皿") is UNMAPPED
    path.write_text('{"ポテト": 3}', encoding="utf-8")
    with pytest.raises(ConfigError, match="'ポテト' maps to 3; give a category name"):
        load_label_map(path, ["potato"])
    assert not load_label_map(None, None).class_aware
