"""A local S3 and a local Ray for the tests, once per session, and a check that two output folders match.

``s3_server``: moto's S3 server on 127.0.0.1 (a real HTTP server speaking the S3 wire format), with
``AWS_*`` pointed at it for the session. ``ray_cluster``: a small local Ray (2 CPUs, no dashboard),
started after ``s3_server`` so that its workers inherit the same environment, as a cluster's nodes
have their own credentials.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

TIMING_KEYS = {"seconds", "seconds_per_image"}  # the only fields two engines may write differently


@dataclass
class S3:
    endpoint: str
    client: Any  # boto3 S3 client

    def bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name

    def upload(self, folder: Path, bucket: str, prefix: str) -> str:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.client.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(folder).as_posix()}", Body=path.read_bytes())
        return f"s3://{bucket}/{prefix}"

    def download(self, bucket: str, prefix: str, folder: Path) -> Path:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
        for page in pages:
            for item in page.get("Contents", []):
                target = folder / item["Key"][len(prefix) + 1:]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        return folder


def clear_storage_caches() -> None:
    """fsspec keeps one S3 filesystem per set of arguments, with the credentials it found first."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    clear_storage_caches()
    try:
        yield S3(env["AWS_ENDPOINT_URL"], boto3.client("s3"))
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        clear_storage_caches()


@pytest.fixture(scope="session")
def ray_cluster(s3_server) -> Iterator[None]:
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=150 * 2**20, logging_level=logging.WARNING,
             log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


# -- comparing outputs ----------------------------------------------------------------------------


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _csv_without_timings(data: bytes) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def output_files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".segkit.lock"}


def assert_same_outputs(a: Path, b: Path) -> int:
    """Two output folders hold the same files with the same contents, timings apart; returns the count."""
    import cv2

    files_a, files_b = output_files(a), output_files(b)
    assert sorted(files_a) == sorted(files_b)
    for name, path in files_a.items():
        left, right = path.read_bytes(), files_b[name].read_bytes()
        if name.endswith(".json"):
            assert _without_timings(json.loads(left)) == _without_timings(json.loads(right)), name
        elif name.endswith(".csv"):
            assert _csv_without_timings(left) == _csv_without_timings(right), name
        elif name.endswith(".png"):
            pixels = [cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_UNCHANGED) for d in (left, right)]
            assert pixels[0] is not None and np.array_equal(pixels[0], pixels[1]), name
        else:
            assert left == right, name
    return len(files_a)
