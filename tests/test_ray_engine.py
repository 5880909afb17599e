"""`segkit run --engine ray`: the same files as the local engine, on a local Ray (the session's `ray_cluster`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb
from cluster_helpers import assert_same_outputs, output_files
from typer.testing import CliRunner

from segkit.cli import app
from segkit.config import RaySettings
from segkit.pipeline.job import RunJob, run_job
from segkit.pipeline.backends import ActiveBackend, BackendSpec
from segkit.pipeline.ray_engine import placement

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BACKENDS = ["--backend", "mock", "--backend", "mock-ellipse"]


def run(*args) -> object:
    return CliRunner().invoke(app, ["run", *map(str, args)])


@pytest.fixture
def data(tmp_path) -> Path:
    """The shipped examples, plus an image that cannot be decoded (it must fail alone on either engine)."""
    shutil.copytree(EXAMPLES / "images", tmp_path / "images")
    shutil.copytree(EXAMPLES / "detections", tmp_path / "dets")
    # A truncated PNG: Pillow reads its header, then fails the same way in any process (junk bytes would
    # meet whatever image plugins other tests registered in this one).
    (tmp_path / "images" / "broken.png").write_bytes((EXAMPLES / "images" / "coins.png").read_bytes()[:3000])
    write_qwen(tmp_path / "dets" / "broken.json", [qwen_det((1, 1, 5, 5), (10, 10))])
    # Two actors of 0.5 CPU leave one of the test cluster's two CPUs to the decode and write tasks.
    (tmp_path / "ray.yaml").write_text("ray:\n  cpus_per_actor: 0.5\n", encoding="utf-8")
    return tmp_path


def closing_tables(output: str, out: Path) -> str:
    """A run's printed tables with the output folder, timings and line and column widths taken out."""
    text = re.sub(r"\d+\.\d+", "T", output)
    text = re.sub(r"[\s─━┃│┏┓┗┛┡┩└┘┌┐╇╈┳┻╋┼├┤]+", "", text)  # rich wraps and pads by the widest cell
    return text.replace(str(out), "OUT")


def test_ray_writes_the_files_and_tables_the_local_engine_writes(ray_cluster, data):
    common = ["--images", data / "images", "--detections", data / "dets", *BACKENDS, "--conf", "0", "--coco",
              "-O", "mock.latency_ms=20", "--config", data / "ray.yaml"]
    local = run(*common, "--out", data / "local")
    on_ray = run(*common, "--out", data / "ray", "--engine", "ray")
    assert local.exit_code == on_ray.exit_code == 1, on_ray.output  # broken.png failed, the rest is done
    assert "5 segmented, 1 failed" in on_ray.output
    assert assert_same_outputs(data / "local", data / "ray") > 60  # masks, records, panels, report, COCO, failures
    assert [f["image"] for f in json.loads((data / "ray" / "failures.json").read_text())] == ["broken.png"]
    assert closing_tables(local.stdout, data / "local") == closing_tables(on_ray.stdout, data / "ray")
    assert [line for line in on_ray.stderr.splitlines() if line.startswith(("failed:", "warning:"))] == \
        [line for line in local.stderr.splitlines() if line.startswith(("failed:", "warning:"))]


def test_resume_is_shared_between_the_engines(ray_cluster, data):
    common = ["--images", EXAMPLES / "images", "--detections", EXAMPLES / "detections", "--backend", "mock", "--conf", "0",
              "--mask-format", "rle", "--config", data / "ray.yaml"]
    run(*common, "--out", data / "out", "--limit", "2")  # a local run stopped after two images
    first = {p: p.stat().st_mtime_ns for p in (data / "out" / "json").iterdir()}
    on_ray = run(*common, "--out", data / "out", "--engine", "ray", "--limit", "4")  # Ray does two more, and stops
    assert on_ray.exit_code == 0 and "4 images, 2 segmented, 2 already complete" in on_ray.output, on_ray.output
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())  # the local run's images untouched
    local = run(*common, "--out", data / "out")  # and a local run finishes what Ray left
    assert local.exit_code == 0 and "5 images, 1 segmented, 4 already complete" in local.output, local.output
    run(*common, "--out", data / "straight")
    assert assert_same_outputs(data / "straight", data / "out")


def test_an_actor_killed_mid_run_is_restarted_and_leaves_nothing_half_written(ray_cluster, tmp_path):
    for i in range(10):
        write_rgb(tmp_path / "images" / f"img{i}.png", size=(96, 64), seed=i)
        write_qwen(tmp_path / "dets" / f"img{i}.json", [qwen_det((4, 4, 40, 30), (96, 64)), qwen_det((30, 10, 90, 60), (96, 64))])

    def job(out: str, engine: str) -> RunJob:
        return RunJob(backends=["mock"], images=tmp_path / "images", detections=tmp_path / "dets", out=tmp_path / out,
                      options={"mock": {"latency_ms": 400}}, engine=engine, ray=RaySettings(actors=1),
                      html=False)  # the page shows the run's timings

    killed: list[int] = []
    replacements: set[int] = set()

    def actors() -> list[psutil.Process]:
        found = []
        for proc in psutil.Process(os.getpid()).children(recursive=True):  # this session's Ray only
            try:
                if "BackendStage" in " ".join(proc.cmdline()):
                    found.append(proc)
            except psutil.Error:
                pass
        return found

    def masks_written() -> int:
        return len(list((tmp_path / "ray" / "masks").rglob("*.png")))

    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("run", run_job(job("ray", "ray"))))
    worker.start()
    deadline = time.monotonic() + 240
    while worker.is_alive() and time.monotonic() < deadline:
        for proc in actors():
            if not killed and masks_written() >= 4:  # mid-run: two images' masks written, eight to go
                proc.send_signal(signal.SIGKILL)
                killed.append(proc.pid)
            elif killed and proc.pid != killed[0]:
                replacements.add(proc.pid)
        time.sleep(0.05)
    worker.join(timeout=5)
    assert killed and replacements, (killed, replacements)  # one actor killed, another started in its place
    summary = result["run"].summary
    # The killed actor's batch is redone: an image it had already written whole is found complete then, and
    # is counted as skipped (as a resumed run counts it), not segmented again.
    redone = summary.count("skipped")
    assert summary.count("done") + redone == 10 and redone <= 4 and not summary.failures
    assert summary.backends["mock"].images == 10 - redone
    assert not [p for p in output_files(tmp_path / "ray") if p.rsplit("/", 1)[-1].startswith(".")]  # no temporaries
    run_job(job("local", "local"))
    assert assert_same_outputs(tmp_path / "local", tmp_path / "ray")


