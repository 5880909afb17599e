"""Checkpoint files: where each model's file is expected, and what a file that fails to load really holds."""

from __future__ import annotations

from pathlib import Path

from segkit.errors import exception_text

from segkit_sam2.models import Sam2Model


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


def mismatch_message(model: Sam2Model, backend: str, path: Path, error: BaseException) -> str:
    """Why ``path`` did not load into ``model``'s architecture, said in one line with the fix."""
    from segkit_torch.checkpoints import Sam2Weights, identify_sam2, read_state_dict

    fix = f"use the official {model.checkpoint} ({model.url})"
    where = f"backend {backend!r}: checkpoint {path}"
    state_dict, problem = read_state_dict(path, key="model")
    if state_dict is None:
        return f"{where} cannot be used: {problem}; {fix}"
    found = identify_sam2(state_dict)
    if found is None:
        return f"{where} holds no SAM 2 image encoder weights; {fix}"
    expected = Sam2Weights(model.version, model.size)
    if found != expected:
        return f"{where} holds {found.describe()} weights but {backend} is {expected.describe()} ({model.config}); {fix}"
    if problem:
        return f"{where} holds {found.describe()} weights but {problem} as sam2 expects; {fix}"
    return f"{where} looks like {found.describe()} but does not load into {model.config}: {exception_text(error)}; {fix}"
