"""Offline test helpers: Ultralytics' SAM 2.1 architectures with random weights, saved as the official files.

    from segkit_ultralytics.testing import offline_segmenter
    with offline_segmenter("ultralytics-sam2.1-b", tmp_path) as segmenter:
        segmenter.load()

Each architecture is built once per process (Ultralytics' own builder, chosen by file name as in real use)
and hard-linked into each test's folder. Nothing is downloaded. The offline segmenter runs at a reduced
``imgsz`` (``OFFLINE_IMGSZ``), an ordinary Ultralytics setting, through the same code path as 1024.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

from segkit_torch.testing import BuildOnce, link
from segkit_ultralytics.backend import UltralyticsOptions, UltralyticsSam2Segmenter, keep_ultralytics_offline
from segkit_ultralytics.models import MODELS, UltralyticsModel

__all__ = ["OFFLINE_IMGSZ", "link", "model_for", "offline_env", "offline_segmenter", "official_name", "random_weights"]

OFFLINE_IMGSZ = 128

_weights = BuildOnce("segkit-ultralytics-random-")


def model_for(name: str) -> UltralyticsModel:
    for model in MODELS.values():
        if name == model.backend:
            return model
    raise KeyError(f"{name!r} is not an ultralytics backend; known: {', '.join(m.backend for m in MODELS.values())}")


def official_name(size: str, version: str = "2.1") -> str:
    return MODELS[size].weights if version == "2.1" else f"sam2_{size}.pt"


def random_weights(size: str, directory: Path, version: str = "2.1", name: str | None = None) -> Path:
    """``directory/<name>``: random-weight SAM ``version`` ``size`` weights as ``{"model": state_dict}`` (the
    format of Meta's checkpoints, which Ultralytics reads too). ``name`` defaults to the official file name."""
    source = _weights.get((version, size), lambda folder: _build(size, version, folder))
    return link(source, Path(directory) / (name or official_name(size, version)))


def offline_env(directory: Path, imgsz: int = OFFLINE_IMGSZ) -> dict[str, str]:
    """Environment variables that point every ultralytics-sam2.1-* backend at ``directory``, CPU, small input."""
    return {"SEGKIT_ULTRALYTICS_WEIGHTS_DIR": str(directory), "SEGKIT_ULTRALYTICS_DEVICE": "cpu", "SEGKIT_ULTRALYTICS_IMGSZ": str(imgsz)}


@contextmanager
def offline_segmenter(name: str, workdir: Path, imgsz: int = OFFLINE_IMGSZ, **options: Any) -> Iterator[UltralyticsSam2Segmenter]:
    """A ready, not yet loaded segmenter for backend ``name`` with random-weight weights in ``workdir``."""
    from segkit_ultralytics import sam3_testing

    if name == sam3_testing.BACKEND:
        with sam3_testing.offline_segmenter(name, workdir, **options) as segmenter:
            yield segmenter
        return
    model = model_for(name)
    random_weights(model.size, Path(workdir))
    settings = UltralyticsOptions(weights_dir=Path(workdir), device="cpu", imgsz=imgsz, **options)
    segmenter = UltralyticsSam2Segmenter(name, settings, size=model.size)
    try:
        yield segmenter
    finally:
        segmenter.close()


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
