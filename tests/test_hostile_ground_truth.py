"""Ground truth, label maps, class-name files and config files as hostile input (issue 23, items 2-4, 9).

Each of them is a file a user names, read the way detection files are: a regular file with a size cap,
YAML with its aliases bounded, every id and size checked before anything is allocated. The memory tests
run `segkit` in a subprocess under an address-space cap (``RLIMIT_AS``) a little above what it has
mapped after its imports: a reader that allocated what the input asks for would die there, or print a
MemoryError; a bounded one prints its one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import (
    SIZE,
    load,
    one_line_error,
    rect_polygon,
    write_coco,
    write_images,
)
from hostile_helpers import capped, header_only_png, lines_of
from PIL import Image

APPLE = (8, 8, 48, 40)
PLATE = (60, 4, 124, 60)
@pytest.fixture
def scored(cli, tmp_path):
    """Two images run with `mock`; `good.json` is their ground truth."""
    write_images(cli, {"one": [(APPLE, "apple", 0.9)], "two": [(PLATE, "plate", 0.8)]})
    assert cli.run("mock").exit_code == 0
    cli.gt = write_coco(tmp_path / "good.json", {"one": [(APPLE, "apple")], "two": [(PLATE, "plate")]})
    return cli


def coco_file(path: Path, annotations: list[dict], images=None, categories=None) -> Path:
    images = images if images is not None else [{"id": 1, "file_name": "one.png", "width": SIZE[0], "height": SIZE[1]},
                                                {"id": 2, "file_name": "two.png", "width": SIZE[0], "height": SIZE[1]}]
    categories = categories if categories is not None else [{"id": 1, "name": "apple"}, {"id": 2, "name": "plate"}]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}), encoding="utf-8")
    return path


def plate_annotation(ann_id: int = 2) -> dict:
    return {"id": ann_id, "image_id": 2, "category_id": 2, "segmentation": [rect_polygon(PLATE)], "iscrowd": 0}


# -- item 2: ground truth is bounded ---------------------------------------------------------------


def test_a_polygon_with_coordinates_of_4e8_is_clipped_and_scored_in_bounded_memory(scored, tmp_path):
    cli = scored
    # The apple's box with a thin spike to x = -4e8: pycocotools alone walks 2e9 points of outline (22 GB).
    far = [8, 8, 48, 8, 48, 40, 8, 40, 8, 24.5, -4e8, 24, 8, 23.5]
    gt = coco_file(tmp_path / "far.json", [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [far]}, plate_annotation()])
    done = capped("eval", cli.out, "--gt", gt)
    assert done.returncode == 0, done.stderr
    per_detection = load(cli.out / "json" / "one.json")["detections"][0]["ground_truth"]
    assert per_detection["status"] == "matched" and per_detection["box"]["iou"] > 0.95  # the box and a sliver of spike


def test_clipping_leaves_polygons_near_the_image_exactly_as_pycocotools_draws_them():
    from pycocotools import mask as mask_utils

    from segkit.evaluation.ground_truth.coco import clip_polygon

    rng = np.random.default_rng(0)
    for _ in range(200):
        width, height = (int(v) for v in rng.integers(5, 60, 2))
        points = np.column_stack([rng.uniform(-width, 2 * width, 6), rng.uniform(-height, 2 * height, 6)])
        assert clip_polygon(points, width, height) is points
    far = np.array([[-4e8, -4e8], [4e8, 10.0], [20.0, 4e8]])
    clipped = clip_polygon(far, 512, 512)
    assert np.abs(clipped).max() <= 512 + 1024
    drawn = mask_utils.decode(mask_utils.frPyObjects([clipped.ravel().tolist()], 512, 512))
    assert drawn.sum() > 0


def test_an_rle_of_60000x60000_is_refused_before_it_is_decoded(scored, tmp_path):
    cli = scored
    huge = {"size": [60000, 60000], "counts": [3_600_000_000]}
    gt = coco_file(tmp_path / "rle.json", [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": huge}, plate_annotation()])
    failed = lines_of(capped("eval", cli.out, "--gt", gt), "failed:")
    assert len(failed) == 1 and "annotations[0] (id 1, image one.png): the RLE mask is 60000x60000 but the image is 128x64" in failed[0]


def test_a_16_bit_instance_png_with_65535_ids_is_refused_before_its_masks_are_made(cli, tmp_path):
    write_images(cli, {"many": [((0, 0, 64, 64), "x", 0.9)], "few": [((0, 0, 64, 64), "x", 0.9)]}, size=(256, 256))
    assert cli.run("mock").exit_code == 0
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    Image.fromarray(np.arange(65536, dtype=np.uint16).reshape(256, 256)).save(pngs / "many.png")  # ids 1 .. 65535
    Image.fromarray((np.arange(65536).reshape(256, 256) < 4096).astype(np.uint8)).save(pngs / "few.png")
    failed = lines_of(capped("eval", cli.out, "--gt", pngs), "failed:")
    assert failed == [f"failed: many.png: {pngs / 'many.png'} has 65535 instances, above limits.max_ground_truth_instances (1000);"
                      " the image is not scored (raise the limit in the config)"]
    assert load(cli.out / "eval.json")["images"] == 1


@pytest.mark.parametrize("fmt", ["instance-pngs", "semantic"])
def test_a_30000x30000_ground_truth_png_is_refused_from_its_header(scored, tmp_path, fmt):
    cli = scored
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    (pngs / "one.png").write_bytes(header_only_png(30000, 30000, depth=16))
    Image.fromarray(np.zeros((SIZE[1], SIZE[0]), np.uint8)).save(pngs / "two.png")
    classes = tmp_path / "classes.txt"
    classes.write_text("background\napple\n", encoding="utf-8")
    extra = ["--gt-classes", classes] if fmt == "semantic" else []
    failed = lines_of(capped("eval", cli.out, "--gt", pngs, *extra), "failed:")
    assert failed == [f"failed: one.png: {pngs / 'one.png'} is 30000x30000 but the image is 128x64; ground truth must be"
                      " drawn on the image at full size"]


def test_20000_annotations_on_one_image_are_refused_before_any_is_drawn(scored, tmp_path):
    cli = scored
    many = [{"id": i, "image_id": 1, "category_id": 1, "segmentation": [rect_polygon(APPLE)]} for i in range(1, 20001)]
    gt = coco_file(tmp_path / "many.json", many + [plate_annotation(20001)])
    failed = lines_of(capped("eval", cli.out, "--gt", gt), "failed:")
    assert len(failed) == 1 and "image 1 (one.png) has 20000 instances, above limits.max_ground_truth_instances (1000)" in failed[0]
    config = tmp_path / "more.yaml"
    config.write_text("limits:\n  max_ground_truth_instances: 20000\n", encoding="utf-8")
    assert cli("eval", cli.out, "--gt", gt, "--config", config).exit_code == 0


def test_a_2gb_ground_truth_file_is_refused_unread(scored, tmp_path):
    cli = scored
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(2 * 2**30)  # sparse: 2 GiB that take no disk and are never read
    errors = lines_of(capped("eval", cli.out, "--gt", big))
    assert errors == [f"error: {big} is 2.0GiB, above the limit of 512.0MiB for a ground-truth file; split it, or raise"
                      " limits.max_ground_truth_bytes in the config"]
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    with open(pngs / "one.png", "wb") as handle:
        handle.truncate(600 * 2**20)
    Image.fromarray(np.zeros((SIZE[1], SIZE[0]), np.uint8)).save(pngs / "two.png")
    failed = lines_of(capped("eval", cli.out, "--gt", pngs), "failed:")
    assert failed == [f"failed: one.png: {pngs / 'one.png'} is 600.0MiB, above the limit of 512.0MiB for a ground-truth file;"
                      " split it, or raise limits.max_ground_truth_bytes in the config"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("flag", ["--gt", "--label-map", "--gt-classes", "--config"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_a_device_named_by_a_flag_is_refused_unread(scored, tmp_path, flag, kind):
    """In a subprocess with a timeout: reading a FIFO without a writer would wait forever, /dev/zero never ends."""
    cli = scored
    if kind == "fifo":
        source = tmp_path / "named.pipe"
        os.mkfifo(source)
        what = "a FIFO (named pipe)"
    else:
        source, what = Path("/dev/zero"), "a character device"
    args = {"--gt": ["--gt", source], "--label-map": ["--gt", cli.gt, "--label-map", source],
            "--gt-classes": ["--gt", tmp_path, "--gt-classes", source], "--config": ["--gt", cli.gt, "--config", source]}[flag]
    done = capped("eval", cli.out, *args, timeout=60)
    errors = lines_of(done)
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    noun = {"--gt": "neither a COCO JSON file nor a folder of mask PNGs", "--label-map": "not a label map",
            "--gt-classes": "not a class-name file", "--config": "not a config file"}[flag]
    assert errors[0].startswith(f"error: {source} is {what}, {noun}") or errors[0].startswith(f"error: ground truth {source} is {what}, {noun}")


# -- item 3: malformed ground truth is one line -----------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"id": [1, 2]}, "annotations[0]: 'id' is [1, 2] (a list), expected a whole number"),
        ({"id": "7"}, "annotations[0]: 'id' is '7' (a string), expected a whole number"),
        ({"id": None}, "annotations[0]: 'id' is null, expected a whole number"),
        ({"image_id": float("inf")}, "annotations[0] (id 1): 'image_id' is inf, expected a whole number"),
        ({"category_id": 10**400}, "annotations[0] (id 1): 'category_id' is 100000000000000000...0000000000000000000 (beyond 64 bits)"),
        ({"iscrowd": "0"}, "annotations[0] (id 1): 'iscrowd' is '0' (a string), expected 0 or 1"),
        ({"iscrowd": 2}, "annotations[0] (id 1): 'iscrowd' is 2, expected 0 or 1"),
    ],
)
def test_a_bad_annotation_field_is_one_line_naming_the_file_the_annotation_and_the_field(scored, tmp_path, change, message):
    cli = scored
    ann = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [rect_polygon(APPLE)], "iscrowd": 0, **change}
    text = json.dumps({"images": [{"id": 1, "file_name": "one.png"}], "annotations": [ann], "categories": [{"id": 1, "name": "a"}]})
    gt = tmp_path / "bad.json"
    gt.write_text(text.replace("Infinity", "1e400"), encoding="utf-8")  # JSON's way to write a number too big for a float
    line = one_line_error(cli("eval", cli.out, "--gt", gt))
    assert f"error: ground truth {gt}: {message}" in line and "; fix the file" in line and len(line) < 400


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"id": [1], "file_name": "one.png"}, "images[0]: 'id' is [1] (a list), expected a whole number"),
        ({"id": 1, "file_name": "one.png", "width": "128", "height": 64},
         "images[0] (id 1): 'width' is '128' (a string), expected a pixel count"),
        ({"id": 1, "file_name": "one.png", "width": 1e400, "height": 64}, "images[0] (id 1): 'width' is inf, expected a pixel count"),
    ],
)
def test_a_bad_image_entry_is_one_line(scored, tmp_path, entry, message):
    cli = scored
    gt = coco_file(tmp_path / "bad.json", [], images=[entry], categories=[])
    assert f"error: ground truth {gt}: {message}" in one_line_error(cli("eval", cli.out, "--gt", gt))


def test_duplicate_annotation_ids_are_refused_not_counted_once(scored, tmp_path):
    cli = scored
    twice = [{"id": 5, "image_id": 1, "category_id": 1, "segmentation": [rect_polygon(APPLE)]},
             {"id": 5, "image_id": 2, "category_id": 2, "segmentation": [rect_polygon(PLATE)]}]
    gt = coco_file(tmp_path / "twice.json", twice)
    line = one_line_error(cli("eval", cli.out, "--gt", gt))
    assert "annotations[1] repeats annotation id 5 of annotations[0]; give each annotation its own id" in line
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for name in ("one_1.png", "one_01.png", "two_1.png"):
        Image.fromarray(np.full((SIZE[1], SIZE[0]), 255, np.uint8)).save(pngs / name)
    result = cli("eval", cli.out, "--gt", pngs)
    assert result.exit_code == 1
    assert "one_01.png and one_1.png in" in result.output and "are both instance 1" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "rle, message",
    [
        ({"size": [64, 128], "counts": [10, 20]}, "the RLE run lengths do not cover its 128x64 pixels"),
        ({"size": [64, 128], "counts": "23"}, "its RLE counts cover 5 pixels, not its 128x64 = 8192"),
        ({"size": [64, 128], "counts": "0ZZZZZZZ1"}, "a run length longer than 7 characters"),
        ({"size": [64, 128], "counts": "\u00ff"}, "which is no COCO run length"),
        ({"size": [64, 128], "counts": "0i"}, "its RLE counts end inside a run length"),
        ({"size": [1e400, 128], "counts": "0"}, "an RLE mask needs 'size': [height, width]"),
    ],
)
def test_rle_counts_that_do_not_fit_the_size_are_one_line(scored, tmp_path, rle, message):
    cli = scored
    gt = coco_file(tmp_path / "rle.json", [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle}, plate_annotation()])
    gt.write_text(gt.read_text(encoding="utf-8").replace("Infinity", "1e400"), encoding="utf-8")
    result = cli("eval", cli.out, "--gt", gt)
    assert result.exit_code == 1 and "Traceback" not in result.output
    failed = [" ".join(line.split()) for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "annotations[0] (id 1, image one.png)" in failed[0] and message in failed[0]


def test_run_with_bad_ground_truth_keeps_every_output_and_says_the_scoring_failed(cli, tmp_path):
    write_images(cli, {"one": [(APPLE, "apple", 0.9)], "two": [(PLATE, "plate", 0.8)]})
    gt = coco_file(tmp_path / "bad.json", [{"id": [1], "image_id": 1, "segmentation": [rect_polygon(APPLE)]}])
    result = cli.run("mock", "mock-ellipse", extra=["--gt", gt, "--html"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert f"error: evaluation: ground truth {gt}: annotations[0]: 'id' is [1] (a list)" in text
    for stem in ("one", "two"):
        record = load(cli.out / "json" / f"{stem}.json")
        assert all((cli.out / det["backends"][b]["mask"]).is_file() for det in record["detections"] for b in ("mock", "mock-ellipse"))
    assert (cli.out / "report.json").is_file() and (cli.out / "report.html").is_file() and not (cli.out / "eval.json").exists()


# -- item 4: label maps, class-name files and the config file ---------------------------------------

ALIAS_BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]) + "\nりんご: *i\n"


def test_a_yaml_alias_bomb_as_label_map_is_one_short_line_in_bounded_memory(scored, tmp_path):
    cli = scored
    label_map = tmp_path / "bomb.yaml"
    label_map.write_text(ALIAS_BOMB, encoding="utf-8")  # 9 ** 9 = 387 million strings once expanded
    errors = lines_of(capped("eval", cli.out, "--gt", cli.gt, "--label-map", label_map))
    assert errors == [f"error: {label_map}: its YAML aliases (*name) expand to more than 100,000 nodes; write the values out,"
                      " or use fewer aliases"]


def test_a_yaml_alias_bomb_or_deep_nesting_as_config_is_one_line(scored, tmp_path):
    cli = scored
    config = tmp_path / "bomb.yaml"
    config.write_text(ALIAS_BOMB.replace("りんご: *i", "backends: *i"), encoding="utf-8")
    errors = lines_of(capped("eval", cli.out, "--gt", cli.gt, "--config", config))
    assert len(errors) == 1 and "its YAML aliases (*name) expand to more than 100,000 nodes" in errors[0]
    config.write_text("backends: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    line = one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--config", config))
    assert line == f"error: {config}: nested too deeply to be a config file; fix the file"
    config.write_text("backends: &x [*x]\n", encoding="utf-8")
    assert "a YAML alias refers to the node that holds it" in one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--config", config))


def test_a_huge_value_in_a_label_map_is_echoed_as_a_short_preview(scored, tmp_path):
    cli = scored
    label_map = tmp_path / "map.yaml"
    label_map.write_text(json.dumps({"apple": "x" * 10_000_000}), encoding="utf-8")
    line = one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--label-map", label_map))
    assert "names categories the ground truth does not have: 'xxxxxxxx" in line and len(line) < 600
    label_map.write_text(json.dumps({"apple": ["y" * 10_000_000]}), encoding="utf-8")
    line = one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--label-map", label_map))
    assert "'apple' maps to ['yyyy" in line and len(line) < 600


def test_label_maps_class_names_and_configs_above_their_size_limit_are_refused_unread(scored, tmp_path):
    cli = scored
    for name in ("map.yaml", "classes.txt", "config.yaml"):
        with open(tmp_path / name, "wb") as handle:
            handle.truncate(17 * 2**20)
    line = one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--label-map", tmp_path / "map.yaml"))
    assert line == (f"error: {tmp_path / 'map.yaml'} is 17.0MiB, above the limit of 16.0MiB for a label map; shorten it,"
                    " or raise limits.max_config_file_bytes in the config")
    line = one_line_error(cli("eval", cli.out, "--gt", tmp_path, "--gt-classes", tmp_path / "classes.txt"))
    assert "is 17.0MiB, above the limit of 16.0MiB for a class-name file" in line
    line = one_line_error(cli("eval", cli.out, "--gt", cli.gt, "--config", tmp_path / "config.yaml"))
    assert "above the limit of 16.0MiB for a config file; shorten it (the config file is always read with the default limit)" in line


def test_class_name_ids_beyond_16_bits_are_one_line(cli, tmp_path):
    from segkit.errors import InputError
    from segkit.evaluation.ground_truth.semantic import read_class_names

    names = tmp_path / "classes.txt"
    names.write_text("0 background\n" + "9" * 5000 + " huge\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: id 9999999999999999999… is above 65535"):
        read_class_names(names)


# -- item 9: messages that said the wrong thing ------------------------------------------------------


def test_a_gt_size_given_as_text_no_longer_reads_512x512_but_512x512(scored, tmp_path):
    cli = scored
    gt = coco_file(tmp_path / "text.json", [], images=[{"id": 1, "file_name": "one.png", "width": "128", "height": "64"}], categories=[])
    line = one_line_error(cli("eval", cli.out, "--gt", gt))
    assert "'width' is '128' (a string), expected a pixel count" in line and "but the image is" not in line


def test_dev_zero_as_ground_truth_is_a_device_not_a_folder(scored):
    cli = scored
    line = one_line_error(cli("eval", cli.out, "--gt", "/dev/zero"))
    assert line.startswith("error: ground truth /dev/zero is a character device, neither a COCO JSON file nor a folder")
    assert "folder, but" not in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["not-a-font", "fifo", "device", "missing"])
def test_a_bad_font_is_one_line_at_the_start_not_a_failure_of_every_image(scored, tmp_path, kind):
    """It was "cannot write its outputs, check that the folder is writable and has space" for every image
    (and a FIFO hung): the font is checked once, when the settings are read."""
    cli = scored
    font = {"not-a-font": tmp_path / "font.ttf", "fifo": tmp_path / "font.pipe", "device": Path("/dev/zero"),
            "missing": tmp_path / "nope.ttf"}[kind]
    if kind == "not-a-font":
        font.write_text("not a font", encoding="utf-8")
    elif kind == "fifo":
        os.mkfifo(font)
    config = tmp_path / "font.yaml"
    config.write_text(f"viz:\n  font: {font}\n", encoding="utf-8")
    done = capped("run", "-b", "mock", "-i", cli.images, "-d", cli.dets, "-o", tmp_path / "fresh", "-c", config, timeout=60)
    errors = lines_of(done)
    assert done.returncode == 2 and len(errors) == 1 and done.stdout == ""
    expected = {"not-a-font": "is not a font that can be drawn with (unknown file format)", "fifo": "is a FIFO (named pipe), not a font",
                "device": "is a character device, not a font", "missing": "does not exist"}[kind]
    assert errors[0].startswith(f"error: {config}: viz.font: ") and expected in errors[0]
    assert "writable" not in errors[0] and not (tmp_path / "fresh").exists()


def test_a_huge_file_name_in_ground_truth_is_quoted_short(scored, tmp_path):
    cli = scored
    name = "one" + "x" * 1_000_000 + ".png"
    gt = coco_file(tmp_path / "long.json", [], images=[{"id": 1, "file_name": name}], categories=[])
    line = one_line_error(cli("eval", cli.out, "--gt", gt))
    assert "covers none of the 2 image(s)" in line and len(line) < 1000
