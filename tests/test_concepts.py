"""`segkit run` with concept backends (a phrase or exemplar boxes in, every instance out), as a user runs it:
text alone with no detections, concepts from the detections' labels and boxes, a concept backend beside
box backends on the same detections, resume, both mask formats, COCO, and `segkit eval`.

``mock-concept`` finds the sample image's disc, rectangle and ellipse as blobs (for a phrase) or the
ellipses inscribed in exemplar boxes; ``stencil`` (tests/concept_helpers.py) finds rectangles known
exactly, so the numbers below are worked out by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb
from concept_helpers import CALLS, DETECTIONS, SIZE, STENCILS, StencilPlugin, rect
from eval_helpers import write_coco

from segkit.outputs.mask_metrics import iou
from segkit.outputs.reading import read_mask
from segkit.plugins.host import get_host
from segkit.plugins.mock import ellipse_mask
from segkit.testing import sample_masks, write_sample_dataset  # noqa: F401


@pytest.fixture(autouse=True)
def _no_default_config(tmp_path, monkeypatch):
    """Run where no configs/default.yaml is found: its images, detections and ground truth are the examples'."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def stencil():
    host = get_host()
    host.register(StencilPlugin, name="stencil-plugin")
    CALLS.clear()
    yield
    host.unregister("stencil-plugin")


@pytest.fixture
def samples(cli):
    """Two sample images (a disc, a rectangle, an ellipse) with Qwen detections 円, rectangle, 楕円."""
    data = write_sample_dataset(cli.root / "sample", n_images=2)
    cli.images, cli.dets = data.images, data.detections
    return cli


@pytest.fixture
def cats(cli, stencil):
    """One 128x64 image with Qwen detections of two cats and a dog (concept_helpers.DETECTIONS)."""
    write_rgb(cli.images / "pets.png", SIZE, seed=3)
    write_qwen(cli.dets / "pets.json", [qwen_det(box, SIZE, label, conf) for box, label, conf in DETECTIONS])
    return cli


def load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def lines(text: str, lead: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(lead)]


def test_a_phrase_alone_needs_no_detections_and_finds_every_instance(samples):
    cli = samples
    result = cli("run", "-b", "mock-concept", "--prompt", "shape", "-i", cli.images, "-o", cli.out)
    assert result.exit_code == 0, result.output
    assert "2 images, 2 segmented" in result.output and "2 concepts" in result.output
    record = cli.record("sample00")
    assert record["detections"] == [] and record["concepts"] == {"mock-concept": [{"text": "shape", "label": "shape", "boxes": [], "negative": []}]}
    found = record["instances"]["mock-concept"]
    assert [(i["id"], i["concept"], i["label"], i["detection"]) for i in found] == [(k, 0, "shape", None) for k in range(3)]
    truth = sample_masks()
    for inst in found:
        mask = read_mask(cli.out / inst["mask"])
        assert inst["mask"] == f"masks/sample00/inst{inst['id']:02d}_shape_mock-concept.png"
        assert max(iou(mask, t) for t in truth) > 0.9  # each blob is one of the drawn shapes
        assert inst["area_px"] == int(mask.sum()) and "rle" not in inst
    backend = load(cli.out / "backends" / "mock-concept" / "sample00.json")
    assert backend["kind"] == "concept" and len(backend["instances"]) == 3 and backend["answers"] == []
    assert record["files"][:3] == [i["mask"] for i in found] and (cli.out / "viz" / "sample00_panel.jpg").is_file()
    report = load(cli.out / "report.json")
    assert report["concepts"][0] | {"labels": None} == {
        "backend": "mock-concept", "images": 2, "concepts": 2, "detections": 0, "matched": 0, "missed": 0, "instances": 6,
        "extra": 6, "mean_score": 0.9, "mean_match_iou": None, "labels": None}
    assert "concept_pairs" not in report and report["detections"] == 0


