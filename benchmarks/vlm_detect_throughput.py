"""Images per second of `segkit detect` with the vlm detector at concurrency 1 and at the default,
against the loopback chat completions server answering every request after a fixed delay (a stand-in
for a model's latency), and segkit's own time per image with no delay (decoding the photo, the PNG
sent, the answer read, boxes converted, the file written; the server's decoding too, in its own
process). Images are sample pictures with a noisy background: PNGs of photographs are smaller.

    .venv/bin/python benchmarks/vlm_detect_throughput.py [--delay 0.5] [--images 16] [--size 1280x960]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from segkit_vlm.options import VlmOptions

from segkit.inputs.box_spaces import parse_box_space
from segkit.pipeline.detect import DetectPlan, DetectRunner
from segkit.plugins.host import get_host
from segkit.testing import sample_image


def start_server(delay: float) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen([sys.executable, "-m", "segkit_vlm.testing", "--delay", str(delay)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url, model = process.stdout.readline().split()
    return process, url, model


def rate(folder: Path, concurrency: int, delay: float) -> float:
    process, url, model = start_server(delay)
    try:
        images = sorted(folder.glob("*.png"))
        detector = get_host().detector("vlm").create(VlmOptions(model=model, api_url=url, concurrency=concurrency))
        detector.load()
        reader = get_host().reader(detector.reader).cls()
        try:
            with tempfile.TemporaryDirectory() as out:
                plan = DetectPlan(images, Path(out), "Locate every shape.", parse_box_space("qwen2.5-vl"), reader, force=True)
                started = time.perf_counter()
                summary = DetectRunner(plan, detector).run()
                seconds = time.perf_counter() - started
                assert summary.count("done") == len(images), [o.error for o in summary.outcomes]
        finally:
            detector.close()
        return len(images) / seconds
    finally:
        process.stdin.close()  # the server stops when its stdin closes
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", default="1280x960")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    default = VlmOptions().concurrency
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.images):
            Image.fromarray(sample_image(seed=i, size=(width, height))).save(folder / f"{i:03d}.png")
        own = rate(folder, 1, 0.0)
        print(f"segkit's own work and the server's decoding, no delay, {width}x{height}: {1000 / own:.0f} ms per image")
        for concurrency in (1, default):
            print(f"server answering after {args.delay:g} s, concurrency {concurrency}:"
                  f" {rate(folder, concurrency, args.delay):.2f} images/s (ideal {concurrency / args.delay:.2f})")


if __name__ == "__main__":
    main()
