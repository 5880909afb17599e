"""`segkit export` on a synthetic output folder: images per second and peak memory at 1k and 10k images.

The folder is written directly (no model, no `segkit run`): per image a small JPEG and one backend record
of ``--boxes`` detections with ellipse masks as RLE in the record (``--mask-format rle``), so that the
export does all its own work: reading and checking records, decoding masks, the filters, tracing polygons
(yolo-seg) or encoding RLE (coco), copying images, the per-image parts and the assembly at the end. Each
export runs in a fresh process; its peak RSS (ru_maxrss) shows whether memory grows with the images
(it should not: one image's masks per worker at a time, the COCO file streamed from the parts).

    .venv/bin/python benchmarks/export_throughput.py [--sizes 1000,10000] [--formats yolo-seg,coco]
        [--boxes 5] [--workers 2] [--json results.json]

Seen on 2 shared CPU cores, 320x240 images, 5 masks each, 2 workers:

    images   format     images/s   peak RSS
    1,000    yolo-seg     133       130 MB
    1,000    coco         236        77 MB
    10,000   yolo-seg     150       140 MB
    10,000   coco         225        85 MB
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segkit.outputs.files import write_json
from segkit.outputs.mask_set import MaskSet
from segkit.outputs.records import Answer, Rle, backend_record
from segkit.inputs.detections import Detection
from segkit.plugins.mock import ellipse_mask

SIZE = (320, 240)
LABELS = ("cat", "dog", "りんご", "cup", "person")


def make_folder(root: Path, images: int, boxes: int) -> Path:
    out = root / "out"
    folder = root / "images"
    folder.mkdir(parents=True)
    w, h = SIZE
    rng = np.random.default_rng(0)
    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    variants = []
    for v in range(8):  # a few layouts of boxes, reused: what varies per image is its name and its files
        dets, answers = [], []
        for k in range(boxes):
            x1, y1 = rng.integers(0, w - 80), rng.integers(0, h - 60)
            box = (float(x1), float(y1), float(x1 + rng.integers(20, 80)), float(y1 + rng.integers(20, 60)))
            mask = ellipse_mask(np.asarray(box, np.float32), h, w)
            rle = MaskSet.from_dense(mask[None]).json_rle(0)
            dets.append(Detection(k, LABELS[(k + v) % len(LABELS)], box, 0.9, {}))
            answers.append(Answer(id=k, area_px=int(mask.sum()), score=float(rng.uniform(0.5, 1.0)), rle=Rle(**rle)))
        variants.append((dets, answers))
    for i in range(images):
        stem = f"img{i:06d}"
        image = folder / f"{stem}.jpg"
        image.write_bytes(jpeg.tobytes())
        dets, answers = variants[i % len(variants)]
        record = backend_record(backend="mock", image=image, size=SIZE, detections_file=None, reader="qwen", conf=0.0,
                                detections=dets, skipped=[], info={"plugin": "bench"}, answers=answers)
        write_json(out / "backends" / "mock" / f"{stem}.json", record)
    return out


CHILD = """
import sys, time, json, resource
from pathlib import Path
import segkit
job = segkit.ExportJob(out=Path(sys.argv[1]), format=sys.argv[2], to=Path(sys.argv[3]))
t = time.perf_counter()
result = segkit.export_job(job, workers=int(sys.argv[4]))
print(json.dumps({"seconds": time.perf_counter() - t, "images": result.summary["images"]["exported"],
                  "instances": result.summary["instances"]["total"], "problems": len(result.problems),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--formats", default="yolo-seg,coco")
    parser.add_argument("--boxes", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="segkit-export-bench-") as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            root = Path(tmp) / f"n{size}"
            started = time.perf_counter()
            out = make_folder(root, size, args.boxes)
            print(f"{size} images: folder made in {time.perf_counter() - started:.1f} s", flush=True)
            for fmt in args.formats.split(","):
                to = root / f"ds-{fmt}"
                done = subprocess.run([sys.executable, "-c", CHILD, str(out), fmt, str(to), str(args.workers)],
                                      capture_output=True, text=True, check=True)
                row = {"images_in": size, "format": fmt, **json.loads(done.stdout.strip().splitlines()[-1])}
                row["images_per_s"] = row["images"] / row["seconds"]
                rows.append(row)
                print(f"  {fmt:9s} {row['images']:6d} images {row['instances']:6d} instances  {row['seconds']:6.1f} s"
                      f"  {row['images_per_s']:6.1f} images/s  peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
