"""Each export loaded by the consuming side's own reader: Ultralytics' dataset loader for YOLO-seg,
pycocotools for COCO (and CVAT's COCO 1.0), label-studio-sdk's LabelInterface and brush decoder for
Label Studio."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import yaml
from compare_helpers import DATASET
from export_helpers import original_masks, run_folder, shape_backends, summary, within_one_pixel  # noqa: F401
from pycocotools.coco import COCO

LABELS = sorted({label for entries in DATASET.values() for _, label in entries})  # cup, りんご, 皿


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


@pytest.fixture
def shapes(cli, shape_backends):
    """The comparison dataset run with mock, mock-ellipse, pieces and ring."""
    run_folder(cli, "mock", "mock-ellipse", "pieces", "ring")
    return cli


def yolo_labels(data_yaml):
    """Every image's labels as Ultralytics' own loader reads them: {stem: (shape, classes, segments in pixels)}."""
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(data_yaml))
    out = {}
    for split in ("train", "val"):
        dataset = YOLODataset(img_path=data[split], data=data, task="segment", augment=False, imgsz=128)
        for label in dataset.labels:
            h, w = label["shape"]
            stem = label["im_file"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
            # in pixels, rounded: the labels hold 5 decimals, and polygon2mask truncates 100.9997 to 100
            out[stem] = (split, (h, w), label["cls"].ravel().astype(int).tolist(), [np.round(s * [w, h]) for s in label["segments"]])
    return data, out


def test_yolo_seg_loads_in_ultralytics_and_its_masks_come_back_within_a_pixel(shapes, monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    from ultralytics.data.utils import polygon2mask

    to = shapes.root / "yolo"
    result = shapes("export", shapes.out, "--format", "yolo-seg", "-b", "mock-ellipse", "--to", to)
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((to / "data.yaml").read_text(encoding="utf-8"))
    assert written["path"] == str(to.resolve()) and written["train"] == "images/train" and written["val"] == "images/val"
    data, labels = yolo_labels(to / "data.yaml")
    assert data["names"] == dict(enumerate(LABELS)) and data["nc"] == 3
    assert sorted(labels) == ["one", "two"] and {split for split, *_ in labels.values()} == {"train", "val"}
    originals = original_masks(shapes.out, "mock-ellipse")
    for stem, entries in DATASET.items():
        split, (h, w), classes, segments = labels[stem]
        assert classes == [LABELS.index(label) for _, label in entries]  # one line per instance, in detection order
        for det_id, segment in enumerate(segments):
            decoded = polygon2mask((h, w), [segment.reshape(-1)]).astype(bool)
            assert within_one_pixel(decoded, originals[(stem, det_id)]), (stem, det_id)


def test_yolo_seg_writes_a_mask_in_pieces_as_one_instance(shapes, monkeypatch):
    """supervision's as_yolo writes a line per piece: two instances for one mask. The export writes one."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    from ultralytics.data.utils import polygon2mask

    to = shapes.root / "yolo-pieces"
    assert shapes("export", shapes.out, "--format", "yolo-seg", "-b", "pieces", "--to", to, "--drop-flags", "none").exit_code == 0
    _, labels = yolo_labels(to / "data.yaml")
    originals = original_masks(shapes.out, "pieces")
    for stem, entries in DATASET.items():
        _, (h, w), classes, segments = labels[stem]
        assert len(classes) == len(entries) == len(segments)
        for det_id, segment in enumerate(segments):
            decoded = polygon2mask((h, w), [segment.reshape(-1)]).astype(bool)
            want = originals[(stem, det_id)]
            assert (decoded & want).sum() >= 0.9 * want.sum()  # both pieces, not just one
            assert (decoded & ~want).sum() <= 0.15 * want.sum()  # and at most the bridge between them