def test_labels_as_phrases_are_gated_by_label_and_exemplars_find_each_box(samples):
    cli = samples
    # mock-concept gives every blob to the first phrase, 円: a label the detections use, so its instances pair only
    # with the 円 detection; the rectangle and the ellipse are missed, two 円 instances are extra.
    result = cli.run("mock-concept", extra=["--prompts-from-labels"])
    assert result.exit_code == 0, result.output
    record = cli.record("sample00")
    assert [c["text"] for c in record["concepts"]["mock-concept"]] == ["円", "rectangle", "楕円"]
    assert sorted(((i["label"], i["detection"]) for i in record["instances"]["mock-concept"]), key=str) == [("円", 0), ("円", None), ("円", None)]
    summary = load(cli.out / "report.json")["concepts"][0]
    assert (summary["detections"], summary["matched"], summary["missed"], summary["instances"], summary["extra"]) == (6, 2, 4, 6, 4)

    # --exemplars: each label's boxes as examples (no text): one ellipse per box, each paired with its detection,
    # and the very masks mock-ellipse draws in those boxes.
    out = cli.root / "exemplars"
    result = cli("run", "-b", "mock-ellipse", "-b", "mock-concept", "--exemplars", "-i", cli.images, "-d", cli.dets, "-o", out)
    assert result.exit_code == 0, result.output
    record = load(out / "json" / "sample00.json")
    concepts = record["concepts"]["mock-concept"]
    assert [(c["text"], c["label"], len(c["boxes"])) for c in concepts] == [(None, "円", 1), (None, "rectangle", 1), (None, "楕円", 1)]
    assert [(i["label"], i["detection"]) for i in record["instances"]["mock-concept"]] == [("円", 0), ("rectangle", 1), ("楕円", 2)]
    assert all(d["iou"] == {"mock-ellipse vs mock-concept": 1.0} for d in record["detections"])
    assert [d["backends"]["mock-concept"]["instance"] for d in record["detections"]] == [0, 1, 2]
    pairs = load(out / "report.json")["concept_pairs"]
    assert [(p["pair"], p["matched"], p["mean_iou"], p["only_a"], p["only_b"]) for p in pairs] == [("mock-ellipse vs mock-concept", 6, 1.0, 0, 0)]

    # Both: the label and its boxes, in one concept each.
    out = cli.root / "both"
    result = cli("run", "-b", "mock-concept", "--exemplars", "--prompts-from-labels", "-i", cli.images, "-d", cli.dets, "-o", out)
    assert result.exit_code == 0, result.output
    concepts = load(out / "backends" / "mock-concept" / "sample01.json")["concepts"]
    assert [(c["text"], c["label"]) for c in concepts] == [("円", "円"), ("rectangle", "rectangle"), ("楕円", "楕円")]
    np.testing.assert_allclose([c["boxes"][0] for c in concepts], write_sample_dataset(cli.root / "again").boxes)


def test_a_concept_backend_beside_a_box_backend_by_hand(cats):
    cli = cats
    result = cli.run("mock", "stencil", extra=["--prompts-from-labels"])
    assert result.exit_code == 0, result.output
    assert CALLS == [1, 1]  # cat and dog: the stencil takes one concept per call
    record = cli.record("pets")
    found = record["instances"]["stencil"]
    # The dog came from the second call, whose concept 0 is the image's concept 1.
    assert [(i["id"], i["concept"], i["label"], i["score"], i["bbox_xyxy_px"]) for i in found] == [
        (0, 0, "cat", 0.9, [0.0, 0.0, 40.0, 32.0]), (1, 0, "cat", 0.6, [100.0, 40.0, 128.0, 64.0]), (2, 1, "dog", 0.8, [12.0, 46.0, 30.0, 64.0])]
    assert [(i["detection"], i["match_iou"]) for i in found] == [(0, 0.8), (None, None), (2, 0.81)]
    dets = record["detections"]
    assert [d["iou"].get("mock vs stencil") for d in dets] == [0.8, None, 0.81]  # the rectangles' IoUs; detection 1 missed
    assert [d["backends"].get("stencil", {}).get("instance") for d in dets] == [0, None, 2]
    assert "instance" not in dets[0]["backends"]["mock"]  # a box backend's answer is what it always was
    assert record["instance_pairs"] == {"mock vs stencil": {
        "a": "mock", "b": "stencil", "matched": [{"a": 2, "b": 2, "iou": 0.81}, {"a": 0, "b": 0, "iou": 0.8}],
        "only_a": [1], "only_b": [1]}}
    np.testing.assert_array_equal(read_mask(cli.out / found[1]["mask"]), rect((100, 40, 128, 64)))

    report = load(cli.out / "report.json")
    assert (report["pairs"][0]["detections"], report["pairs"][0]["mean_iou"]) == (2, 0.805)
    [concepts] = report["concepts"]
    assert {k: concepts[k] for k in ("images", "concepts", "detections", "matched", "missed", "instances", "extra")} == \
        {"images": 1, "concepts": 2, "detections": 3, "matched": 2, "missed": 1, "instances": 3, "extra": 1}
    assert concepts["mean_match_iou"] == 0.805 and concepts["mean_score"] == round((0.9 + 0.6 + 0.8) / 3, 6)
    assert [(r["label"], r["detections"], r["matched"], r["missed"], r["instances"], r["extra"]) for r in concepts["labels"]] == \
        [("cat", 2, 1, 1, 2, 1), ("dog", 1, 1, 0, 1, 0)]
    [pair] = report["concept_pairs"]
    assert (pair["matched"], pair["mean_iou"], pair["median_iou"], pair["only_a"], pair["only_b"]) == (2, 0.805, 0.805, 1, 1)
    assert [(r["label"], r["matched"], r["only_a"], r["only_b"]) for r in pair["labels"]] == [("cat", 1, 1, 1), ("dog", 1, 0, 0)]
    csv_rows = (cli.out / "report.csv").read_text(encoding="utf-8").splitlines()
    assert csv_rows[0].endswith("concepts,matched,missed,instances,extra,mean_match_iou,only_a,only_b")
    assert sum(row.startswith("concept_label,") for row in csv_rows) == 2
    assert "concept backends: their instances paired with the detections" in result.output


