"""Offline test helpers for ultralytics-sam3: SAM 3 built by Ultralytics' own builder with random weights,
saved in the layout of Meta's sam3.pt (what Ultralytics reads).

    from segkit_ultralytics.sam3_testing import offline_segmenter
    with offline_segmenter("ultralytics-sam3", tmp_path) as segmenter:
        segmenter.load()

SAM 3's image encoder is big (a 446M-parameter ViT; a minute per 1008x1008 image on a 2-core CPU) and
``build_interactive_sam3`` takes no size, so while ``reduced()`` is active the builder's ViT gets 2 blocks
of width 128 (one windowed, one global, as in the full 32) instead of 32 of 1024; everything else is
Ultralytics' real SAM 3 tracker at its real size. The segmenter runs at ``imgsz`` 336 (a 24x24 patch grid,
one attention window), an ordinary Ultralytics setting, through the same code path as 1008. Built once per
process and hard-linked into each test's folder; nothing is downloaded.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

from segkit_torch.testing import BuildOnce, link
from segkit_ultralytics.backend import keep_ultralytics_offline
from segkit_ultralytics.sam3 import BACKEND, FILE, UltralyticsSam3Options, UltralyticsSam3Segmenter

OFFLINE_IMGSZ = 336
REDUCED_TRUNK = {"img_size": OFFLINE_IMGSZ, "embed_dim": 128, "depth": 2, "num_heads": 2, "global_att_blocks": (1,)}

_weights = BuildOnce("segkit-ultralytics-sam3-random-")


@contextmanager
def reduced() -> Iterator[None]:
    """While active, Ultralytics' ``build_interactive_sam3`` builds SAM 3 with the reduced ViT (see above)."""
    keep_ultralytics_offline()
    from ultralytics.models.sam import build_sam3

    vit = build_sam3.ViT
    with mock.patch.object(build_sam3, "ViT", lambda *args, **kwargs: vit(*args, **{**kwargs, **REDUCED_TRUNK})):
        yield


def official_layout(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Ultralytics' SAM3Model state dict under the names of Meta's sam3.pt (the inverse of Ultralytics' loader)."""
    renames = (
        ("image_encoder.vision_backbone.", "detector.backbone.vision_backbone."),
        ("memory_attention.", "tracker.transformer.encoder."),
        ("memory_encoder.", "tracker.maskmem_backbone."),
        ("", "tracker."),
    )
    out = {}
    for key, value in state_dict.items():
        old, new = next((old, new) for old, new in renames if key.startswith(old))
        out[new + key[len(old):]] = value
    return out


def random_weights(directory: Path, name: str = FILE) -> Path:
    """``directory/<name>``: random reduced SAM 3 weights in the layout of Meta's sam3.pt."""
    return link(_weights.get("reduced", _build), Path(directory) / name)


def offline_env(weights: Path, imgsz: int = OFFLINE_IMGSZ) -> dict[str, str]:
    """Environment variables that point ultralytics-sam3 at ``weights``, CPU, small input."""
    return {"SEGKIT_ULTRALYTICS_SAM3_WEIGHTS": str(weights), "SEGKIT_ULTRALYTICS_SAM3_DEVICE": "cpu", "SEGKIT_ULTRALYTICS_SAM3_IMGSZ": str(imgsz)}


@contextmanager
def offline_segmenter(name: str, workdir: Path, imgsz: int = OFFLINE_IMGSZ, **options: Any) -> Iterator[UltralyticsSam3Segmenter]:
    """A ready, not yet loaded ultralytics-sam3 segmenter on random weights in ``workdir``; ``reduced()`` stays
    active until the block ends (loading builds through it)."""
    if name != BACKEND:
        raise KeyError(f"{name!r} is not {BACKEND}")
    with reduced():
        path = random_weights(Path(workdir))
        segmenter = UltralyticsSam3Segmenter(name, UltralyticsSam3Options(weights=path, device="cpu", imgsz=imgsz, **options))
        try:
            yield segmenter
        finally:
            segmenter.close()


def _build(folder: Path) -> Path:
    import torch
    from ultralytics.models.sam import build_sam3

    torch.manual_seed(0)
    with reduced(), mock.patch.object(build_sam3, "_load_checkpoint", lambda model, checkpoint, interactive=False: model):
        model = build_sam3.build_interactive_sam3(str(folder / FILE))  # loading switched off: random weights
    path = folder / "random-ultralytics-sam3.pt"
    torch.save(official_layout(model.state_dict()), path)
    del model
    gc.collect()
    return path
