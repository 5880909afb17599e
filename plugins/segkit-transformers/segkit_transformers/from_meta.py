"""Meta's SAM 2.1 checkpoint (``sam2.1_hiera_*.pt``) as a transformers ``from_pretrained`` folder.

transformers ships no conversion that can be called as a library (its ``convert_sam2_to_hf.py`` is a
repository script, not in the wheel), so this renames the image model's weights itself, one rule per
module. It serves comparisons on *the same weights* (``benchmarks/compare_implementations.py``) and
anyone who has Meta's files but not the Hub's; ``Sam2Model`` loads the result with no weight missing
or left over, which ``save_folder`` checks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

# Meta's module names -> transformers' (applied in order to each key of the image model).
RENAMES: list[tuple[str, str]] = [
    (r"^no_mem_embed$", "no_memory_embedding"),
    (r"^image_encoder\.trunk\.", "vision_encoder.backbone."),
    (r"^image_encoder\.neck\.convs\.(\d+)\.conv\.", r"vision_encoder.neck.convs.\1."),
    (r"\.patch_embed\.proj\.", ".patch_embed.projection."),
    (r"^sam_prompt_encoder\.", "prompt_encoder."),
    (r"^prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$", "prompt_encoder.shared_embedding.positional_embedding"),
    (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (r"^sam_mask_decoder\.", "mask_decoder."),
    (r"\.out_proj\.", ".o_proj."),
    (r"\.norm(\d)\.", r".layer_norm\1."),
    (r"\.norm_final_attn\.", ".layer_norm_final_attn."),
    (r"\.mlp\.layers\.0\.", ".mlp.proj_in."),
    (r"\.mlp\.layers\.1\.", ".mlp.proj_out."),
    (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
    # three-layer heads: first -> proj_in, middle -> layers.0, last -> proj_out
    (r"(_mlps\.\d+|_head)\.layers\.0\.", r"\1.proj_in."),
    (r"(_mlps\.\d+|_head)\.layers\.1\.", r"\1.layers.0."),
    (r"(_mlps\.\d+|_head)\.layers\.2\.", r"\1.proj_out."),
]
# Parts of Meta's SAM2Base that only video tracking uses; Sam2Model has no place for them.
VIDEO_ONLY = re.compile(r"^(memory_attention|memory_encoder|mask_downsample|obj_ptr_proj|obj_ptr_tpos_proj)\.|^(maskmem_tpos_enc|no_mem_pos_enc|no_obj_ptr|no_obj_embed_spatial)$")
POINT_EMBEDDINGS = re.compile(r"^prompt_encoder\.point_embeddings\.(\d+)\.weight$")


def sam2_state_dict_from_meta(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Meta's SAM 2.1 state dict (``torch.load(path)["model"]``) with transformers' Sam2Model names."""
    import torch

    out: dict[str, Any] = {}
    points: dict[int, Any] = {}
    for key, value in state_dict.items():
        if VIDEO_ONLY.search(key):
            continue
        for pattern, replacement in RENAMES:
            key = re.sub(pattern, replacement, key)
        point = POINT_EMBEDDINGS.match(key)
        if point:
            points[int(point.group(1))] = value
            continue
        out[key] = value
    out["prompt_encoder.point_embed.weight"] = torch.cat([points[i] for i in sorted(points)], dim=0)
    # Meta's one positional encoding serves both the prompts and the image-wide embedding.
    out["shared_image_embedding.positional_embedding"] = out["prompt_encoder.shared_embedding.positional_embedding"]
    return out


def save_folder(checkpoint: Path, size: str, folder: Path, image_size: int = 1024) -> Path:
    """Write ``folder`` (config.json, model.safetensors, processor config) holding the SAM 2.1 ``size``
    weights of Meta's ``checkpoint``, for ``Sam2Model`` / ``Sam2Processor.from_pretrained``.

    Raises ValueError naming the first weight that does not fit, if the checkpoint is not that model.
    """
    import torch
    import transformers

    from segkit_transformers.backend import quiet
    from segkit_transformers.testing import sam2_config

    meta = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    with quiet(transformers):
        model = transformers.Sam2Model(sam2_config(size, image_size, video=False))
        result = model.load_state_dict(sam2_state_dict_from_meta(meta), strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(f"{checkpoint} does not fit SAM 2.1 {size}: missing {result.missing_keys[:3]}, left over {result.unexpected_keys[:3]}")
        model.save_pretrained(folder)
        processor = transformers.Sam2Processor(image_processor=transformers.Sam2ImageProcessor(size={"height": image_size, "width": image_size}))
        processor.save_pretrained(folder)
    return Path(folder)