def test_resume_counts_a_concept_backend_and_redoes_other_phrases(samples):
    cli = samples
    first = cli.run("mock", "mock-concept", extra=["-p", "shape"])
    assert first.exit_code == 0, first.output
    written = {p: p.stat().st_mtime_ns for p in (cli.out / "json").iterdir()}
    again = cli.run("mock", "mock-concept", extra=["-p", "shape"])
    assert again.exit_code == 0 and "2 already complete" in again.output, again.output
    assert all(p.stat().st_mtime_ns == t for p, t in written.items())
    other = cli.run("mock", "mock-concept", extra=["-p", "blob"])  # other phrases: another question, asked again
    assert other.exit_code == 0 and "2 segmented" in other.output, other.output
    assert {i["label"] for i in cli.record("sample00")["instances"]["mock-concept"]} == {"blob"}
    (cli.out / cli.record("sample01")["instances"]["mock-concept"][0]["mask"]).unlink()  # a lost mask redoes its image
    last = cli.run("mock", "mock-concept", extra=["-p", "blob"])
    assert "1 segmented, 1 already complete" in last.output, last.output


def test_rle_and_png_masks_give_the_same_numbers(cats):
    cli = cats
    png = cli.run("mock", "stencil", extra=["--prompts-from-labels"])
    rle_out = cli.root / "rle"
    rle = cli("run", "-b", "mock", "-b", "stencil", "--prompts-from-labels", "--mask-format", "rle", "-i", cli.images, "-d",
              cli.dets, "-o", rle_out, "--conf", "0")
    assert png.exit_code == rle.exit_code == 0, rle.output
    as_png, as_rle = load(cli.out / "report.json"), load(rle_out / "report.json")
    for key in ("pairs", "labels", "concepts", "concept_pairs"):
        assert as_png[key] == as_rle[key], key
    record = load(rle_out / "backends" / "stencil" / "pets.json")
    assert all(i["mask"] is None and i["rle"]["size"] == [64, 128] for i in record["instances"])
    assert not (rle_out / "masks" / "pets").exists()
    image = load(rle_out / "json" / "pets.json")
    assert all("rle" not in i for i in image["instances"]["stencil"])
    drop = lambda found: [{k: v for k, v in i.items() if k != "mask"} for i in found]  # noqa: E731
    assert drop(image["instances"]["stencil"]) == drop(cli.record("pets")["instances"]["stencil"])


