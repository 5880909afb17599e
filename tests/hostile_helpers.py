"""Running `segkit` as a hostile input's user would, under a memory cap (tests/test_hostile_*.py)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

CAP = 768 * 2**20  # what a reader may map beyond the imports; the inputs below ask for gigabytes

# The CLI under a memory cap: the cap is set after the imports, so that it bounds what the command does.
CAPPED_CLI = textwrap.dedent("""
    import resource, sys
    from segkit.cli import main
    import segkit.evaluation.folder, segkit.evaluation.ground_truth.coco, segkit.evaluation.ground_truth.instance_pngs
    import segkit.evaluation.ground_truth.semantic, pycocotools.mask, PIL.PngImagePlugin, yaml
    mapped = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (mapped + int(sys.argv[1]), resource.RLIM_INFINITY))
    sys.exit(main(sys.argv[2:]))
""")


def capped(*args, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEGKIT_HTML": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CAPPED_CLI, str(CAP), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def lines_of(done: subprocess.CompletedProcess, tag: str = "error:") -> list[str]:
    """The command's problem lines; it must have ended on its own, with no traceback and no MemoryError."""
    assert done.returncode in (1, 2), (done.returncode, done.stdout, done.stderr)
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "MemoryError" not in output, output
    return [" ".join(line.split()) for line in output.splitlines() if line.startswith(tag)]


def header_only_png(width: int, height: int, depth: int = 8) -> bytes:
    """A greyscale PNG whose header says width x height and which holds no pixel data at all."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)) + chunk(b"IEND", b"")
