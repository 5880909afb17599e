"""GrabCut (`grabcut`) against `mock` on real photographs, and what each speed-up costs per box.

Two image sets:

* example: the shipped example (examples/, boxes from the config's detection files, run exactly as
  ``segkit run --backend grabcut --backend mock`` from the repository root would);
* extra: scikit-image sample photographs (CC0 / public domain) with boxes drawn by hand below, read
  from ``--extra`` (default /tmp/ski/skimage/data; ``python -c "import skimage.data as d;
  print(d.data_dir)"`` shows where an installed scikit-image keeps them).

For each set it runs the CLI with both backends and reports the mean IoU between their masks (a
grabcut mask never leaves its box, so this is also the share of the box that GrabCut keeps). Then it
times GrabCut per box, single-threaded, four ways:

* whole image: plain ``cv2.grabCut`` on the full image with the box as rectangle, 5 iterations;
* crop: the box plus a margin only (``max_side=0 tolerance=0``: 5 iterations, never shrunk);
* crop + early stop: stop once an iteration changes < 0.1% of the box (``max_side=0``);
* default: crop + early stop + windows shrunk to 384 px on their longer side.

Times are CPU seconds of the calling thread (``time.thread_time``) with OpenCV held to one thread, so
other work on the machine does not inflate them; wall-clock times are printed too.

    .venv/bin/python benchmarks/grabcut_speed.py [--extra DIR] [--repeat 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from segkit_grabcut import GrabCutOptions, GrabCutSegmenter
from segkit_grabcut.backend import segment_box

ROOT = Path(__file__).resolve().parents[1]

# Boxes drawn by hand (pixel xyxy) around objects in scikit-image's sample photographs.
EXTRA_BOXES: dict[str, list[tuple[str, list[int]]]] = {
    "camera.png": [
        ("man", [0, 62, 332, 512]), ("video camera", [250, 137, 327, 200]), ("tripod", [226, 190, 410, 508]),
        ("tower", [410, 117, 434, 195]), ("dome", [418, 193, 508, 234]),
    ],
    "motorcycle_left.png": [
        ("motorcycle", [90, 75, 684, 452]), ("front wheel", [509, 278, 684, 452]), ("rear wheel", [120, 234, 278, 402]),
        ("fuel tank", [359, 156, 486, 232]), ("headlight", [499, 123, 564, 188]), ("red crate", [524, 177, 616, 258]),
        ("bench", [40, 104, 284, 307]),
    ],
    "hubble_deep_field.jpg": [
        ("spiral galaxy", [102, 375, 148, 426]), ("bright galaxy", [699, 445, 756, 500]), ("red galaxy", [270, 86, 320, 133]),
        ("orange galaxy", [488, 422, 539, 457]), ("star", [730, 559, 775, 602]), ("galaxy", [953, 465, 1000, 512]),
    ],
    "retina.jpg": [("fundus", [11, 6, 1405, 1405]), ("optic disc", [132, 537, 325, 750]), ("macula", [620, 634, 799, 799])],
    "clock_motion.png": [("clock", [138, 92, 284, 218])],
}

VARIANTS = {
    "crop": GrabCutOptions(max_side=0, tolerance=0.0),
    "crop + early stop": GrabCutOptions(max_side=0),
    "default": GrabCutOptions(),
}


def write_extra_set(source: Path, root: Path) -> tuple[Path, Path]:
    images, detections = root / "images", root / "detections"
    images.mkdir(parents=True)
    detections.mkdir()
    for name, boxes in EXTRA_BOXES.items():
        path = source / name
        if not path.is_file():
            sys.exit(f"error: {path} not found; pass --extra DIR with scikit-image's sample data")
        (images / name).symlink_to(path.resolve())
        width, height = Image.open(path).size
        dets = [
            {"bbox_xyxy_norm": [x1 / width, y1 / height, x2 / width, y2 / height], "label_en": label, "confidence": 1.0}
            for label, (x1, y1, x2, y2) in boxes
        ]
        (detections / f"{Path(name).stem}.json").write_text(json.dumps({"detections": dets}), encoding="utf-8")
    return images, detections


def run_cli(out: Path, images: Path | None = None, detections: Path | None = None) -> list[dict]:
    """`segkit run --backend grabcut --backend mock`; the records it wrote, one per image."""
    cmd = [sys.executable, "-m", "segkit", "run", "--backend", "grabcut", "--backend", "mock", "--out", str(out), "--force"]
    if images is not None:
        cmd += ["--images", str(images), "--detections", str(detections), "--conf", "0"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited {done.returncode}:\n{done.stderr}")
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "json").glob("*.json"))]


def load_image(folder: Path, name: str) -> np.ndarray:
    with Image.open(folder / name) as img:
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def whole_image(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Textbook GrabCut: the full image, the box as rectangle, 5 iterations."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    mask = np.zeros(image.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)
    cv2.grabCut(image, mask, (x1, y1, x2 - x1, y2 - y1), bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    return (mask & 1).astype(bool)


def paste(image: np.ndarray, result) -> np.ndarray:
    full = np.zeros(image.shape[:2], bool)
    full[result.y0:result.y1, result.x0:result.x1] = result.mask
    return full


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def timed(fn, repeat: int):
    """(result, best thread CPU seconds, best wall seconds) over ``repeat`` calls."""
    cpu = wall = float("inf")
    result = None
    for _ in range(repeat):
        c0, w0 = time.thread_time(), time.perf_counter()
        result = fn()
        cpu, wall = min(cpu, time.thread_time() - c0), min(wall, time.perf_counter() - w0)
    return result, cpu, wall


def time_boxes(records: list[dict], folder: Path, repeat: int) -> list[dict]:
    rows = []
    for record in records:
        image = load_image(folder, record["image"])
        for det in record["detections"]:
            box = np.asarray(det["bbox_xyxy_px"], dtype=np.float64)
            row = {"image": record["image"], "label": det["label"],
                   "w": round(box[2] - box[0]), "h": round(box[3] - box[1]), "cpu_ms": {}, "wall_ms": {}, "iou_vs_crop": {}}
            masks = {}
            masks["whole image"], cpu, wall = timed(lambda: whole_image(image, box), repeat)
            row["cpu_ms"]["whole image"], row["wall_ms"]["whole image"] = cpu * 1e3, wall * 1e3
            for name, options in VARIANTS.items():
                result, cpu, wall = timed(lambda: segment_box(cv2, image, box, options), repeat)
                masks[name] = paste(image, result)
                row["cpu_ms"][name], row["wall_ms"][name] = cpu * 1e3, wall * 1e3
                row.setdefault("iterations", {})[name] = result.iterations
            for name, mask in masks.items():
                row["iou_vs_crop"][name] = iou(mask, masks["crop"])
            rows.append(row)
    return rows


def threads_wall(records: list[dict], folder: Path, repeat: int) -> dict[str, float]:
    """Wall seconds for all images' boxes through segment(), one thread against the default pool."""
    out = {}
    cv2.setNumThreads(-1)
    for label, threads in (("threads=1 (default)", 1), (f"threads=0 ({min(4, os.cpu_count() or 1)} here)", 0)):
        seg = GrabCutSegmenter("grabcut", GrabCutOptions(threads=threads))
        seg.load()
        total = 0.0
        for record in records:
            image = load_image(folder, record["image"])
            boxes = np.asarray([d["bbox_xyxy_px"] for d in record["detections"]], dtype=np.float32)
            _, _, wall = timed(lambda: seg.segment(image, boxes), repeat)
            total += wall
        seg.close()
        out[label] = total
    cv2.setNumThreads(1)
    return out


