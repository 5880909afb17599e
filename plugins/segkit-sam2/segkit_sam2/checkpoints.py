"""Checkpoint files: where each model's file is expected, and what a file that fails to load really holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit.errors import exception_text, one_line

from segkit_sam2.models import HIERA_SIZES, MODELS, Sam2Model


def how_to_get(model: Sam2Model, option: str) -> str:
    return (
        f"run `checkpoints/download.sh {model.backend}` (or download {model.url}),"
        f" or set -O sam2.{option}=PATH (SEGKIT_SAM2_{option.upper()}) to your copy"
    )


def missing_message(model: Sam2Model, path: Path, option: str) -> str | None:
    """None when ``path`` is a file; otherwise what is wrong and how to fix it, in one line."""
    if path.is_file():
        return None
    if path.is_dir():
        return f"checkpoint {path} is a folder; point sam2.{option} at the file {model.checkpoint}"
    return f"checkpoint {path} not found; {how_to_get(model, option)}"


def identify(state_dict: dict[str, Any]) -> tuple[str, str] | None:
    """(version, size) of a SAM 2 state dict, e.g. ("2.1", "large"); None if it is not one."""
    try:
        width = int(state_dict["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
    except (KeyError, AttributeError, IndexError):
        return None
    prefix = "image_encoder.trunk.blocks."
    blocks = {key[len(prefix):].split(".", 1)[0] for key in state_dict if key.startswith(prefix)}
    size = HIERA_SIZES.get((width, len(blocks)), f"unknown (Hiera width {width}, {len(blocks)} blocks)")
    # SAM 2.1 added a spatial no-object embedding and a projection of object-pointer temporal encodings.
    version = "2.1" if "no_obj_embed_spatial" in state_dict else "2.0"
    return version, size


def describe(version: str, size: str) -> str:
    label = MODELS[size].label if size in MODELS else size
    return f"SAM {version} {label}"


def read_state_dict(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The state dict in ``path`` (memory-mapped, nothing copied) and '' or None and why it cannot be used."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a truncated download, an HTML error page, a pickle of something else
        return None, f"it is not a readable PyTorch checkpoint ({one_line(exc)}); download it again"
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        return data["model"], ""
    if isinstance(data, dict) and identify(data) is not None:
        return data, "its weights are not under the key 'model' as sam2 expects"
    keys = ", ".join(map(str, list(data)[:5])) if isinstance(data, dict) else type(data).__name__
    return None, f"it holds no SAM 2 weights under the key 'model' (found: {keys})"


def mismatch_message(model: Sam2Model, backend: str, path: Path, error: BaseException) -> str:
    """Why ``path`` did not load into ``model``'s architecture, said in one line with the fix."""
    fix = f"use the official {model.checkpoint} ({model.url})"
    where = f"backend {backend!r}: checkpoint {path}"
    state_dict, problem = read_state_dict(path)
    found = identify(state_dict) if state_dict is not None else None
    if state_dict is None:
        return f"{where} cannot be used: {problem}; {fix}"
    if found is None:
        return f"{where} holds no SAM 2 image encoder weights; {fix}"
    version, size = found
    if (version, size) != (model.version, model.size):
        return (
            f"{where} holds {describe(version, size)} weights but {backend} is {describe(model.version, model.size)}"
            f" ({model.config}); {fix}"
        )
    if problem:
        return f"{where} holds {describe(version, size)} weights but {problem}; {fix}"
    return f"{where} looks like {describe(version, size)} but does not load into {model.config}: {exception_text(error)}; {fix}"

