"""Offline test helpers: real SAM 2.1 architectures with random weights, saved as the official files.

    from segkit_sam2.testing import offline_segmenter
    with offline_segmenter("sam2-large", tmp_path) as segmenter:
        segmenter.load()
        result = segmenter.segment(image, boxes)

Building a model and saving its checkpoint takes seconds (large: ~900 MB), so each architecture is built
once per process and hard-linked into each test's folder. Nothing is downloaded. The offline segmenter
runs at a reduced input size (``OFFLINE_IMAGE_SIZE``) through the same code path as the official 1024.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any, ContextManager

from segkit.testing import backend_entry
from segkit_sam2.backend import Sam2Options, Sam2Segmenter
from segkit_sam2.models import MODELS
from segkit_torch.testing import BuildOnce, link

__all__ = ["OFFLINE_IMAGE_SIZE", "SAM2_0", "link", "offline_env", "offline_segmenter", "random_checkpoint"]

OFFLINE_IMAGE_SIZE = 128

# SAM 2.0, for tests of a checkpoint that does not match: config inside the sam2 package, official file name.
SAM2_0 = {
    "tiny": ("configs/sam2/sam2_hiera_t.yaml", "sam2_hiera_tiny.pt"),
    "small": ("configs/sam2/sam2_hiera_s.yaml", "sam2_hiera_small.pt"),
    "base_plus": ("configs/sam2/sam2_hiera_b+.yaml", "sam2_hiera_base_plus.pt"),
    "large": ("configs/sam2/sam2_hiera_l.yaml", "sam2_hiera_large.pt"),
}

_checkpoints = BuildOnce("segkit-sam2-random-")


def random_checkpoint(size: str, directory: Path, version: str = "2.1", name: str | None = None) -> Path:
    """``directory/<name>``: a random-weight SAM ``version`` hiera ``size`` checkpoint, in sam2's format
    (``{"model": state_dict}``). ``name`` defaults to the official file name of that model."""
    source = _checkpoints.get((version, size), lambda folder: _build(size, version, folder))
    official = MODELS[size].file if version == "2.1" else SAM2_0[size][1]
    return link(source, Path(directory) / (name or official))


def offline_env(directory: Path, image_size: int = OFFLINE_IMAGE_SIZE) -> dict[str, str]:
    """Environment variables that point every sam2-* backend at ``directory``, on the CPU, reduced size."""
    return {
        "SEGKIT_SAM2_CHECKPOINT_DIR": str(directory),
        "SEGKIT_SAM2_DEVICE": "cpu",
        "SEGKIT_SAM2_IMAGE_SIZE": str(image_size),
    }


def offline_segmenter(name: str, workdir: Path, image_size: int = OFFLINE_IMAGE_SIZE, **options: Any) -> ContextManager[Sam2Segmenter]:
    """A ready, not yet loaded segmenter for backend ``name`` (or an alias) with a random-weight checkpoint in
    ``workdir``, on the CPU; ``with`` closes it."""
    entry = backend_entry(name)
    random_checkpoint(entry.params["size"], Path(workdir))
    return closing(entry.create(Sam2Options(checkpoint_dir=Path(workdir), device="cpu", image_size=image_size, **options)))


def _build(size: str, version: str, folder: Path) -> Path:
    import torch
    from sam2.build_sam import build_sam2

    config = MODELS[size].config if version == "2.1" else SAM2_0[size][0]
    torch.manual_seed(0)
    model = build_sam2(config, ckpt_path=None, device="cpu")  # no checkpoint: random weights, on purpose
    path = folder / f"random-sam{version}-{size}.pt"
    torch.save({"model": model.state_dict()}, path)
    return path
