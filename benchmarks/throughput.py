"""Is the model the limit? The whole `segkit run` command, as users type it, against a backend of fixed latency.

Makes photo-like 1280x960 JPEGs with 10 boxes each, then runs `python -m segkit run -b mock -O
mock.latency_ms=L ...` (the mock sleeps L ms per image with the GIL released, as a GPU call does) as a
fresh process per measurement, over 20 images and over all of them:

* marginal images/s: the extra images over the extra wall time (N - 20) / (wall(N) - wall(20)), so that
  start-up (imports, loading) cancels out; ratio: that over the baseline;
* the baseline, measured in the same run: the same backend called in a plain loop on decoded images,
  i.e. the most any framework could get from it on this machine (close to 1000 / L);
* CPU ms per image: the child process's user + system time, marginal in the same way;
* the page's share of the wall time: 1 - wall(--no-html) / wall(with the page), over all images;
* peak RSS over 20 images and over all of them (memory must not grow with the dataset);
* the Ray engine (`--engine ray`, one machine) against the local engine, marginal rate, at 15 ms.

Outputs: default (mask PNGs, panels, the page) and lean (`--mask-format rle --panels none`).

    .venv/bin/python benchmarks/throughput.py [--images 300] [--latency 5 15 40] [--size 1280x960] [--boxes 10] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SMALL = 20
LEAN = ["--mask-format", "rle", "--panels", "none"]


def make_data(root: Path, n: int, size: tuple[int, int], n_boxes: int) -> None:
    """Photo-like JPEGs (smooth colour fields, edges, sensor noise) and Qwen JSON detections."""
    import cv2

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "dets").mkdir()
    w, h = size
    for i in range(n):
        base = cv2.resize(rng.integers(0, 255, (h // 64, w // 64, 3), dtype=np.uint8), size, interpolation=cv2.INTER_CUBIC)
        for _ in range(6):
            cv2.ellipse(base, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), (int(rng.uniform(20, 200)), int(rng.uniform(20, 200))),
                        0, 0, 360, tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        noisy = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / "images" / f"img{i:03d}.jpg", quality=90)
        dets = []
        for j in range(n_boxes):
            x1, y1 = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
            dets.append({"bbox_xyxy_norm": [x1, y1, x1 + rng.uniform(0.1, 0.3), y1 + rng.uniform(0.1, 0.3)],
                         "label_ja": f"物体{j}", "confidence": 0.9})
        (root / "dets" / f"img{i:03d}.json").write_text(json.dumps({"detections": dets}, ensure_ascii=False), encoding="utf-8")


@dataclass
class Run:
    wall: float
    cpu: float  # user + system seconds of the child
    rss_mb: float


def command(root: Path, latency: float, extra: list[str], limit: int | None, backends: tuple[str, ...] = ("mock",)) -> Run:
    """One `segkit run` as a child process, timed as a whole (the output folder is fresh each time)."""
    out = root / "out"
    shutil.rmtree(out, ignore_errors=True)
    args = [sys.executable, "-m", "segkit", "run", *[a for b in backends for a in ("-b", b)], "-i", str(root / "images"),
            "-d", str(root / "dets"), "-o", str(out), "--conf", "0", "-O", f"mock.latency_ms={latency}", *extra]
    if limit:
        args += ["--limit", str(limit)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGKIT_")}  # the defaults, as a new user has them
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=root)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    err = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"segkit run failed ({' '.join(args)}):\n{err[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def marginal(root: Path, latency: float, extra: list[str], n: int) -> tuple[float, float, Run, Run]:
    """(images/s, CPU ms per image) between SMALL images and all n, and both runs."""
    small = command(root, latency, extra, SMALL)
    large = command(root, latency, extra, None)
    extra_images = n - SMALL
    return extra_images / (large.wall - small.wall), 1000 * (large.cpu - small.cpu) / extra_images, small, large


def baseline(root: Path, latency: float, n: int = 60) -> float:
    """Images/s of the backend alone: the mock called in a loop on images decoded beforehand."""
    from segkit.inputs.images import load_rgb
    from segkit.plugins.mock import MockOptions, MockSegmenter

    images = [load_rgb(p) for p in sorted((root / "images").iterdir())[:n]]
    boxes = np.array([[100, 100, 400, 300]] * 10, dtype=np.float32)
    mock = MockSegmenter("mock", MockOptions(latency_ms=latency))
    started = time.perf_counter()
    for image in images:
        mock.segment(image, boxes)
    return len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--latency", type=float, nargs="+", default=[5.0, 15.0, 40.0])
    parser.add_argument("--size", default="1280x960")
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray engine's line")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root, args.images, size, args.boxes)
        print(f"{args.images} images {size[0]}x{size[1]}, {args.boxes} boxes, backend mock with a fixed latency,"
              f" {len(os.sched_getaffinity(0))} cores; the whole `segkit run` command per measurement")
        print(f"{'latency':>8} {'outputs':>8} {'baseline/s':>10} {'segkit/s':>9} {'ratio':>6} {'cpu ms/img':>10}"
              f" {'wall s':>7} {'page share':>10}")
        at15: dict[str, Run] = {}
        for latency in args.latency:
            base = baseline(root, latency)
            for label, flags in (("default", []), ("lean", LEAN)):
                rate, cpu, small, large = marginal(root, latency, flags, args.images)
                without = command(root, latency, [*flags, "--no-html"], None)
                share = max(0.0, 1 - without.wall / large.wall)
                print(f"{latency:>6.0f}ms {label:>8} {base:>10.1f} {rate:>9.1f} {rate / base:>6.2f} {cpu:>10.1f}"
                      f" {large.wall:>7.2f} {share:>9.1%}")
                if latency == 15.0 and label == "default":
                    at15 = {"small": small, "large": large, "rate": rate}  # type: ignore[dict-item]
        if at15:
            small, large = at15["small"], at15["large"]
            print(f"peak RSS, default outputs at 15 ms: {small.rss_mb:.0f} MB for {SMALL} images, {large.rss_mb:.0f} MB for"
                  f" {args.images} ({large.rss_mb / small.rss_mb:.2f}x)")
            if not args.no_ray:
                rate, cpu, _, _ = marginal(root, 15.0, ["--engine", "ray"], args.images)
                local = at15["rate"]
                print(f"Ray engine (one machine) at 15 ms, default outputs: {rate:.1f} images/s, {cpu:.1f} CPU ms/img"
                      f" (child process only; Ray's workers are other processes) = {rate / local:.2f} of the local"
                      f" engine's {local:.1f}")


if __name__ == "__main__":
    main()
