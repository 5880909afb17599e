"""What a checkpoint that did not load into a SAM 2.1 architecture really holds, said in one line."""

from __future__ import annotations

from pathlib import Path

from segkit_sam2.models import Sam2Model
from segkit_torch.checkpoints import Sam2Weights, identify_sam2, load_error_text, read_state_dict


def mismatch_message(model: Sam2Model, backend: str, path: Path, error: BaseException) -> str:
    """Why ``path`` did not load into ``model``'s architecture, said in one line with the fix."""
    fix = f"use the official {model.file} ({model.url})"
    where = f"backend {backend!r}: checkpoint {path}"
    state_dict, problem = read_state_dict(path, key="model")
    if state_dict is None:
        return f"{where} cannot be used: {problem}; {fix}"
    found = identify_sam2(state_dict)
    if found is None:
        return f"{where} holds no SAM 2 image encoder weights; {fix}"
    expected = Sam2Weights(model.version, model.key)
    if found != expected:
        return f"{where} holds {found.describe()} weights but {backend} is {expected.describe()} ({model.config}); {fix}"
    if problem:
        return f"{where} holds {found.describe()} weights but {problem} as sam2 expects; {fix}"
    return f"{where} looks like {found.describe()} but does not load into {model.config}: {load_error_text(error)}; {fix}"
