"""BuildOnce builds each checkpoint once per process; link hard-links files and folders into tests."""

from __future__ import annotations

import os

from segkit_torch.testing import BuildOnce, link


def test_each_key_is_built_once_and_linked_not_copied(tmp_path):
    cache = BuildOnce("segkit-torch-test-")
    calls = []

    def build(folder):
        calls.append(folder)
        path = folder / "weights.pt"
        path.write_bytes(b"\x01" * 1000)
        return path

    first = cache.get("tiny", build)
    assert cache.get("tiny", build) == first and len(calls) == 1
    cache.get("large", build)
    assert len(calls) == 2

    placed = link(first, tmp_path / "a" / "sam2.1_hiera_tiny.pt")
    assert placed.read_bytes() == first.read_bytes()
    assert os.stat(placed).st_ino == os.stat(first).st_ino  # a hard link: no copy of the bytes
    (tmp_path / "b.pt").write_text("old")
    assert link(first, tmp_path / "b.pt").read_bytes() == b"\x01" * 1000  # replaces what was there


def test_a_folder_checkpoint_is_linked_file_by_file(tmp_path):
    source = tmp_path / "built" / "hf-model"
    (source / "sub").mkdir(parents=True)
    (source / "config.json").write_text("{}")
    (source / "sub" / "model.safetensors").write_bytes(b"\x00" * 64)
    target = tmp_path / "checkpoints" / "hf" / "model"
    target.mkdir(parents=True)
    (target / "stale.bin").write_text("from an earlier test")

    link(source, target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == ["config.json", "sub", "sub/model.safetensors"]
    assert os.stat(target / "sub" / "model.safetensors").st_ino == os.stat(source / "sub" / "model.safetensors").st_ino
