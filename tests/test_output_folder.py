"""The output folder holds up: names that cannot collide, the user's file modes, one writer at a time,
damaged files redone, a full disk and hand-edited records in one line, strict JSON whatever the input."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb
from compare_helpers import write_dataset

from segkit.config import VizSettings
from segkit.inputs.detections import Detection
from segkit.outputs.panels import render_panel
from segkit.plugins.segmenter import Segmentation

SIZE = (64, 48)


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def strict(path):
    """The file as JSON, refusing NaN and Infinity as the JSON standard does."""
    def refuse(value):
        raise ValueError(f"{path} holds {value}, which is not JSON")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_mask_names_cannot_collide_between_images(cli):
    # Flat names would be p_det01_q_det00_r_mock.png for both: p's detection 1 labelled q_det00_r,
    # and p_det01_q's detection 0 labelled r.
    write_rgb(cli.images / "p.png", SIZE, seed=1)
    write_rgb(cli.images / "p_det01_q.png", SIZE, seed=2)
    write_qwen(cli.dets / "p.json", [qwen_det((0, 0, 8, 8), SIZE, "a"), qwen_det((8, 8, 40, 40), SIZE, "q_det00_r")])
    write_qwen(cli.dets / "p_det01_q.json", [qwen_det((4, 4, 12, 12), SIZE, "r")])
    assert cli.run("mock").exit_code == 0
    first = load(cli.out / "json" / "p.json")["detections"][1]["backends"]["mock"]
    second = load(cli.out / "json" / "p_det01_q.json")["detections"][0]["backends"]["mock"]
    assert first["mask"] != second["mask"]
    assert (first["area_px"], second["area_px"]) == (32 * 32, 8 * 8)
    from segkit.outputs.reading import read_mask
    assert read_mask(cli.out / first["mask"]).sum() == 32 * 32 and read_mask(cli.out / second["mask"]).sum() == 64


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_get_the_mode_the_umask_allows(cli, umask, mode):
    write_dataset(cli)
    previous = os.umask(umask)
    try:
        assert cli.run("mock", "mock-ellipse", extra=["--coco"]).exit_code == 0
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in cli.out.rglob("*") if p.is_file() and p.name != ".segkit.lock"}
    assert modes == {mode}


def test_a_second_process_on_the_same_folder_is_refused_in_one_line(cli):
    write_dataset(cli)
    cli.out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, sys, time
        handle = open({str(cli.out / '.segkit.lock')!r}, "a+")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.write("4242"); handle.flush()
        print("locked", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = one_line_error(cli.run("mock"), 2)
        assert "is being written by another segkit process (pid 4242)" in message and "pass another --out" in message
        assert one_line_error(cli("compare", cli.out), 2)
    finally:
        holder.kill()
        holder.wait()
    assert not list((cli.out / "json").glob("*.json"))  # the refused run wrote nothing
    assert cli.run("mock").exit_code == 0  # the lock went with its process


def test_stale_temporary_files_are_removed_when_no_other_run_holds_the_folder(cli):
    write_dataset(cli)
    assert cli.run("mock").exit_code == 0
    stale = [cli.out / "masks" / "one" / ".det00_x_mock.png.segkit-999-1.tmp",
             cli.out / "json" / ".one.json.segkit-999-2.tmp", cli.out / ".report.json.segkit-999-3.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    assert cli.run("mock").exit_code == 0
    assert not [path for path in stale if path.exists()]


def test_segkit_never_removes_files_it_did_not_write(cli):
    """`--out .` or a folder shared with the user's own files: only segkit's marked temporaries go."""
    write_dataset(cli)
    cli.out.mkdir()
    theirs = [cli.out / ".notes.tmp", cli.out / "json" / ".draft.json.tmp", cli.out / "work" / ".cache.tmp",
              cli.out / "work" / "deep" / ".x.segkit-1-1.tmp",  # our mark, but not in a folder segkit writes
              cli.out / "masks" / "one" / ".det00_x_mock.png.123-4.tmp"]  # an unmarked name in ours
    for path in theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"the user's")
    link_target = cli.root / "elsewhere.tmp"
    link_target.write_bytes(b"the user's")
    (cli.out / "json" / ".link.segkit-1-1.tmp").symlink_to(link_target)
    assert cli.run("mock").exit_code == 0
    assert cli.run("mock", extra=["--force"]).exit_code == 0
    assert all(path.read_bytes() == b"the user's" for path in theirs)
    assert link_target.read_bytes() == b"the user's"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_mask_file_makes_its_image_incomplete(cli, damage):
    write_dataset(cli)
    assert cli.run("mock").exit_code == 0
    mask = cli.out / load(cli.out / "json" / "two.json")["detections"][0]["backends"]["mock"]["mask"]
    data = mask.read_bytes()
    mask.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x89PNG not really", "empty": b""}[damage])
    result = cli.run("mock")
    assert result.exit_code == 0 and "1 segmented" in result.output and "1 already complete" in result.output
    assert mask.read_bytes() == data


def test_a_full_disk_at_the_end_of_a_run_is_one_line_and_keeps_the_images(cli, monkeypatch):
    from segkit.pipeline import job

    write_dataset(cli)

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(job, "write_json", full)
    message = one_line_error(cli.run("mock"), 1)
    assert "No space left on device" in message and "the images already written are kept" in message
    assert (cli.out / "json" / "one.json").is_file() and (cli.out / "json" / "two.json").is_file()


def test_compare_survives_a_hand_edited_record_and_compares_dot_named_images(cli):
    write_dataset(cli)
    write_rgb(cli.images / ".hidden.png", (128, 64), seed=7)
    write_qwen(cli.dets / ".hidden.json", [qwen_det((8, 8, 48, 40), (128, 64), "x")])
    assert cli.run("mock", "mock-ellipse").exit_code == 0
    record = cli.out / "backends" / "mock" / "two.json"
    edited = load(record)
    edited["answers"] = [1]
    record.write_text(json.dumps(edited), encoding="utf-8")
    result = cli("compare", cli.out, "--no-panels")
    assert result.exit_code == 1 and "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and failed[0].startswith("failed: two: ") and "answers.0" in failed[0]
    assert "2 images compared" in " ".join(result.output.split())  # one and .hidden
    assert load(cli.out / "json" / ".hidden.json")["detections"][0]["iou"]


def test_outputs_are_strict_json_even_when_the_input_has_nan(cli):
    write_rgb(cli.images / "n.png", SIZE)
    detection = qwen_det((8, 8, 40, 40), SIZE, "x")
    detection["extra"] = float("nan")
    detection["ratio"] = float("inf")
    (cli.dets / "n.json").write_text(json.dumps({"detections": [detection]}), encoding="utf-8")  # NaN, Infinity
    assert cli.run("mock", "mock-ellipse", extra=["--coco"]).exit_code == 0
    for path in cli.out.rglob("*.json"):
        strict(path)
    assert load(cli.out / "json" / "n.json")["detections"][0]["source"]["extra"] is None


def test_crowded_panels_draw_a_bounded_number_of_detections():
    h, w = 120, 160
    image = np.zeros((h, w, 3), np.uint8)
    detections, masks = [], np.zeros((300, h, w), bool)
    for i in range(300):
        x, y = (i * 7) % 150, (i * 3) % 110
        detections.append(Detection(i, f"d{i}", (x, y, x + 10, y + 10), 0.9, {}))
        masks[i, y : y + 10, x : x + 10] = True
    viz = VizSettings(max_detections=5, max_labels=2, opacity=1.0)
    panel = render_panel(image, detections, {"m": Segmentation(masks, np.ones(300))}, viz)
    header = panel.shape[0] - h
    overlay = panel[header:, w + 4 : 2 * w + 4]
    assert overlay[1:9, 1:9].any()  # detection 0 is drawn
    x, y = (299 * 7) % 150, (299 * 3) % 110
    assert not overlay[y + 3 : y + 7, x + 3 : x + 7].any()  # detection 299 is not
