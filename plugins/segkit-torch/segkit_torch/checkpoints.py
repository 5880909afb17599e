"""Reading a checkpoint file safely and telling which SAM 2 model a state dict holds. Imports torch.

Meta's ``sam2`` and Ultralytics use the same module names, so one identification serves both: the Hiera
trunk's width and number of blocks give the size, SAM 2.1's spatial no-object embedding the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segkit.errors import one_line

# Hiera trunk (width, blocks) -> size; the same in SAM 2.0 and 2.1.
HIERA_SIZES: dict[tuple[int, int], str] = {(96, 12): "tiny", (96, 16): "small", (112, 24): "base_plus", (144, 48): "large"}
SIZE_LABELS = {"tiny": "tiny", "small": "small", "base_plus": "b+", "large": "large"}


@dataclass(frozen=True)
class Sam2Weights:
    """What a SAM 2 state dict holds: version "2.0" or "2.1", size "tiny", "small", "base_plus", "large"
    (or "unknown (...)" for a trunk no official model has)."""

    version: str
    size: str

    def describe(self) -> str:
        """"SAM 2.1 b+", as users name the models."""
        return f"SAM {self.version} {SIZE_LABELS.get(self.size, self.size)}"


def identify_sam2(state_dict: dict[str, Any]) -> Sam2Weights | None:
    """The SAM 2 model in a Meta- or Ultralytics-layout state dict; None if it is not one."""
    try:
        width = int(state_dict["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
    except (KeyError, AttributeError, IndexError, TypeError):
        return None
    prefix = "image_encoder.trunk.blocks."
    blocks = {key[len(prefix):].split(".", 1)[0] for key in state_dict if key.startswith(prefix)}
    size = HIERA_SIZES.get((width, len(blocks)), f"unknown (Hiera width {width}, {len(blocks)} blocks)")
    # SAM 2.1 added a spatial no-object embedding (and a projection of object-pointer temporal encodings).
    version = "2.1" if "no_obj_embed_spatial" in state_dict else "2.0"
    return Sam2Weights(version, size)


def read_state_dict(path: Path, key: str | None = "model") -> tuple[dict[str, Any] | None, str]:
    """The state dict in ``path`` and ``''``, or None and why it cannot be used (one line).

    Loaded with ``weights_only=True`` (no code runs) and memory-mapped (nothing is copied). With ``key``,
    the weights are expected under that key, as in Meta's ``{"model": state_dict}``; a bare state dict that
    a SAM 2 identification recognises is returned with a problem saying the key is missing.
    """
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a truncated download, an HTML error page, a pickle of something else
        return None, f"it is not a readable PyTorch checkpoint ({one_line(exc)}); download it again"
    if key is None:
        return (data, "") if isinstance(data, dict) else (None, f"it holds a {type(data).__name__}, not a state dict")
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        return data[key], ""
    if isinstance(data, dict) and identify_sam2(data) is not None:
        return data, f"its weights are not under the key {key!r}"
    keys = ", ".join(map(str, list(data)[:5])) if isinstance(data, dict) else type(data).__name__
    return None, f"it holds no weights under the key {key!r} (found: {keys})"
