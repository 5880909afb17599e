"""The same SAM 2.1 b+ weights through Meta's sam2 and through Ultralytics: how far apart are the masks, and why.

One random-weight SAM 2.1 b+ checkpoint (the real architecture, made in a temporary folder; nothing is
downloaded) is given to ``sam2-base-plus`` as ``sam2.1_hiera_base_plus.pt`` and to
``ultralytics-sam2.1-b`` as ``sam2.1_b.pt`` (the same file, hard-linked). Both run at their official
input size 1024, on the CPU in float32.

1. as users run it: ``segkit run -b sam2-base-plus -b ultralytics-sam2.1-b`` on the example photographs
   and their detection files; the per-detection IoU is read from each image's JSON.
2. ablations, in-process with both backends loaded once, to show where the difference comes from:
   * same pixels: each image stretched to 1024x1024 beforehand (boxes scaled alike), so neither library
     resizes anything; what is left is the model itself, the box transform and mask upsampling;
   * same geometry: each image padded to a square (bottom/right, grey 114 as Ultralytics pads), so
     Meta's stretch keeps the aspect ratio as Ultralytics' letterbox does; only the interpolation of
     the resize differs (torchvision bilinear with antialias on float vs OpenCV INTER_LINEAR on uint8);
   * mask choice: sam2 with ``multimask_output=true`` (best of 3 by predicted IoU) against Ultralytics,
     which always asks for a single mask.

    .venv/bin/python benchmarks/compare_implementations.py [--images examples/images]
        [--detections examples/detections] [--threads N] [--no-ablations] [--json results.json]
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

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")

import cv2  # noqa: E402
import torch  # noqa: E402

from segkit.masks import ious  # noqa: E402
from segkit_sam2 import Sam2Options, Sam2Segmenter  # noqa: E402
from segkit_sam2.testing import link, random_checkpoint  # noqa: E402
from segkit_ultralytics import UltralyticsOptions, UltralyticsSam2Segmenter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
META, ULTRA = "sam2-base-plus", "ultralytics-sam2.1-b"
PAIR = f"{META} vs {ULTRA}"


def run_cli(folder: Path, images: Path, detections: Path, out: Path, threads: int) -> list[dict]:
    """`segkit run` exactly as a user would, pointed at the random checkpoint; returns the image records."""
    env = {
        **os.environ,
        "SEGKIT_SAM2_CHECKPOINT_DIR": str(folder),
        "SEGKIT_SAM2_DEVICE": "cpu",
        "SEGKIT_ULTRALYTICS_WEIGHTS_DIR": str(folder),
        "SEGKIT_ULTRALYTICS_DEVICE": "cpu",
        "OMP_NUM_THREADS": str(threads),
    }
    command = [sys.executable, "-m", "segkit.cli", "run", "-b", META, "-b", ULTRA, "--images", str(images),
               "--detections", str(detections), "--out", str(out), "--conf", "0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "json").glob("*.json"))]


def load_examples(records: list[dict], images: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from segkit.images import load_rgb

    found = []
    for record in records:
        boxes = np.array([det["bbox_xyxy_px"] for det in record["detections"]], dtype=np.float32)
        if len(boxes):
            found.append((record["image"], load_rgb(images / record["image"]), boxes))
    return found


def same_pixels(image: np.ndarray, boxes: np.ndarray, size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    height, width = image.shape[:2]
    scale = np.array([size / width, size / height] * 2, dtype=np.float32)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR), boxes * scale


def padded_square(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    side = max(height, width)
    square = np.full((side, side, 3), 114, dtype=np.uint8)
    square[:height, :width] = image
    return square


def ablations(folder: Path, examples, threads: int) -> dict[str, list[list[float]]]:
    torch.set_num_threads(threads)
    meta = Sam2Segmenter(META, Sam2Options(checkpoint_dir=folder, device="cpu"), size="base_plus")
    ultra = UltralyticsSam2Segmenter(ULTRA, UltralyticsOptions(weights_dir=folder, device="cpu"), size="b")
    meta.load()
    ultra.load()
    meta_multi = Sam2Segmenter(META, Sam2Options(checkpoint_dir=folder, device="cpu", multimask_output=True), size="base_plus")
    meta_multi.predictor = meta.predictor  # the same loaded model, asked for 3 candidates per box
    meta_multi.device, meta_multi.dtype = meta.device, meta.dtype
    out: dict[str, list[list[float]]] = {"same pixels (1024x1024 in)": [], "same geometry (padded square)": [],
                                         "as run, sam2 multimask (best of 3)": []}
    for name, image, boxes in examples:
        height, width = image.shape[:2]
        started = time.perf_counter()
        pixels, scaled = same_pixels(image, boxes)
        out["same pixels (1024x1024 in)"].append(ious(meta.segment(pixels, scaled).masks, ultra.segment(pixels, scaled).masks).tolist())
        square = padded_square(image)
        a, b = meta.segment(square, boxes).masks, ultra.segment(square, boxes).masks
        out["same geometry (padded square)"].append(ious(a[:, :height, :width], b[:, :height, :width]).tolist())
        multi = meta_multi.segment(image, boxes)
        plain = ultra.segment(image, boxes)
        out["as run, sam2 multimask (best of 3)"].append(ious(multi.masks, plain.masks).tolist())
        print(f"  ablations on {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return out


def summary(values: list[float]) -> str:
    return f"mean {statistics.fmean(values):.3f}, median {statistics.median(values):.3f}, min {min(values):.3f}, max {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=ROOT / "examples" / "images")
    parser.add_argument("--detections", type=Path, default=ROOT / "examples" / "detections")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    result: dict[str, object] = {"torch": torch.__version__, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="segkit-compare-") as tmp:
        folder = Path(tmp) / "checkpoints"
        ckpt = random_checkpoint("base_plus", folder)
        link(ckpt, folder / "sam2.1_b.pt")
        print(f"random SAM 2.1 b+ checkpoint {ckpt.name} = sam2.1_b.pt ({ckpt.stat().st_size / 1e6:.0f} MB)")
        records = run_cli(folder, args.images, args.detections, Path(tmp) / "out", args.threads)

        print(f"\n1. segkit run -b {META} -b {ULTRA}: per-detection IoU (mask areas in px, scores)")
        all_ious: list[float] = []
        rows = []
        for record in records:
            for det in record["detections"]:
                value = det["iou"][PAIR]
                all_ious.append(value)
                m, u = det["backends"][META], det["backends"][ULTRA]
                rows.append({"image": record["image"], "id": det["id"], "label": det["label"], "iou": value,
                             "area": [m["area_px"], u["area_px"]], "score": [m["score"], u["score"]],
                             "box_area": det["box_area_px"]})
                size = f"{record['width']}x{record['height']}"
                print(f"  {record['image']:14s} {size:>8s} #{det['id']:<2d} IoU {value:.3f}"
                      f"   area {m['area_px']:>7d} / {u['area_px']:>7d}   score {m['score']:.3f} / {u['score']:.3f}")
        print(f"  all {len(all_ious)} detections: {summary(all_ious)}")
        settings = {name: records[0]["backends"][name]["settings"] for name in (META, ULTRA)}
        result.update({"as_run": rows, "as_run_summary": summary(all_ious), "settings": settings})

        if not args.no_ablations:
            print("\n2. ablations (same weights, same boxes)")
            examples = load_examples(records, args.images)
            found = ablations(folder, examples, args.threads)
            for name, per_image in found.items():
                flat = [v for values in per_image for v in values]
                print(f"  {name:36s} {summary(flat)}")
            multi = [v for values in found["as run, sam2 multimask (best of 3)"] for v in values]
            if max(abs(a - b) for a, b in zip(multi, all_ious)) < 1e-4:
                print("  (multimask changed nothing: every single mask was unstable, stability < 0.98, so sam2 and\n"
                      "   Ultralytics already fell back to the best of 3 themselves; expect this with random weights)")
            result["ablations"] = found
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
