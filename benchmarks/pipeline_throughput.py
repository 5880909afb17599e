"""How much of segkit's per-image work overlaps, and where the time goes.

Makes N synthetic photos (default 24 at 1280x960, 10 boxes each), runs `segkit run` with the mock
backends, and compares the wall time with the sum of each stage timed on its own (decode, segment,
masks, panel, JSON). Ratio < 1 means stages overlap (decode/encode release the GIL).

    .venv/bin/python benchmarks/pipeline_throughput.py [--images 24] [--size 1280x960] [--boxes 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from segkit.artifacts import OutputLayout, write_jpeg, write_json, write_mask
from segkit.backends.mock import MockSegmenter
from segkit.config import VizSettings
from segkit.detections import Detection, boxes_array
from segkit.images import load_rgb
from segkit.panel import render_panel
from segkit.record import backend_record, combine_records, pair_ious_by_id


def make_data(root: Path, n: int, size: tuple[int, int], n_boxes: int) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "dets").mkdir()
    w, h = size
    for i in range(n):
        base = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize(size, Image.BILINEAR).save(root / "images" / f"img{i:03d}.jpg", quality=90)
        dets = []
        for j in range(n_boxes):
            x1, y1 = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
            dets.append({"bbox_xyxy_norm": [x1, y1, x1 + rng.uniform(0.1, 0.3), y1 + rng.uniform(0.1, 0.3)],
                         "label_ja": f"物体{j}", "confidence": 0.9})
        (root / "dets" / f"img{i:03d}.json").write_text(json.dumps({"detections": dets}, ensure_ascii=False))


def stage_times(root: Path, backends: list[MockSegmenter]) -> dict[str, float]:
    totals = dict.fromkeys(["decode", "segment", "masks", "panel", "json"], 0.0)
    layout = OutputLayout(root / "stages")
    layout.create()
    viz = VizSettings()
    for path in sorted((root / "images").iterdir()):
        t = time.perf_counter()
        rgb = load_rgb(path)
        totals["decode"] += time.perf_counter() - t
        raw = json.loads((root / "dets" / f"{path.stem}.json").read_text())["detections"]
        h, w = rgb.shape[:2]
        dets = [Detection(i, d["label_ja"], (d["bbox_xyxy_norm"][0] * w, d["bbox_xyxy_norm"][1] * h,
                                              d["bbox_xyxy_norm"][2] * w, d["bbox_xyxy_norm"][3] * h), 0.9, {})
                for i, d in enumerate(raw)]
        t = time.perf_counter()
        results = {b.name: b.segment(rgb, boxes_array(dets)) for b in backends}
        totals["segment"] += time.perf_counter() - t
        t = time.perf_counter()
        files = {}
        for name, seg in results.items():
            for i, d in enumerate(dets):
                p = layout.mask_path(path.stem, d.id, d.label, name)
                write_mask(p, seg.masks[i])
                files[(d.id, name)] = layout.relative(p)
        totals["masks"] += time.perf_counter() - t
        t = time.perf_counter()
        write_jpeg(layout.panel_path(path.stem), render_panel(rgb, dets, results, viz), viz.jpeg_quality)
        totals["panel"] += time.perf_counter() - t
        t = time.perf_counter()
        records = []
        for name, seg in results.items():
            record = backend_record(backend=name, image=path, size=(w, h), detections_file=None, reader="qwen-json",
                                    conf=0.0, detections=dets, skipped=[], info={}, segmentation=seg,
                                    mask_files={i: f for (i, b), f in files.items() if b == name})
            write_json(layout.backend_record_path(name, path.stem), record)
            records.append(record)
        write_json(layout.json_path(path.stem), combine_records(records, pair_ious_by_id(dets, results), None, {}))
        totals["json"] += time.perf_counter() - t
    return totals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", default="1280x960")
    parser.add_argument("--boxes", type=int, default=10)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root, args.images, size, args.boxes)
        backends = [MockSegmenter("mock"), MockSegmenter("mock-ellipse", shape="ellipse")]
        stages = stage_times(root, backends)
        from segkit.cli import app

        started = time.perf_counter()
        result = CliRunner().invoke(app, ["run", "-b", "mock", "-b", "mock-ellipse", "-i", str(root / "images"),
                                          "-d", str(root / "dets"), "-o", str(root / "out"), "--conf", "0"])
        wall = time.perf_counter() - started
        assert result.exit_code == 0, result.output
    n = args.images
    serial = sum(stages.values())
    print(f"{n} images {size[0]}x{size[1]}, {args.boxes} boxes, backends mock + mock-ellipse")
    for name, seconds in stages.items():
        print(f"  {name:8s} {1000 * seconds / n:8.1f} ms/image")
    print(f"  stages one after another: {serial / n * 1000:.1f} ms/image")
    print(f"  segkit run (pipelined):   {wall / n * 1000:.1f} ms/image  ({n / wall:.2f} images/s, {wall / serial:.2f} of serial)")


if __name__ == "__main__":
    main()
