"""segkit's SAM 2.1 backends against calling the libraries directly, on one image with 10 boxes.

Two cases, each on a random-weight checkpoint of the real architecture made in a temporary folder
(timing does not depend on the weights; nothing is downloaded):

* sam2: ``Sam2Segmenter.segment`` (sam2-<model>) against ``SAM2ImagePredictor.set_image`` +
  ``predict(box=boxes)`` on a predictor built with ``build_sam2`` from the same file;
* ultralytics: ``UltralyticsSam2Segmenter.segment`` (ultralytics-sam2.1-<model>) against
  ``SAM(file)(bgr_image, bboxes=boxes)`` (what the Ultralytics docs show) and against the lower-level
  ``SAM2Predictor.set_image`` + ``inference_features`` that segkit itself calls.

Every variant runs once to warm up, then ``--repeat`` times, interleaved, so drift on a busy machine hits
all of them alike. Reported: median wall seconds per image, median process CPU seconds per image (all
threads; steadier than wall time when other work shares the cores), and segkit / direct for both.
torch's thread count is pinned (Ultralytics' select_device would otherwise change it for the process).

    .venv/bin/python benchmarks/backend_overhead.py [--model base_plus] [--repeat 5] [--device cpu]
        [--cases sam2,ultralytics] [--image-size 1024] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")

import torch  # noqa: E402
from segkit_sam2 import Sam2Options, Sam2Segmenter  # noqa: E402
from segkit_sam2.models import MODELS as SAM2_MODELS  # noqa: E402
from segkit_sam2.testing import link, random_checkpoint  # noqa: E402
from segkit_ultralytics import UltralyticsOptions, UltralyticsSam2Segmenter  # noqa: E402
from segkit_ultralytics.models import MODELS as ULTRALYTICS_MODELS  # noqa: E402

from segkit.testing import sample_image  # noqa: E402

ULTRALYTICS_SIZE = {"tiny": "t", "small": "s", "base_plus": "b", "large": "l"}


def boxes_for(width: int, height: int, n: int, seed: int = 0) -> np.ndarray:
    """``n`` boxes of 10-45% of the image side, anywhere in it, pixel xyxy float32."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.10, 0.45, n) * width
    h = rng.uniform(0.10, 0.45, n) * height
    x = rng.uniform(0, width - w)
    y = rng.uniform(0, height - h)
    return np.stack([x, y, x + w, y + h], axis=1).astype(np.float32)


def measure(variants: dict[str, Callable[[], object]], repeat: int, threads: int) -> dict[str, dict[str, float]]:
    for run in variants.values():  # warm-up: first-call allocations, lazy set-up
        torch.set_num_threads(threads)
        run()
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, run in variants.items():
            torch.set_num_threads(threads)
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            cpus[name].append(time.process_time() - cpu)
            walls[name].append(time.perf_counter() - wall)
    return {
        name: {"wall_s": statistics.median(walls[name]), "cpu_s": statistics.median(cpus[name]), "wall_all": walls[name]}
        for name in variants
    }


