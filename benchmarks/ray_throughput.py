"""The Ray engine against the local one: the same job, a backend of fixed latency, images/s and overhead.

Makes the photo-like JPEGs of ``throughput.py`` (1280x960, 10 boxes each), then runs ``segkit.run_job``
with the ``mock`` backend sleeping ``latency`` ms per image (GIL released, as a GPU call is):

* on the local engine (one model worker, as for one GPU: at most 1000 / latency images/s);
* on Ray (a local Ray on this machine's cores) with ``--actors`` actors, each its own model (two
  actors: at most twice that), default outputs (mask PNGs and panels);
* and both again with a backend that takes no time and lean outputs (``--mask-format rle
  --no-panels``): what is left is segkit's own work, and on Ray what moving an image through Ray's
  tasks, actors and object store costs on top of it.

Every configuration runs over N and over 2N images. Shown for the 2N run: its wall time, the time to
its first image (Ray starts its actors then: 10 to 20 s here), and images/s after that first image
(which flatters Ray a little: its tasks decode ahead while the actors start). CPU ms per image is
(CPU(2N) - CPU(N)) / N, start-up left out, where CPU counts every process of the run (this one and,
on Ray, its daemons, workers and actors, sampled every 50 ms). Ray's overhead per image is its CPU ms
per image minus the local engine's, with the 0 ms backend and lean outputs. A short run on each
engine first pays the imports.

    .venv/bin/python benchmarks/ray_throughput.py [--images N] [--latency 15] [--actors 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import make_data  # noqa: E402  (the same images and detections)


class TreeCpu:
    """CPU seconds of this process and its descendants (a local Ray's daemons, workers and actors) over a
    span, sampled every 50 ms so that processes that end during it (Ray's actors do) are counted too."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.start = self._sample()
        self.last = dict(self.start)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _sample(self) -> dict[int, float]:
        import psutil

        seen = {}
        for proc in [self.me, *self.me.children(recursive=True)]:
            try:
                seen[proc.pid] = sum(proc.cpu_times()[:2])
            except psutil.Error:
                pass
        return seen

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            self.last.update(self._sample())

    def seconds(self) -> float:
        self.stop.set()
        self.thread.join()
        self.last.update(self._sample())
        return sum(value - self.start.get(pid, 0.0) for pid, value in self.last.items())


def measure(root: Path, tag: str, latency: float, engine: str, actors: int, lean: bool, limit: int) -> dict:
    """One run over the first ``limit`` images: wall seconds, CPU seconds, seconds to the first image."""
    from segkit.config import RaySettings
    from segkit.pipeline.job import RunEvents, RunJob, run_job

    stamps: list[float] = []

    class Events(RunEvents):
        def image_done(self, outcome):
            stamps.append(time.perf_counter())

    job = RunJob(backends=["mock"], images=root / "images", detections=root / "dets", out=root / f"out-{tag}-{limit}",
                 options={"mock": {"latency_ms": latency}}, engine=engine, ray=RaySettings(actors=actors),
                 mask_format="rle" if lean else "png", panels="none" if lean else "all", limit=limit)
    cpu = TreeCpu()
    started = time.perf_counter()
    result = run_job(job, Events())
    wall = time.perf_counter() - started
    cpu = cpu.seconds()
    assert result.exit_code == 0 and len(stamps) == limit, result.summary.failures[:3]
    return {"wall": wall, "cpu": cpu, "first": stamps[0] - started}


def marginal(root: Path, tag: str, latency: float, engine: str, actors: int, lean: bool, n: int) -> dict:
    small = measure(root, tag, latency, engine, actors, lean, n)
    large = measure(root, tag, latency, engine, actors, lean, 2 * n)
    return {"wall": large["wall"], "first": large["first"], "rate": 2 * n / (large["wall"] - large["first"]),
            "cpu_ms": 1000 * (large["cpu"] - small["cpu"]) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100, help="N: runs over N and 2N images")
    parser.add_argument("--latency", type=float, default=15.0)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--size", default="1280x960")
    parser.add_argument("--boxes", type=int, default=10)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    n = args.images
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root, 2 * n, size, args.boxes)
        cores = len(os.sched_getaffinity(0))
        print(f"{n} and {2 * n} images {size[0]}x{size[1]}, {args.boxes} boxes, mock backend at {args.latency:g} ms, {cores} cores")
        measure(root, "warm", 0.0, "local", 1, False, 10)  # imports and caches, paid once
        rows = [("local", marginal(root, "local", args.latency, "local", 1, False, n)),
                ("local lean 0 ms", marginal(root, "local0", 0.0, "local", 1, True, n))]
        import ray

        ray.init(num_cpus=cores, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        try:
            measure(root, "warm-ray", 0.0, "ray", args.actors, False, 10)  # Ray's workers import segkit once
            rows += [(f"ray {args.actors} actors", marginal(root, "ray", args.latency, "ray", args.actors, False, n)),
                     ("ray lean 0 ms", marginal(root, "ray0", 0.0, "ray", 1, True, n))]
        finally:
            ray.shutdown()
        print(f"{'engine':>18} {'ceiling/s':>9} {'wall s':>7} {'first image s':>13} {'images/s after':>14} {'cpu ms/img':>10}")
        for label, r in rows:
            ceiling = "-" if "0 ms" in label else f"{1000 / args.latency * (args.actors if label.startswith('ray') else 1):.1f}"
            print(f"{label:>18} {ceiling:>9} {r['wall']:>7.1f} {r['first']:>13.1f} {r['rate']:>14.1f} {r['cpu_ms']:>10.1f}")
        local0, ray0 = rows[1][1], rows[3][1]
        print(f"Ray's overhead per image (lean outputs, 0 ms backend): {ray0['cpu_ms'] - local0['cpu_ms']:.1f} CPU ms"
              f" ({ray0['cpu_ms']:.1f} on Ray, {local0['cpu_ms']:.1f} local)")


if __name__ == "__main__":
    main()
