"""OUT/report.html: built from what the run already made (one preview per image, the masks in the records),
offline, its numbers the report's, its data in chunks that load from the file system, and what a user sees
in Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import stat
import time
from html import unescape

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb
from html_browser import chromium, visit  # noqa: F401  (fixture)
from PIL import Image
from typer.testing import CliRunner

from segkit.cli import app
from segkit.html_report import PageSettings, PageWriter, write_html_report
from segkit.html_report import plots
from segkit.html_report.model import MaskChunk, PageChunk, PageIndex
from segkit.html_report.page import chunk_script, script_json
from segkit.outputs.agreement import build_report
from segkit.outputs.previews import decode_runs, encode_runs
from segkit.outputs.reading import load_mask
from segkit.outputs.records import RECORD_VERSION, ImageRecord

SIZE = (128, 64)
XSS = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><!--<b>x"
DOLLARS = "$5 or $10"
RLO = "\u202eevil"  # RIGHT-TO-LEFT OVERRIDE: would reverse the text after it if not isolated
DATASET = {  # stem -> [(box, label)]; mock fills the box, mock-ellipse its inscribed ellipse
    "one": [((8, 8, 48, 40), "りんご"), ((60, 4, 124, 60), "皿"), ((20, 44, 36, 60), XSS)],
    "two": [((8, 8, 48, 40), "cup"), ((100, 40, 120, 60), BREAKOUT)],
    "猫 #1?": [((10, 10, 70, 50), "猫")],
    "three": [((4, 4, 40, 30), DOLLARS), ((70, 20, 110, 50), RLO)],
}
BACKENDS = ("mock", "mock-ellipse")


def run_cli(*args, code=0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def make_dataset(root, dataset=DATASET):
    for i, (stem, entries) in enumerate(dataset.items()):
        write_rgb(root / "images" / f"{stem}.png", SIZE, seed=i)
        write_qwen(root / "dets" / f"{stem}.json", [qwen_det(box, SIZE, label) for box, label in entries])


def run_args(root, out, *extra):
    return ["run", "--images", root / "images", "--detections", root / "dets", "--out", out, "--conf", "0",
            "-b", "mock", "-b", "mock-ellipse", *extra]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A run of mock and mock-ellipse over four images whose labels try to break out of the page."""
    root = tmp_path_factory.mktemp("html")
    make_dataset(root)
    run_cli(*run_args(root, root / "out", "--html"))
    return root / "out"


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def page_index(out) -> dict:
    html = (out / "report.html").read_text(encoding="utf-8")
    block = re.search(r'<script id="segkit-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    return json.loads(block)


def chunk(out, kind, n) -> dict:
    """A data chunk: the JSON inside its `segkitChunk(n, JSON.parse('...'));` call."""
    text = (out / "html" / "data" / f"{kind}-{n}.js").read_text(encoding="utf-8")
    match = re.fullmatch(r"segkit(?:Chunk|Masks)\((\d+),JSON\.parse\('(.*)'\)\);\n", text, re.S)
    assert match and int(match.group(1)) == n
    return json.loads(re.sub(r"\\(.)", r"\1", match.group(2)))  # the string literal's escapes undone


def all_chunks(out, kind) -> list[dict]:
    return [chunk(out, kind, n) for n in range(len(page_index(out)["chunks"]))]


def image_masks(out) -> dict[str, dict]:
    """Image name -> its masks entry, over every mask chunk."""
    names = page_index(out)["images"]["name"]
    return {names[index]: {"masks": c["masks"][k], "gt": c["gt"][k]} for c in all_chunks(out, "masks") for k, index in enumerate(c["index"])}


# ---------------------------------------------------------------- previews: made as each image finishes

def test_run_length_strings_read_back_as_the_crops_they_were_made_from():
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        crop = rng.random((h, w)) < rng.random()
        assert np.array_equal(decode_runs(encode_runs(crop), w, h), crop)
    assert encode_runs(np.ones((4, 8), bool)) == "AgB"  # no background (A), then 32 pixels: digits 0 (+32: more) and 1
    assert encode_runs(np.zeros((3, 3), bool)) == ""
    with pytest.raises(ValueError):
        decode_runs("A<", 3, 3)


def test_run_writes_the_page_and_no_html_makes_none_of_it(site, tmp_path):
    assert (site / "report.html").is_file()
    index = page_index(site)
    assert index["report"] == load(site / "report.json")  # the page carries report.json verbatim
    assert [b["name"] for b in index["backends"]] == list(BACKENDS)
    PageIndex.model_validate(index)
    make_dataset(tmp_path)
    out = tmp_path / "out"
    run_cli("run", "--images", tmp_path / "images", "--detections", tmp_path / "dets", "--out", out, "--conf", "0",
            "-b", "mock", "--no-html")
    assert (out / "report.json").is_file() and not (out / "report.html").exists() and not (out / "html").exists()
    assert "preview" not in load(out / "json" / "one.json")


def test_one_picture_per_image_and_the_records_hold_every_mask_at_its_scale(site):
    files = sorted(p.relative_to(site).as_posix() for p in (site / "html").rglob("*") if p.is_file())
    pictures = [f for f in files if not f.startswith("html/data/")]
    assert len(pictures) == len(DATASET) and all(re.fullmatch(r"html/img/[0-9a-f]{16}\.jpg", f) for f in pictures)
    assert [f for f in files if f.startswith("html/data/")] == ["html/data/masks-0.js", "html/data/rows-0.js"]
    record = load(site / "json" / "one.json")
    preview = record["preview"]
    assert preview["file"] in pictures and preview["file"] in record["files"]
    assert Image.open(site / preview["file"]).size == SIZE == (preview["width"], preview["height"])  # small: kept at its size
    for det in record["detections"]:
        for name in BACKENDS:
            full = load_mask(site / det["backends"][name]["mask"], SIZE)
            x, y, w, h, runs = preview["masks"][name][str(det["id"])]
            placed = np.zeros_like(full)
            placed[y : y + h, x : x + w] = decode_runs(runs, w, h)
            assert np.array_equal(placed, full)


def test_the_page_is_self_contained_and_its_script_is_the_only_inline_one(site):
    html = (site / "report.html").read_text(encoding="utf-8")
    csp = unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1))
    assert "default-src 'none'" in csp and "connect-src" not in csp
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}' 'self' file:" in csp
    for text in [html, *(p.read_text(encoding="utf-8") for p in (site / "html" / "data").iterdir())]:
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\((["']?)(https?:)?//|@import""", text, re.I)
        assert XSS not in text and BREAKOUT not in text  # labels only inside escaped JSON


def test_the_embedded_json_cannot_end_its_script_element():
    text = script_json({"label": BREAKOUT + "\u2028&" + XSS})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"label": BREAKOUT + "\u2028&" + XSS}


def test_a_chunk_script_gives_back_the_data_it_was_made_from(chromium):
    data = {"text": "it's \\ \"quoted\" </script><!-- \u2028 & 猫 \u202e", "n": [1, None, 0.5]}
    script = chunk_script("segkitChunk", 4, json.dumps(data, ensure_ascii=False))
    assert "<" not in script and "\u2028" not in script and script.count("\n") == 1
    page = chromium.new_page()
    got = page.evaluate("(script) => { let out; window.segkitChunk = (n, d) => { out = [n, d]; }; (0, eval)(script); return out; }", script)
    assert got == [4, data]
    page.close()


def test_big_images_get_a_preview_of_preview_side(tmp_path):
    write_rgb(tmp_path / "images" / "big.png", (1500, 600), seed=3)
    write_qwen(tmp_path / "dets" / "big.json", [qwen_det((100, 100, 900, 500), (1500, 600), "大きい")])
    (tmp_path / "config.yaml").write_text("viz:\n  preview_side: 300\n", encoding="utf-8")
    out = tmp_path / "out"
    run_cli(*run_args(tmp_path, out, "--html", "--config", tmp_path / "config.yaml"))
    preview = load(out / "json" / "big.json")["preview"]
    assert Image.open(out / preview["file"]).size == (300, 120) == (preview["width"], preview["height"])
    x, y, w, h, _ = preview["masks"]["mock"]["0"]
    assert (x, y, x + w, y + h) == (20, 20, 180, 100)  # the box (100, 100, 900, 500) at 0.2


def test_rle_masks_give_the_same_page_data_as_png_masks(site, tmp_path):
    make_dataset(tmp_path)
    out = tmp_path / "out"
    run_cli(*run_args(tmp_path, out, "--mask-format", "rle", "--html"))
    assert not any(out.glob("masks/*/*.png"))  # the masks are in the backend records
    for kind in ("rows", "masks"):
        assert (out / "html" / "data" / f"{kind}-0.js").read_bytes() == (site / "html" / "data" / f"{kind}-0.js").read_bytes()
    assert page_index(out)["gallery"] == page_index(site)["gallery"]


def test_the_page_is_rebuilt_from_the_records_alone(site, tmp_path):
    """No original image, no mask file, no backend record: write_html_report reads json/ and nothing else."""
    out = tmp_path / "out"
    shutil.copytree(site, out)
    for folder in ("masks", "backends", "viz"):
        shutil.rmtree(out / folder)
    (out / "report.html").unlink()
    shutil.rmtree(out / "html" / "data")
    write_html_report(out, images=tmp_path / "nowhere")
    for kind in ("rows", "masks"):
        assert (out / "html" / "data" / f"{kind}-0.js").read_bytes() == (site / "html" / "data" / f"{kind}-0.js").read_bytes()


def test_resumed_images_appear_with_their_masks(site, tmp_path):
    make_dataset(tmp_path)
    out = tmp_path / "out"
    run_cli(*run_args(tmp_path, out, "--html"))
    again = run_cli(*run_args(tmp_path, out, "--html"))
    assert "already complete" in again.output
    masks = image_masks(out)
    assert set(masks) == {f"{stem}.png" for stem in DATASET}
    assert all(set(m["masks"]) == set(BACKENDS) and m["masks"]["mock"] for m in masks.values())


def test_object_storage_and_the_ray_engine_make_the_same_page_data(site, s3_server, ray_cluster, tmp_path):
    """Previews are made where each image finishes: on S3 (the page is written there too) and in Ray's tasks."""
    make_dataset(tmp_path)
    s3_server.bucket("page-in")
    s3_server.bucket("page-out")
    images = s3_server.upload(tmp_path / "images", "page-in", "images")
    dets = s3_server.upload(tmp_path / "dets", "page-in", "dets")
    on_s3 = run_cli("run", "--images", images, "--detections", dets, "--out", "s3://page-out/a", "--conf", "0",
                    "-b", "mock", "-b", "mock-ellipse", "--html")
    assert "Report page: s3://page-out/a/report.html" in on_s3.output
    (tmp_path / "ray.yaml").write_text("ray:\n  cpus_per_actor: 0.5\n", encoding="utf-8")
    on_ray = tmp_path / "ray"
    run_cli(*run_args(tmp_path, on_ray, "--html", "--engine", "ray", "--config", tmp_path / "ray.yaml"))
    for out in (s3_server.download("page-out", "a", tmp_path / "from-s3"), on_ray):
        write_html_report(out)
        for kind in ("rows", "masks"):
            assert (out / "html" / "data" / f"{kind}-0.js").read_bytes() == (site / "html" / "data" / f"{kind}-0.js").read_bytes()
        assert sorted(p.name for p in (out / "html" / "img").iterdir()) == sorted(p.name for p in (site / "html" / "img").iterdir())


def test_compare_without_the_originals_keeps_the_pictures_or_draws_on_grey(site, tmp_path, monkeypatch):
    monkeypatch.delenv("SEGKIT_HTML")  # the default, which the other test files turn off
    out = tmp_path / "out"
    shutil.copytree(site, out)
    for record_path in (out / "backends").rglob("*.json"):
        record = load(record_path)
        record["image_path"] = str(tmp_path / "gone" / record["image"])
        record_path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    run_cli("compare", out, "--no-panels")  # the pictures are there: kept
    assert all(load(p)["preview"]["file"] for p in (out / "json").glob("*.json")) and not page_index(out)["notes"]
    shutil.rmtree(out / "html")
    run_cli("compare", out, "--no-panels")  # no picture, no original: the masks on grey
    assert not (out / "html" / "img").exists()
    index = page_index(out)
    assert any("drawn on grey" in note for note in index["notes"])
    assert all(m["masks"]["mock"] for m in image_masks(out).values())
    moved = tmp_path / "photos"
    shutil.copytree(site.parent / "images", moved)
    run_cli("compare", out, "--images", moved)  # the originals from elsewhere: pictures again
    assert len(list((out / "html" / "img").iterdir())) == len(DATASET) and not page_index(out)["notes"]


def test_records_without_a_preview_are_listed_without_masks_and_said_so(site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site, out)
    for path in (out / "json").glob("*.json"):
        record = load(path)
        del record["preview"]
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    write_html_report(out)
    index = page_index(out)
    assert len(index["images"]["name"]) == len(DATASET)
    assert any("no preview" in note and "segkit compare" in note for note in index["notes"])
    assert all(not m["masks"] for m in image_masks(out).values())


def test_an_earlier_pages_chunks_and_pictures_are_removed_and_nothing_else(site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site, out)
    old = [out / "html" / "data" / "rows-7.js", out / "html" / "data" / "masks-7.js", out / "html" / "img" / "0123456789abcdef-diff.png",
           out / "html" / "thumb" / "0123456789abcdef-3-1a2b3c4d.jpg", out / "html" / "assets.json"]
    mine = [out / "html" / "data" / "notes.txt", out / "html" / "img" / "holiday.jpg"]
    for path in old + mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    write_html_report(out)
    assert not any(p.exists() for p in old) and all(p.exists() for p in mine)
    assert not (out / "html" / "thumb").exists()


def test_a_page_that_cannot_be_written_is_one_warning_and_the_run_stands(tmp_path):
    make_dataset(tmp_path)
    out = tmp_path / "out"
    run_cli(*run_args(tmp_path, out, "--no-html"))
    # html/ read-only, and (for a root user, whom permissions do not stop) html/data a file: nothing can go in it
    (out / "html").mkdir()
    (out / "html" / "data").write_text("not a folder", encoding="utf-8")
    (out / "html").chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = run_cli("compare", out, "--html")
    finally:
        (out / "html").chmod(0o755)
    warnings = [line for line in result.output.splitlines() if "report.html not written" in line]
    assert len(warnings) == 1 and "the other outputs are kept" in result.output
    assert (out / "report.json").is_file() and not (out / "report.html").exists()


def test_labels_with_dollar_signs_are_drawn_as_written():
    rows = [{"label": label, "pair": "a vs b", "mean_iou": 0.5} for label in (DOLLARS, "$\\frac{$", "a_b^c", "$$")]
    svg, count = plots.label_bars(rows, ["a vs b"])
    assert count == 4
    for label in (DOLLARS, "$\\frac{$", "a_b^c", "$$"):
        assert f">{label}<" in svg  # one text element each, as written


def test_a_plot_that_fails_is_left_out_and_said_so(site, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(site, out)

    def broken(*args):
        raise ValueError("mathtext exploded")

    monkeypatch.setattr(plots, "label_bars", broken)
    write_html_report(out)
    index = page_index(out)
    assert index["plots"]["labels"] is None and index["plots"]["pairs"]
    assert any("per-label plot could not be drawn" in note for note in index["notes"])


# ---------------------------------------------------------------- a page of many images, in chunks

def box_preview(box):
    """A box's mask as the records keep it at preview scale (the synthetic pages' masks are boxes)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return [x1, y1, x2 - x1, y2 - y1, encode_runs(np.ones((y2 - y1, x2 - x1), bool))]


def synthetic_records(images: int, per_image: int, seed: int = 0) -> list[ImageRecord]:
    """Image records of backends a and b as a run writes them, previews included; IoUs drawn at random."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(images):
        detections, masks = [], {"a": {}, "b": {}}
        for j in range(per_image):
            box = [float(4 + (j % 8) * 20), float(4 + (j // 8 % 6) * 20), float(20 + (j % 8) * 20), float(20 + (j // 8 % 6) * 20)]
            detections.append({"id": j, "label": f"物体{j % 40}", "confidence": 0.9, "bbox_xyxy_px": box,
                               "bbox_xyxy_norm": [v / 200 for v in box], "box_area_px": 256.0,
                               "backends": {"a": {"area_px": 256, "score": 0.9}, "b": {"area_px": 200, "score": 0.8}},
                               "iou": {"a vs b": round(float(rng.uniform(0.2, 1.0)), 6)}})
            masks["a"][j] = box_preview(box)
            masks["b"][j] = box_preview([box[0], box[1], box[2] - 2, box[3] - 2])
        records.append(ImageRecord.model_validate({
            "version": RECORD_VERSION, "image": f"img{i:05d}.jpg", "width": 200, "height": 150,
            "backends": {"a": {}, "b": {}}, "detections": detections,
            "preview": {"file": None, "width": 200, "height": 150, "masks": masks}}))
    return records


def write_synthetic_page(out, records, settings=None):
    report = build_report(records, ["a", "b"], 0.5, 10).model_dump(mode="json")
    (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
    writer = PageWriter(out, settings)
    for record in records:
        writer.add(record)
    return writer.finish(report), report


def test_chunks_hold_a_bounded_number_of_images_and_detections_and_read_as_their_models(tmp_path):
    records = synthetic_records(30, 7)
    write_synthetic_page(tmp_path, records, PageSettings(chunk_images=4, chunk_detections=20))
    index = PageIndex.model_validate(page_index(tmp_path))
    assert index.detections == 210 and len(index.images.name) == 30
    first = 0
    for n, info in enumerate(index.chunks):
        rows = PageChunk.model_validate(chunk(tmp_path, "rows", n))
        masks = MaskChunk.model_validate(chunk(tmp_path, "masks", n))
        assert info.first_detection == first and info.detections == len(rows.detections.id) <= 20
        assert len(rows.images.index) == len(masks.index) == info.images <= 4
        assert rows.images.index == masks.index == list(range(info.first_image, info.first_image + info.images))
        first += info.detections
    assert first == 210 and set(index.images.chunk) == set(range(len(index.chunks)))
    assert [g.detection for g in index.gallery][:10] == [w["detection"] for w in index.report["worst"]]


# ---------------------------------------------------------------- in Chromium

def texts(page, selector) -> list[str]:
    return page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.textContent.trim())")


def table_rows(page, host) -> list[list[str]]:
    return page.eval_on_selector_all(f"#{host} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")


def open_view(page):
    page.wait_for_selector("#viewer[data-state=ready]")
    page.wait_for_function("[...document.querySelectorAll('#canvas img')].every(i => i.complete && i.naturalWidth > 0)")


def test_the_page_loads_offline_without_errors_and_shows_the_reports_numbers(site, chromium, tmp_path_factory):
    seen = visit(chromium, site / "report.html")
    page = seen.page
    assert seen.errors == [] and seen.console == [] and seen.dialogs == []
    assert seen.requests and all(url.startswith("file://") for url in seen.requests), seen.requests
    assert any(url.endswith("/html/data/rows-0.js") for url in seen.requests)  # the chunk loaded under the CSP
    report = load(site / "report.json")
    pair = report["pairs"][0]
    row = table_rows(page, "pairs-table")[0]
    assert row[:6] == [pair["pair"], str(pair["detections"]), f"{pair['mean_iou']:.3f}", f"{pair['median_iou']:.3f}",
                       f"{pair['p5_iou']:.3f}", f"{pair['min_iou']:.3f}"]
    stats = {r[0]: r for r in table_rows(page, "backends-table")}
    for entry in report["backend_stats"]:
        assert stats[entry["backend"]][2:5] == [str(entry["images"]), str(entry["detections"]), str(entry["empty_masks"])]
    labels = {(r[0], r[1]): r for r in table_rows(page, "labels-table")}
    for entry in report["labels"]:
        assert labels[(entry["label"], str(entry["detections"]))][2] == f"{entry['mean_iou']:.3f}"
    detections = table_rows(page, "detections-table")
    assert len(detections) == sum(len(v) for v in DATASET.values())  # one pair: one row per detection
    assert [float(r[5]) for r in detections] == sorted(float(r[5]) for r in detections)  # sorted by IoU
    assert sorted(r[0] for r in table_rows(page, "images-table")) == sorted(f"{stem}.png" for stem in DATASET)
    # Japanese is drawn with the page's own font: full-width glyphs, not the narrow boxes of a missing glyph.
    width = page.evaluate("""() => { const c = document.createElement('canvas').getContext('2d');
        c.font = '20px ' + getComputedStyle(document.body).fontFamily; return c.measureText('りんご皿猫').width; }""")
    assert width == pytest.approx(100, abs=1)
    assert DOLLARS in page.locator("#labels-plot svg").text_content()
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / "report-page.png"), full_page=True)
    print(f"screenshot: {folder / 'report-page.png'}")
    page.close()


def test_labels_that_look_like_markup_are_shown_as_text_and_isolated(site, chromium):
    seen = visit(chromium, site / "report.html")
    page = seen.page
    labels = texts(page, "#labels-table tbody td:first-child")
    assert XSS in labels and BREAKOUT in labels
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("[...document.querySelectorAll('b')].filter(b => b.textContent === 'x').length") == 0
    page.select_option("#f-label", XSS)
    rows = table_rows(page, "detections-table")
    assert len(rows) == 1 and rows[0][2] == XSS
    page.locator("#detections-table tbody tr").first.click()
    page.wait_for_selector("#viewer[data-state=ready]")
    assert page.locator("#viewer-title").text_content().endswith(XSS)
    # Every element whose own text holds the U+202E of a label is isolated: it cannot reorder its neighbours.
    page.keyboard.press("Escape")
    page.click("#f-reset")
    page.select_option("#f-label", RLO)
    page.locator("#detections-table tbody tr").first.click()
    page.wait_for_selector("#viewer[data-state=ready]")
    unisolated = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(n =>
        [...n.childNodes].some(c => c.nodeType === 3 && c.textContent.includes('\\u202e'))
        && !['isolate', 'isolate-override', 'plaintext'].includes(getComputedStyle(n).unicodeBidi)
        && !['OPTION', 'SCRIPT'].includes(n.tagName)).map(n => n.outerHTML.slice(0, 80))""")
    assert unisolated == []
    title = page.locator("#viewer-title")
    assert title.text_content() == f"three.png · detection 1 · {RLO}"
    # the image name and "· detection 1 ·" still read left to right, before the label
    order = page.evaluate("""() => { const t = document.getElementById('viewer-title'); const r = document.createRange();
        const x = (node) => { r.selectNodeContents(node); return r.getBoundingClientRect().left; };
        return [x(t.childNodes[0]), x(t.childNodes[1]), x(t.childNodes[2])]; }""")
    assert order == sorted(order)
    assert seen.dialogs == [] and seen.errors == []
    page.close()


def test_clicking_a_worst_detection_opens_its_image_and_overlays_toggle(site, chromium, tmp_path_factory):
    seen = visit(chromium, site / "report.html")
    page = seen.page
    worst = load(site / "report.json")["worst"][0]
    page.wait_for_function("[...document.querySelectorAll('#gallery canvas')].every(c => c.dataset.drawn === 'true')")
    card = np.asarray(seen.shot("#gallery .card >> nth=0 >> canvas"), np.int16)
    assert ((card[:, :, 0] > 180) & (card[:, :, 2] < 140)).mean() > 0.02  # the box corners only mock covers, in red
    page.locator("#gallery .card").first.click()
    viewer = page.locator("#viewer")
    open_view(page)
    assert viewer.is_visible()
    assert page.locator("#viewer-title").text_content() == f"{worst['image']} · detection {worst['detection']} · {worst['label']}"
    assert texts(page, "#viewer-numbers [data-role=pairs] tbody td")[1] == f"{worst['iou']:.3f}"
    both = seen.shot("#stage")
    page.locator("#layers input[data-layer=backend-0]").uncheck()  # mock's masks off
    without_mock = seen.shot("#stage")
    page.locator("#layers input[data-layer=backend-0]").check()
    again = seen.shot("#stage")
    changed = np.abs(np.asarray(both, np.int16) - np.asarray(without_mock, np.int16)).sum(axis=2) > 30
    assert changed.mean() > 0.01  # the box corners that only mock covers lost their colour
    assert np.array_equal(np.asarray(both), np.asarray(again))
    page.locator("#layers input[data-layer=diff]").check()
    with_diff = np.asarray(seen.shot("#stage"), np.int16)
    assert ((with_diff[:, :, 0] > 180) & (with_diff[:, :, 2] < 120)).any()  # red: only the first backend
    assert not ((with_diff[:, :, 2] > 180) & (with_diff[:, :, 0] < 120)).any()  # no blue: the ellipse is inside the box
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / "image-view.png"))
    page.keyboard.press("Escape")
    assert not viewer.is_visible()
    assert seen.errors == [] and seen.console == []
    page.close()


def test_filters_narrow_the_tables_and_the_gallery(site, chromium):
    seen = visit(chromium, site / "report.html")
    page = seen.page
    total = len(table_rows(page, "detections-table"))
    page.select_option("#f-label", "りんご")
    assert [r[2] for r in table_rows(page, "detections-table")] == ["りんご"]
    assert texts(page, "#gallery .card .label") == ["りんご"]
    assert {r[0] for r in table_rows(page, "labels-table")} == {"りんご"}
    page.click("#f-reset")
    page.fill("#f-min", "0.8")
    ious = [float(r[5]) for r in table_rows(page, "detections-table")]
    assert ious and all(v >= 0.8 for v in ious) and len(ious) < total
    page.fill("#f-max", "0.79")
    assert table_rows(page, "detections-table") == [] and page.locator("#detections-table .empty").is_visible()
    page.click("#f-reset")
    page.fill("#f-image", "猫")
    assert [r[0] for r in table_rows(page, "detections-table")] == ["猫 #1?.png"]
    assert [r[0] for r in table_rows(page, "images-table")] == ["猫 #1?.png"]
    page.close()


def test_a_link_to_an_image_view_opens_it_and_the_image_list_opens_an_image(site, chromium):
    index = page_index(site)["images"]["name"].index("猫 #1?.png")
    seen = visit(chromium, site / "report.html", f"#view={index}.0")
    page = seen.page
    open_view(page)
    assert page.locator("#viewer").is_visible()
    assert page.locator("#viewer-title").text_content() == "猫 #1?.png · detection 0 · 猫"
    page.keyboard.press("Escape")
    page.fill("#f-image", "two")
    page.locator("#images-table tbody tr").first.click()
    open_view(page)
    assert page.locator("#viewer-title").text_content() == "two.png"
    assert texts(page, "#viewer-others .chips button") == ["0 cup", f"1 {BREAKOUT}"]
    assert all(url.startswith("file://") for url in seen.requests) and seen.errors == [] and seen.console == []
    page.close()


# ---------------------------------------------------------------- with ground truth (eval.json)

def write_ground_truth(out, path):
    """Hand-made ground truth for the site's images (COCO RLE): mock-ellipse's masks, so mock-ellipse scores
    1.0 and mock (the box) its box-vs-ellipse IoU; nothing for the XSS-labelled detection (a false
    positive) and one tiny instance no detection finds (a miss)."""
    from pycocotools import mask as mask_utils

    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "もの"}]}
    for k, record_path in enumerate(sorted((out / "json").glob("*.json"))):
        record = load(record_path)
        size = (record["width"], record["height"])
        coco["images"].append({"id": k, "file_name": record["image"], "width": size[0], "height": size[1]})
        for det in record["detections"]:
            if det["label"] == XSS:
                continue
            ellipse = load_mask(out / det["backends"]["mock-ellipse"]["mask"], size)
            rle = mask_utils.encode(np.asfortranarray(ellipse.astype(np.uint8)))
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": k, "category_id": 1, "iscrowd": 0,
                                        "area": int(ellipse.sum()), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                                        "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")}})
    one = next(i["id"] for i in coco["images"] if i["file_name"] == "one.png")
    coco["annotations"].append({"id": 99, "image_id": one, "category_id": 1, "iscrowd": 0, "area": 4, "bbox": [0, 0, 2, 2],
                                "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]})
    path.write_text(json.dumps(coco, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def evaluated(site, tmp_path_factory):
    """The site scored by `segkit eval`, which rewrites report.html with the scores."""
    out = tmp_path_factory.mktemp("evaluated") / "out"
    shutil.copytree(site, out)
    (out / "report.html").unlink()
    write_ground_truth(out, out.parent / "ground_truth.json")
    result = CliRunner().invoke(app, ["eval", str(out), "--gt", str(out.parent / "ground_truth.json"), "--html"])
    assert result.exit_code == 0, result.output
    assert "Report page:" in result.output
    return out, load(out / "eval.json")


def test_ground_truth_scores_and_masks_reach_the_page_through_the_records(evaluated):
    out, document = evaluated
    index = page_index(out)
    assert index["eval"] == document and index["plots"]["gt"] and index["has_gt"]
    names = index["images"]["name"]
    for rows in all_chunks(out, "rows"):
        columns, images = rows["detections"], rows["images"]
        for k in range(len(columns["id"])):
            image = next(i for j, i in enumerate(images["index"]) if images["first"][j] <= k < images["first"][j] + images["count"][j])
            stem = names[image].rsplit(".", 1)[0]
            det = next(d for d in load(out / "json" / f"{stem}.json")["detections"] if d["id"] == columns["id"][k])
            gt = columns["gt"][k]
            assert gt["status"] == det["ground_truth"]["status"]
            expected = [det["ground_truth"]["backends"].get(b, {}).get("iou") for b in rows["backends"]]
            assert gt["iou"] == expected
    # the ground truth at preview scale, in the record: the ellipses, and the missed instance
    record = load(out / "json" / "one.json")
    truth = np.zeros((SIZE[1], SIZE[0]), bool)
    for x, y, w, h, runs in record["preview"]["gt"]:
        truth[y : y + h, x : x + w] |= decode_runs(runs, w, h)
    ellipses = np.zeros_like(truth)
    for det in record["detections"]:
        if det["label"] != XSS:
            ellipses |= load_mask(out / det["backends"]["mock-ellipse"]["mask"], SIZE)
    ellipses[0:2, 0:2] = True
    assert np.array_equal(truth, ellipses)
    assert image_masks(out)["one.png"]["gt"] == record["preview"]["gt"]


def test_the_ground_truth_section_shows_evals_numbers(evaluated, chromium, tmp_path_factory):
    out, document = evaluated
    seen = visit(chromium, out / "report.html")
    page = seen.page
    assert page.locator("#gt").is_visible() and seen.errors == [] and seen.console == []
    per_backend = page.evaluate("""() => [...document.querySelector('#gt-body table').tBodies[0].rows]
        .map(r => [...r.cells].map(c => c.textContent.trim()))""")
    for entry, shown in zip(document["per_backend"], per_backend):
        assert shown[0] == (f"{entry['backend']} (baseline)" if entry["baseline"] else entry["backend"])
        assert shown[3] == f"{entry['mean_iou']:.3f}" and shown[8] == f"{entry['ap']:.3f}"
    headers = texts(page, "#detections-table thead th")
    assert "GT IoU a" in headers
    page.locator("#gt-body details summary").first.click()
    worst_mock = document["worst"]["mock"][0]
    page.locator("#gt-body tbody tr.clickable").first.click()
    page.wait_for_selector("#viewer[data-state=ready]")
    assert page.locator("#viewer-title").text_content() == f"{worst_mock['image']} · detection {worst_mock['detection']} · {worst_mock['label']}"
    gt_cells = page.evaluate("""() => [...document.querySelectorAll('#viewer-numbers [data-role=backends] tbody tr')]
        .map(r => r.cells[3].textContent.trim())""")
    assert gt_cells == [f"{worst_mock['iou']:.3f}", "1.000"]
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    page.keyboard.press("Escape")
    page.locator("#gt").screenshot(path=str(folder / "ground-truth.png"))
    page.close()


def test_the_ground_truth_layer_is_drawn_from_the_records(evaluated, chromium):
    out, _ = evaluated
    index = page_index(out)["images"]["name"].index("one.png")
    seen = visit(chromium, out / "report.html", f"#view={index}.0")
    page = seen.page
    open_view(page)
    with_gt = np.asarray(seen.shot("#stage"), np.int16)
    page.keyboard.press("g")
    without = np.asarray(seen.shot("#stage"), np.int16)
    assert (np.abs(with_gt - without).sum(axis=2) > 30).mean() > 0.01
    page.close()


def test_a_run_with_ground_truth_writes_the_page_after_scoring(site, tmp_path):
    write_ground_truth(site, tmp_path / "truth.json")  # the same images, boxes and masks as a new run's
    make_dataset(tmp_path)
    out = tmp_path / "out"
    run_cli(*run_args(tmp_path, out, "--gt", tmp_path / "truth.json", "--html"))
    index = page_index(out)
    assert index["eval"] == load(out / "eval.json") and index["eval"]["matched"] == 7
    assert all(m["gt"] for m in image_masks(out).values())


# ---------------------------------------------------------------- many detections

def test_thousands_of_detections_load_as_one_page_of_rows(chromium, tmp_path):
    """5000 detections of 200 images: the page draws 25 rows at a time, and sorting and filtering stay quick."""
    records = synthetic_records(200, 25)
    page_path, _ = write_synthetic_page(tmp_path, records)
    started = time.perf_counter()
    seen = visit(chromium, page_path)
    loaded = time.perf_counter() - started
    view = seen.page
    assert len(table_rows(view, "detections-table")) == 25
    assert view.locator("#detections-table .pager-status").text_content() == "1–25 of 5000"
    started = time.perf_counter()
    view.fill("#f-min", "0.9")
    shown = int(view.locator("#detections-table .pager-status").text_content().split(" of ")[1])
    assert shown == sum(d.iou["a vs b"] >= 0.9 for r in records for d in r.detections)
    filtered = time.perf_counter() - started
    assert seen.errors == [] and seen.console == []
    print(f"5000 detections: page ready and loaded in {loaded:.2f} s, filtered in {filtered:.2f} s")
    view.close()


def test_a_page_of_many_chunks_opens_pages_and_filters_over_all_of_them(chromium, tmp_path):
    records = synthetic_records(800, 25, seed=1)  # 20,000 detections
    page_path, report = write_synthetic_page(tmp_path, records, PageSettings(chunk_images=100, chunk_detections=2000))
    chunks = page_index(tmp_path)["chunks"]
    assert len(chunks) == 10
    seen = visit(chromium, page_path, wait_for_data=False)
    view = seen.page
    view.wait_for_selector("html[data-loaded=true]", timeout=60000)
    assert sum(url.endswith(".js") and "/html/data/rows-" in url for url in seen.requests) == len(chunks)
    assert not any("/html/data/masks-" in url for url in seen.requests)  # masks only for an image view
    assert view.locator("#f-count").text_content() == "20000 of 20000 detection rows"
    view.locator("#detections-table button[aria-label='last page']").click()
    assert view.locator("#detections-table .pager-status").text_content() == "19976–20000 of 20000"
    view.select_option("#f-label", "物体7")
    expected = sorted(d.iou["a vs b"] for r in records for d in r.detections if d.label == "物体7")
    assert view.locator("#detections-table .pager-status").text_content() == f"1–25 of {len(expected)}"
    assert [float(r[5]) for r in table_rows(view, "detections-table")] == pytest.approx(expected[:25], abs=5e-4)
    view.locator("#detections-table thead th:nth-child(1) button").click()  # sort by image
    assert [r[0] for r in table_rows(view, "detections-table")][:2] == ["img00000.jpg", "img00001.jpg"]
    view.locator("#detections-table tbody tr").first.click()
    open_view(view)  # the image's masks chunk, on demand
    assert view.locator("#viewer-title").text_content() == "img00000.jpg · detection 7 · 物体7"
    assert sum("/html/data/masks-" in url for url in seen.requests) == 1
    view.keyboard.press("Escape")
    view.click("#f-reset")  # the worst detections' cards draw without any chunk: their masks are in the index
    assert view.locator("#gallery .card").count() == len(report["worst"])
    view.wait_for_function("[...document.querySelectorAll('#gallery canvas')].every(c => c.dataset.drawn === 'true')")
    assert seen.errors == [] and seen.console == []
    view.close()


def test_a_missing_chunk_is_said_on_the_page_and_the_rest_is_shown(chromium, tmp_path):
    records = synthetic_records(60, 10, seed=2)
    page_path, _ = write_synthetic_page(tmp_path, records, PageSettings(chunk_images=20, chunk_detections=200))
    (tmp_path / "html" / "data" / "rows-1.js").unlink()
    seen = visit(chromium, page_path)
    view = seen.page
    assert view.locator("#f-count").text_content() == "400 of 400 detection rows"
    assert "could not be loaded" in view.locator("#notes").text_content()
    assert seen.errors == []
    view.close()


# ---------------------------------------------------------------- labels that broke the page and the plots (issue 23)

HOSTILE_LABELS = ["$5 or $10", "$\\frac{$", "rtl\u202eexe.txt", "a\ud800b", "שלום"]


def test_hostile_labels_reach_the_records_and_the_page_as_text(tmp_path, chromium):
    """`$` is no mathtext, a right-to-left override reorders only its own label, and a lone surrogate in the
    JSON is kept as U+FFFD instead of failing its image."""
    for stem in ("plain", "evil\u202egpj"):
        write_rgb(tmp_path / "images" / f"{stem}.png", SIZE, seed=3)
        dets = [qwen_det((8 + 10 * i, 8, 40 + 10 * i, 40), SIZE, label) for i, label in enumerate(HOSTILE_LABELS)]
        (tmp_path / "dets").mkdir(exist_ok=True)
        (tmp_path / "dets" / f"{stem}.json").write_text(json.dumps({"detections": dets}), encoding="ascii")  # "\ud800" escaped
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "-i", str(tmp_path / "images"), "-d", str(tmp_path / "dets"), "-o", str(out),
                                      "--conf", "0", "-b", "mock", "-b", "mock-ellipse", "--html"])
    assert result.exit_code == 0, result.output
    assert not load(out / "failures.json")
    kept = [d["label"] for d in load(out / "json" / "plain.json")["detections"]]
    assert kept == [*HOSTILE_LABELS[:3], "a\ufffdb", "שלום"]
    seen = visit(chromium, out / "report.html")
    page = seen.page
    assert seen.errors == []
    loose = page.evaluate("""() => {
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        const out = [];
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          if (!node.data.includes("\\u202e") || node.parentElement.tagName === "SCRIPT") continue;
          const bidi = getComputedStyle(node.parentElement).unicodeBidi;
          if (!["isolate", "isolate-override", "plaintext"].includes(bidi)) out.push(`${node.parentElement.tagName}: ${bidi}`);
        }
        return out; }""")
    assert loose == []
    page.close()