def test_ray_reads_and_writes_s3(ray_cluster, s3_server, tmp_path):
    s3_server.bucket("ray-in")
    s3_server.bucket("ray-out")
    images = s3_server.upload(EXAMPLES / "images", "ray-in", "images")
    dets = s3_server.upload(EXAMPLES / "detections", "ray-in", "dets")
    common = ["--images", images, "--detections", dets, *BACKENDS, "--conf", "0", "--no-html"]
    on_ray = run(*common, "--engine", "ray", "--out", "s3://ray-out/run")
    assert on_ray.exit_code == 0, on_ray.output
    assert run(*common, "--out", tmp_path / "local").exit_code == 0
    assert assert_same_outputs(tmp_path / "local", s3_server.download("ray-out", "run", tmp_path / "got")) > 40


def test_an_unreachable_ray_address_is_one_line_and_writes_nothing(tmp_path):
    with socket_closed_port() as port:
        result = run("--images", EXAMPLES / "images", "--detections", EXAMPLES / "detections", "--out", tmp_path / "out",
                     "--backend", "mock", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: --ray-address 127.0.0.1:{port}: nothing answers at 127.0.0.1:{port};")
    assert "ray start --head" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_ray_not_installed_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the extra
    result = run("--images", EXAMPLES / "images", "--detections", EXAMPLES / "detections", "--out", tmp_path / "out",
                 "--backend", "mock", "--engine", "ray")
    assert result.exit_code == 2
    assert result.output == "error: --engine ray needs Ray, which is not installed here: pip install 'segkit[ray]', or use --engine local\n"
    assert not (tmp_path / "out").exists()


def test_engine_flags_need_the_ray_engine(tmp_path):
    result = run("--images", EXAMPLES / "images", "--detections", EXAMPLES / "detections", "--out", tmp_path / "out",
                 "--backend", "mock", "--actors", "2")
    assert result.exit_code == 2 and result.output.startswith("error: --ray-address, --actors and --gpus-per-actor need --engine ray")
    result = run("--images", EXAMPLES / "images", "--detections", EXAMPLES / "detections", "--backend", "mock", "--engine", "spark")
    assert result.exit_code == 2 and result.output.startswith("error: --engine 'spark' is not one of local, ray")


class _Backend:
    def __init__(self, concurrency: int):
        self.max_concurrency = concurrency


def backends(*concurrency: int) -> list[ActiveBackend]:
    return [ActiveBackend(BackendSpec(f"b{i}"), _Backend(c)) for i, c in enumerate(concurrency)]  # type: ignore[arg-type]


@pytest.mark.parametrize("settings, concurrency, gpus, cpus, expected", [
    ({}, (1,), 4.0, 32.0, [(4, 1.0, 1.0)]),  # a model backend: one actor per GPU
    ({}, (1, 1), 1.0, 32.0, [(1, 0.5, 1.0), (1, 0.5, 1.0)]),  # two models share one GPU
    ({}, (1, 1), 4.0, 32.0, [(2, 1.0, 1.0), (2, 1.0, 1.0)]),
    ({}, (1, 8), 2.0, 32.0, [(2, 1.0, 1.0), (1, 0.0, 1.0)]),  # a remote API backend runs on CPU actors
    ({}, (1,), 0.0, 32.0, [(1, 0.0, 1.0)]),  # no GPUs: one CPU actor
    ({}, (1, 1), 0.0, 2.0, [(1, 0.0, 0.5), (1, 0.0, 0.5)]),  # a small cluster: half the CPUs to the actors
    ({"actors": 3, "gpus_per_actor": 0.25, "cpus_per_actor": 2}, (1,), 1.0, 8.0, [(3, 0.25, 2.0)]),
    ({"gpus_per_actor": 0.5}, (1,), 2.0, 32.0, [(4, 0.5, 1.0)]),
])
def test_placement_shares_the_gpus_and_cpus_among_the_backends(settings, concurrency, gpus, cpus, expected):
    shares = placement(RaySettings(**settings), backends(*concurrency), gpus, cpus).values()
    assert [(s.actors, s.gpus, s.cpus) for s in shares] == expected


def test_the_core_imports_no_ray_and_no_object_store_library(tmp_path):
    code = (
        "import sys\nfrom pathlib import Path\nfrom segkit.pipeline.job import RunJob, run_job\n"
        f"run_job(RunJob(backends=['mock'], images=Path({str(EXAMPLES / 'images')!r}), detections=Path({str(EXAMPLES / 'detections')!r}),"
        f" out=Path({str(tmp_path / 'out')!r})))\n"
        "print(','.join(m for m in ('ray', 'upath', 'fsspec', 's3fs', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


class socket_closed_port:
    """A loopback port that nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        pass
