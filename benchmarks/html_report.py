"""What the HTML report costs: (a) its previews in the per-image stage, against the run's own per-image
cost, and (b) the page over 100,000 images built from records alone, and opened in a browser.

(a) Makes N photo-like images (default 200 at 1280x960, 25 boxes each; the data of benchmarks/throughput.py)
    and runs `segkit.run_job` with `mock` and `mock-ellipse` twice, page off and page on (its previews made
    as each image finishes), then `write_html_report` on the second folder. Prints the run's CPU and wall
    time per image both ways, the preview's own cost measured alone on decoded images (scaling the
    original, JPEG, the masks at preview scale), and the page's share of the run's wall time.
    The issue's case: `--images 3000 --size 320x240 --boxes 3 --panels none --rle`.

(b) Writes synthetic image records straight to json/ (default 100,000 images, 10 detections each, two
    backends, previews included: what a run writes), and a report.json, then times `write_html_report`
    in a fresh process (wall, CPU, peak RSS), sizes report.html and the chunks, and, when Chromium and
    Playwright are installed, opens the page headless: until it is drawn, until every chunk is loaded,
    a filter over every detection, sorting by label, and opening an image view.

    .venv/bin/python benchmarks/html_report.py run [--images 200] [--size 1280x960] [--boxes 25] [--panels all|none] [--rle]
    .venv/bin/python benchmarks/html_report.py page [--images 100000] [--per-image 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def timed(fn, *args, **kwargs):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


# ---------------------------------------------------------------- (a) the previews in the run

def run_folder(root: Path, out: Path, page: bool, panels: str, rle: bool):
    from segkit.pipeline.job import RunJob, run_job

    job = RunJob(backends=["mock", "mock-ellipse"], images=root / "images", detections=root / "dets", out=out, conf=0.0,
                 mask_format="rle" if rle else "png", panels=panels, html=False, page=page)
    result, wall, cpu = timed(run_job, job)
    assert not result.summary.failures, result.summary.failures[:3]
    return wall, cpu


def preview_alone(root: Path, count: int, side: int) -> tuple[float, float]:
    """CPU ms per image of the preview's two parts, on decoded images and masks already in memory:
    the picture (scaling the original, JPEG) and the masks (each at preview scale, run-length encoded)."""
    from segkit.inputs.images import load_rgb
    from segkit.outputs.layout import OutputLayout
    from segkit.outputs.mask_set import extent
    from segkit.outputs.previews import preview_geometry, preview_mask, write_preview
    from segkit.plugins.mock import box_mask

    layout = OutputLayout(root / "previews")
    paths = sorted((root / "images").iterdir())[:count]
    picture = masks = 0.0
    for path in paths:
        rgb = load_rgb(path)
        height, width = rgb.shape[:2]
        dets = json.loads((root / "dets" / f"{path.stem}.json").read_text(encoding="utf-8"))["detections"]
        dense = []
        for det in dets:
            x1, y1, x2, y2 = det["bbox_xyxy_norm"]
            mask = box_mask(np.asarray([x1 * width, y1 * height, min(x2, 1) * width, min(y2, 1) * height]), height, width)
            dense += [(mask, extent(mask))] * 2  # two backends
        geometry = preview_geometry(width, height, side)
        started = time.process_time()
        placed = [preview_mask(mask, box, geometry) for mask, box in dense]
        masks += time.process_time() - started
        started = time.process_time()
        write_preview(layout, path.stem, rgb, (width, height), side, {"a": dict(enumerate(placed))})
        picture += time.process_time() - started
    return 1000 * picture / len(paths), 1000 * masks / len(paths)


def run_benchmark(args) -> None:
    from throughput import make_data

    from segkit.html_report import write_html_report

    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        make_data(root, args.images, size, args.boxes)
        n = args.images
        # page off, page on, and again: the lower of two of each (the machine is shared)
        runs = {False: [], True: []}
        for attempt in range(2):
            for page in (False, True):
                out = root / f"out-{int(page)}-{attempt}"
                runs[page].append((*run_folder(root, out, page, args.panels, args.rle), out))
        (off_wall, off_cpu, _), (on_wall, on_cpu, out) = min(runs[False]), min(runs[True])
        _, page_wall, page_cpu = timed(write_html_report, out)
        picture_ms, masks_ms = preview_alone(root, min(n, 50), 480)
        files = [p for p in (out / "html").rglob("*") if p.is_file()]
        pictures = [p for p in files if p.suffix == ".jpg"]
        print(f"{n} images {size[0]}x{size[1]}, {n * args.boxes} detections, mock + mock-ellipse,"
              f" masks as {'RLE' if args.rle else 'PNG'}, --panels {args.panels}")
        print(f"run, page off:                 {off_wall:7.2f} s   {1000 * off_wall / n:6.1f} ms/image wall, {1000 * off_cpu / n:6.1f} ms CPU")
        print(f"run, page on (previews):       {on_wall:7.2f} s   {1000 * on_wall / n:6.1f} ms/image wall, {1000 * on_cpu / n:6.1f} ms CPU")
        print(f"preview alone, per image:      picture (scale + JPEG) {picture_ms:.2f} ms CPU, masks {masks_ms:.2f} ms CPU"
              f" ({2 * args.boxes} masks)")
        print(f"write_html_report after it:    {page_wall:7.2f} s   ({page_cpu:.2f} s CPU)")
        extra = on_wall - off_wall + page_wall
        extra_cpu = on_cpu - off_cpu + page_cpu
        print(f"the page's share of the run:   {100 * extra / (on_wall + page_wall):5.1f} % of the wall time ({extra:+.2f} s of"
              f" {on_wall + page_wall:.2f} s), {100 * extra_cpu / (on_cpu + page_cpu):.1f} % of the CPU time"
              f" ({extra_cpu:+.2f} s of {on_cpu + page_cpu:.2f} s)")
        print(f"files under html/:             {len(files)} ({len(pictures)} pictures, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB);"
              f" report.html {(out / 'report.html').stat().st_size / 1e6:.2f} MB")


# ---------------------------------------------------------------- (b) a page of 100,000 images

BACKENDS = ("sam2-large", "grabcut")
PAIR = "sam2-large vs grabcut"
WIDTH, HEIGHT = 1280, 960
PREVIEW = (480, 360)


def ellipse_pool(rng, count: int = 64) -> list[tuple[int, int, str]]:
    """Masks as the previews keep them: ellipses of the sizes a detection has at 480x360, run-length encoded."""
    from segkit.outputs.previews import encode_runs

    pool = []
    for _ in range(count):
        w, h = (int(v) for v in rng.integers(16, 160, 2))
        yy, xx = np.mgrid[:h, :w]
        ellipse = ((yy + 0.5 - h / 2) / (h / 2)) ** 2 + ((xx + 0.5 - w / 2) / (w / 2)) ** 2 <= 1
        pool.append((w, h, encode_runs(ellipse)))
    return pool


def write_records(out: Path, images: int, per_image: int) -> None:
    """json/<stem>.json as a run writes them (the same JSON writer), and a report.json over them."""
    from segkit.outputs.files import json_bytes
    from segkit.outputs.records import RECORD_VERSION

    rng = np.random.default_rng(0)
    pool = ellipse_pool(rng)
    (out / "json").mkdir(parents=True)
    ious = np.clip(rng.beta(6, 1.5, images * per_image), 0, 1).round(6)
    labels = [f"物体{k}" if k % 3 else f"object {k}" for k in range(60)]
    label_of = rng.integers(0, len(labels), images * per_image)
    scale = PREVIEW[0] / WIDTH
    for i in range(images):
        stem = f"img{i:06d}"
        detections, masks = [], {name: {} for name in BACKENDS}
        for j in range(per_image):
            k = i * per_image + j
            w, h, runs = pool[int(rng.integers(len(pool)))]
            x, y = int(rng.integers(0, PREVIEW[0] - w)), int(rng.integers(0, PREVIEW[1] - h))
            box = [round(x / scale, 3), round(y / scale, 3), round((x + w) / scale, 3), round((y + h) / scale, 3)]
            label = labels[label_of[k]]
            detections.append({
                "id": j, "label": label, "confidence": round(float(rng.uniform(0.3, 1)), 4), "bbox_xyxy_px": box,
                "bbox_xyxy_norm": [round(box[0] / WIDTH, 6), round(box[1] / HEIGHT, 6), round(box[2] / WIDTH, 6), round(box[3] / HEIGHT, 6)],
                "box_area_px": round((box[2] - box[0]) * (box[3] - box[1]), 3),
                "backends": {name: {"area_px": int(w * h * 0.78 / scale ** 2), "score": float(rng.uniform(0.5, 1)),
                                    "mask": f"masks/{stem}/det{j:02d}_{label}_{name}.png", "flags": []} for name in BACKENDS},
                "iou": {PAIR: float(ious[k])}, "source": {}})
            for name in BACKENDS:
                masks[name][str(j)] = [x, y, w, h, runs]
        record = {
            "version": RECORD_VERSION, "image": f"{stem}.jpg", "image_path": f"/data/photos/{stem}.jpg", "width": WIDTH, "height": HEIGHT,
            "detections_file": f"/data/qwen/{stem}.json", "reader": "qwen-json", "conf_threshold": 0.0,
            "backends": {name: {"plugin": "bench", "settings": {"points_per_side": 32}, "seconds": 0.05} for name in BACKENDS},
            "failed_backends": {}, "detections": detections, "skipped": [], "panel": None,
            "backend_records": {name: f"backends/{name}/{stem}.json" for name in BACKENDS}, "files": [],
            "preview": {"file": f"html/img/{i:016x}.jpg", "width": PREVIEW[0], "height": PREVIEW[1], "masks": masks},
        }
        (out / "json" / f"{stem}.json").write_bytes(json_bytes(record))
    (out / "report.json").write_bytes(json_bytes(synthetic_report(images, per_image, ious, [labels[k] for k in label_of])))


def synthetic_report(images: int, per_image: int, ious: np.ndarray, labels: list[str]) -> dict:
    """report.json's shape over the synthetic IoUs (the page shows it as it is)."""
    def stats(values: np.ndarray) -> dict:
        return {"detections": int(values.size), "mean_iou": float(values.mean()), "median_iou": float(np.median(values)),
                "p5_iou": float(np.percentile(values, 5)), "min_iou": float(values.min()),
                "below_threshold": int((values < 0.5).sum()), "fraction_below": float((values < 0.5).mean()),
                "median_area_ratio": 1.0, "empty_a": 0, "empty_b": 0}

    a, b = BACKENDS
    by_label: dict[str, list[float]] = {}
    for label, value in zip(labels, ious.tolist()):
        by_label.setdefault(label, []).append(value)
    worst = np.argsort(ious, kind="stable")[:10]
    return {
        "version": 1, "backends": list(BACKENDS), "iou_threshold": 0.5, "images": images, "detections": int(ious.size),
        "pairs": [{"pair": PAIR, "a": a, "b": b, **stats(ious)}],
        "labels": [{"label": label, "pair": PAIR, "a": a, "b": b, **stats(np.asarray(v))} for label, v in sorted(by_label.items())],
        "backend_stats": [{"backend": name, "images": images, "detections": int(ious.size), "empty_masks": 0, "mean_score": 0.75,
                           "seconds_per_image": 0.05, "failures": 0} for name in BACKENDS],
        "worst": [{"image": f"img{int(k) // per_image:06d}.jpg", "detection": int(k) % per_image, "label": labels[int(k)], "pair": PAIR,
                   "iou": float(ious[k]), "area_a": 0, "area_b": 0, "panel": None, "masks": []} for k in worst],
        "definitions": {},
    }


