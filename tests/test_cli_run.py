"""`segkit run` on real files in a temporary folder, checked the way a user would check the outputs."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb
from PIL import Image

from segkit.outputs.mask_metrics import iou
from segkit.outputs.reading import read_mask

SIZE = (64, 48)
# Pixel boxes whose normalized form is exact in binary, so the mock's masks are exact rectangles.
BOX_A = (8, 6, 40, 30)
BOX_B = (32, 24, 64, 48)


def mask_png(path) -> np.ndarray:
    """A mask file as 0/255, however it is stored (segkit writes 1-bit PNGs)."""
    return np.asarray(Image.open(path).convert("L"))


def expected_rect(box, size=SIZE) -> np.ndarray:
    out = np.zeros((size[1], size[0]), dtype=np.uint8)
    x1, y1, x2, y2 = box
    out[y1:y2, x1:x2] = 255
    return out


def expected_ellipse(box, size=SIZE) -> np.ndarray:
    x1, y1, x2, y2 = box
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    out = np.zeros((size[1], size[0]), dtype=np.uint8)
    for y in range(size[1]):
        for x in range(size[0]):
            if ((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1:
                out[y, x] = 255
    return out


@pytest.fixture
def two_images(cli):
    write_rgb(cli.images / "one.png", SIZE, seed=1)
    write_rgb(cli.images / "two.png", SIZE, seed=2)
    write_qwen(cli.dets / "one.json", [qwen_det(BOX_A, SIZE, "りんご", 0.9), qwen_det(BOX_B, SIZE, "plate", 0.8)])
    write_qwen(cli.dets / "two.json", [qwen_det(BOX_B, SIZE, "cup", 0.7)])
    return cli


def test_mock_masks_are_exactly_the_boxes(two_images):
    cli = two_images
    result = cli.run("mock")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(mask_png(cli.out / "masks" / "one" / "det00_りんご_mock.png"), expected_rect(BOX_A))
    np.testing.assert_array_equal(mask_png(cli.out / "masks" / "one" / "det01_plate_mock.png"), expected_rect(BOX_B))
    np.testing.assert_array_equal(mask_png(cli.out / "masks" / "two" / "det00_cup_mock.png"), expected_rect(BOX_B))


def test_two_backends_record_areas_scores_and_pair_iou(two_images):
    cli = two_images
    result = cli.run("mock", "mock-ellipse")
    assert result.exit_code == 0, result.output
    record = cli.record("one")
    assert (record["image"], record["width"], record["height"]) == ("one.png", 64, 48)
    assert set(record["backends"]) == {"mock", "mock-ellipse"}
    assert record["backends"]["mock-ellipse"]["settings"] == {"shape": "ellipse"}
    det = record["detections"][0]
    assert det["id"] == 0 and det["label"] == "りんご" and det["confidence"] == 0.9
    assert det["bbox_xyxy_px"] == list(BOX_A)
    assert det["bbox_xyxy_norm"] == pytest.approx([8 / 64, 6 / 48, 40 / 64, 30 / 48])
    rect = read_mask(cli.out / det["backends"]["mock"]["mask"])
    ellipse = read_mask(cli.out / det["backends"]["mock-ellipse"]["mask"])
    np.testing.assert_array_equal(ellipse * np.uint8(255), expected_ellipse(BOX_A))
    assert det["backends"]["mock"]["area_px"] == rect.sum() == 32 * 24
    assert det["backends"]["mock-ellipse"]["area_px"] == ellipse.sum()
    assert det["backends"]["mock"]["score"] == 1.0
    assert det["iou"]["mock vs mock-ellipse"] == pytest.approx(iou(rect, ellipse), abs=1e-6)
    assert det["iou"]["mock vs mock-ellipse"] == pytest.approx(math.pi / 4, abs=0.03)
    panel = Image.open(cli.out / record["panel"])
    assert panel.format == "JPEG" and panel.width >= 4 * SIZE[0]  # original | mock | ellipse | XOR
    assert json.loads((cli.out / "failures.json").read_text()) == []


def test_single_backend_records_no_pairs(two_images):
    cli = two_images
    assert cli.run("mock").exit_code == 0
    assert cli.record("two")["detections"][0]["iou"] == {}


def test_rerun_skips_complete_images_and_force_redoes_them(two_images):
    cli = two_images
    assert cli.run("mock").exit_code == 0
    json_file = cli.out / "json" / "one.json"
    before = json_file.stat().st_mtime_ns
    again = cli.run("mock")
    assert again.exit_code == 0 and "2 already complete" in again.output
    assert json_file.stat().st_mtime_ns == before
    forced = cli.run("mock", extra=["--force"])
    assert "2 segmented" in forced.output and json_file.stat().st_mtime_ns != before
    # A different set of backends is not the same output: the image is redone.
    assert "2 segmented" in cli.run("mock", "mock-ellipse").output


def test_deleted_output_makes_the_image_incomplete(two_images):
    cli = two_images
    cli.run("mock")
    (cli.out / "masks" / "two" / "det00_cup_mock.png").unlink()
    result = cli.run("mock")
    assert "1 segmented" in result.output and (cli.out / "masks" / "two" / "det00_cup_mock.png").is_file()


def test_no_temporary_files_are_left(two_images):
    cli = two_images
    cli.run("mock", "mock-ellipse")
    leftovers = [p for p in cli.out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_unsafe_and_japanese_labels_make_safe_readable_file_names(cli):
    write_rgb(cli.images / "x.png", SIZE)
    write_qwen(cli.dets / "x.json", [qwen_det(BOX_A, SIZE, "../../etc/passwd"), qwen_det(BOX_B, SIZE, "焼き 魚/鮭")])
    assert cli.run("mock").exit_code == 0
    names = sorted(p.name for p in (cli.out / "masks" / "x").iterdir())
    assert names == ["det00_etc_passwd_mock.png", "det01_焼き_魚_鮭_mock.png"]


def test_awkward_images_reach_the_backend_as_upright_rgb(cli):
    gray = np.full((SIZE[1], SIZE[0]), 100, dtype=np.uint8)
    Image.fromarray(gray, mode="L").save(cli.images / "gray.png")
    Image.fromarray(np.zeros((SIZE[1], SIZE[0], 4), np.uint8), mode="RGBA").save(cli.images / "rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((SIZE[1], SIZE[0], 3), np.uint8)).save(cli.images / "rot.jpg", exif=exif.tobytes())
    for stem in ("gray", "rgba"):
        write_qwen(cli.dets / f"{stem}.json", [qwen_det(BOX_A, SIZE)])
    write_qwen(cli.dets / "rot.json", [{"bbox_xyxy_norm": [0, 0, 0.5, 0.5], "label": "q", "confidence": 1}])
    result = cli.run("mock")
    assert result.exit_code == 0, result.output
    assert mask_png(cli.out / "masks" / "gray" / "det00_thing_mock.png").shape == (48, 64)
    assert mask_png(cli.out / "masks" / "rgba" / "det00_thing_mock.png").shape == (48, 64)
    rotated = cli.record("rot")
    assert (rotated["width"], rotated["height"]) == (48, 64)  # EXIF orientation applied
    assert mask_png(cli.out / "masks" / "rot" / "det00_q_mock.png").shape == (64, 48)


def test_degenerate_boxes_are_reported_and_skipped(cli):
    write_rgb(cli.images / "d.png", SIZE)
    write_qwen(cli.dets / "d.json", [
        qwen_det(BOX_A, SIZE, "good"),
        {"bbox_xyxy_norm": [0.5, 0.5, 0.5, 0.9], "label": "flat", "confidence": 0.9},
        {"bbox_xyxy_norm": [float("nan"), 0, 1, 1], "label": "nan", "confidence": 0.9},
    ])
    result = cli.run("mock")
    assert result.exit_code == 0
    assert "d.png: detection 1 (flat) skipped: box has zero area" in result.output
    record = cli.record("d")
    assert [d["label"] for d in record["detections"]] == ["good"]
    assert [s["id"] for s in record["skipped"]] == [1, 2]


def test_confidence_threshold_flag_and_default(cli):
    write_rgb(cli.images / "c.png", SIZE)
    write_qwen(cli.dets / "c.json", [qwen_det(BOX_A, SIZE, "hi", 0.9), qwen_det(BOX_B, SIZE, "lo", 0.3)])
    cli("run", "-b", "mock", "-i", cli.images, "-d", cli.dets, "-o", cli.out, "--conf", "0.5")
    record = cli.record("c")
    assert [d["label"] for d in record["detections"]] == ["hi"] and record["conf_threshold"] == 0.5
    assert record["skipped"][0]["reason"].startswith("confidence 0.3")


def test_empty_detection_list_still_gives_a_record_and_panel(cli):
    write_rgb(cli.images / "e.png", SIZE)
    write_qwen(cli.dets / "e.json", [])
    result = cli.run("mock", "mock-ellipse")
    assert result.exit_code == 0, result.output
    record = cli.record("e")
    assert record["detections"] == [] and (cli.out / record["panel"]).is_file()


def test_bad_images_and_files_fail_alone_and_the_run_goes_on(two_images):
    cli = two_images
    (cli.images / "broken.jpg").write_bytes(b"not an image")
    write_qwen(cli.dets / "broken.json", [qwen_det(BOX_A, SIZE)])
    write_rgb(cli.images / "malformed.png", SIZE)
    (cli.dets / "malformed.json").write_text('{"detections": [{"bbox_xyxy_norm": [0, 0]}]}')
    write_rgb(cli.images / "lonely.png", SIZE)  # an image without detections
    write_qwen(cli.dets / "orphan.json", [qwen_det(BOX_A, SIZE)])  # detections without an image
    result = cli.run("mock")
    assert result.exit_code == 1
    out = result.output
    assert "cannot decode image" in out and "broken.jpg" in out
    assert "malformed.json: detection 0 bbox_xyxy_norm is [0, 0], expected a list of 4 numbers" in out
    assert "lonely.png: no detections found for it" in out
    assert "detections for 'orphan'" in out and "match no image" in out
    assert "Traceback" not in out
    assert (cli.out / "json" / "one.json").is_file() and (cli.out / "json" / "two.json").is_file()
    failures = json.loads((cli.out / "failures.json").read_text())
    assert sorted(f["image"] for f in failures) == ["broken.jpg", "malformed.png"]
    assert "2 image(s) failed" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--images", "{root}/nowhere"], "image folder {root}/nowhere does not exist"),
        (["--detections", "{root}/nowhere"], "detections {root}/nowhere do not exist"),
        (["--backend", "sam9"], "unknown backend 'sam9'; known backends: "),
        (["--reader", "yolo"], "unknown detection reader 'yolo'; known readers: coco, "),
        (["--input-size", "12"], "--input-size: '12' is not a box space; use one of pixels, normalized"),
        (["--box-space", "qwen2.5-vl:12"], "--box-space: 'qwen2.5-vl:12': MAX_PIXELS must be a whole number of at least 3136"),
        (["--box-space", "pixels", "--input-size", "1x1"], "--box-space 'pixels' and --input-size '1x1' (its old name) disagree"),
        (["-O", "nodot=1"], "-O 'nodot=1' is not KEY.FIELD=VALUE"),
        (["--config", "{root}/none.yaml"], "config file {root}/none.yaml does not exist"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(two_images, args, message):
    cli = two_images
    root = str(cli.root)
    base = ["run", "-i", cli.images, "-d", cli.dets, "-o", cli.out, "-b", "mock"]
    result = cli(*base, *[a.format(root=root) for a in args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message.format(root=root) in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_config_file_supplies_defaults_and_env_and_flags_override(two_images, monkeypatch):
    cli = two_images
    (cli.root / "configs").mkdir()
    (cli.root / "configs" / "default.yaml").write_text(
        f"images: {cli.images}\ndetections: {cli.dets}\nout: {cli.root / 'from-config'}\nbackends: [mock]\nconf: 0.75\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(cli.root)
    assert cli("run").exit_code == 0  # everything from configs/default.yaml
    record = json.loads((cli.root / "from-config" / "json" / "one.json").read_text())
    assert record["conf_threshold"] == 0.75 and [d["label"] for d in record["detections"]] == ["りんご", "plate"]
    assert list(record["backends"]) == ["mock"]
    assert cli("run", "--backend", "mock-ellipse", env={"SEGKIT_OUT": str(cli.root / "from-env")}).exit_code == 0
    assert list(json.loads((cli.root / "from-env" / "json" / "one.json").read_text())["backends"]) == ["mock-ellipse"]
    result = cli("run", "-o", cli.root / "from-flag", env={"SEGKIT_OUT": str(cli.root / "from-env2")})
    assert result.exit_code == 0 and (cli.root / "from-flag" / "json").is_dir() and not (cli.root / "from-env2").exists()


def test_invalid_config_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from segkit.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("conf: 7\n")
    result = CliRunner().invoke(app, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "bad.yaml: conf: Input should be less than or equal to 1" in result.output
    bad.write_text("colour: red\n")
    assert "unknown setting 'colour'" in CliRunner().invoke(app, ["run", "--config", str(bad)]).output
    bad.write_text("images: [\n")
    assert "not valid YAML" in CliRunner().invoke(app, ["run", "--config", str(bad)]).output


def test_help_says_where_settings_come_from(cli):
    result = cli("run", "--help")
    assert "flag > SEGKIT_* environment variable > config file" in " ".join(result.output.split())
    assert "SEGKIT_IMAGES" in result.output


def test_limit_processes_the_first_images(two_images):
    cli = two_images
    result = cli.run("mock", extra=["--limit", "1"])
    assert result.exit_code == 0 and (cli.out / "json" / "one.json").is_file()
    assert not (cli.out / "json" / "two.json").exists()


def test_same_stem_images_are_not_overwritten(cli):
    write_rgb(cli.images / "a.jpg", SIZE)
    write_rgb(cli.images / "a.png", SIZE)
    write_qwen(cli.dets / "a.json", [qwen_det(BOX_A, SIZE)])
    result = cli.run("mock")
    assert "a.png has the same name stem as a.jpg" in " ".join(result.output.split())
    assert cli.record("a")["image"] == "a.jpg"


def test_output_folder_env_var_is_documented_in_help(cli):
    assert "SEGKIT_OUT" in cli("run", "--help").output
    assert os.environ.get("SEGKIT_OUT") is None


def test_an_output_folder_that_cannot_be_made_is_one_line(two_images):
    cli = two_images
    blocker = cli.root / "taken"
    blocker.write_text("a file where the output folder should go")
    result = cli("run", "-b", "mock", "-i", cli.images, "-d", cli.dets, "-o", blocker)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith(f"error: cannot create output folder {blocker}/json: ")
    assert result.output.rstrip().endswith("pass --out a folder you can write to")


def test_a_new_confidence_threshold_redoes_the_images(two_images):
    cli = two_images
    assert cli.run("mock").exit_code == 0  # --conf 0: both detections of one.png
    result = cli("run", "-b", "mock", "-i", cli.images, "-d", cli.dets, "-o", cli.out, "--conf", "0.85")
    assert "2 segmented" in result.output
    record = cli.record("one")
    assert record["conf_threshold"] == 0.85 and [d["label"] for d in record["detections"]] == ["りんご"]
