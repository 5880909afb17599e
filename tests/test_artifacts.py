"""Output files: written whole or not at all, named safely."""

import os

import pytest

from segkit.outputs.files import atomic_write_bytes
from segkit.outputs.layout import safe_label


def test_a_crash_before_the_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "record.json"
    target.write_bytes(b"old, complete")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old, complete"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


@pytest.mark.parametrize(
    "label, safe",
    [("りんご", "りんご"), ("../../etc/passwd", "etc_passwd"), ("a/b\\c:d", "a_b_c_d"), ("", "item"), ("...", "item"),
     ("x" * 60, "x" * 40)],
)
def test_safe_label(label, safe):
    assert safe_label(label) == safe
