"""Reading a checkpoint safely and telling which SAM 2 or SAM 3 model a state dict holds. Imports torch
only inside ``read_state_dict``.

Meta's ``sam2`` and Ultralytics use the same module names, so one identification serves both: the Hiera
trunk's width and number of blocks give the size, SAM 2.1's spatial no-object embedding the version.
Meta's ``sam3.pt`` (read by ``sam3`` and by Ultralytics) keeps its image model under ``detector.`` and its
SAM 2-style box head under ``tracker.``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Hiera trunk (width, blocks) -> size; the same in SAM 2.0 and 2.1.
HIERA_SIZES: dict[tuple[int, int], str] = {(96, 12): "tiny", (96, 16): "small", (112, 24): "base_plus", (144, 48): "large"}
SIZE_LABELS = {"tiny": "tiny", "small": "small", "base_plus": "b+", "large": "large"}

# torch's weights-only failures advise loading the file unsafely; segkit never repeats that advice.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_UNSAFE_ADVICE = re.compile(r"weights_only|trust(ed)? the source|trusted source|safe_globals|can still be loaded", re.I)


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


def identify_sam3(state_dict: dict[str, Any]) -> str | None:
    """"SAM 3" or "SAM 3.1" for a state dict in the layout of Meta's sam3.pt / sam3.1 file with the box head
    (the tracker) included; None otherwise (``describe_weights`` says what it holds)."""
    keys = [str(key) for key in state_dict]
    has = lambda prefix: any(key.startswith(prefix) for key in keys)  # noqa: E731
    if not has("detector.backbone.vision_backbone.trunk."):
        return None
    if has("tracker.sam_mask_decoder.") and has("tracker.sam_prompt_encoder."):
        return "SAM 3"
    if has("tracker.model.interactive_sam_mask_decoder."):
        return "SAM 3.1"
    return None


def describe_weights(state_dict: dict[str, Any]) -> str:
    """What a state dict holds, in users' words: "SAM 2.1 tiny weights", "SAM 3 detector weights without the
    tracker", "no SAM weights (keys: a, b, c, ...)"."""
    keys = [str(key) for key in state_dict]
    has = lambda prefix: any(key.startswith(prefix) for key in keys)  # noqa: E731
    found = identify_sam3(state_dict)
    if found:
        return f"{found} weights"
    if has("detector."):
        return "SAM 3 detector weights without the tracker (the SAM 2-style head that box prompts use)"
    if has("backbone.vision_backbone.trunk."):
        return "a SAM 3 image model's own state dict, not the official layout (keys under detector. and tracker.)"
    sam2 = identify_sam2(state_dict)
    if sam2 is not None:
        return f"{sam2.describe()} weights"
    if has("image_encoder.blocks.") and has("mask_decoder."):
        return "SAM 1 weights"
    shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "") if keys else "nothing"
    return f"no SAM weights (keys: {shown})"


def load_error_text(exc: BaseException, limit: int = 300) -> str:
    """An error from loading a checkpoint as one line, without torch's advice to load it unsafely."""
    text = _ANSI.sub("", str(exc))
    if "WeightsUnpickler error:" in text:  # keep only what the file holds that a safe load refuses
        text = text.split("WeightsUnpickler error:", 1)[1]
    sentences = re.split(r"(?<=[.!?])\s+|\n+", text)
    kept = " ".join(s.strip() for s in sentences if s.strip() and not _UNSAFE_ADVICE.search(s))
    if not kept:
        return type(exc).__name__
    return f"{type(exc).__name__}: {kept if len(kept) <= limit else kept[: limit - 1] + '…'}"


def read_state_dict(path: Path, key: str | None = "model", key_required: bool = True) -> tuple[dict[str, Any] | None, str]:
    """The state dict in ``path`` and ``''``, or None and why it cannot be used (one line).

    Loaded with ``weights_only=True`` (no code runs) and memory-mapped where the format allows (nothing is
    copied). With ``key``, the weights are expected under that key, as in Meta's ``{"model": state_dict}``:
    with ``key_required`` a bare state dict that a SAM 2 identification recognises comes back with a
    problem saying the key is missing; without, a bare state dict is taken as it is.
    """
    import torch

    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # a legacy (non-zip) file cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated download, a pickle of something else
        return None, f"it is not a readable PyTorch checkpoint ({load_error_text(exc)})"
    if not isinstance(data, dict):
        return None, f"it holds a {type(data).__name__}, not a state dict"
    if key is None:
        return data, ""
    if isinstance(data.get(key), dict):
        return data[key], ""
    if not key_required:
        return data, ""
    if identify_sam2(data) is not None:
        return data, f"its weights are not under the key {key!r}"
    return None, f"it holds no weights under the key {key!r} (found: {', '.join(map(str, list(data)[:5]))})"


def sam2_mismatch(path: Path, backend: str, expected: Sam2Weights, error: BaseException, key_required: bool = True) -> str:
    """What a file that did not load as ``expected`` holds, as the words after "checkpoint PATH": not a
    checkpoint, no SAM 2, another size or version, weights off their key, or the loader's own error."""
    state_dict, problem = read_state_dict(path, key="model", key_required=key_required)
    found = identify_sam2(state_dict) if state_dict is not None else None
    if state_dict is None:
        return f"cannot be used: {problem}"
    if found is None:
        return "holds no SAM 2 image encoder weights"
    if found != expected:
        return f"holds {found.describe()} weights but {backend} is {expected.describe()}"
    if problem:
        return f"holds {found.describe()} weights but {problem}"
    return f"looks like {found.describe()} but does not load: {load_error_text(error)}"
