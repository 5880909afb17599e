"""The SAM 3 checkpoint: how to get it, and whether a file really holds what box prompts need. sam3 loads
checkpoints with ``strict=False`` and only prints what it did not find, so a wrong file (a SAM 2 checkpoint
renamed ``sam3.pt``) would silently run on random weights; this module says what the file holds instead.

The official ``sam3.pt`` (gated on Hugging Face, ``facebook/sam3``) is a state dict, possibly under
``"model"``, with keys ``detector.*`` (the image model) and ``tracker.*`` (the SAM 2-style head that
``predict_inst`` uses). sam3's loader strips ``detector.`` and maps ``tracker.`` onto
``inst_interactive_predictor.model.`` (``sam3.model_builder._load_checkpoint``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from segkit_torch.checkpoints import describe_weights, identify_sam3

FILE = "sam3.pt"
REPO = "https://huggingface.co/facebook/sam3"

# What set_image + predict_inst compute with: the ViT trunk, the SAM 2-style neck, and the tracker's prompt
# encoder, mask decoder and no-memory embedding. Every parameter under these must come from the file.
BOX_PATH = (
    "backbone.vision_backbone.trunk.",
    "backbone.vision_backbone.sam2_convs.",
    "inst_interactive_predictor.model.sam_prompt_encoder.",
    "inst_interactive_predictor.model.sam_mask_decoder.",
    "inst_interactive_predictor.model.no_mem_embed",
)


def how_to_get(path: Path) -> str:
    """The download into the folder the backend reads (``checkpoints`` unless the option names another
    file); the gated repository needs its licence accepted first."""
    folder = Path(path).parent if Path(path).name == FILE else Path("checkpoints")
    return (
        f"request access to {REPO} and download {FILE} into {folder}/"
        f" (`checkpoints/download.sh sam3` with HF_TOKEN set, or `hf download facebook/sam3 {FILE} --local-dir {folder}`)"
    )


def problem(state_dict: dict[str, Any]) -> str | None:
    """None if ``state_dict`` is SAM 3 in the official layout; otherwise "it holds ..." what instead."""
    found = identify_sam3(state_dict)
    if found == "SAM 3":
        return None
    if found == "SAM 3.1":
        return "it holds SAM 3.1 weights (facebook/sam3.1), which this sam3 package does not load as SAM 3"
    return f"it holds {describe_weights(state_dict)}"


def loaded_names(keys: Iterable[str]) -> set[str]:
    """The model parameter names sam3's loader fills from a file with these keys (its own mapping)."""
    names = {key.replace("detector.", "") for key in keys if "detector" in key}
    names |= {key.replace("tracker.", "inst_interactive_predictor.model.") for key in keys if "tracker" in key}
    return names


def missing_for_boxes(model: Any, keys: Iterable[str]) -> list[str]:
    """Parameters that box prompts compute with but the file did not provide (so they kept random values)."""
    loaded = loaded_names(keys)
    return [name for name, _ in model.named_parameters() if name.startswith(BOX_PATH) and name not in loaded]


def missing_for_concepts(model: Any, keys: Iterable[str]) -> list[str]:
    """Parameters of the concept model (a build without the instance head) the file did not provide."""
    loaded = loaded_names(keys)
    return [name for name, _ in model.named_parameters() if name not in loaded]


def unusable(backend: str, path: Path, what: str) -> str:
    """The one line for a checkpoint that cannot be used: ``what`` follows "checkpoint PATH"."""
    return f"backend {backend!r}: checkpoint {path} {what}; use the official {FILE} ({REPO})"


def missing_message(missing: list[str], prompts: str = "box prompts") -> str:
    shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
    return f"lacks {len(missing)} of the weights {prompts} use ({shown}); sam3 would run them on random values"
