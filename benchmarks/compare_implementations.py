"""The same SAM 2.1 b+ weights through every installed implementation: how far apart are the masks, and why.

One random-weight SAM 2.1 b+ checkpoint (the real architecture, made in a temporary folder; nothing is
downloaded) is given to each implementation whose segkit plugin and library are installed, in its own
format:

* ``sam2-base-plus`` (Meta's ``sam2``): the checkpoint itself, ``sam2.1_hiera_base_plus.pt``;
* ``ultralytics-sam2.1-b``: the same file hard-linked as ``sam2.1_b.pt`` (Ultralytics reads Meta's format);
* ``hf-sam2.1-base-plus`` (Hugging Face ``transformers``): the same weights renamed into a
  ``from_pretrained`` folder by ``segkit_transformers.from_meta.save_folder`` (transformers ships no
  converter callable as a library; ``Sam2Model`` loads the folder with no weight missing or left over).

All run at their official input size 1024, on the CPU in float32.

1. as users run it: ``segkit run`` with every installed backend on the example photographs and their
   detection files; the per-detection IoU of every pair is read from each image's JSON.
2. ablations, in-process with each backend loaded once, every implementation against Meta's:
   * same pixels: each image stretched to 1024x1024 beforehand (boxes scaled alike), so no library
     resizes anything; what is left is the network itself, the box transform and mask upsampling;
   * same geometry: each image padded to a square (bottom/right, grey 114 as Ultralytics pads), so every
     resize keeps the aspect ratio; only the interpolation arithmetic differs;
   * mask choice: sam2 with ``multimask_output=true`` (best of 3 by predicted IoU) against each as run
     (one mask per box with the stability fallback), and transformers with multimask against sam2 with
     multimask (the same choice on both sides).

    .venv/bin/python benchmarks/compare_implementations.py [--images examples/images]
        [--detections examples/detections] [--threads N] [--no-ablations] [--json results.json]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")

import cv2  # noqa: E402
import torch  # noqa: E402
from segkit_sam2 import Sam2Options, Sam2Segmenter  # noqa: E402
from segkit_sam2.testing import random_checkpoint  # noqa: E402
from segkit_torch.testing import link  # noqa: E402

from segkit.outputs.mask_metrics import ious  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
META, ULTRA, HF = "sam2-base-plus", "ultralytics-sam2.1-b", "hf-sam2.1-base-plus"


def installed(plugin: str, library: str) -> bool:
    return importlib.util.find_spec(plugin) is not None and importlib.util.find_spec(library) is not None


def implementations() -> list[str]:
    found = [META]
    if installed("segkit_ultralytics", "ultralytics"):
        found.append(ULTRA)
    if installed("segkit_transformers", "transformers"):
        found.append(HF)
    return found


def prepare(folder: Path, backends: list[str]) -> None:
    """One random checkpoint, in every installed implementation's format, under ``folder``."""
    checkpoint = random_checkpoint("base_plus", folder)
    print(f"random SAM 2.1 b+ checkpoint {checkpoint.name} ({checkpoint.stat().st_size / 1e6:.0f} MB)")
    if ULTRA in backends:
        link(checkpoint, folder / "sam2.1_b.pt")
        print("  = sam2.1_b.pt for Ultralytics (the same file)")
    if HF in backends:
        from segkit_transformers.from_meta import save_folder

        save_folder(checkpoint, "base_plus", folder / "hf" / "sam2.1-hiera-base-plus")
        print("  = hf/sam2.1-hiera-base-plus/ for transformers (renamed weights, none missing or left over)")


