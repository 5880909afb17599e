"""What one crowded image costs: 10,000 boxes on one photo, time and peak memory of `segkit run`.

Each configuration runs in a fresh process (peak RSS is per process). The boxes are 20-120 px, spread
over a 2000x1500 image; `mock` and `mock-ellipse` segment them, so every box gets two full-resolution
masks, two mask PNGs and a pair IoU. Memory is bounded by `limits.max_boxes_per_call` (masks in flight
per backend call) and the compact masks kept per image, not by the number of boxes.

    .venv/bin/python benchmarks/crowded_image.py [--boxes 10000] [--size 2000x1500]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_data(root: Path, boxes: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "dets").mkdir()
    w, h = size
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / "crowd.jpg", quality=90)
    dets = []
    for j in range(boxes):
        bw, bh = rng.uniform(20, 120, 2)
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        dets.append({"bbox_xyxy_norm": [x / w, y / h, (x + bw) / w, (y + bh) / h], "label": f"cell{j % 7}", "confidence": 0.9})
    (root / "dets" / "crowd.json").write_text(json.dumps({"detections": dets}), encoding="utf-8")


def worker(root: Path, extra: list[str]) -> dict:
    from segkit.pipeline.job import RunJob, run_job

    started = time.perf_counter()
    result = run_job(RunJob(backends=["mock", "mock-ellipse"], images=root / "images", detections=root / "dets",
                            out=root / f"out-{'-'.join(extra) or 'default'}", conf=0.0,
                            mask_format="rle" if "rle" in extra else "png"))
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.summary.failures
    return {"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "masks": sum(o.masks for o in result.summary.outcomes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--size", default="2000x1500")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args()
    if args.worker:
        print(json.dumps(worker(args.worker, extra)))
        return
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root, args.boxes, size)
        print(f"one {size[0]}x{size[1]} image, {args.boxes} boxes, backends mock + mock-ellipse")
        for label, flags in (("default outputs (PNG masks, panel)", []), ("--mask-format rle", ["rle"])):
            out = subprocess.run([sys.executable, __file__, "--worker", str(root), *flags], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {label:36s} {r['seconds']:7.1f} s  {1000 * r['seconds'] / r['masks']:6.2f} ms/mask"
                  f"  peak RSS {r['rss_mb']:6.0f} MB  ({r['masks']} masks)")


if __name__ == "__main__":
    main()