def sam2_case(model: str, ckpt: Path, image: np.ndarray, boxes: np.ndarray, args) -> dict[str, dict[str, float]]:
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    from segkit_torch import runtime

    device = runtime.resolve_device(args.device)
    dtype = runtime.resolve_dtype("auto", device)
    options = Sam2Options(checkpoint_dir=ckpt.parent, device=args.device, image_size=args.image_size)
    segmenter = Sam2Segmenter(SAM2_MODELS[model].backend, options, size=model)
    segmenter.load()
    overrides = [f"++model.image_size={args.image_size}"] if args.image_size != 1024 else []
    predictor = SAM2ImagePredictor(build_sam2(SAM2_MODELS[model].config, str(ckpt), device=str(device), hydra_overrides_extra=overrides))
    if args.image_size != 1024:
        predictor._bb_feat_sizes = [(args.image_size // s,) * 2 for s in (4, 8, 16)]

    def direct():
        with runtime.inference_context(device, dtype):  # Meta's recommended inference_mode (+ bf16 autocast on CUDA)
            predictor.set_image(image)
            return predictor.predict(box=boxes, multimask_output=False)

    results = measure({"SAM2ImagePredictor": direct, "segkit": lambda: segmenter.segment(image, boxes)}, args.repeat, args.threads)
    results["settings"] = segmenter.settings()
    segmenter.close()
    return results


def ultralytics_case(size: str, weights: Path, image: np.ndarray, boxes: np.ndarray, args) -> dict[str, dict[str, float]]:
    from ultralytics import SAM

    options = UltralyticsOptions(weights_dir=weights.parent, device=args.device, imgsz=args.image_size)
    segmenter = UltralyticsSam2Segmenter(ULTRALYTICS_MODELS[size].backend, options, size=size)
    segmenter.load()
    model = SAM(str(weights))
    bgr = np.ascontiguousarray(image[..., ::-1])  # given to the direct calls ready-made, as a user with BGR would
    device = {"cpu": "cpu", "mps": "mps"}.get(str(segmenter.device.type), str(segmenter.device.index))
    half = segmenter.half
    low = segmenter.predictor.__class__(overrides={"model": str(weights), "imgsz": args.image_size, "device": device,
                                                   "quantize": 16 if half else None, "verbose": False, "save": False})
    low.setup_model(model=SAM(str(weights)).model, verbose=False)

    precision = {"quantize": 16} if half else {}

    def high_level():
        return model(bgr, bboxes=boxes, imgsz=args.image_size, device=device, verbose=False, **precision)

    def low_level():
        low.set_image(bgr)
        out = low.inference_features(low.features, src_shape=image.shape[:2], bboxes=boxes)
        low.reset_image()
        return out

    variants = {"SAM(file)(image, bboxes)": high_level, "SAM2Predictor.inference_features": low_level,
                "segkit": lambda: segmenter.segment(image, boxes)}
    results = measure(variants, args.repeat, args.threads)
    results["settings"] = segmenter.settings()
    segmenter.close()
    return results


def report(title: str, results: dict, baselines: list[str]) -> None:
    print(f"\n{title}")
    print(f"  {'variant':36s} {'wall s/img':>10s} {'cpu s/img':>10s}   all wall times")
    for name, row in results.items():
        if name == "settings":
            continue
        times = ", ".join(f"{t:.2f}" for t in row["wall_all"])
        print(f"  {name:36s} {row['wall_s']:10.3f} {row['cpu_s']:10.3f}   {times}")
    ours = results["segkit"]
    for base in baselines:
        ref = results[base]
        print(f"  segkit / {base}: wall {ours['wall_s'] / ref['wall_s']:.3f}, cpu {ours['cpu_s'] / ref['cpu_s']:.3f}")
    print(f"  images/s (segkit, wall): {1 / ours['wall_s']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base_plus", choices=list(SAM2_MODELS), help="SAM 2.1 size for both cases")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--image-size", type=int, default=1024, help="model input size (sam2 image_size, Ultralytics imgsz)")
    parser.add_argument("--size", default="640x480", help="image WxH")
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--cases", default="sam2,ultralytics")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    width, height = (int(v) for v in args.size.lower().split("x"))
    image = sample_image(0, (width, height))
    boxes = boxes_for(width, height, args.boxes)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    out: dict[str, object] = {"model": args.model, "image": [width, height], "boxes": args.boxes, "repeat": args.repeat,
                              "threads": args.threads, "torch": torch.__version__, "device": args.device}
    print(f"SAM 2.1 {args.model}, one {width}x{height} image, {args.boxes} boxes, input {args.image_size}, "
          f"device {args.device}, torch {torch.__version__}, {args.threads} threads, {args.repeat} repeats")
    with tempfile.TemporaryDirectory(prefix="segkit-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        ckpt = random_checkpoint(args.model, folder)  # random weights of the real architecture, Meta's format
        ultra = ULTRALYTICS_SIZE[args.model]
        weights = folder / ULTRALYTICS_MODELS[ultra].file
        link(ckpt, weights)  # the same file under Ultralytics' name
        print(f"random checkpoint {ckpt.name} ({ckpt.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
        if "sam2" in cases:
            out["sam2"] = sam2_case(args.model, ckpt, image, boxes, args)
            report(f"sam2-{args.model}: segkit vs Meta's SAM2ImagePredictor", out["sam2"], ["SAM2ImagePredictor"])
        if "ultralytics" in cases:
            out["ultralytics"] = ultralytics_case(ultra, weights, image, boxes, args)
            report(f"ultralytics-sam2.1-{ultra}: segkit vs Ultralytics", out["ultralytics"],
                   ["SAM(file)(image, bboxes)", "SAM2Predictor.inference_features"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
