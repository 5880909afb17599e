"""Is a folder a usable ``from_pretrained`` folder for a model? Answered from its files and config.json,
without importing transformers (this runs for `segkit backends`), in one line with the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit_torch.checkpoints import HIERA_SIZES
from segkit_torch.files import free_folder, is_empty_folder, read_config
from segkit_transformers.models import SAM2, HfModel

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def download_command(model: HfModel, folder: Path, option: str, occupied: bool = False) -> str:
    """What a user with internet runs to get ``model`` (transformers' files only, not Meta's .pt): into
    ``folder``, or, when ``folder`` holds something else (``occupied``), into a fresh folder beside it that the
    option then names, so the command can never overwrite another model."""
    target = free_folder(folder, model.file) if occupied else folder
    command = f'hf download {model.hub_id} --exclude "*.pt" --local-dir {target}'
    if model.gated:
        command = f"accept the licence at {model.url}, run `hf auth login`, then `{command}`"
    else:
        command = f"run `{command}`"
    return command if target == folder else f"{command} and set -O {option}={target}"


def how_to_get(model: HfModel, folder: Path, option: str) -> str:
    return (
        f"{download_command(model, folder, option)}, or set -O {option}=PATH to your copy, or -O transformers.allow_network=true"
        f" to let transformers fetch {model.hub_id} into its cache"
    )


def folder_problem(model: HfModel, folder: Path, option: str) -> str | None:
    """None when ``folder`` looks like ``model``'s from_pretrained folder; otherwise what is wrong, how to fix."""
    if not folder.exists():
        return f"model folder {folder} not found; {how_to_get(model, folder, option)}"
    if not folder.is_dir():
        return f"{folder} is a file; transformers loads a folder (config.json, model.safetensors, processor config): point {option} at it"
    if not (folder / "config.json").is_file():
        fix = download_command(model, folder, option, occupied=not is_empty_folder(folder))
        return f"{folder} has no config.json, so it is not a from_pretrained folder; {fix}"
    config, problem = read_config(folder)
    if config is None:
        return f"{problem}; {download_command(model, folder, option, occupied=True)}"
    mismatch = identity_problem(model, config)
    if mismatch:
        return f"{folder} holds {mismatch}; {download_command(model, folder, option, occupied=True)}"
    # The right model, not all there: finishing the download into the same folder is the fix.
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        return f"{folder} has no weights (model.safetensors); the download did not finish: {download_command(model, folder, option)}"
    if not any((folder / name).is_file() for name in PROCESSOR_FILES):
        return f"{folder} has no processor_config.json or preprocessor_config.json; {download_command(model, folder, option)}"
    return None


def describe(config: dict[str, Any]) -> str:
    """What a config.json holds, in users' words: "SAM 2.1 hiera tiny", "SAM 3", "a bert model"."""
    model_type = str(config.get("model_type", "unknown"))
    if model_type in SAM2.model_types:
        version, size = sam2_identity(config)
        if size.startswith("unknown"):
            return f"SAM {version} with a Hiera trunk of no official size{size.removeprefix('unknown')}"
        return f"SAM {version} hiera {size.replace('base_plus', 'b+')}"
    if model_type.startswith("sam3"):
        return "SAM 3 (its concept detector only, without the tracker)" if model_type == "sam3" else "SAM 3"
    return f"a {model_type} model"


def identity_problem(model: HfModel, config: dict[str, Any]) -> str | None:
    """A config that clearly holds another model than ``model``: its description and what was expected.
    Variants segkit cannot name (reduced test models, custom trunks) are accepted."""
    model_type = config.get("model_type")
    expected = model.label
    if model_type not in model.family.model_types:
        return f"{describe(config)} (config model_type {model_type!r}), not {expected}"
    if model.hiera is None:
        return None
    version, size = sam2_identity(config)
    if version == "2.0" or (size != model.hiera and not size.startswith("unknown")):
        return f"{describe(config)} weights, not {expected}"
    return None


def sam2_identity(config: dict[str, Any]) -> tuple[str, str]:
    """(version, size) of a SAM 2 config: the Hiera trunk's width and depth give the size (the same table as
    Meta's checkpoints); a video config without the 2.1 occlusion embedding is SAM 2.0."""
    backbone = (config.get("vision_config") or {}).get("backbone_config") or {}
    width = int(backbone.get("hidden_size", 96))
    blocks = sum(backbone.get("blocks_per_stage") or [1, 2, 7, 2])
    size = HIERA_SIZES.get((width, blocks), f"unknown (Hiera width {width}, {blocks} blocks)")
    version = "2.0" if config.get("enable_occlusion_spatial_embedding") is False else "2.1"
    return version, size
