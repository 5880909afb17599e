"""SAM 3 at its full size: seconds per image of the sam3 and ultralytics-sam3 backends against calling the
libraries directly, on one image with 10 boxes.

One random-weight checkpoint of the official architecture (860M parameters, 3.45 GB, Meta's layout) is made
in a temporary folder and given to both implementations (timing does not depend on the weights; nothing is
downloaded):

* sam3: ``Sam3Segmenter.segment`` against sam3's notebook calls on the same model,
  ``Sam3Processor.set_image`` + ``model.predict_inst(state, box=boxes)``;
* ultralytics: ``UltralyticsSam3Segmenter.segment`` against ``SAM(file)(bgr_image, bboxes=boxes, imgsz=1008)``.

Same protocol as ``backend_overhead.py`` (warm-up, then ``--repeat`` interleaved runs; median wall and
process CPU seconds per image). On a 2-core CPU one image takes about a minute, so the default is 1 repeat.

    .venv/bin/python benchmarks/sam3_speed.py [--repeat 1] [--device cpu] [--cases sam3,ultralytics] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from backend_overhead import boxes_for, measure, report
from segkit_sam3 import Sam3Options, Sam3Segmenter
from segkit_sam3.testing import random_checkpoint
from segkit_ultralytics.sam3 import UltralyticsSam3Options, UltralyticsSam3Segmenter

from segkit.testing import sample_image


def sam3_case(path: Path, image: np.ndarray, boxes: np.ndarray, args) -> dict:
    from PIL import Image
    from sam3.model.sam3_image_processor import Sam3Processor
    from segkit_torch import runtime

    segmenter = Sam3Segmenter("sam3", Sam3Options(checkpoint=path, device=args.device))
    segmenter.load()
    model, device, dtype = segmenter.model, segmenter.device, segmenter.dtype
    processor = Sam3Processor(model, device=device)  # sam3's defaults: resolution 1008

    def direct():
        with runtime.inference_context(device, dtype):  # the notebook's bf16 autocast on CUDA; fp32 on CPU
            state = processor.set_image(Image.fromarray(image))
            return model.predict_inst(state, box=boxes, multimask_output=False)

    results = measure({"Sam3Processor + predict_inst": direct, "segkit": lambda: segmenter.segment(image, boxes)}, args.repeat, args.threads)
    results["settings"] = segmenter.settings()
    segmenter.close()
    return results


def ultralytics_case(path: Path, image: np.ndarray, boxes: np.ndarray, args) -> dict:
    from ultralytics import SAM

    segmenter = UltralyticsSam3Segmenter("ultralytics-sam3", UltralyticsSam3Options(weights=path, device=args.device))
    segmenter.load()
    model = SAM(str(path))
    bgr = np.ascontiguousarray(image[..., ::-1])
    device = "cpu" if segmenter.device.type == "cpu" else str(segmenter.device.index)

    def high_level():
        return model(bgr, bboxes=boxes, imgsz=1008, conf=0.0, device=device, verbose=False)

    results = measure({"SAM(file)(image, bboxes)": high_level, "segkit": lambda: segmenter.segment(image, boxes)}, args.repeat, args.threads)
    results["settings"] = segmenter.settings()
    segmenter.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--size", default="640x480", help="image WxH")
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--cases", default="sam3,ultralytics")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    width, height = (int(v) for v in args.size.lower().split("x"))
    image = sample_image(0, (width, height))
    boxes = boxes_for(width, height, args.boxes)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    out: dict[str, object] = {"image": [width, height], "boxes": args.boxes, "repeat": args.repeat, "threads": args.threads,
                              "torch": torch.__version__, "device": args.device}
    print(f"SAM 3 (full size), one {width}x{height} image, {args.boxes} boxes, input 1008, device {args.device},"
          f" torch {torch.__version__}, {args.threads} threads, {args.repeat} repeats")
    with tempfile.TemporaryDirectory(prefix="segkit-bench-") as tmp:
        started = time.perf_counter()
        path = random_checkpoint(Path(tmp), size="full")
        print(f"random checkpoint {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
        if "sam3" in cases:
            out["sam3"] = sam3_case(path, image, boxes, args)
            report("sam3: segkit vs Sam3Processor.set_image + predict_inst", out["sam3"], ["Sam3Processor + predict_inst"])
        if "ultralytics" in cases:
            out["ultralytics"] = ultralytics_case(path, image, boxes, args)
            report("ultralytics-sam3: segkit vs Ultralytics", out["ultralytics"], ["SAM(file)(image, bboxes)"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
