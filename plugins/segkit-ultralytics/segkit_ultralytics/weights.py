"""Weight files: where each model's file is expected, whether its name builds the right model in
Ultralytics, and what a file that fails to load really holds."""

from __future__ import annotations

from pathlib import Path

from segkit.errors import exception_text

from segkit_ultralytics.models import UltralyticsModel


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


def mismatch_message(model: UltralyticsModel, backend: str, path: Path, error: BaseException) -> str:
    """Why ``path`` did not load as ``model``, said in one line with the fix."""
    from segkit_torch.checkpoints import Sam2Weights, identify_sam2, read_state_dict

    fix = f"use the official {model.weights} ({model.url})"
    where = f"backend {backend!r}: weights {path}"
    state_dict, problem = read_state_dict(path, key="model")  # Ultralytics also reads a bare state dict
    if state_dict is None:
        return f"{where} cannot be used: {problem}; {fix}"
    found = identify_sam2(state_dict)
    if found is None:
        return f"{where} holds no SAM 2 weights; {fix}"
    expected = Sam2Weights("2.1", model.hiera)
    if found != expected:
        return f"{where} holds {found.describe()} weights but {backend} is {expected.describe()}; {fix}"
    return f"{where} looks like {found.describe()} but does not load: {exception_text(error)}; {fix}"
