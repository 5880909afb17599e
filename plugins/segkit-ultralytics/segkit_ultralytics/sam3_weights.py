"""ultralytics-sam3's weight file: where it is expected, whether its name builds SAM 3 in Ultralytics, and
whether it holds SAM 3 weights (Ultralytics loads them with ``strict=False``, so a wrong file would
otherwise run on random weights without a word).

The file is Meta's ``sam3.pt`` (gated on Hugging Face, ``facebook/sam3``): keys ``detector.*`` and
``tracker.*``, which ``ultralytics.models.sam.build_sam3._load_checkpoint`` maps onto its own model.
"""

from __future__ import annotations

from pathlib import Path

from segkit.errors import one_line

from segkit_torch.checkpoints import identify_sam2

FILE = "sam3.pt"
REPO = "https://huggingface.co/facebook/sam3"

# Key prefixes of the parts box prompts use, in Meta's layout (SAM 3) and as SAM 3.1 nests its head.
SAM3_SIGNATURES = (
    ("detector.backbone.vision_backbone.trunk.", "tracker.sam_mask_decoder.", "tracker.sam_prompt_encoder."),
    ("detector.backbone.vision_backbone.trunk.", "tracker.model.interactive_sam_mask_decoder.", "tracker.model.interactive_sam_prompt_encoder."),
)


def missing_message(path: Path) -> str | None:
    """None when ``path`` is a usable file; otherwise what is wrong and how to fix it, in one line."""
    if path.is_dir():
        return f"weights {path} is a folder; point ultralytics_sam3.weights at the file {FILE}"
    if not path.is_file():
        return (
            f"weights {path} not found; request access to {REPO} and download {FILE} into checkpoints/"
            f" (`checkpoints/download.sh ultralytics-sam3` with HF_TOKEN set), or set -O ultralytics_sam3.weights=PATH"
            " (SEGKIT_ULTRALYTICS_SAM3_WEIGHTS) to your copy"
        )
    return name_problem(path)


def name_problem(path: Path) -> str | None:
    """Ultralytics builds SAM 3 when the file's stem contains 'sam3', but picks SAM 2's predictor first when it
    also contains 'sam2'; refuse any name that does not end in sam3.pt, or that also says sam2."""
    if path.name.endswith(FILE) and "sam2" not in path.stem:
        return None
    return (
        f"weights {path}: Ultralytics builds the model a weight file's name says, and {path.name!r} does not say"
        f" SAM 3 alone; name the file {FILE} (or anything ending in it without 'sam2')"
    )


def mismatch_message(backend: str, path: Path) -> str | None:
    """None when ``path`` holds SAM 3 weights; otherwise what it holds instead and the fix, in one line."""
    import torch

    where = f"backend {backend!r}: weights {path}"
    fix = f"use Meta's {FILE} ({REPO})"
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a truncated download, an HTML error page, a safetensors file
        return f"{where} is not a readable PyTorch checkpoint ({one_line(exc)}); {fix}"
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        return f"{where} holds a {type(data).__name__}, not a state dict; {fix}"
    keys = [str(key) for key in state]
    if any(all(any(key.startswith(prefix) for key in keys) for prefix in signature) for signature in SAM3_SIGNATURES):
        return None
    found = identify_sam2(state)
    if found is not None:
        return f"{where} holds {found.describe()} weights, not SAM 3; {fix}"
    if any(key.startswith("detector.") for key in keys):
        return f"{where} holds SAM 3 detector weights without the tracker (the head box prompts use); {fix}"
    return f"{where} holds no SAM 3 weights (keys: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}); {fix}"
