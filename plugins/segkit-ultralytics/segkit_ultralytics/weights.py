"""Weight files: where each model's file is expected, whether its name builds the right model in
Ultralytics, and what a file that fails to load really holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit.errors import exception_text, one_line

from segkit_ultralytics.models import HIERA_SIZES, MODELS, UltralyticsModel


def missing_message(model: UltralyticsModel, path: Path, option: str) -> str | None:
    """None when ``path`` is a usable file; otherwise what is wrong and how to fix it, in one line."""
    if path.is_dir():
        return f"weights {path} is a folder; point ultralytics.{option} at the file {model.weights}"
    if not path.is_file():
        return (
            f"weights {path} not found; run `checkpoints/download.sh {model.backend}` (or download {model.url}),"
            f" or set -O ultralytics.{option}=PATH (SEGKIT_ULTRALYTICS_{option.upper()}) to your copy"
        )
    return name_problem(model, path)


def name_problem(model: UltralyticsModel, path: Path) -> str | None:
    """Ultralytics picks the architecture from the file name (SAM or SAM 2, 2.0 or 2.1, which size), so a
    renamed file would build another model; refuse any name that does not end in the official one."""
    if path.name.endswith(model.weights):
        return None
    return (
        f"weights {path}: Ultralytics builds the model a weight file's name says, and {path.name!r} does not say"
        f" SAM 2.1 {model.label}; name the file {model.weights} (or anything ending in it)"
    )


def identify(state_dict: dict[str, Any]) -> tuple[str, str] | None:
    """(version, size) of a SAM 2 state dict, e.g. ("2.1", "b"); None if it is not one."""
    try:
        width = int(state_dict["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
    except (KeyError, AttributeError, IndexError):
        return None
    prefix = "image_encoder.trunk.blocks."
    blocks = {key[len(prefix):].split(".", 1)[0] for key in state_dict if key.startswith(prefix)}
    size = HIERA_SIZES.get((width, len(blocks)), f"unknown (Hiera width {width}, {len(blocks)} blocks)")
    version = "2.1" if "no_obj_embed_spatial" in state_dict else "2.0"  # SAM 2.1's spatial no-object embedding
    return version, size


def describe(version: str, size: str) -> str:
    return f"SAM {version} {MODELS[size].label if size in MODELS else size}"


def mismatch_message(model: UltralyticsModel, backend: str, path: Path, error: BaseException) -> str:
    """Why ``path`` did not load as ``model``, said in one line with the fix."""
    import torch

    fix = f"use the official {model.weights} ({model.url})"
    where = f"backend {backend!r}: weights {path}"
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a truncated download, an HTML error page, a pickle of something else
        return f"{where} is not a readable PyTorch checkpoint ({one_line(exc)}); {fix}"
    state_dict = data.get("model", data) if isinstance(data, dict) else None
    found = identify(state_dict) if isinstance(state_dict, dict) else None
    if found is None:
        return f"{where} holds no SAM 2 weights; {fix}"
    version, size = found
    if (version, size) != ("2.1", model.size):
        return f"{where} holds {describe(version, size)} weights but {backend} is {describe('2.1', model.size)}; {fix}"
    return f"{where} looks like {describe(version, size)} but does not load: {exception_text(error)}; {fix}"

