"""Object storage: --images, --detections and --out as s3:// URLs, against moto's S3 server on loopback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cluster_helpers import assert_same_outputs, clear_storage_caches
from typer.testing import CliRunner

from segkit.cli import app
from segkit.storage import as_location, is_remote

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BACKENDS = ["--backend", "mock", "--backend", "mock-ellipse"]


def run(*args: str):
    return CliRunner().invoke(app, ["run", *args])


def test_locations_are_paths_unless_they_are_urls(s3_server):
    assert as_location("photos/a") == Path("photos/a") and isinstance(as_location("photos/a"), Path)
    assert as_location("file:///data/photos") == Path("/data/photos")
    remote = as_location("s3://bucket/photos/")
    assert is_remote(remote) and not isinstance(remote, Path)
    assert (remote / "a.jpg").name == "a.jpg" and (remote / "a.jpg").stem == "a"
    assert not is_remote(Path("s3-looking")) and not is_remote("s3://as/text")


def test_a_run_reads_and_writes_s3_and_writes_what_a_local_run_writes(s3_server, tmp_path):
    s3_server.bucket("photos-in")
    s3_server.bucket("masks-out")
    images = s3_server.upload(EXAMPLES / "images", "photos-in", "set1/images")
    dets = s3_server.upload(EXAMPLES / "detections", "photos-in", "set1/dets")
    common = ["--images", images, "--detections", dets, *BACKENDS, "--coco", "--conf", "0", "--no-html"]

    on_s3 = run(*common, "--out", "s3://masks-out/runs/a")
    assert on_s3.exit_code == 0, on_s3.output
    local = run(*common, "--out", str(tmp_path / "local"))
    assert local.exit_code == 0, local.output
    downloaded = s3_server.download("masks-out", "runs/a", tmp_path / "downloaded")
    assert assert_same_outputs(tmp_path / "local", downloaded) > 40  # masks, records, panels, report, COCO
    keys = [o["Key"] for o in s3_server.client.list_objects_v2(Bucket="masks-out")["Contents"]]
    assert not [k for k in keys if k.rsplit("/", 1)[-1].startswith(".")]  # no temporary objects, no lock

    again = run(*common[:-1], "--html", "--out", "s3://masks-out/runs/a")  # resume reads the records back from S3
    assert again.exit_code == 0 and "5 already complete" in again.output
    page = s3_server.client.get_object(Bucket="masks-out", Key="runs/a/report.html")["Body"].read().decode()
    keys = {o["Key"] for o in s3_server.client.list_objects_v2(Bucket="masks-out", Prefix="runs/a/html/")["Contents"]}
    assert "html/data/rows-0.js" in page and {"runs/a/html/data/rows-0.js", "runs/a/html/data/masks-0.js"} <= keys


@pytest.mark.parametrize("flag", ["--images", "--out"])
def test_s3_without_credentials_is_one_line_and_writes_nothing(s3_server, tmp_path, monkeypatch, flag):
    s3_server.bucket("locked")
    paths = {"--images": str(EXAMPLES / "images"), "--detections": str(EXAMPLES / "detections"), "--out": str(tmp_path / "out")}
    paths[flag] = s3_server.upload(EXAMPLES / "images", "locked", "images") if flag == "--images" else "s3://locked/out"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    clear_storage_caches()
    try:
        result = run(*[v for k, p in paths.items() for v in (k, p)], *BACKENDS)
    finally:
        clear_storage_caches()
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {flag} {paths[flag]}: no credentials for s3://")
    assert "AWS_ACCESS_KEY_ID" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert [o["Key"] for o in s3_server.client.list_objects_v2(Bucket="locked").get("Contents", [])
            if not o["Key"].startswith("images/")] == []


@pytest.mark.parametrize("flag", ["--images", "--out"])
def test_a_missing_bucket_is_one_line_and_no_bucket_is_made(s3_server, tmp_path, flag):
    paths = {"--images": str(EXAMPLES / "images"), "--detections": str(EXAMPLES / "detections"), "--out": str(tmp_path / "out")}
    paths[flag] = "s3://no-such-bucket/x"
    result = run(*[v for k, p in paths.items() for v in (k, p)], *BACKENDS)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {flag} s3://no-such-bucket/x: bucket 'no-such-bucket' does not exist")
    assert len(result.output.strip().splitlines()) == 1
    assert "no-such-bucket" not in [b["Name"] for b in s3_server.client.list_buckets()["Buckets"]]
    assert not (tmp_path / "out").exists()


def test_a_missing_prefix_in_a_bucket_says_so(s3_server, tmp_path):
    s3_server.bucket("empty-in")
    result = run("--images", "s3://empty-in/nothing", "--detections", str(EXAMPLES / "detections"),
                 "--out", str(tmp_path / "out"), *BACKENDS)
    assert result.exit_code == 2 and result.output.startswith("error: --images s3://empty-in/nothing does not exist")


def test_local_folders_are_untouched_by_the_storage_layer(tmp_path):
    """The hot path: local outputs are plain files written through a temporary name, as before."""
    from segkit.outputs.files import atomic_write_bytes

    target = tmp_path / "deep" / "a.json"
    atomic_write_bytes(target, b"{}")
    assert target.read_bytes() == b"{}" and [p.name for p in target.parent.iterdir()] == ["a.json"]
    shutil.rmtree(tmp_path / "deep")


@pytest.mark.parametrize("flag", ["--images", "--out"])
def test_a_url_without_a_bucket_is_one_line_and_writes_nothing(s3_server, tmp_path, flag):
    paths = {"--images": str(EXAMPLES / "images"), "--detections": str(EXAMPLES / "detections"), "--out": str(tmp_path / "out")}
    paths[flag] = "s3://"
    result = run(*[v for k, p in paths.items() for v in (k, p)], *BACKENDS)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {flag} s3://: no bucket in the URL; pass s3://BUCKET")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_object_store_that_refuses_the_closing_files_is_one_line(s3_server, tmp_path, monkeypatch):
    """Credentials gone by the end of a run: botocore's error (not an OSError) becomes one line, exit 1."""
    from segkit.outputs.agreement import build_report
    from segkit.outputs.layout import OutputLayout
    from segkit.errors import OutputWriteError
    from segkit.pipeline.job import RunSummary, write_run_files

    s3_server.bucket("closing")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    clear_storage_caches()
    try:
        layout = OutputLayout(as_location("s3://closing/run"))
        with pytest.raises(OutputWriteError) as caught:
            write_run_files(layout, RunSummary([], {}, 0.0), build_report([], ["mock"]), None, ["mock"])
    finally:
        clear_storage_caches()
    message = str(caught.value)
    assert message.startswith("--out s3://closing/run: no credentials for s3://") and "\n" not in message
    assert caught.value.exit_code == 1


def test_a_url_whose_storage_library_is_missing_is_one_line(tmp_path):
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here: gs:// has its library")
    result = run("--images", str(EXAMPLES / "images"), "--detections", str(EXAMPLES / "detections"), "--out", "gs://bucket/run", *BACKENDS)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: gs://bucket/run: no storage library for gs://")
    assert "gcsfs" in result.output and len(result.output.strip().splitlines()) == 1
