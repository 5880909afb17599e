"""The same SAM 3 file through Meta's ``sam3`` and Ultralytics: how far apart are the masks, and why.

One random-weight SAM 3 checkpoint in the layout of Meta's ``sam3.pt`` (nothing is downloaded) is read by
both backends, ``sam3`` and ``ultralytics-sam3``. The full model (860M parameters, about a minute per image
per backend on 2 CPU cores) is built with ``--full``; by default both builders make the reduced SAM 3 of
segkit's tests (the ViT cut to 2 blocks of width 128, everything else real) and run at input 336, the same
code paths at a fraction of the cost.

1. as users run it: ``segkit run -b sam3 -b ultralytics-sam3`` on the example photographs; the
   per-detection IoU is read from each image's JSON.
2. ablations, each backend loaded once, same boxes:
   * hole filling off in ``sam3`` (``max_hole_area=0``; Ultralytics fills none);
   * same pixels: each image stretched to the input size beforehand (boxes scaled alike), so neither
     resizes anything;
   * same geometry: each image padded to a square (bottom/right, grey 114, as Ultralytics pads).

    .venv/bin/python benchmarks/compare_sam3.py [--full] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import torch  # noqa: E402

from segkit.masks import ious  # noqa: E402
from segkit_sam3 import Sam3Options, Sam3Segmenter  # noqa: E402
from segkit_sam3.testing import REDUCED_IMAGE_SIZE, random_checkpoint  # noqa: E402
from segkit_sam3.testing import reduced as meta_reduced  # noqa: E402
from segkit_ultralytics.sam3 import NATIVE_IMGSZ, UltralyticsSam3Options, UltralyticsSam3Segmenter  # noqa: E402
from segkit_ultralytics.sam3_testing import reduced as ultralytics_reduced  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_implementations import ROOT, load_examples, padded_square, same_pixels, summary  # noqa: E402


def run_cli(backends: list[str], images: Path, detections: Path, out: Path, env: dict[str, str]) -> list[dict]:
    """`segkit run` as a user runs it, in this process (so that the reduced builders apply); the image records."""
    from segkit.cli import main

    os.environ.update(env)
    main(["run", *[a for b in backends for a in ("-b", b)], "--images", str(images), "--detections", str(detections),
          "--out", str(out), "--conf", "0", "--panels", "none"])
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "json").glob("*.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the official architecture at 1008 (slow)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = NATIVE_IMGSZ if args.full else REDUCED_IMAGE_SIZE
    images, detections = ROOT / "examples" / "images", ROOT / "examples" / "detections"
    with tempfile.TemporaryDirectory(prefix="segkit-sam3-") as tmp, contextlib.ExitStack() as stack:
        if not args.full:
            stack.enter_context(meta_reduced())
            stack.enter_context(ultralytics_reduced())
        checkpoint = random_checkpoint(Path(tmp), "full" if args.full else "reduced")
        env = {"SEGKIT_SAM3_CHECKPOINT": str(checkpoint), "SEGKIT_SAM3_DEVICE": "cpu", "SEGKIT_ULTRALYTICS_SAM3_WEIGHTS": str(checkpoint),
               "SEGKIT_ULTRALYTICS_SAM3_DEVICE": "cpu", "SEGKIT_ULTRALYTICS_SAM3_IMGSZ": str(size)}
        records = run_cli(["sam3", "ultralytics-sam3"], images, detections, Path(tmp) / "out", env)
        print(f"input {size}, {'full' if args.full else 'reduced'} SAM 3, random weights, CPU float32")
        as_run = [det["iou"]["sam3 vs ultralytics-sam3"] for record in records for det in record["detections"]]
        print(f"1. segkit run -b sam3 -b ultralytics-sam3, per-detection IoU: {summary(as_run)}")

        meta = Sam3Segmenter("sam3", Sam3Options(checkpoint=checkpoint, device="cpu"))
        unfilled = Sam3Segmenter("sam3", Sam3Options(checkpoint=checkpoint, device="cpu", max_hole_area=0))
        ultra = UltralyticsSam3Segmenter("ultralytics-sam3", UltralyticsSam3Options(weights=checkpoint, device="cpu", imgsz=size))
        for segmenter in (meta, unfilled, ultra):
            segmenter.load()
        found: dict[str, list[float]] = {}
        for _, image, boxes in load_examples(records, images):
            height, width = image.shape[:2]
            pixels, pixel_boxes = same_pixels(image, boxes, size)
            square = padded_square(image)
            cases = {
                "as run, sam3 hole filling off": (unfilled, ultra, image, boxes),
                "same pixels, sam3 hole filling on": (meta, ultra, pixels, pixel_boxes),
                "same pixels, hole filling off": (unfilled, ultra, pixels, pixel_boxes),
                "same geometry (padded square), hole filling off": (unfilled, ultra, square, boxes),
            }
            for case, (a, b, picture, prompts) in cases.items():
                masks_a, masks_b = a.segment(picture, prompts).masks, b.segment(picture, prompts).masks
                found.setdefault(case, []).extend(ious(masks_a[:, :height, :width], masks_b[:, :height, :width]).tolist())
        print("2. ablations (same file, same boxes):")
        for case, values in found.items():
            print(f"   {case:50s} {summary(values)}")
        for segmenter in (meta, unfilled, ultra):
            segmenter.close()


if __name__ == "__main__":
    main()