def test_coco_export_has_every_instance_in_its_label_category(cats):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    cli = cats
    result = cli.run("mock", "stencil", extra=["--prompts-from-labels", "--coco"])
    assert result.exit_code == 0, result.output
    coco = COCO(str(cli.out / "coco" / "stencil.json"))
    names = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    anns = coco.dataset["annotations"]
    assert [(names[a["category_id"]], a["score"], a["instance_id"], a["detection_id"]) for a in anns] == \
        [("cat", 0.9, 0, 0), ("cat", 0.6, 1, None), ("dog", 0.8, 2, 2)]
    assert anns[1]["bbox"] == [100.0, 40.0, 28.0, 24.0] and anns[1]["area"] == 28 * 24
    np.testing.assert_array_equal(mask_utils.decode(coco.annToRLE(anns[2])).astype(bool), rect((12, 46, 30, 64)))
    assert load(cli.out / "coco" / "mock.json")["categories"] == coco.dataset["categories"]  # shared ids
    first = (cli.out / "coco" / "stencil.json").read_bytes()
    again = cli.run("mock", "stencil", extra=["--prompts-from-labels", "--coco"])  # resumed: the instances read back
    assert "1 already complete" in again.output and (cli.out / "coco" / "stencil.json").read_bytes() == first


def test_eval_scores_a_concept_backend_on_its_own_instances(cats, tmp_path):
    cli = cats
    # Ground truth: the first cat as the stencil draws it, the second cat as Qwen boxed it, the dog as Qwen boxed it.
    gt = write_coco(tmp_path / "gt.json", {"pets": [((0, 0, 40, 32), "cat"), ((60, 0, 100, 40), "cat"), ((10, 44, 30, 64), "dog")]},
                    SIZE, as_rle=True)
    result = cli.run("mock", "stencil", extra=["--prompts-from-labels", "--gt", gt])
    assert result.exit_code == 0, result.output
    doc = load(cli.out / "eval.json")
    rows = {r["backend"]: r for r in doc["per_backend"]}
    concept = rows["stencil"]
    # Instances by score: cat 0.9 matches the first cat (IoU 1), dog 0.8 the dog (IoU 324/400), cat 0.6 nothing.
    assert {k: concept[k] for k in ("detections", "matched", "mean_iou", "false_positives", "misses", "best", "worse_than_box")} == \
        {"detections": 3, "matched": 2, "mean_iou": 0.905, "false_positives": 1, "misses": 1, "best": None, "worse_than_box": None}
    # AP50: recall 2/3 at precision 1 -> 67 of COCO's 101 recall points; above IoU 0.8 the dog no longer counts (34 points).
    assert concept["ap50"] == round(67 / 101, 6) and concept["ap75"] == round(67 / 101, 6)
    assert concept["ap"] == round((7 * 67 + 3 * 34) / 10 / 101, 6)
    box = rows["mock"]  # the detector's boxes: all three matched, the first at 1280/1600
    assert (box["matched"], box["mean_iou"], box["false_positives"], box["misses"]) == (3, round((0.8 + 1 + 1) / 3, 6), 0, 0)
    assert doc["concept_backends"] == ["stencil"]
    assert doc["concept_details"]["stencil"]["unmatched_instances"] == [
        {"image": "pets.png", "instance": 1, "label": "cat", "score": 0.6, "best_box_iou": 0.0}]
    assert [m["gt_id"] for m in doc["concept_details"]["stencil"]["missed_ground_truth"]] == [101]
    assert doc["worst"]["stencil"][0]["instance"] == 2 and "detection" not in doc["worst"]["stencil"][0]
    instances = cli.record("pets")["instances"]["stencil"]
    assert [i["ground_truth"]["status"] for i in instances] == ["matched", "false_positive", "matched"]
    assert instances[2]["ground_truth"]["backends"]["stencil"]["iou"] == 0.81
    assert "FP" in result.output and "stencil: found their own instances" in result.output


def test_the_page_is_written_for_a_concept_run(samples):
    cli = samples
    result = cli("run", "-b", "mock", "-b", "mock-concept", "-p", "shape", "-i", cli.images, "-d", cli.dets, "-o", cli.out, "--html")
    assert result.exit_code == 0, result.output
    assert (cli.out / "report.html").is_file()


