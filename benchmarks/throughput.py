"""Is the model the limit? `segkit run` (the library call) against a backend of fixed latency.

Makes photo-like 1280x960 JPEGs with 10 boxes each, then runs `segkit.run_job` with the `mock` backend
sleeping ``latency`` ms per image (GIL released, as a GPU call is) for default outputs (mask PNGs,
panels) and lean outputs (``--mask-format rle --no-panels``). Each configuration runs in a fresh process.

* marginal images/s: images finished after the first 10, over the time they took (no start-up);
* the baseline, measured in the same run: the same backend called in a plain loop on decoded images,
  i.e. the most any framework could get from it on this machine (close to 1000 / latency);
* CPU ms per image: the process's CPU time over the same images (segkit's work plus the mock's box
  filling, about 1 ms), and where segkit's own time went (decode, outputs), from the run's summary;
* peak RSS of a run over 20 images and over all of them (memory must not grow with the dataset).

    .venv/bin/python benchmarks/throughput.py [--images 300] [--latency 5 15 40] [--size 1280x960] [--boxes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

WARMUP = 10
LEAN = ["--mask-format", "rle", "--no-panels"]


def make_data(root: Path, n: int, size: tuple[int, int], n_boxes: int) -> None:
    """Photo-like JPEGs (smooth colour fields, edges, sensor noise) and Qwen JSON detections."""
    import cv2

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "dets").mkdir()
    w, h = size
    for i in range(n):
        base = cv2.resize(rng.integers(0, 255, (h // 64, w // 64, 3), dtype=np.uint8), size, interpolation=cv2.INTER_CUBIC)
        for _ in range(6):
            cv2.ellipse(base, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), (int(rng.uniform(20, 200)), int(rng.uniform(20, 200))),
                        0, 0, 360, tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        noisy = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / "images" / f"img{i:03d}.jpg", quality=90)
        dets = []
        for j in range(n_boxes):
            x1, y1 = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
            dets.append({"bbox_xyxy_norm": [x1, y1, x1 + rng.uniform(0.1, 0.3), y1 + rng.uniform(0.1, 0.3)],
                         "label_ja": f"物体{j}", "confidence": 0.9})
        (root / "dets" / f"img{i:03d}.json").write_text(json.dumps({"detections": dets}, ensure_ascii=False), encoding="utf-8")


def worker(root: Path, latency: float, extra: list[str], limit: int | None) -> dict:
    """One `segkit run` in this process; what it measured, as a dict."""
    from segkit.pipeline.job import RunEvents, RunJob, run_job

    stamps: list[tuple[float, float]] = []

    class Events(RunEvents):
        def image_done(self, outcome):
            stamps.append((time.perf_counter(), time.process_time()))

    options = {"mock": {"latency_ms": latency}}
    job = RunJob(backends=["mock"], images=root / "images", detections=root / "dets", out=root / f"out-{os.getpid()}",
                 conf=0.0, options=options, limit=limit,
                 mask_format="rle" if "rle" in extra else "png", panels="none" if "--no-panels" in extra else "all")
    started = time.perf_counter()
    result = run_job(job, Events())
    wall = time.perf_counter() - started
    assert result.exit_code == 0, result.summary.failures[:3]
    n = len(stamps)
    (t0, c0), (t1, c1) = stamps[WARMUP - 1], stamps[-1]
    stages = result.summary.stage_seconds()
    return {
        "images": n,
        "wall": wall,
        "rate": (n - WARMUP) / (t1 - t0),
        "cpu_ms": 1000 * (c1 - c0) / (n - WARMUP),
        "decode_ms": 1000 * stages.get("decode", 0.0) / n,
        "outputs_ms": 1000 * stages.get("outputs", 0.0) / n,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def baseline(root: Path, latency: float, n: int = 60) -> float:
    """Images/s of the backend alone: the mock called in a loop on images decoded beforehand."""
    from segkit.inputs.images import load_rgb
    from segkit.plugins.mock import MockOptions, MockSegmenter

    images = [load_rgb(p) for p in sorted((root / "images").iterdir())[:n]]
    boxes = np.array([[100, 100, 400, 300]] * 10, dtype=np.float32)
    mock = MockSegmenter("mock", MockOptions(latency_ms=latency))
    started = time.perf_counter()
    for image in images:
        mock.segment(image, boxes)
    return len(images) / (time.perf_counter() - started)


def run_worker(root: Path, latency: float, extra: list[str], limit: int | None) -> dict:
    args = [sys.executable, __file__, "--worker", str(root), "--latency", str(latency), "--limit", str(limit or 0), *extra]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--latency", type=float, nargs="+", default=[5.0, 15.0, 40.0])
    parser.add_argument("--size", default="1280x960")
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.latency[0], extra, args.limit or None)))
        return
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root, args.images, size, args.boxes)
        print(f"{args.images} images {size[0]}x{size[1]}, {args.boxes} boxes, backend mock with a fixed latency,"
              f" {os.cpu_count()} cores")
        print(f"{'latency':>8} {'outputs':>8} {'baseline/s':>10} {'segkit/s':>9} {'ratio':>6} {'cpu ms/img':>10}"
              f" {'decode ms':>9} {'outputs ms':>10}")
        for latency in args.latency:
            base = baseline(root, latency)
            for label, flags in (("default", []), ("lean", LEAN)):
                r = run_worker(root, latency, flags, None)
                print(f"{latency:>6.0f}ms {label:>8} {base:>10.1f} {r['rate']:>9.1f} {r['rate'] / base:>6.2f}"
                      f" {r['cpu_ms']:>10.1f} {r['decode_ms']:>9.1f} {r['outputs_ms']:>10.1f}")
        small = run_worker(root, 15.0, [], 20)
        large = run_worker(root, 15.0, [], None)
        print(f"peak RSS, default outputs at 15 ms: {small['rss_mb']:.0f} MB for 20 images,"
              f" {large['rss_mb']:.0f} MB for {large['images']} ({large['rss_mb'] / small['rss_mb']:.2f}x)")


if __name__ == "__main__":
    main()
