"""`segkit compare` on output folders: copied, merged from two machines, broken."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen
from compare_helpers import (  # noqa: F401
    DATASET,
    SIZE,
    all_boxes,
    extra_backends,
    inset_iou,
    write_dataset,
)
from PIL import Image

from segkit.pipeline import compare as compare_module


def load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def without_timings(data):
    """A report or record with the seconds taken left out: two runs never take the same time."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in ("seconds", "seconds_per_image")}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


def one_line_error(result, code=2) -> str:
    assert result.exit_code == code, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


@pytest.fixture
def ran(cli, extra_backends):
    write_dataset(cli)
    result = cli.run("mock", "mock-ellipse", "inset2")
    assert result.exit_code == 0, result.output
    return cli


def test_compare_on_a_copied_folder_gives_the_same_records_and_report(ran, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(ran.out, copy)
    for panel in (copy / "viz").iterdir():
        panel.unlink()  # compare redraws them
    result = ran("compare", copy)
    assert result.exit_code == 0, result.output
    assert load(copy / "report.json") == load(ran.out / "report.json")
    assert (copy / "report.csv").read_text(encoding="utf-8") == (ran.out / "report.csv").read_text(encoding="utf-8")
    for stem in DATASET:
        assert load(copy / "json" / f"{stem}.json") == load(ran.out / "json" / f"{stem}.json")
        assert Image.open(copy / "viz" / f"{stem}_panel.jpg").size == Image.open(ran.out / "viz" / f"{stem}_panel.jpg").size
    out = " ".join(result.output.split())
    assert "2 images compared (mock, mock-ellipse, inset2), 2 panels redrawn" in out
    assert "mock vs inset2" in out and "per backend" in out


def test_merged_folders_of_two_runs_compare_like_one_run_with_all_backends(cli, extra_backends, tmp_path):
    write_dataset(cli)
    gpu_box, laptop, together, merged = (tmp_path / n for n in ("gpu-box", "laptop", "together", "merged"))
    assert cli.run("mock", "mock-ellipse", extra=["--out", gpu_box]).exit_code == 0
    assert cli.run("inset2", extra=["--out", laptop]).exit_code == 0
    assert cli.run("mock", "mock-ellipse", "inset2", extra=["--out", together]).exit_code == 0

    shutil.copytree(gpu_box, merged)
    shutil.copytree(laptop, merged, dirs_exist_ok=True)  # cp -r laptop/. merged/: json/, viz/, report.* are overwritten
    assert load(merged / "json" / "one.json")["backends"].keys() == {"inset2"}  # one machine's image records lost...
    for name, source in (("mock", gpu_box), ("mock-ellipse", gpu_box), ("inset2", laptop)):
        assert load(merged / "backends" / name / "one.json") == load(source / "backends" / name / "one.json")  # ...not these

    result = cli("compare", merged, "-b", "mock", "-b", "mock-ellipse", "-b", "inset2")
    assert result.exit_code == 0, result.output
    assert without_timings(load(merged / "report.json")) == without_timings(load(together / "report.json"))
    for stem in DATASET:
        record = load(merged / "json" / f"{stem}.json")
        assert without_timings(record) == without_timings(load(together / "json" / f"{stem}.json"))
        for name, source in (("mock", gpu_box), ("inset2", laptop)):  # each machine's settings and seconds kept
            assert record["backends"][name] == {k: load(source / "json" / f"{stem}.json")["backends"][name][k]
                                                for k in ("plugin", "settings", "seconds")}
    report = load(merged / "report.json")
    values = [inset_iou(b) for _, _, b, _ in all_boxes()]
    assert next(p for p in report["pairs"] if p["pair"] == "mock vs inset2")["mean_iou"] == pytest.approx(sum(values) / 5, abs=1e-6)

    # Without --backend: the order of the last report in the folder (the laptop's), then the rest by name.
    shutil.copy(laptop / "report.json", merged / "report.json")
    assert cli("compare", merged, "--no-panels").exit_code == 0
    assert load(merged / "report.json")["backends"] == ["inset2", "mock", "mock-ellipse"]


def test_run_resumes_on_a_compared_folder_without_redoing_anything(ran):
    assert ran("compare", ran.out, "--no-panels").exit_code == 0
    again = ran.run("mock", "inset2")
    assert again.exit_code == 0 and "2 already complete" in again.output
    report = load(ran.out / "report.json")  # the run's report: its own backends, from the records
    assert report["backends"] == ["mock", "inset2"] and [p["pair"] for p in report["pairs"]] == ["mock vs inset2"]
    assert report["pairs"][0]["mean_iou"] == pytest.approx(sum(inset_iou(b) for _, _, b, _ in all_boxes()) / 5, abs=1e-6)
    assert "also holds results of mock-ellipse" in " ".join(again.output.split())
    # A backend that is not in the folder yet still runs.
    assert "2 segmented" in ran.run("mock", "empty").output


def test_compare_reads_each_mask_once(ran, monkeypatch):
    calls = []
    real = compare_module.load_answer_mask

    def counting(layout, answer, size):
        calls.append(answer.mask)
        return real(layout, answer, size)

    monkeypatch.setattr(compare_module, "load_answer_mask", counting)
    assert ran("compare", ran.out).exit_code == 0
    assert len(calls) == len(set(calls)) == 3 * 5


def test_a_subset_of_backends_in_a_chosen_order(ran):
    result = ran("compare", ran.out, "-b", "inset2", "-b", "mock", "--no-panels")
    assert result.exit_code == 0, result.output
    report = load(ran.out / "report.json")
    assert [p["pair"] for p in report["pairs"]] == ["inset2 vs mock"]
    assert report["pairs"][0]["median_area_ratio"] == pytest.approx(1 / 0.7875, abs=1e-5)  # area(mock) / area(inset2)
    assert list(load(ran.out / "json" / "one.json")["backends"]) == ["inset2", "mock"]


def test_panels_need_the_original_images(ran, tmp_path):
    moved = tmp_path / "moved-images"
    shutil.move(ran.images, moved)
    before = (ran.out / "viz" / "one_panel.jpg").stat().st_mtime_ns
    result = ran("compare", ran.out)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: panels of 2 image(s) not redrawn" in text and "pass --images DIR" in text
    assert (ran.out / "viz" / "one_panel.jpg").stat().st_mtime_ns == before  # the old panel is kept and still listed
    assert load(ran.out / "json" / "one.json")["panel"] == "viz/one_panel.jpg"
    result = ran("compare", ran.out, "--images", moved)
    assert result.exit_code == 0 and "2 panels redrawn" in " ".join(result.output.split())
    assert "--images nowhere is not a folder" in one_line_error(ran("compare", ran.out, "--images", "nowhere"))


def test_edited_masks_are_what_compare_measures(ran):
    record = load(ran.out / "json" / "one.json")
    mask_file = ran.out / record["detections"][0]["backends"]["inset2"]["mask"]
    Image.fromarray(np.zeros((SIZE[1], SIZE[0]), np.uint8)).save(mask_file)  # a user erased this mask
    assert ran("compare", ran.out, "--no-panels").exit_code == 0
    det = load(ran.out / "json" / "one.json")["detections"][0]
    assert det["backends"]["inset2"]["area_px"] == 0 and det["iou"]["mock vs inset2"] == 0.0


def test_compare_on_something_that_is_not_an_output_folder(cli, tmp_path):
    text = one_line_error(cli("compare", tmp_path / "nowhere"))
    assert "nowhere does not exist; pass the --out folder of a `segkit run`" in text
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    text = one_line_error(cli("compare", tmp_path / "photos"))
    assert "photos is not a segkit output folder (no backend records in" in text
    (tmp_path / "old" / "json").mkdir(parents=True)
    (tmp_path / "old" / "json" / "a.json").write_text("{}")
    assert "written by an older segkit" in one_line_error(cli("compare", tmp_path / "old"))


def test_unknown_backend_is_one_line(ran):
    text = one_line_error(ran("compare", ran.out, "-b", "sam2-large"))
    assert "backend 'sam2-large' has no records in" in text and "(it has: inset2, mock, mock-ellipse)" in text


@pytest.mark.parametrize(
    "damage, message",
    [
        ("resize", "is 10x10 but its record says the image is 128x64"),
        ("garbage", "cannot be decoded as an image"),
        ("delete", "is missing"),
        ("record", "is not valid JSON"),
    ],
)
def test_broken_files_fail_their_image_in_one_line_and_the_rest_is_compared(ran, damage, message):
    record = load(ran.out / "json" / "two.json")
    mask_file = ran.out / record["detections"][1]["backends"]["mock"]["mask"]
    if damage == "resize":
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask_file)
    elif damage == "garbage":
        mask_file.write_bytes(b"not a png")
    elif damage == "delete":
        mask_file.unlink()
    else:
        (ran.out / "backends" / "mock" / "two.json").write_text("{ half", encoding="utf-8")
    result = ran("compare", ran.out, "--no-panels")
    assert result.exit_code == 1 and "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and failed[0].startswith("failed: two: ") and message in failed[0]
    assert "re-run `segkit run --force`" in failed[0]
    assert "1 image(s) could not be compared" in result.output
    report = load(ran.out / "report.json")
    assert report["images"] == 1 and report["detections"] == 3  # `one` is still compared


def test_runs_on_different_detections_do_not_merge_silently(cli, extra_backends, tmp_path):
    write_dataset(cli)
    assert cli.run("mock", extra=["--out", tmp_path / "merged"]).exit_code == 0
    write_qwen(cli.dets / "one.json", [qwen_det((0, 0, 16, 16), SIZE, "other")])
    assert cli.run("inset2", extra=["--out", tmp_path / "merged"]).exit_code == 0
    result = cli("compare", tmp_path / "merged", "--no-panels")
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.startswith("failed: one: "))
    assert "backends 'inset2' and 'mock' were given different detection 0 (other" in " ".join(line.split())

