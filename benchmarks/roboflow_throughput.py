"""Images per second of the Roboflow backends at concurrency 1 and at the default, against the loopback
test server answering every request after a fixed delay (a stand-in for the hosted API's latency).

The server runs in its own process (``python -m segkit_roboflow.testing --delay S``) so that its work
does not compete with the client for the GIL. Two ways of driving the backends:

* segment: ``segmenter.segment()`` from a pool of ``max_concurrency`` threads, as segkit's runner calls
  it (each backend gets its own pool of that size): the backend's own throughput;
* cli: ``segkit run`` end to end (PNG decode, masks, panels and JSON written), its own images/s line.

SAM2 sends one request per image; SAM3 one per box, and ``concurrency`` caps the requests in flight,
so the ideal rates are concurrency / delay (SAM2) and concurrency / (boxes * delay) (SAM3).

    .venv/bin/python benchmarks/roboflow_throughput.py [--delay 0.2] [--images 24] [--size 640x480]
        [--backends roboflow-sam2-large roboflow-sam3] [--modes segment cli] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from segkit_roboflow.options import RoboflowOptions

from segkit.plugins.host import get_host
from segkit.testing import SAMPLE_BOXES, SAMPLE_SIZE, sample_image, write_sample_dataset

DEFAULT_CONCURRENCY = RoboflowOptions().concurrency


def start_server(delay: float) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen([sys.executable, "-m", "segkit_roboflow.testing", "--delay", str(delay)],
                               stdout=subprocess.PIPE, text=True)
    url, key = process.stdout.readline().split()
    return process, url, key


def by_segment(backend: str, concurrency: int, url: str, key: str, images: int, size: tuple[int, int]) -> float:
    boxes = write_boxes(size)
    segmenter = get_host().backend(backend).create(RoboflowOptions(api_url=url, api_key=key, concurrency=concurrency))
    segmenter.load()
    try:
        pictures = [sample_image(seed=i, size=size) for i in range(images)]
        segmenter.segment(pictures[0], boxes)  # warm up: connections, first-call costs
        started = time.perf_counter()
        with ThreadPoolExecutor(segmenter.max_concurrency) as pool:
            list(pool.map(lambda picture: segmenter.segment(picture, boxes), pictures))
        return images / (time.perf_counter() - started)
    finally:
        segmenter.close()


def write_boxes(size: tuple[int, int]) -> np.ndarray:
    """The sample boxes scaled to ``size``, as write_sample_dataset scales them for the CLI runs."""
    scale = np.array([size[0] / SAMPLE_SIZE[0], size[1] / SAMPLE_SIZE[1]] * 2, dtype=np.float32)
    return SAMPLE_BOXES * scale


def by_cli(backend: str, concurrency: int, url: str, key: str, images: int, size: tuple[int, int]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data = write_sample_dataset(Path(tmp) / "data", n_images=images, size=size)
        command = [sys.executable, "-m", "segkit", "run", "--backend", backend, "--images", str(data.images),
                   "--detections", str(data.detections), "--out", str(Path(tmp) / "out"), "--conf", "0",
                   "-O", f"roboflow.api_url={url}", "-O", f"roboflow.concurrency={concurrency}"]
        env = {**os.environ, "ROBOFLOW_API_KEY": key, "COLUMNS": "200"}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"segkit run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        match = re.search(r"([\d.]+) images/s", done.stdout)
        if not match:
            raise SystemExit(f"no images/s in segkit's output:\n{done.stdout}")
        return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.2, help="server delay per request, seconds (default 0.2)")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", default="640x480", help="WxH of the synthetic images (3 boxes each)")
    parser.add_argument("--backends", nargs="+", default=["roboflow-sam2-large", "roboflow-sam3"])
    parser.add_argument("--modes", nargs="+", default=["segment", "cli"], choices=["segment", "cli"])
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    boxes = len(write_boxes((width, height)))
    process, url, key = start_server(args.delay)
    rows = []
    try:
        print(f"server delay {args.delay:g} s per request, {args.images} images of {width}x{height}, {boxes} boxes each;"
              f" default concurrency {DEFAULT_CONCURRENCY}; {os.cpu_count()} CPUs")
        print(f"{'backend':<22}{'mode':<9}{'concurrency':>12}{'images/s':>10}{'ideal':>8}{'speed-up':>10}")
        for backend in args.backends:
            requests_per_image = boxes if backend == "roboflow-sam3" else 1
            for mode in args.modes:
                measure = by_segment if mode == "segment" else by_cli
                rates = {}
                for concurrency in (1, DEFAULT_CONCURRENCY):
                    rates[concurrency] = measure(backend, concurrency, url, key, args.images, (width, height))
                    ideal = concurrency / (requests_per_image * args.delay)
                    speedup = rates[concurrency] / rates[1]
                    print(f"{backend:<22}{mode:<9}{concurrency:>12}{rates[concurrency]:>10.2f}{ideal:>8.2f}{speedup:>9.2f}x")
                    rows.append({"backend": backend, "mode": mode, "concurrency": concurrency, "delay_s": args.delay,
                                 "images_per_s": round(rates[concurrency], 3), "ideal_images_per_s": round(ideal, 3)})
    finally:
        process.terminate()
        process.wait(timeout=10)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