def run_cli(folder: Path, backends: list[str], images: Path, detections: Path, out: Path, threads: int) -> list[dict]:
    """`segkit run` exactly as a user would, pointed at the random checkpoint; returns the image records."""
    env = {
        **os.environ,
        "SEGKIT_SAM2_CHECKPOINT_DIR": str(folder),
        "SEGKIT_SAM2_DEVICE": "cpu",
        "SEGKIT_ULTRALYTICS_WEIGHTS_DIR": str(folder),
        "SEGKIT_ULTRALYTICS_DEVICE": "cpu",
        "SEGKIT_TRANSFORMERS_MODEL_DIR": str(folder / "hf"),
        "SEGKIT_TRANSFORMERS_DEVICE": "cpu",
        "OMP_NUM_THREADS": str(threads),
    }
    command = [sys.executable, "-m", "segkit", "run", *[a for b in backends for a in ("-b", b)], "--images", str(images),
               "--detections", str(detections), "--out", str(out), "--conf", "0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "json").glob("*.json"))]


def load_examples(records: list[dict], images: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from segkit.inputs.images import load_rgb

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


def segmenters(folder: Path, backends: list[str]) -> dict[str, Any]:
    """Every installed backend loaded once, plus sam2 and transformers asking for the best of 3."""
    loaded: dict[str, Any] = {META: Sam2Segmenter(META, Sam2Options(checkpoint_dir=folder, device="cpu"), size="base_plus")}
    if ULTRA in backends:
        from segkit_ultralytics import UltralyticsOptions, UltralyticsSam2Segmenter

        loaded[ULTRA] = UltralyticsSam2Segmenter(ULTRA, UltralyticsOptions(weights_dir=folder, device="cpu"), size="b")
    if HF in backends:
        from segkit_transformers import TransformersOptions, TransformersSegmenter

        loaded[HF] = TransformersSegmenter(HF, TransformersOptions(model_dir=folder / "hf", device="cpu"), key="base_plus")
    for segmenter in loaded.values():
        segmenter.load()
    for name in (META, HF):  # the same loaded model, asked for 3 candidates per box
        if name in loaded:
            multi = copy.copy(loaded[name])
            multi.options = loaded[name].options.model_copy(update={"multimask_output": True})
            loaded[f"{name} multimask"] = multi
    return loaded


def ablations(folder: Path, backends: list[str], examples, threads: int) -> dict[str, list[float]]:
    torch.set_num_threads(threads)
    loaded = segmenters(folder, backends)
    others = [name for name in backends if name != META]
    found: dict[str, list[float]] = {}

    def add(case: str, a: np.ndarray, b: np.ndarray) -> None:
        found.setdefault(case, []).extend(ious(a, b).tolist())

    for name, image, boxes in examples:
        started = time.perf_counter()
        height, width = image.shape[:2]
        inputs = {"pixels": same_pixels(image, boxes), "square": (padded_square(image), boxes), "as run": (image, boxes)}
        done: dict[tuple[str, str], np.ndarray] = {}

        def masks(backend: str, kind: str) -> np.ndarray:  # each backend encodes each input once
            if (backend, kind) not in done:
                masks_ = loaded[backend].segment(*inputs[kind]).masks
                done[backend, kind] = masks_[:, :height, :width] if kind == "square" else masks_
            return done[backend, kind]

        for other in others:
            add(f"same pixels (1024x1024 in): {META} vs {other}", masks(META, "pixels"), masks(other, "pixels"))
            add(f"same geometry (padded square): {META} vs {other}", masks(META, "square"), masks(other, "square"))
            add(f"as run, sam2 best of 3 vs {other}", masks(f"{META} multimask", "as run"), masks(other, "as run"))
        if HF in backends:
            add(f"as run, both best of 3: {META} vs {HF}", masks(f"{META} multimask", "as run"), masks(f"{HF} multimask", "as run"))
        print(f"  ablations on {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return found


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

    backends = implementations()
    print(f"implementations installed: {', '.join(backends)}")
    result: dict[str, Any] = {"torch": torch.__version__, "threads": args.threads, "backends": backends}
    with tempfile.TemporaryDirectory(prefix="segkit-compare-") as tmp:
        folder = Path(tmp) / "checkpoints"
        prepare(folder, backends)
        records = run_cli(folder, backends, args.images, args.detections, Path(tmp) / "out", args.threads)

        print(f"\n1. segkit run {' '.join('-b ' + b for b in backends)}: per-detection IoU of every pair")
        pairs = [f"{a} vs {b}" for a, b in itertools.combinations(backends, 2)]
        rows = []
        for record in records:
            for det in record["detections"]:
                row = {"image": record["image"], "size": f"{record['width']}x{record['height']}", "id": det["id"],
                       "label": det["label"], "iou": {p: det["iou"][p] for p in pairs},
                       "area": {b: det["backends"][b]["area_px"] for b in backends},
                       "score": {b: det["backends"][b]["score"] for b in backends}}
                rows.append(row)
                print(f"  {row['image']:14s} {row['size']:>9s} #{row['id']:<2d} "
                      + "   ".join(f"{p.replace(' vs ', '/')} {v:.3f}" for p, v in row["iou"].items()))
        as_run = {p: [row["iou"][p] for row in rows] for p in pairs}
        for p, values in as_run.items():
            print(f"  {p:45s} {summary(values)}")
        result.update({"as_run": rows, "as_run_summary": {p: summary(v) for p, v in as_run.items()},
                       "settings": {b: records[0]["backends"][b]["settings"] for b in backends}})

        if not args.no_ablations:
            print("\n2. ablations (same weights, same boxes)")
            found = ablations(folder, backends, load_examples(records, args.images), args.threads)
            for name, values in found.items():
                print(f"  {name:60s} {summary(values)}")
            unchanged = all(max(abs(a - b) for a, b in zip(found[f"as run, sam2 best of 3 vs {o}"], as_run[f"{META} vs {o}"])) < 1e-4
                            for o in backends[1:])
            if unchanged and len(backends) > 1:
                print("  (best of 3 changed nothing: every single mask was unstable, stability < 0.98, so every implementation\n"
                      "   already fell back to the best of 3 by itself; expect this with random weights)")
            result["ablations"] = {name: {"summary": summary(v), "ious": v} for name, v in found.items()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
