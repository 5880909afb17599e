"""The SAM 3 checkpoint: where it is expected, how to get it, and whether a file really holds what box
prompts need. sam3 loads checkpoints with ``strict=False`` and only prints what it did not find, so a
wrong file (a SAM 2 checkpoint renamed ``sam3.pt``) would silently run on random weights; this module
says what the file holds instead.

The official ``sam3.pt`` (gated on Hugging Face, ``facebook/sam3``) is a state dict, possibly under
``"model"``, with keys ``detector.*`` (the image model) and ``tracker.*`` (the SAM 2-style head that
``predict_inst`` uses). sam3's loader strips ``detector.`` and maps ``tracker.`` onto
``inst_interactive_predictor.model.`` (``sam3.model_builder._load_checkpoint``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from segkit.errors import exception_text, one_line
from segkit_torch.checkpoints import identify_sam2

FILE = "sam3.pt"
REPO = "https://huggingface.co/facebook/sam3"
URL = f"{REPO}/resolve/main/{FILE}"

# What set_image + predict_inst compute with: the ViT trunk, the SAM 2-style neck, and the tracker's prompt
# encoder, mask decoder and no-memory embedding. Every parameter under these must come from the file.
BOX_PATH = (
    "backbone.vision_backbone.trunk.",
    "backbone.vision_backbone.sam2_convs.",
    "inst_interactive_predictor.model.sam_prompt_encoder.",
    "inst_interactive_predictor.model.sam_mask_decoder.",
    "inst_interactive_predictor.model.no_mem_embed",
)


def how_to_get(option: str = "checkpoint") -> str:
    return (
        f"request access to {REPO} and download {FILE} into checkpoints/"
        f" (`checkpoints/download.sh sam3` with HF_TOKEN set, or `hf download facebook/sam3 {FILE} --local-dir checkpoints`),"
        f" or set -O sam3.{option}=PATH (SEGKIT_SAM3_{option.upper()}) to your copy"
    )


def missing_message(path: Path) -> str | None:
    """None when ``path`` is a file; otherwise what is wrong and how to fix it, in one line."""
    if path.is_file():
        return None
    if path.is_dir():
        return f"checkpoint {path} is a folder; point sam3.checkpoint at the file {FILE}"
    return f"checkpoint {path} not found; {how_to_get()}"


def read_state_dict(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The state dict in ``path`` (memory-mapped, no tensor copied) and '', or None and why not."""
    import torch

    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # an old-format (non-zip) file cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated download, an HTML error page, a safetensors file, a pickle of code
        return None, f"it is not a readable PyTorch checkpoint ({one_line(exc)})"
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]  # what sam3's loader does too
    if not isinstance(data, dict):
        return None, f"it holds a {type(data).__name__}, not a state dict"
    return data, ""


def describe(state_dict: dict[str, Any]) -> str | None:
    """None if ``state_dict`` looks like SAM 3 in the official layout; otherwise "it holds ..." what instead."""
    keys = [str(key) for key in state_dict]
    has = lambda prefix: any(key.startswith(prefix) for key in keys)  # noqa: E731
    if has("detector.backbone.vision_backbone.trunk.") and has("tracker.sam_mask_decoder."):
        return None
    if has("tracker.model.interactive_"):
        return "it holds SAM 3.1 weights (facebook/sam3.1), which this sam3 package does not load as SAM 3"
    if has("detector."):
        return "it holds SAM 3 detector weights without the tracker (the SAM 2-style head that box prompts use)"
    if has("backbone.vision_backbone.trunk."):
        return "it holds a SAM 3 image model's own state dict, not the official layout (keys under detector. and tracker.)"
    sam2 = identify_sam2(state_dict)
    if sam2 is not None:
        return f"it holds {sam2.describe()} weights"
    if has("image_encoder.blocks.") and has("mask_decoder."):
        return "it holds SAM 1 weights"
    shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "") if keys else "nothing"
    return f"it holds no SAM 3 weights (keys: {shown})"


def loaded_names(keys: Iterable[str]) -> set[str]:
    """The model parameter names sam3's loader fills from a file with these keys (its own mapping)."""
    names = {key.replace("detector.", "") for key in keys if "detector" in key}
    names |= {key.replace("tracker.", "inst_interactive_predictor.model.") for key in keys if "tracker" in key}
    return names


def missing_for_boxes(model: Any, keys: Iterable[str]) -> list[str]:
    """Parameters that box prompts compute with but the file did not provide (so they kept random values)."""
    loaded = loaded_names(keys)
    return [name for name, _ in model.named_parameters() if name.startswith(BOX_PATH) and name not in loaded]


def wrong_file_message(backend: str, path: Path, problem: str) -> str:
    return f"backend {backend!r}: checkpoint {path} cannot be used: {problem}; use the official {FILE} ({REPO})"


def incomplete_message(backend: str, path: Path, missing: list[str]) -> str:
    shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
    return (
        f"backend {backend!r}: checkpoint {path} lacks {len(missing)} of the weights box prompts use ({shown});"
        f" sam3 would run them on random values; use the official {FILE} ({REPO})"
    )


def load_failed_message(backend: str, path: Path, error: BaseException) -> str:
    return f"backend {backend!r}: checkpoint {path} holds SAM 3 weights but does not load: {exception_text(error)}; use the official {FILE} ({REPO})"
