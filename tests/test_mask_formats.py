"""Mask storage: 1-bit PNGs that decode to exactly the backend's masks, or COCO RLE inside the records;
resume, compare and --coco work from either, and from a folder that mixes them after a merge."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb
from compare_helpers import DATASET, write_dataset
from PIL import Image
from pycocotools import mask as mask_utils

import segkit
from segkit.outputs.mask_png import encode_mask_png
from segkit.plugins.host import get_host

SIZE = (96, 64)


class Speckled(segkit.Segmenter):
    """Random speckle inside each box, seeded by the box: masks no shape-based shortcut could fake."""

    def segment(self, image, boxes):
        h, w = image.shape[:2]
        masks = np.zeros((len(boxes), h, w), bool)
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, int)):
            rng = np.random.default_rng(int(x1 * 1000 + y1))
            masks[i, y1:y2, x1:x2] = rng.random((y2 - y1, x2 - x1)) > 0.4
        return segkit.Segmentation(masks, np.linspace(0.5, 0.9, len(boxes)))


class SpeckledPlugin:
    @staticmethod
    @segkit.hookimpl
    def register_segmenters(register):
        register("speckled", Speckled)


@pytest.fixture
def speckled():
    host = get_host()
    host.register(SpeckledPlugin, name="speckled-plugin")
    yield Speckled("speckled")
    host.unregister("speckled-plugin")


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def backend_masks(backend, cli, stem):
    """What the backend answers for the image, straight from the backend (the truth the files must hold)."""
    image = np.asarray(Image.open(cli.images / f"{stem}.png").convert("RGB"))
    record = load(cli.out / "json" / f"{stem}.json")
    boxes = np.array([d["bbox_xyxy_px"] for d in record["detections"]], np.float32)
    return backend.segment(image, boxes).masks


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 3), (33, 17), (480, 640)])
def test_mask_png_decodes_to_the_same_pixels_in_pillow_and_opencv(shape):
    mask = np.random.default_rng(sum(shape)).random(shape) > 0.5
    data = encode_mask_png(mask)
    from_cv2 = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    with Image.open(__import__("io").BytesIO(data)) as image:
        assert image.mode == "1" and image.size == (shape[1], shape[0])
        np.testing.assert_array_equal(np.asarray(image), mask)
    np.testing.assert_array_equal(from_cv2 > 127, mask)
    assert set(np.unique(from_cv2)) <= {0, 255}


def test_png_masks_equal_the_backends_masks(cli, speckled):
    write_dataset(cli, size=SIZE)
    assert cli.run("speckled").exit_code == 0
    for stem in DATASET:
        expected = backend_masks(speckled, cli, stem)
        record = load(cli.out / "json" / f"{stem}.json")
        for det, mask in zip(record["detections"], expected):
            stored = cv2.imread(str(cli.out / det["backends"]["speckled"]["mask"]), cv2.IMREAD_GRAYSCALE) > 127
            np.testing.assert_array_equal(stored, mask)
            assert det["backends"]["speckled"]["area_px"] == mask.sum()


def test_rle_masks_live_in_the_backend_records_and_equal_the_backends_masks(cli, speckled):
    write_dataset(cli, size=SIZE)
    result = cli.run("speckled", "mock", extra=["--mask-format", "rle"])
    assert result.exit_code == 0, result.output
    assert not list((cli.out / "masks").rglob("*.png"))  # no mask files at all
    for stem in DATASET:
        expected = backend_masks(speckled, cli, stem)
        backend = load(cli.out / "backends" / "speckled" / f"{stem}.json")
        for answer, mask in zip(backend["answers"], expected):
            assert answer["mask"] is None and answer["rle"]["size"] == [SIZE[1], SIZE[0]]
            rle = {"size": answer["rle"]["size"], "counts": answer["rle"]["counts"].encode()}
            np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), mask)
        record = load(cli.out / "json" / f"{stem}.json")
        assert all(d["backends"]["speckled"]["mask"] is None for d in record["detections"])
        assert all("speckled vs mock" in d["iou"] for d in record["detections"])


def test_the_same_run_in_either_format_reports_the_same_numbers(cli, speckled, tmp_path):
    write_dataset(cli, size=SIZE)
    assert cli.run("speckled", "mock", extra=["--out", tmp_path / "png"]).exit_code == 0
    assert cli.run("speckled", "mock", extra=["--out", tmp_path / "rle", "--mask-format", "rle"]).exit_code == 0
    drop = ("seconds", "seconds_per_image", "mask", "masks", "files", "panel")
    strip = lambda d: {k: strip(v) for k, v in d.items() if k not in drop} if isinstance(d, dict) else (  # noqa: E731
        [strip(v) for v in d] if isinstance(d, list) else d)
    assert strip(load(tmp_path / "png" / "report.json")) == strip(load(tmp_path / "rle" / "report.json"))
    for stem in DATASET:
        assert strip(load(tmp_path / "png" / "json" / f"{stem}.json")) == strip(load(tmp_path / "rle" / "json" / f"{stem}.json"))


def test_rle_runs_resume_compare_and_export_coco(cli, speckled):
    write_dataset(cli, size=SIZE)
    assert cli.run("speckled", extra=["--mask-format", "rle"]).exit_code == 0
    again = cli.run("speckled", extra=["--mask-format", "rle", "--coco"])
    assert again.exit_code == 0 and "2 already complete" in again.output
    coco = load(cli.out / "coco" / "speckled.json")
    for stem in DATASET:
        expected = backend_masks(speckled, cli, stem)
        image_id = next(i["id"] for i in coco["images"] if i["file_name"] == f"{stem}.png")
        anns = sorted((a for a in coco["annotations"] if a["image_id"] == image_id), key=lambda a: a["detection_id"])
        for ann, mask in zip(anns, expected):
            rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"].encode()}
            np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), mask)
    compared = cli("compare", cli.out, "--no-panels")
    assert compared.exit_code == 0, compared.output


def test_a_folder_mixing_png_and_rle_after_a_merge_compares_like_one_run(cli, speckled, tmp_path):
    write_dataset(cli, size=SIZE)
    png, rle, together = tmp_path / "png", tmp_path / "rle", tmp_path / "together"
    assert cli.run("speckled", extra=["--out", png]).exit_code == 0
    assert cli.run("mock", extra=["--out", rle, "--mask-format", "rle"]).exit_code == 0
    assert cli.run("speckled", "mock", extra=["--out", together]).exit_code == 0
    shutil.copytree(rle, png, dirs_exist_ok=True)
    result = cli("compare", png, "-b", "speckled", "-b", "mock")
    assert result.exit_code == 0, result.output
    for stem in DATASET:
        merged = load(png / "json" / f"{stem}.json")
        one_run = load(together / "json" / f"{stem}.json")
        assert [d["iou"] for d in merged["detections"]] == [d["iou"] for d in one_run["detections"]]


def test_bad_output_choices_are_one_line_and_exit_2(cli):
    write_rgb(cli.images / "a.png", SIZE)
    write_qwen(cli.dets / "a.json", [qwen_det((8, 8, 40, 40), SIZE)])
    for extra, message in ((["--mask-format", "tiff"], "--mask-format 'tiff' is not one of png, rle"),
                           (["--panels", "some"], "--panels 'some' is not one of all, disagree, none"),
                           (["-O", "mock.batch_size=0"], "option mock.batch_size: Input should be greater than or equal to 1")):
        result = cli.run("mock", extra=extra)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and message in " ".join(result.output.split())
        assert result.output.count("\n") == 1
    assert not (cli.out / "json").exists()


def test_full_image_rle_from_a_crop_is_exactly_pycocotools_encoding_of_the_full_mask():
    from segkit.outputs.mask_set import MaskSet, encode_mask

    rng = np.random.default_rng(3)
    for case in range(400):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = np.zeros((h, w), bool)
        if case % 5:
            a, b = sorted(rng.integers(0, h, 2))
            c, d = sorted(rng.integers(0, w, 2))
            mask[a : b + 1, c : d + 1] = rng.random((b - a + 1, d - c + 1)) > rng.random()
        if case % 11 == 0:
            mask[:] = True  # a mask that ends on foreground, in the last column
        expected = encode_mask(mask)
        kept = MaskSet.from_dense(mask[None], full_rle=True)
        assert kept.full_rles[0]["counts"] == expected["counts"], case
        assert MaskSet.from_dense(mask[None]).json_rle(0)["counts"] == expected["counts"].decode(), case
