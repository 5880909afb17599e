"""Paths inside records are input too (issue 23, item 8): a merged or edited record that names /dev/zero, a
file outside the output folder, '..' or a symlink out of OUT/masks/ makes its image a problem of its own,
in one line; nothing outside the output folder is read, and nothing hangs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import load, write_coco, write_images
from hostile_helpers import capped, lines_of

from segkit.outputs.mask_png import encode_mask_png

APPLE = (8, 8, 48, 40)
PLATE = (60, 4, 124, 60)


@pytest.fixture
def merged(cli, tmp_path):
    """A run of `mock` on two images, and a valid mask PNG outside the output folder."""
    write_images(cli, {"one": [(APPLE, "apple", 0.9)], "two": [(PLATE, "plate", 0.8)]})
    assert cli.run("mock").exit_code == 0
    cli.gt = write_coco(tmp_path / "gt.json", {"one": [(APPLE, "apple")], "two": [(PLATE, "plate")]})
    cli.outside = tmp_path / "outside.png"
    cli.outside.write_bytes(encode_mask_png(np.ones((64, 128), bool)))  # readable, the right size: it must still not be read
    return cli


def point_mask_at(cli, target: str) -> None:
    path = cli.out / "backends" / "mock" / "one.json"
    record = load(path)
    record["answers"][0]["mask"] = target
    path.write_text(json.dumps(record), encoding="utf-8")


def link(cli, name: str, target: Path) -> str:
    rel = f"masks/one/{name}"
    os.symlink(target, cli.out / rel)
    return rel


CASES = {
    "device": (lambda cli: "/dev/zero", "'/dev/zero' is not a path inside masks/"),
    "absolute": (lambda cli: str(cli.outside), "is not a path inside masks/"),
    "dotdot": (lambda cli: "masks/../../outside.png", "'masks/../../outside.png' is not a path inside masks/"),
    "symlink": (lambda cli: link(cli, "out.png", cli.outside), "'masks/one/out.png' leads out of masks/ (a symlink to"),
    "symlink-device": (lambda cli: link(cli, "zero.png", Path("/dev/zero")), "leads out of masks/"),
    "fifo": (lambda cli: (os.mkfifo(cli.out / "masks" / "one" / "pipe.png"), "masks/one/pipe.png")[1], "is a FIFO (named pipe), not a file segkit wrote"),
    "not-a-string": (lambda cli: "", "has neither a mask file nor an RLE mask"),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")
@pytest.mark.parametrize("case", list(CASES))
def test_eval_and_compare_refuse_a_mask_path_outside_the_masks_folder(merged, case):
    cli = merged
    target, message = CASES[case]
    point_mask_at(cli, target(cli))
    failed = lines_of(capped("eval", cli.out, "--gt", cli.gt, timeout=60), "failed:")
    assert len(failed) == 1 and failed[0].startswith("failed: one.png: ") and message in failed[0], failed
    assert load(cli.out / "eval.json")["images"] == 1  # two.png is scored
    done = capped("compare", cli.out, "--no-panels", timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert message in " ".join((done.stdout + done.stderr).split())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_record_listing_a_device_or_an_outside_file_is_redone_not_read(merged):
    """`segkit run` reads back what an image record lists to decide that the image is complete."""
    cli = merged
    os.mkfifo(cli.out / "masks" / "one" / "pipe.png")
    for stem, listed in (("one", ["/dev/zero", "masks/one/pipe.png"]), ("two", [str(cli.outside), "masks/../../outside.png"])):
        path = cli.out / "json" / f"{stem}.json"
        record = load(path)
        record["files"] += listed
        path.write_text(json.dumps(record), encoding="utf-8")
    done = capped("run", "-b", "mock", "-i", cli.images, "-d", cli.dets, "-o", cli.out, "--conf", "0", timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "2 segmented" in " ".join(done.stdout.split())  # neither was taken as complete, both redone
    assert all(not any(f.startswith("/") or ".." in f for f in load(cli.out / "json" / f"{s}.json")["files"]) for s in ("one", "two"))


def test_the_page_never_reads_the_paths_a_record_lists(merged):
    """The page is built from the records alone (their previews): a backend-record path naming /dev/zero is
    never opened, and the image is on the page with the others."""
    from segkit.html_report import write_html_report

    cli = merged
    path = cli.out / "json" / "one.json"
    record = load(path)
    record["backend_records"]["mock"] = "/dev/zero"
    path.write_text(json.dumps(record), encoding="utf-8")
    page = write_html_report(cli.out)
    index = json.loads(page.read_text(encoding="utf-8").split('type="application/json">')[1].split("</script>")[0])
    assert "one.png" in index["images"]["name"]