def summarise(name: str, records: list[dict], rows: list[dict], threads: dict[str, float]) -> dict:
    ious = [d["iou"]["grabcut vs mock"] for r in records for d in r["detections"]]
    per_image = {r["image"]: round(statistics.fmean(d["iou"]["grabcut vs mock"] for d in r["detections"]), 3) for r in records}
    scores = [d["backends"]["grabcut"]["score"] for r in records for d in r["detections"]]
    cli_seconds = sum(r["backends"]["grabcut"]["seconds"] for r in records)
    areas = sorted(row["w"] * row["h"] for row in rows)
    print(f"\n== {name}: {len(records)} images, {len(ious)} boxes ==")
    print(f"mean IoU grabcut vs mock: {statistics.fmean(ious):.3f}  (per image: {per_image})")
    print(f"mean grabcut score: {statistics.fmean(scores):.3f}")
    print(f"CLI: grabcut segment() wall time {cli_seconds:.2f} s = {cli_seconds / len(ious) * 1e3:.0f} ms per box")
    print(f"box sizes: {min(areas) / 1e3:.1f}k to {max(areas) / 1e3:.1f}k px, median {statistics.median(areas) / 1e3:.1f}k px")
    names = ["whole image", *VARIANTS]
    print(f"{'per box, 1 thread':<20}{'cpu ms median':>14}{'cpu ms mean':>12}{'wall ms mean':>13}{'speed-up':>9}{'IoU vs crop':>12}{'iters':>7}")
    base = statistics.fmean(row["cpu_ms"]["whole image"] for row in rows)
    summary = {"boxes": len(ious), "mean_iou_grabcut_vs_mock": statistics.fmean(ious), "per_image_iou": per_image,
               "cli_ms_per_box": cli_seconds / len(ious) * 1e3, "variants": {}, "threads_wall_s": threads}
    for v in names:
        cpu = [row["cpu_ms"][v] for row in rows]
        wall = [row["wall_ms"][v] for row in rows]
        agree = [row["iou_vs_crop"][v] for row in rows]
        its = [row["iterations"][v] for row in rows] if v in VARIANTS else [5] * len(rows)
        print(f"{v:<20}{statistics.median(cpu):>14.1f}{statistics.fmean(cpu):>12.1f}{statistics.fmean(wall):>13.1f}"
              f"{base / statistics.fmean(cpu):>8.1f}x{statistics.fmean(agree):>12.3f}{statistics.fmean(its):>7.1f}")
        summary["variants"][v] = {"cpu_ms_median": statistics.median(cpu), "cpu_ms_mean": statistics.fmean(cpu),
                                  "wall_ms_mean": statistics.fmean(wall), "iou_vs_crop_mean": statistics.fmean(agree),
                                  "iou_vs_crop_min": min(agree), "iterations_mean": statistics.fmean(its)}
    print("per box (cpu ms: whole image / crop / default; IoU default vs crop):")
    for row in rows:
        c = row["cpu_ms"]
        print(f"  {row['image']:<22} {row['label'][:16]:<16} {row['w']:>4}x{row['h']:<4} "
              f"{c['whole image']:7.0f} {c['crop']:7.0f} {c['default']:7.0f}   {row['iou_vs_crop']['default']:.3f}")
    print("segment() wall time for every image, threads over boxes: "
          + ", ".join(f"{k}: {v:.2f} s" for k, v in threads.items()) + f" ({os.cpu_count()} CPU cores here)")
    summary["rows"] = rows
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=Path, default=Path("/tmp/ski/skimage/data"), help="folder of scikit-image sample photographs")
    parser.add_argument("--repeat", type=int, default=1, help="time each box this many times, keep the fastest")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        records = run_cli(tmp / "out-example")
        rows = time_boxes(records, ROOT / "examples" / "images", args.repeat)
        results["example"] = summarise("example (examples/, config boxes)", records, rows,
                                       threads_wall(records, ROOT / "examples" / "images", args.repeat))
        images, detections = write_extra_set(args.extra, tmp / "extra")
        records = run_cli(tmp / "out-extra", images, detections)
        rows = time_boxes(records, images, args.repeat)
        results["extra"] = summarise("extra (scikit-image photographs, hand-drawn boxes)", records, rows,
                                     threads_wall(records, images, args.repeat))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
