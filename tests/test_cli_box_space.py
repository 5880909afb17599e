"""`segkit run` on model answers: --box-space (and --input-size), cut-off answers, and the warnings for
boxes that do not fit the space they were declared in."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import write_rgb

from segkit.outputs.reading import read_mask

SIZE = (640, 480)


def mask(cli, name) -> np.ndarray:
    stem, _, rest = name.partition("_")
    return read_mask(cli.out / "masks" / stem / rest)


def rect(box, size=SIZE) -> np.ndarray:
    out = np.zeros((size[1], size[0]), bool)
    x1, y1, x2, y2 = box
    out[y1:y2, x1:x2] = True
    return out


@pytest.fixture
def answers(cli):
    """Two photos with Qwen3-VL style answers (0..1000) in ```json fences with prose."""
    write_rgb(cli.images / "a.png", SIZE, seed=1)
    write_rgb(cli.images / "b.png", SIZE, seed=2)
    (cli.dets / "a.txt").write_text(
        'Here are the objects:\n```json\n[\n  {"bbox_2d": [250, 500, 750, 1000], "label": "猫"},\n]\n```\nAnything else?',
        encoding="utf-8")
    (cli.dets / "b.txt").write_text('```json\n[{"bbox_2d": [100, 100, 400, 400], "label": "dog"}]\n```', encoding="utf-8")
    return cli


@pytest.mark.parametrize("flag", [["--box-space", "qwen3-vl"], ["--input-size", "per-mille"], ["--box-space", "per-mille"]])
def test_per_mille_answers_land_on_the_image(answers, flag):
    cli = answers
    result = cli.run("mock", extra=flag)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(mask(cli, "a_det00_猫_mock.png"), rect((160, 240, 480, 480)))
    np.testing.assert_array_equal(mask(cli, "b_det00_dog_mock.png"), rect((64, 48, 256, 192)))
    assert "do not fit" not in result.output


def test_the_box_space_can_come_from_the_environment_and_the_config(answers):
    cli = answers
    result = cli.run("mock", env={"SEGKIT_BOX_SPACE": "qwen3-vl"})
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(mask(cli, "b_det00_dog_mock.png"), rect((64, 48, 256, 192)))
    config = cli.root / "c.yaml"
    config.write_text("box_space: 1000x1000\n")
    result = cli.run("mock", extra=["--force", "--config", config])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(mask(cli, "b_det00_dog_mock.png"), rect((64, 48, 256, 192)))


def test_answers_read_in_the_wrong_space_warn_once_per_file_naming_the_likely_one(answers):
    cli = answers
    result = cli.run("mock")  # pixels of the image by default: 1000 is beyond 640x480
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert out.count("a.txt: boxes do not fit pixels (pixels): boxes reach x=750, y=1000, beyond the 640x480 image;"
                     " they are likely 0..1000 (--box-space per-mille") == 1
    assert "b.txt" not in out  # 400 fits the image: nothing to say
    result = cli.run("mock", extra=["--box-space", "normalized", "--force"])
    out = " ".join(result.output.split())
    assert out.count("a.txt: boxes do not fit normalized 0..1 (normalized): values reach 1000, above 1") == 1
    assert out.count("b.txt: boxes do not fit normalized 0..1 (normalized): values reach 400, above 1;"
                     " they are likely 0..1000 (--box-space per-mille; Qwen2-VL and Qwen3-VL answer so) or pixels of the 640x480 image") == 1


def test_one_coco_file_for_many_images_warns_once(cli):
    for name in ("a", "b", "c"):
        write_rgb(cli.images / f"{name}.png", (64, 48))
    coco = [{"image_id": f"{n}.png", "bbox": [10, 10, 500, 20], "score": 0.9, "category_id": 1} for n in "abc"]
    (cli.dets / "all.json").write_text(json.dumps(coco))
    result = cli("run", "-i", cli.images, "-d", cli.dets / "all.json", "-o", cli.out, "-b", "mock", "--conf", "0")
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).count("all.json: boxes do not fit pixels (pixels): boxes reach x=510") == 1


def test_a_cut_off_answer_keeps_its_complete_objects_and_the_run_goes_on(answers):
    cli = answers
    (cli.dets / "a.txt").write_text(
        '```json\n[\n {"bbox_2d": [0, 0, 500, 500], "label": "one"},\n {"bbox_2d": [500, 500, 1000, 1000], "label": "two"},\n'
        ' {"bbox_2d": [100, 200, 3', encoding="utf-8")
    result = cli.run("mock", extra=["--box-space", "qwen3-vl"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"{cli.dets / 'a.txt'}: the answer was cut off (it ends inside the JSON, line 5 column 2); kept the 2 complete objects before it" in out
    record = cli.record("a")
    assert [d["label"] for d in record["detections"]] == ["one", "two"]
    assert cli.record("b")["detections"][0]["label"] == "dog"


def test_an_answer_cut_before_its_first_object_is_an_image_without_detections(answers):
    cli = answers
    (cli.dets / "a.txt").write_text('```json\n[\n {"bbox_2d": [0, 0, 5', encoding="utf-8")
    result = cli.run("mock", extra=["--box-space", "qwen3-vl"])
    assert result.exit_code == 0, result.output
    assert "kept the 0 complete objects before it" in " ".join(result.output.split())
    assert cli.record("a")["detections"] == []


def test_an_answer_without_json_fails_that_image_in_one_line(answers):
    cli = answers
    (cli.dets / "a.txt").write_text("I cannot see any objects in this image.", encoding="utf-8")
    result = cli.run("mock", extra=["--box-space", "qwen3-vl"])
    assert result.exit_code == 1
    assert "a.txt: " in result.output and "Traceback" not in result.output
    assert cli.record("b")["detections"][0]["label"] == "dog"
