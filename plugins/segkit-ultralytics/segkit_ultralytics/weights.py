"""What a SAM 2.1 weight file that failed to load in Ultralytics really holds, said in one line."""

from __future__ import annotations

from pathlib import Path

from segkit_torch.checkpoints import Sam2Weights, identify_sam2, load_error_text, read_state_dict
from segkit_ultralytics.models import UltralyticsModel


def mismatch_message(model: UltralyticsModel, backend: str, path: Path, error: BaseException) -> str:
    """Why ``path`` did not load as ``model``, said in one line with the fix."""
    fix = f"use the official {model.file} ({model.url})"
    where = f"backend {backend!r}: weights {path}"
    state_dict, problem = read_state_dict(path, key="model", key_required=False)  # Ultralytics also reads a bare state dict
    if state_dict is None:
        return f"{where} cannot be used: {problem}; {fix}"
    found = identify_sam2(state_dict)
    if found is None:
        return f"{where} holds no SAM 2 weights; {fix}"
    expected = Sam2Weights("2.1", model.hiera)
    if found != expected:
        return f"{where} holds {found.describe()} weights but {backend} is {expected.describe()}; {fix}"
    return f"{where} looks like {found.describe()} but does not load: {load_error_text(error)}; {fix}"
