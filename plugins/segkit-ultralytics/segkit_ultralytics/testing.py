"""Offline test helpers: Ultralytics' SAM 2.1 architectures with random weights, saved as the official files.

    from segkit_ultralytics.testing import offline_segmenter
    with offline_segmenter("ultralytics-sam2.1-b", tmp_path) as segmenter:
        segmenter.load()

Each architecture is built once per process (Ultralytics' own builder, chosen by file name as in real use)
and hard-linked into each test's folder. Nothing is downloaded. The offline segmenter runs at a reduced
``imgsz`` (``OFFLINE_IMGSZ``), an ordinary Ultralytics setting, through the same code path as 1024.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any, ContextManager
from unittest import mock

from segkit.testing import backend_entry
from segkit_torch.testing import BuildOnce, link
from segkit_ultralytics.backend import UltralyticsOptions, UltralyticsSegmenter, keep_ultralytics_offline
from segkit_ultralytics.models import MODELS

__all__ = ["OFFLINE_IMGSZ", "link", "offline_env", "offline_segmenter", "official_name", "random_weights"]

OFFLINE_IMGSZ = 128

_weights = BuildOnce("segkit-ultralytics-random-")


def official_name(size: str, version: str = "2.1") -> str:
    return MODELS[size].file if version == "2.1" else f"sam2_{size}.pt"


def random_weights(size: str, directory: Path, version: str = "2.1", name: str | None = None) -> Path:
    """``directory/<name>``: random-weight SAM ``version`` ``size`` weights as ``{"model": state_dict}`` (the
    format of Meta's checkpoints, which Ultralytics reads too). ``name`` defaults to the official file name."""
    source = _weights.get((version, size), lambda folder: _build(size, version, folder))
    return link(source, Path(directory) / (name or official_name(size, version)))


def offline_env(directory: Path, imgsz: int = OFFLINE_IMGSZ) -> dict[str, str]:
    """Environment variables that point every ultralytics-sam2.1-* backend at ``directory``, CPU, small input."""
    return {"SEGKIT_ULTRALYTICS_WEIGHTS_DIR": str(directory), "SEGKIT_ULTRALYTICS_DEVICE": "cpu", "SEGKIT_ULTRALYTICS_IMGSZ": str(imgsz)}


def offline_segmenter(name: str, workdir: Path, imgsz: int = OFFLINE_IMGSZ, **options: Any) -> ContextManager[UltralyticsSegmenter]:
    """A ready, not yet loaded segmenter for backend ``name`` with random weights in ``workdir``, on the CPU;
    ``with`` closes it (ultralytics-sam3: see ``sam3_testing``)."""
    from segkit_ultralytics import sam3_testing

    if name == sam3_testing.BACKEND:
        return sam3_testing.offline_segmenter(name, workdir, **options)
    entry = backend_entry(name)
    random_weights(entry.params["size"], Path(workdir))
    return closing(entry.create(UltralyticsOptions(weights_dir=Path(workdir), device="cpu", imgsz=imgsz, **options)))


def _build(size: str, version: str, folder: Path) -> Path:
    keep_ultralytics_offline()
    import torch
    from ultralytics.models.sam import build

    # Ultralytics builds SAM 2.1 (rather than 2.0) only when asked to load a file whose path says "sam2.1", and
    # then loads it. Build from the official name with loading switched off: the architecture Ultralytics
    # would build for that file, with its random initial weights.
    torch.manual_seed(0)
    with mock.patch.object(build, "_load_checkpoint", lambda model, checkpoint: model):
        model = build.build_sam(str(folder / official_name(size, version)))
    path = folder / f"random-sam{version}-{size}.pt"
    torch.save({"model": model.state_dict()}, path)
    return path