def test_compare_rebuilds_the_same_records_and_report(cats):
    cli = cats
    assert cli.run("mock", "stencil", extra=["--prompts-from-labels"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in (cli.out / "json").iterdir()} | {"report": (cli.out / "report.json").read_bytes()}
    result = cli("compare", cli.out)
    assert result.exit_code == 0, result.output
    after = {p.name: p.read_bytes() for p in (cli.out / "json").iterdir()} | {"report": (cli.out / "report.json").read_bytes()}
    assert after == before


def test_two_concept_backends_without_detections_compare_their_masks(samples, stencil):
    cli = samples
    result = cli("run", "-b", "mock-concept", "-b", "stencil", "-p", "rectangle", "-i", cli.images, "-o", cli.out, "--limit", "1")
    assert result.exit_code == 0, result.output
    record = cli.record("sample00")
    pairs = record["instance_pairs"]["mock-concept vs stencil"]
    # mock-concept finds the three shapes, the stencil only the rectangle: one pair, two shapes left on side a.
    blobs = {i["id"]: read_mask(cli.out / i["mask"]) for i in record["instances"]["mock-concept"]}
    drawn = rect(STENCILS["rectangle"][0][0], (160, 120))
    which = max(blobs, key=lambda k: iou(blobs[k], drawn))
    assert pairs["matched"] == [{"a": which, "b": 0, "iou": round(iou(blobs[which], drawn), 6)}] and pairs["matched"][0]["iou"] > 0.9
    assert sorted(pairs["only_a"]) == sorted(set(blobs) - {which}) and pairs["only_b"] == []
    report = load(cli.out / "report.json")
    assert report["concept_pairs"][0]["images"] == 1 and report["detections"] == 0
    assert (cli.out / "viz" / "sample00_panel.jpg").is_file()


# -- bad input: one line, exit 2, nothing written ------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["-b", "mock-concept", "-d", "DETS"], "mock-concept: a concept backend finds every instance of a concept and was given none"),
    (["-b", "mock-concept", "-p", ""], "--prompt '': an empty phrase"),
    (["-b", "mock-concept", "-p", "   "], "an empty phrase"),
    (["-b", "mock-concept", "--exemplars"], "--exemplars takes each image's concepts from its detections; pass --detections"),
    (["-b", "mock-concept", "--prompts-from-labels"], "--prompts-from-labels takes each image's concepts from its detections"),
    (["-b", "mock", "-b", "mock-concept", "-p", "cat"], "no detections; pass --detections DIR|FILE"),
    (["-b", "mock", "-p", "cat", "-d", "DETS"], "--prompt is for concept backends"),
    (["-b", "mock-concept", "-p", "a", "-p", "b", "-p", "c", "--config", "LIMITS"], "--prompt: 3 phrases, more than limits.max_concepts_per_image (2)"),
])
def test_bad_concept_flags_are_one_line_and_write_nothing(samples, tmp_path, args, message):
    cli = samples
    (tmp_path / "limits.yaml").write_text("limits:\n  max_concepts_per_image: 2\n", encoding="utf-8")
    args = [{"DETS": cli.dets, "LIMITS": tmp_path / "limits.yaml"}.get(a, a) for a in args]
    result = cli("run", "-i", cli.images, "-o", cli.out, *args)
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.stderr.strip().splitlines() if not line.startswith("warning:")]
    assert line.startswith("error: ") and message in line, line
    assert not cli.out.exists()


def test_too_many_concepts_on_one_image_fail_that_image_only(samples, tmp_path):
    cli = samples
    (tmp_path / "limits.yaml").write_text("limits:\n  max_concepts_per_image: 3\n", encoding="utf-8")
    write_qwen(cli.dets / "sample01.json", [qwen_det(box, (160, 120), label) for box, label in
                                           zip([(1, 1, 9, 9), (20, 20, 30, 30), (40, 40, 50, 50), (60, 60, 70, 70)], "abcd")])
    result = cli.run("mock", "mock-concept", extra=["--prompts-from-labels", "--config", tmp_path / "limits.yaml"])
    assert result.exit_code == 1, result.output
    [line] = lines(result.stderr, "failed:")
    assert "sample01.png: 4 concepts (0 --prompt phrase(s) and 4 detection label(s)), more than limits.max_concepts_per_image (3)" in line
    record = cli.record("sample01")
    assert list(record["backends"]) == ["mock"] and "mock-concept" in record["failed_backends"]
    assert len(record["detections"]) == 4 and all("mock" in d["backends"] for d in record["detections"])
    assert "mock-concept" in cli.record("sample00")["backends"]  # the other image is whole


