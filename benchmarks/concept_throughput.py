"""How fast is concept segmentation? ``sam3-concept`` (Meta's Sam3Processor) on a random-weight SAM 3, by
concepts per image.

Builds SAM 3 with sam3's own builder and random weights (reduced by default: the test suite's 2-block ViT
at 336; ``--size full`` builds the official 848M-parameter architecture at 1008, which needs about 8 GB of
memory to save), saves it as ``sam3.pt`` and loads it through the backend as a user does. Then, for each
number of concepts (distinct phrases), segments photo-like images one call per image and reports:

* images/s: images over the wall time of ``segment_concepts`` (after one warm-up image);
* CPU ms per image: this process's user + system time over the same span (all threads);
* instances per image found at ``--threshold`` (random weights score about alike: most or none pass).

Timing does not depend on the weights' values, so random weights measure the real cost of the code path.
Beside it, ``roboflow-sam3-concept`` against the loopback stand-in server of ``segkit_roboflow.testing``
(no model: the wire format, mask decoding and segkit's own side).

    .venv/bin/python benchmarks/concept_throughput.py [--images 4] [--concepts 1,8] [--size 640x480]
    .venv/bin/python benchmarks/concept_throughput.py --device cuda --dtype bfloat16 --concepts 1,8,32 --model-size full
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

PHRASES = ["person", "car", "dog", "cat", "tree", "bicycle", "bottle", "chair", "cup", "bird", "boat", "bus", "horse", "sheep",
           "cow", "truck", "bench", "umbrella", "bag", "book", "clock", "vase", "plant", "lamp", "window", "door", "sign",
           "road", "sky", "cloud", "rock", "flower"]


def make_images(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Photo-like RGB images: smooth colour fields, ellipses, sensor noise."""
    import cv2

    rng = np.random.default_rng(0)
    width, height = size
    images = []
    for _ in range(n):
        base = cv2.resize(rng.integers(0, 255, (max(height // 64, 2), max(width // 64, 2), 3), dtype=np.uint8), size, interpolation=cv2.INTER_CUBIC)
        for _ in range(6):
            cv2.ellipse(base, (int(rng.uniform(0, width)), int(rng.uniform(0, height))), (int(rng.uniform(20, 200)), int(rng.uniform(20, 200))),
                        0, 0, 360, tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        images.append(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    return images


def concepts_for(n: int) -> list:
    from segkit import Concept

    return [Concept(text=PHRASES[k % len(PHRASES)] + ("" if k < len(PHRASES) else f" {k // len(PHRASES)}")) for k in range(n)]


def measure(segmenter, images: list[np.ndarray], n_concepts: int, synchronize) -> dict[str, float]:
    concepts = concepts_for(n_concepts)
    segmenter.segment_concepts(images[0], concepts)  # warm-up: first-call costs are not per image
    synchronize()
    found = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for image in images:
        found += len(segmenter.segment_concepts(image, concepts).scores)
    synchronize()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"images_s": len(images) / wall, "cpu_ms": 1000 * cpu / len(images), "wall_ms": 1000 * wall / len(images), "found": found / len(images)}


def sam3_rows(args, images: list[np.ndarray], counts: list[int]) -> list[tuple[str, int, dict[str, float]]]:
    import torch

    from segkit_sam3 import Sam3ConceptOptions, Sam3ConceptSegmenter
    from segkit_sam3.testing import random_checkpoint, reduced

    rows = []
    with tempfile.TemporaryDirectory() as folder, reduced() if args.model_size == "reduced" else contextlib.nullcontext():
        started = time.perf_counter()
        path = random_checkpoint(Path(folder), args.model_size)
        built = time.perf_counter() - started
        options = Sam3ConceptOptions(checkpoint=path, device=args.device, dtype=args.dtype, confidence_threshold=args.threshold)
        segmenter = Sam3ConceptSegmenter("sam3-concept", options)
        started = time.perf_counter()
        segmenter.load()
        print(f"sam3-concept: {args.model_size} random-weight SAM 3 built and saved in {built:.1f} s, loaded in {time.perf_counter() - started:.1f} s;"
              f" {segmenter.settings()['device']} {segmenter.settings()['dtype']}, resolution {segmenter.settings()['resolution']}")
        cuda = segmenter.device.type == "cuda"
        synchronize = torch.cuda.synchronize if cuda else (lambda: None)
        try:
            for n in counts:
                rows.append(("sam3-concept", n, measure(segmenter, images, n, synchronize)))
                print(f"  {n} concepts done", flush=True)
        finally:
            segmenter.close()
    return rows


def roboflow_rows(images: list[np.ndarray], counts: list[int]) -> list[tuple[str, int, dict[str, float]]]:
    try:
        from segkit_roboflow import testing
    except ImportError:
        print("roboflow-sam3-concept: skipped (segkit-roboflow is not installed)")
        return []
    rows = []
    with tempfile.TemporaryDirectory() as work, testing.offline_segmenter("roboflow-sam3-concept", Path(work)) as segmenter:
        segmenter.load()  # against a loopback stand-in server: the wire, decoding and segkit's side, no model
        try:
            for n in counts:
                rows.append(("roboflow loopback", n, measure(segmenter, images, n, lambda: None)))
        finally:
            segmenter.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4, help="images per measurement (after one warm-up)")
    parser.add_argument("--concepts", default="1,8", help="concepts per image, comma-separated")
    parser.add_argument("--size", default="640x480", help="image size WxH")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--model-size", choices=["reduced", "full"], default="reduced")
    parser.add_argument("--threshold", type=float, default=0.5, help="sam3-concept confidence_threshold")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    counts = [int(v) for v in args.concepts.split(",")]
    images = make_images(args.images, (width, height))
    rows = sam3_rows(args, images, counts) + roboflow_rows(images, counts)
    print()
    print(f"{args.images} images of {width}x{height}, {args.device} {args.dtype}, threshold {args.threshold}")
    print(f"{'backend':<20} {'concepts':>8} {'images/s':>9} {'wall ms/img':>12} {'CPU ms/img':>11} {'inst/img':>9}")
    for name, n, r in rows:
        print(f"{name:<20} {n:>8} {r['images_s']:>9.3f} {r['wall_ms']:>12.0f} {r['cpu_ms']:>11.0f} {r['found']:>9.1f}")


if __name__ == "__main__":
    main()
