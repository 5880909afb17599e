"""`segkit export`: the filters, the split, resuming, merged and RLE folders, the library call, and bad input
(one line, exit 2, nothing written over)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from compare_helpers import all_boxes, inset_iou
from export_helpers import run_folder, shape_backends, summary, tree  # noqa: F401

import segkit

COUNTS = {"cup": 1, "りんご": 3, "皿": 1}


def coco(folder: Path, split: str = "train") -> dict:
    return json.loads((folder / "annotations" / f"instances_{split}.json").read_text(encoding="utf-8"))


def annotations(folder: Path) -> list[dict]:
    return [a for split in ("train", "val") if (folder / "annotations" / f"instances_{split}.json").exists()
            for a in coco(folder, split)["annotations"]]


@pytest.fixture
def folder(cli, shape_backends):
    run_folder(cli, "mock", "inset2", "empty", "pieces")
    return cli


def export(cli, *args):
    return cli("export", cli.out, *map(str, args))


def test_agree_keeps_only_detections_where_every_backend_agrees(folder):
    to = folder.root / "agree"
    result = export(folder, "--format", "coco", "-b", "inset2", "-b", "mock", "--agree", "0.5", "--to", to, "--val", "0")
    assert result.exit_code == 0, result.output
    agreeing = {(stem, det) for stem, det, box, _ in all_boxes() if inset_iou(box) >= 0.5}
    assert len(agreeing) == 4  # the 6 x 6 box inset by 2 keeps IoU 4/36
    got = {(folder_stem(to, a), a["segkit"]["detection_id"]) for a in annotations(to)}
    assert got == agreeing
    assert summary(to)["dropped"]["agree"] == {"total": 1, "per_class": {"りんご": 1}}
    # a backend with empty masks agrees with nothing: everything dropped, counted as flags (empty) first
    none = folder.root / "none"
    result = export(folder, "--format", "coco", "-b", "mock", "-b", "empty", "--agree", "0.5", "--to", none, "--val", "0")
    assert result.exit_code == 0 and summary(none)["dropped"]["agree"]["total"] == 5 and annotations(none) == []


def folder_stem(to: Path, ann: dict) -> str:
    images = {i["id"]: i["file_name"] for i in coco(to)["images"]}
    return images[ann["image_id"]].rsplit(".", 1)[0]


def test_min_score_flags_and_labels_each_count_what_they_drop(folder, tmp_path):
    label_map = tmp_path / "map.yaml"
    label_map.write_text("りんご: apple\ncup: cup\n皿: null\n", encoding="utf-8")
    to = folder.root / "filtered"
    result = export(folder, "--format", "coco", "-b", "mock", "--to", to, "--val", "0", "--label-map", label_map)
    assert result.exit_code == 0, result.output
    document = coco(to)
    assert [c["name"] for c in document["categories"]] == ["apple", "cup"]  # the map's order
    assert sorted(a["segkit"]["label"] for a in document["annotations"]) == ["cup", "りんご", "りんご", "りんご"]
    s = summary(to)
    assert s["instances"]["per_class"] == {"apple": 3, "cup": 1} and s["dropped"]["label"]["per_class"] == {"皿": 1}

    low = folder.root / "low"
    assert export(folder, "--format", "coco", "-b", "pieces", "--to", low, "--min-score", "0.7", "--drop-flags", "none").exit_code == 0
    assert summary(low)["dropped"]["score"]["total"] == 5 and summary(low)["instances"]["total"] == 0

    empty = folder.root / "empty"
    assert export(folder, "--format", "yolo-seg", "-b", "empty", "--to", empty, "--drop-flags", "none").exit_code == 0
    assert summary(empty)["dropped"]["flags"]["total"] == 5  # empty masks have no shape: always dropped
    assert all(p.read_text() == "" for p in (empty / "labels").rglob("*.txt"))

    kept = folder.root / "kept"
    assert export(folder, "--format", "coco", "-b", "mock", "--to", kept, "--labels", "皿,cup", "--val", "0").exit_code == 0
    assert [c["name"] for c in coco(kept)["categories"]] == ["皿", "cup"]
    assert summary(kept)["dropped"]["label"]["per_class"] == {"りんご": 3}


def test_whole_images_leaves_out_images_where_a_filter_dropped_a_mask(folder):
    to = folder.root / "whole"
    assert export(folder, "--format", "coco", "-b", "inset2", "-b", "mock", "--agree", "0.5", "--whole-images",
                  "--to", to, "--val", "0").exit_code == 0
    assert [i["file_name"] for i in coco(to)["images"]] == ["one.png"]  # "two" lost its small box
    assert summary(to)["images"]["skipped"] == {"partial": 1}


def test_split_is_by_image_seeded_and_stable(cli, shape_backends):
    many = {f"img{i:02d}": [((8, 8, 48, 40), "cup")] for i in range(20)}
    from compare_helpers import write_dataset

    write_dataset(cli, many)
    assert cli.run("mock").exit_code == 0

    def split(seed, to):
        assert cli("export", cli.out, "--format", "yolo-seg", "--to", to, "--seed", seed, "--val", "0.25").exit_code == 0
        return sorted(p.stem for p in (to / "labels" / "val").iterdir() if p.suffix == ".txt")

    first = split(1, cli.root / "a")
    assert len(first) == 5 and split(1, cli.root / "b") == first and split(2, cli.root / "c") != first
    s = summary(cli.root / "a")
    assert s["images"]["train"] == 15 and s["images"]["val"] == 5 and s["instances"]["per_split"]["val"] == {"cup": 5}


def test_an_interrupted_export_goes_on_and_ends_with_the_same_files(folder, monkeypatch):
    to = folder.root / "ds"
    assert export(folder, "--format", "coco", "-b", "mock", "--to", to).exit_code == 0
    whole = tree(to)
    # interrupted after one image: its part (written last) and the assembled files missing, a temporary file left
    (to / ".segkit-export" / "two.json").unlink()
    shutil.rmtree(to / "annotations")
    (to / "summary.json").unlink()
    (to / "images" / ".one.png.segkit-123-4.tmp").parent.mkdir(parents=True, exist_ok=True)
    (to / "images" / ".one.png.segkit-123-4.tmp").write_bytes(b"half")
    from segkit.export import job as export_module

    read = []
    original = export_module.FolderSource.read
    monkeypatch.setattr(export_module.FolderSource, "read", lambda self, stem: read.append(stem) or original(self, stem))
    result = export(folder, "--format", "coco", "-b", "mock", "--to", to)
    assert result.exit_code == 0, result.output
    assert read == ["two"] and "1 written before" in " ".join(result.output.split())
    assert tree(to) == whole


def test_merged_folders_with_png_and_rle_masks_export_like_one_run(cli, shape_backends, tmp_path):
    run_folder(cli, "mock", "inset2")
    reference = tmp_path / "ref"
    assert cli("export", cli.out, "-f", "coco", "-b", "inset2", "-b", "mock", "--agree", "0.5", "--to", reference).exit_code == 0
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("run", "--images", cli.images, "--detections", cli.dets, "--out", a, "--conf", "0", "-b", "mock",
               "--mask-format", "rle").exit_code == 0
    assert cli("run", "--images", cli.images, "--detections", cli.dets, "--out", b, "--conf", "0", "-b", "inset2").exit_code == 0
    shutil.copytree(b, a, dirs_exist_ok=True)
    merged = tmp_path / "merged"
    assert cli("export", a, "-f", "coco", "-b", "inset2", "-b", "mock", "--agree", "0.5", "--to", merged).exit_code == 0
    for split in ("train", "val"):
        ref, got = coco(reference, split), coco(merged, split)
        assert got["annotations"] == ref["annotations"] and got["images"] == ref["images"]


def test_the_library_call_writes_what_the_command_writes(folder):
    job = segkit.ExportJob(out=folder.out, format="coco", backends=["mock"], to=folder.root / "lib")
    result = segkit.export_job(job)
    assert result.exit_code == 0 and result.classes == sorted(COUNTS)
    assert result.summary["instances"]["per_class"] == COUNTS
    assert export(folder, "-f", "coco", "-b", "mock", "--to", folder.root / "cli").exit_code == 0
    assert tree(folder.root / "lib" / "annotations") == tree(folder.root / "cli" / "annotations")


def test_a_missing_image_is_a_problem_of_its_own(folder):
    (folder.images / "two.png").unlink()
    result = export(folder, "-f", "coco", "-b", "mock", "--to", folder.root / "ds")
    assert result.exit_code == 1
    assert "two: its image two.png was not found" in " ".join(result.output.split())
    again = folder("export", folder.out, "-f", "coco", "-b", "mock", "--to", folder.root / "ds", "--images", folder.root / "nowhere")
    assert again.exit_code == 1  # still missing; "one" is not redone
    shutil.copytree(folder.images, folder.root / "elsewhere")
    from cli_helpers import write_rgb

    write_rgb(folder.root / "elsewhere" / "two.png", (128, 64), seed=1)
    fixed = folder("export", folder.out, "-f", "coco", "-b", "mock", "--to", folder.root / "ds", "--images", folder.root / "elsewhere")
    assert fixed.exit_code == 0, fixed.output


def one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and lines and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_bad_input_is_one_line_exit_2_and_nothing_written(folder, tmp_path):
    to = tmp_path / "ds"
    assert "unknown format 'voc'" in one_error_line(export(folder, "--format", "voc", "--to", to))
    assert "backend 'sam9' has no records" in one_error_line(export(folder, "-f", "coco", "-b", "sam9", "--to", to))
    assert "pass --backend NAME" in one_error_line(export(folder, "-f", "coco", "--to", to))
    assert "--agree needs two or more" in one_error_line(export(folder, "-f", "coco", "-b", "mock", "--agree", "0.5", "--to", to))
    nulls = tmp_path / "nulls.yaml"
    nulls.write_text("りんご: null\ncup: null\n", encoding="utf-8")
    assert "leaves no class" in one_error_line(export(folder, "-f", "coco", "-b", "mock", "--label-map", nulls, "--to", to))
    other = tmp_path / "other.yaml"
    other.write_text("dog: animal\n", encoding="utf-8")
    assert "leaves no class of the folder's labels" in one_error_line(export(folder, "-f", "coco", "-b", "mock", "--label-map", other, "--to", to))
    assert "a labelstudio export is for review" in one_error_line(export(folder, "-f", "labelstudio", "-b", "mock", "--val", "0.2", "--to", to))
    assert not to.exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    assert "is not a segkit export" in one_error_line(export(folder, "-f", "coco", "-b", "mock", "--to", mine))
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]

    nothing = tmp_path / "nothing"
    nothing.mkdir()
    assert "not a segkit output folder" in one_error_line(folder("export", nothing, "-f", "coco", "--to", to))
    assert not to.exists()


def test_a_folder_without_masks_and_other_settings_are_refused(cli, tmp_path):
    from cli_helpers import write_qwen, write_rgb

    write_rgb(cli.images / "a.png")
    write_qwen(cli.dets / "a.json", [])
    assert cli.run("mock").exit_code == 0
    assert "has no masks from backend 'mock'" in one_error_line(cli("export", cli.out, "-f", "coco", "--to", tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_another_export_in_the_folder_needs_force(folder):
    to = folder.root / "ds"
    assert export(folder, "-f", "coco", "-b", "mock", "--to", to).exit_code == 0
    before = tree(to)
    assert "other settings (min_score)" in one_error_line(export(folder, "-f", "coco", "-b", "mock", "--to", to, "--min-score", "0.5"))
    assert tree(to) == before
    forced = export(folder, "-f", "yolo-seg", "-b", "mock", "--to", to, "--force")
    assert forced.exit_code == 0, forced.output
    assert not (to / "annotations").exists() and (to / "data.yaml").is_file()


def test_a_missing_extra_is_one_line_naming_the_pip_command(folder, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)  # as if label-studio-sdk were not installed
    monkeypatch.delitem(sys.modules, "label_studio_sdk.converter.brush", raising=False)
    monkeypatch.delitem(sys.modules, "label_studio_sdk.converter", raising=False)
    line = one_error_line(export(folder, "-f", "labelstudio", "-b", "mock", "--to", folder.root / "ls"))
    assert "pip install 'segkit[export]'" in line
    assert not (folder.root / "ls").exists()


def test_a_concept_backends_instances_are_its_dataset(cli, tmp_path):
    from concept_helpers import StencilPlugin
    from segkit.plugins.host import get_host
    from cli_helpers import qwen_det, write_qwen, write_rgb
    from concept_helpers import DETECTIONS, SIZE

    host = get_host()
    host.register(StencilPlugin, name="stencil-plugin")
    try:
        write_rgb(cli.images / "pets.png", SIZE)
        write_qwen(cli.dets / "pets.json", [qwen_det(box, SIZE, label, conf) for box, label, conf in DETECTIONS])
        result = cli.run("stencil", "mock", extra=["--prompts-from-labels"])
        assert result.exit_code == 0, result.output
        to = tmp_path / "concept"
        assert cli("export", cli.out, "-f", "coco", "-b", "stencil", "--to", to, "--val", "0", "--drop-flags", "none").exit_code == 0
        anns = coco(to)["annotations"]
        assert sorted((a["segkit"]["label"], str(a["segkit"]["detection_id"])) for a in anns) == [("cat", "0"), ("cat", "None"), ("dog", "2")]
        agree = tmp_path / "agree"
        assert cli("export", cli.out, "-f", "coco", "-b", "stencil", "-b", "mock", "--agree", "0.5", "--to", agree,
                   "--val", "0", "--drop-flags", "none").exit_code == 0
        assert sorted(a["segkit"]["detection_id"] for a in coco(agree)["annotations"]) == [0, 2]  # the extra cat has no detection
    finally:
        host.unregister("stencil-plugin")


def test_an_output_folder_on_object_storage_exports_like_a_local_one(folder, s3_server, tmp_path):
    s3_server.bucket("runs")
    url = s3_server.upload(folder.out, "runs", "a")
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert export(folder, "-f", "coco", "-b", "mock", "--to", local).exit_code == 0
    result = folder("export", url, "-f", "coco", "-b", "mock", "--to", remote)
    assert result.exit_code == 0, result.output
    assert tree(remote / "annotations") == tree(local / "annotations")
    assert "pass --to a local folder" in one_error_line(folder("export", url, "-f", "coco", "-b", "mock"))