def test_an_exemplar_box_outside_the_image_is_skipped_with_one_line(samples):
    cli = samples
    write_qwen(cli.dets / "sample00.json", [qwen_det((10, 12, 62, 70), (160, 120), "円"),
                                           qwen_det((170, 10, 200, 30), (160, 120), "円")])  # right of the image
    result = cli.run("mock-concept", extra=["--exemplars", "--limit", "1"])
    assert result.exit_code == 0, result.output
    [line] = lines(result.stderr, "warning:")
    assert "sample00.png: detection 1 (円) skipped" in line
    [concept] = cli.record("sample00")["concepts"]["mock-concept"]
    assert concept["boxes"] == [[10.0, 12.0, 62.0, 70.0]]


def test_a_malformed_answer_fails_its_image_and_names_the_concept(cli, stencil):
    write_rgb(cli.images / "fine.png", (64, 48), seed=1)
    red = write_rgb(cli.images / "red.png", (64, 48), seed=2)
    red[0, 0] = (255, 0, 0)
    from PIL import Image

    Image.fromarray(red).save(cli.images / "red.png")
    for stem in ("fine", "red"):
        write_qwen(cli.dets / f"{stem}.json", [qwen_det((8, 6, 40, 30), (64, 48), "cup")])
    result = cli.run("mock", "garbled", extra=["-p", "cup"])
    assert result.exit_code == 1, result.output
    [line] = lines(result.stderr, "failed:")
    assert line == ("failed: garbled: red.png: backend 'garbled' returned masks (1, 24, 32) bool for a 64x48 image;"
                    " expected (M, 48, 64) bool (asked for 'cup')")
    red_record = cli.record("red")
    assert list(red_record["backends"]) == ["mock"] and "garbled" in red_record["failed_backends"]
    assert load(cli.out / "backends" / "garbled" / "red.json")["instances"] == []
    assert "garbled" in cli.record("fine")["backends"]
    assert [f["image"] for f in load(cli.out / "failures.json")] == ["red.png"]
    assert not list((cli.out / "masks" / "red").glob("inst*"))  # nothing of the bad answer was kept
    mask = read_mask(cli.out / cli.record("fine")["instances"]["garbled"][0]["mask"])
    np.testing.assert_array_equal(mask[2:20, 2:20], True)


def test_exemplar_masks_are_the_ellipses_in_the_boxes(samples):
    cli = samples
    result = cli.run("mock-concept", extra=["--exemplars", "--limit", "1"])
    assert result.exit_code == 0, result.output
    record = cli.record("sample00")
    for inst, det in zip(record["instances"]["mock-concept"], record["detections"]):
        expected = ellipse_mask(np.asarray(det["bbox_xyxy_px"]), 120, 160)
        np.testing.assert_array_equal(read_mask(cli.out / inst["mask"]), expected)


def test_the_ray_engine_writes_what_the_local_engine_writes(ray_cluster, samples, tmp_path):
    from cluster_helpers import assert_same_outputs

    cli = samples
    (tmp_path / "ray.yaml").write_text("ray:\n  cpus_per_actor: 0.5\n", encoding="utf-8")  # leave a CPU to decode and write
    common = ["run", "-b", "mock", "-b", "mock-concept", "-p", "shape", "--prompts-from-labels", "-i", cli.images, "-d", cli.dets,
              "--coco", "--config", tmp_path / "ray.yaml"]
    local = cli(*common, "-o", tmp_path / "local")
    on_ray = cli(*common, "-o", tmp_path / "ray", "--engine", "ray")
    assert local.exit_code == on_ray.exit_code == 0, on_ray.output
    assert assert_same_outputs(tmp_path / "local", tmp_path / "ray") > 20  # instance masks, records, panels, report, COCO
    assert load(tmp_path / "ray" / "json" / "sample00.json")["instances"]["mock-concept"]
    # A phrase alone: the workers find no detection file to look for.
    text = ["run", "-b", "mock-concept", "-p", "shape", "-i", cli.images, "--config", tmp_path / "ray.yaml"]
    assert cli(*text, "-o", tmp_path / "text-local").exit_code == cli(*text, "-o", tmp_path / "text-ray", "--engine", "ray").exit_code == 0
    assert assert_same_outputs(tmp_path / "text-local", tmp_path / "text-ray") > 10


from segkit.testing import ConceptSegmenterContract  # noqa: E402


class TestMockConceptContract(ConceptSegmenterContract):
    """The concept contract on the built-in mock-concept (a phrase: the sample's blobs; a box: its ellipse)."""

    backend = "mock-concept"
