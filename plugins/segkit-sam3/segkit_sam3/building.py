"""Building SAM 3 with Meta's own ``build_sam3_image_model``, on any device. Imports torch.

sam3 0.1.x creates a few cached tensors on a hard-coded ``"cuda"`` while the model is constructed (the
sine position encodings of the vision neck and tracker, the detector decoder's coordinates;
facebookresearch/sam3#587). On a machine without CUDA that raises, and with ``device=cpu`` or ``cuda:1``
the caches end up on another device than the model. ``OnDevice`` makes those constructors put the tensors
on the device the model will run on instead; nothing else about the build changes.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode


class OnDevice(TorchFunctionMode):
    """While active, a torch call asking for ``device="cuda"`` gets ``target`` instead; counts how often."""

    def __init__(self, target: torch.device):
        super().__init__()
        self.target = torch.device(target)
        self.redirected = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        requested = kwargs.get("device")
        if requested is not None and self._is_other_cuda(requested):
            kwargs = {**kwargs, "device": self.target}
            self.redirected += 1
        return func(*args, **kwargs)

    def _is_other_cuda(self, requested: Any) -> bool:
        try:
            device = torch.device(requested)
        except (TypeError, RuntimeError):
            return False
        return device.type == "cuda" and device != self.target


def build(checkpoint: Path, vocabulary: Path, device: torch.device, interactive: bool = True) -> Any:
    """Meta's SAM 3 image model, with its instance-interactive head (SAM 1/2-style box prompts) unless
    ``interactive`` is False (concept prompts need only the detector), weights from ``checkpoint``, never from the hub, moved to ``device`` in eval mode.

    sam3 loads checkpoints with ``strict=False`` and prints the keys it did not find instead of raising;
    that print is swallowed here because the caller checks the file itself (``checkpoints.missing_for_boxes``)
    and says in one line what is wrong.
    """
    from sam3.model_builder import build_sam3_image_model

    with OnDevice(device), contextlib.redirect_stdout(io.StringIO()):
        model = build_sam3_image_model(
            bpe_path=str(vocabulary),
            device="cpu",  # sam3 moves only to the exact string "cuda"; the caller moves it to any device
            eval_mode=True,
            checkpoint_path=str(checkpoint),
            load_from_HF=False,  # never download: a missing file is the user's to fix
            enable_inst_interactivity=interactive,
        )
    return model.to(device).eval()


def feature_sizes(image_size: int, stride: int) -> list[tuple[int, int]]:
    """Backbone feature-map sizes the instance predictor reshapes to (strides /4, /2, x1 of the patch grid)."""
    grid = image_size // stride
    return [(4 * grid, 4 * grid), (2 * grid, 2 * grid), (grid, grid)]


class Unpinned(TorchFunctionMode):
    """While active, ``Tensor.pin_memory()`` returns the tensor itself. sam3's geometry encoder pins a small
    tensor on every concept forward (``geometry_encoders._encode_boxes``), which raises without an NVIDIA
    driver; pinning only speeds a host-to-GPU copy, so skipping it changes no number."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.Tensor.pin_memory:
            return args[0]
        return func(*args, **(kwargs or {}))


def unpinned() -> Any:
    """``Unpinned()`` where CUDA is not available, else nothing."""
    return contextlib.nullcontext() if torch.cuda.is_available() else Unpinned()


def image_size(model: Any) -> int:
    """The input size the image model was built for (1008 for the official SAM 3): its ViT's patch grid times
    its patch size. ``Sam3Processor`` must resize to exactly this."""
    trunk = model.backbone.vision_backbone.trunk
    return int(trunk.blocks[0].attn.input_size[0] * trunk.patch_embed.proj.kernel_size[0])