def build_in_child(out: Path, how: str) -> dict:
    """Build the page in a fresh process (its own time and peak RSS), as ``how`` says:

    * ``rebuild``: ``write_html_report(OUT)``, as `segkit compare` and `segkit eval` end: every record read
      back from json/ and parsed;
    * ``stream``: as a run builds it, ``PageWriter.add`` of each image's record as it finishes (the records
      are parsed first here, untimed: a run has them in memory), then ``finish``."""
    done = subprocess.run([sys.executable, __file__, "child", how, str(out)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(how: str, out: Path) -> None:
    import resource

    from segkit.html_report import PageWriter, write_html_report
    from segkit.outputs.records import ImageRecord

    if how == "rebuild":
        wall, cpu = time.perf_counter(), time.process_time()
        write_html_report(out)
        figures = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    else:
        writer = PageWriter(out)
        adding = 0.0
        for path in sorted((out / "json").iterdir()):
            record = ImageRecord.model_validate_json(path.read_bytes())
            started = time.perf_counter()
            writer.add(record)
            adding += time.perf_counter() - started
        started = time.perf_counter()
        writer.finish(json.loads((out / "report.json").read_text(encoding="utf-8")))
        figures = {"add": adding, "finish": time.perf_counter() - started}
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def browse(page_path: Path) -> dict[str, float] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--enable-precise-memory-info", "--js-flags=--expose-gc"]
    out = {}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=chromium, headless=True, args=flags,
                                                       viewport={"width": 1400, "height": 900})
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("about:blank")
        started = time.perf_counter()
        page.goto(page_path.resolve().as_uri(), wait_until="commit")  # not "load": the chunks load in the background
        page.wait_for_selector("html[data-ready=true]", timeout=120_000)
        out["page drawn from its index (s)"] = time.perf_counter() - started
        page.wait_for_selector("html[data-loaded=true]", timeout=600_000)
        out["every chunk loaded, table over all (s)"] = time.perf_counter() - started
        out["JS heap, live (MB)"] = page.evaluate("window.gc && gc(), performance.memory ? performance.memory.usedJSHeapSize / 1e6 : -1")
        out["DOM elements"] = page.evaluate("document.getElementsByTagName('*').length")
        started = time.perf_counter()
        page.fill("#f-min", "0.7")  # the filter runs in the input event: done when fill returns
        out["filter IoU >= 0.7 over all (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        page.click("#detections-table thead th:nth-child(3) button")  # sort by label
        out["sort the filtered rows by label (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        page.fill("#f-image", "img0000")  # 100 images
        out["filter by image name (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        page.locator("#detections-table tbody tr").first.click()
        page.wait_for_selector("#viewer[data-state=ready]")
        out["open an image view (masks chunk) (s)"] = time.perf_counter() - started
        out["page errors"] = len(errors)
        browser.close()
    return out


def page_benchmark(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "out"
        if (out / "report.json").is_file():  # kept from an earlier run of this benchmark
            made = 0.0
        else:
            _, made, _ = timed(write_records, out, args.images, args.per_image)
        records = sum(p.stat().st_size for p in (out / "json").iterdir())
        print(f"{args.images} images, {args.images * args.per_image} detections, 2 backends: records written in {made:.0f} s"
              f" ({records / 1e9:.2f} GB of json/)")
        streamed = build_in_child(out, "stream")
        print(f"as a run builds it:             PageWriter.add {1e6 * streamed['add'] / args.images:.0f} µs per image"
              f" ({streamed['add']:.1f} s in all), finish {streamed['finish']:.2f} s; peak RSS {streamed['rss_mb']:.0f} MB")
        built = build_in_child(out, "rebuild")
        print(f"write_html_report (rebuild):    {built['wall']:7.2f} s wall, {built['cpu']:.2f} s CPU, peak RSS {built['rss_mb']:.0f} MB"
              f"  ({1e6 * built['wall'] / args.images:.0f} µs per image, reading and parsing every record included)")
        data = sorted((out / "html" / "data").iterdir())
        rows = [p for p in data if p.name.startswith("rows-")]
        masks = [p for p in data if p.name.startswith("masks-")]
        print(f"report.html:                    {(out / 'report.html').stat().st_size / 1e6:7.2f} MB")
        print(f"row chunks:                     {len(rows)} files, {sum(p.stat().st_size for p in rows) / 1e6:.1f} MB"
              f" (largest {max(p.stat().st_size for p in rows) / 1e6:.2f} MB)")
        print(f"mask chunks:                    {len(masks)} files, {sum(p.stat().st_size for p in masks) / 1e6:.1f} MB"
              f" (largest {max(p.stat().st_size for p in masks) / 1e6:.2f} MB)")
        timings = browse(out / "report.html")
        if timings is None:
            print("Chromium or Playwright not installed: page timings skipped")
        else:
            for name, value in timings.items():
                print(f"{name + ':':40}{value:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="(a) the previews' cost in a run")
    run.add_argument("--images", type=int, default=200)
    run.add_argument("--size", default="1280x960")
    run.add_argument("--boxes", type=int, default=25)
    run.add_argument("--panels", choices=("all", "none"), default="all")
    run.add_argument("--rle", action="store_true", help="masks as RLE in the records (--mask-format rle), not PNG files")
    run.add_argument("--keep", type=Path, help="make the folders here and keep them")
    page = commands.add_parser("page", help="(b) the page from synthetic records")
    page.add_argument("--images", type=int, default=100_000)
    page.add_argument("--per-image", type=int, default=10)
    page.add_argument("--keep", type=Path, help="write the folder here and keep it")
    inner = commands.add_parser("child", help=argparse.SUPPRESS)
    inner.add_argument("how", choices=("rebuild", "stream"))
    inner.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "child":
        child(args.how, args.out)
    else:
        (run_benchmark if args.command == "run" else page_benchmark)(args)


if __name__ == "__main__":
    main()
