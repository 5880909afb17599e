"""`--coco`: every backend's masks as COCO RLE annotations that pycocotools reads back pixel for pixel."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
from compare_helpers import all_boxes, extra_backends, write_dataset  # noqa: F401
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from segkit.outputs.reading import read_mask
from segkit.pipeline import image_pipeline as image_stage


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


@pytest.fixture
def exported(cli, extra_backends, monkeypatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("the run read a mask back although it had it in memory")

    monkeypatch.setattr(image_stage, "load_answer_masks", no_reading)
    write_dataset(cli)
    result = cli.run("mock", "mock-ellipse", "empty", extra=["--coco"])
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    return cli


def test_every_annotation_round_trips_to_the_mask_png(exported):
    cli = exported
    for backend in ("mock", "mock-ellipse", "empty"):
        coco = quiet(COCO, str(cli.out / "coco" / f"{backend}.json"))
        assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 5
        for ann in coco.loadAnns(coco.getAnnIds()):
            assert isinstance(ann["segmentation"]["counts"], str)
            png = read_mask(cli.out / ann["mask_file"])
            decoded = coco.annToMask(ann).astype(bool)
            np.testing.assert_array_equal(decoded, png)
            assert ann["area"] == int(png.sum()) and ann["iscrowd"] == 0
            if png.any():
                ys, xs = np.nonzero(png)
                assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            else:
                assert ann["bbox"] == [0, 0, 0, 0]
            image = coco.loadImgs(ann["image_id"])[0]
            assert decoded.shape == (image["height"], image["width"])


def test_ids_categories_and_prompt_boxes_are_shared_by_every_backend(exported):
    cli = exported
    docs = {b: json.loads((cli.out / "coco" / f"{b}.json").read_text(encoding="utf-8")) for b in ("mock", "empty")}
    assert docs["mock"]["images"] == docs["empty"]["images"] == [
        {"id": 1, "file_name": "one.png", "width": 128, "height": 64},
        {"id": 2, "file_name": "two.png", "width": 128, "height": 64},
    ]
    assert docs["mock"]["categories"] == docs["empty"]["categories"]
    assert [c["name"] for c in docs["mock"]["categories"]] == sorted({"りんご", "皿", "cup"})
    names = {c["id"]: c["name"] for c in docs["mock"]["categories"]}
    expected = [(1 if stem == "one" else 2, det_id, label, box) for stem, det_id, box, label in all_boxes()]
    got = [(a["image_id"], a["detection_id"], names[a["category_id"]], a["prompt_bbox"]) for a in docs["mock"]["annotations"]]
    assert got == [(img, det, label, [x1, y1, x2 - x1, y2 - y1]) for img, det, label, (x1, y1, x2, y2) in expected]
    # mock fills the box, so its mask bbox is the prompt box.
    assert all(a["bbox"] == a["prompt_bbox"] for a in docs["mock"]["annotations"])
    assert [a["score"] for a in docs["mock"]["annotations"]] == [1.0] * 5


def test_one_backend_evaluates_against_another_with_cocoeval(exported):
    cli = exported
    truth = quiet(COCO, str(cli.out / "coco" / "mock.json"))
    for backend, ap50 in (("mock", 1.0), ("mock-ellipse", 1.0), ("empty", 0.0)):
        results = json.loads((cli.out / "coco" / f"{backend}.json").read_text(encoding="utf-8"))["annotations"]
        evaluation = COCOeval(truth, quiet(truth.loadRes, results), "segm")
        quiet(evaluation.evaluate)
        quiet(evaluation.accumulate)
        quiet(evaluation.summarize)
        assert evaluation.stats[1] == pytest.approx(ap50, abs=1e-6)  # AP at IoU 0.5: the ellipse (IoU ~0.79) matches


def test_resumed_run_and_compare_export_the_same_files(exported, tmp_path):
    cli = exported
    first = {p.name: p.read_bytes() for p in (cli.out / "coco").iterdir()}
    resumed = cli.run("mock", "mock-ellipse", "empty", extra=["--coco"])
    assert "2 already complete" in resumed.output  # masks read back from the PNGs this time
    assert {p.name: p.read_bytes() for p in (cli.out / "coco").iterdir()} == first
    copy = tmp_path / "copy"
    shutil.copytree(cli.out, copy)
    shutil.rmtree(copy / "coco")
    assert cli("compare", copy, "--coco", "--no-panels").exit_code == 0
    assert {p.name: p.read_bytes() for p in (copy / "coco").iterdir()} == first


def test_rle_of_no_masks_and_of_one_mask():
    from segkit.outputs.coco import encode_rle

    assert encode_rle(np.zeros((0, 4, 5), bool)) == []
    rle = encode_rle(np.eye(4, 5, dtype=bool)[None])[0]
    assert rle["size"] == [4, 5]
    np.testing.assert_array_equal(mask_utils.decode({"size": [4, 5], "counts": rle["counts"].encode()}), np.eye(4, 5))