@pytest.mark.parametrize("backend", ["mock-ellipse", "pieces", "ring"])
def test_coco_rle_round_trips_pixel_exact_through_pycocotools_and_is_never_crowd(shapes, backend):
    to = shapes.root / f"coco-{backend}"
    result = shapes("export", shapes.out, "--format", "coco", "-b", backend, "--to", to, "--val", "0.5", "--drop-flags", "none")
    assert result.exit_code == 0, result.output
    originals = original_masks(shapes.out, backend)
    seen = set()
    for split in ("train", "val"):
        coco = quiet(COCO, str(to / "annotations" / f"instances_{split}.json"))
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == LABELS
        for image in coco.loadImgs(coco.getImgIds()):
            assert (to / "images" / split / image["file_name"]).is_file()
            stem = image["file_name"].rsplit(".", 1)[0]
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=image["id"])):
                # supervision's as_coco marks a mask with a hole or pieces iscrowd=1; trainers skip those
                assert ann["iscrowd"] == 0
                want = originals[(stem, ann["segkit"]["detection_id"])]
                np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), want)
                assert ann["area"] == int(want.sum())
                assert coco.loadCats(ann["category_id"])[0]["name"] == ann["segkit"]["label"]
                seen.add((stem, ann["segkit"]["detection_id"]))
    assert seen == set(originals)


def test_coco_polygons_keep_every_piece_in_one_annotation(shapes):
    to = shapes.root / "coco-poly"
    assert shapes("export", shapes.out, "--format", "coco", "-b", "pieces", "--to", to, "--val", "0",
                  "--coco-masks", "polygon", "--drop-flags", "none").exit_code == 0
    coco = quiet(COCO, str(to / "annotations" / "instances_train.json"))
    assert not (to / "annotations" / "instances_val.json").exists()
    originals = original_masks(shapes.out, "pieces")
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == len(originals)
    for ann in anns:
        stem = coco.loadImgs(ann["image_id"])[0]["file_name"].rsplit(".", 1)[0]
        assert len(ann["segmentation"]) == 2 and ann["iscrowd"] == 0
        assert within_one_pixel(coco.annToMask(ann).astype(bool), originals[(stem, ann["segkit"]["detection_id"])])


def test_labelstudio_tasks_validate_against_the_label_config_and_decode_to_the_masks(shapes):
    from label_studio_sdk.converter.brush import decode_rle
    from label_studio_sdk.label_interface import LabelInterface

    to = shapes.root / "ls"
    result = shapes("export", shapes.out, "--format", "labelstudio", "-b", "ring", "--to", to,
                    "--image-url", "https://example.org/imgs/")
    assert result.exit_code == 0, result.output
    interface = LabelInterface((to / "label_config.xml").read_text(encoding="utf-8"))
    tasks = json.loads((to / "tasks.json").read_text(encoding="utf-8"))
    originals = original_masks(shapes.out, "ring")
    assert sorted(t["data"]["image"] for t in tasks) == ["https://example.org/imgs/one.png", "https://example.org/imgs/two.png"]
    regions = 0
    for task in tasks:
        assert all(task["data"].get(obj.value_name) for obj in interface.objects)
        (prediction,) = task["predictions"]
        assert interface.validate_prediction(prediction, return_errors=True) == []
        stem = task["data"]["segkit_image"]
        for k, region in enumerate(prediction["result"]):
            h, w = region["original_height"], region["original_width"]
            decoded = decode_rle(region["value"]["rle"]).reshape(h, w, 4)[:, :, 3] > 0
            np.testing.assert_array_equal(decoded, originals[(stem, k)])
            assert region["value"]["brushlabels"][0] in LABELS
            regions += 1
    assert regions == len(originals)
    assert (to / "images" / "one.png").is_file()


def test_cvat_is_coco_1_0_with_polygons_and_its_labels(shapes):
    to = shapes.root / "cvat"
    assert shapes("export", shapes.out, "--format", "cvat", "-b", "mock", "--to", to).exit_code == 0
    coco = quiet(COCO, str(to / "annotations" / "instances_default.json"))
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 5
    originals = original_masks(shapes.out, "mock")
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert isinstance(ann["segmentation"], list) and ann["iscrowd"] == 0
        stem = coco.loadImgs(ann["image_id"])[0]["file_name"].rsplit(".", 1)[0]
        assert within_one_pixel(coco.annToMask(ann).astype(bool), originals[(stem, ann["segkit"]["detection_id"])])
    labels = json.loads((to / "labels.json").read_text(encoding="utf-8"))
    assert [label["name"] for label in labels] == LABELS and {label["type"] for label in labels} == {"polygon"}
    assert sorted(p.name for p in (to / "images").iterdir()) == ["one.png", "two.png"]
    assert summary(to)["instances"]["total"] == 5
