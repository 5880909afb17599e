"""Offline test helpers: transformers' SAM 2.1 and SAM 3 architectures with random weights, saved with
``save_pretrained`` in the Hub repositories' layout (the video model's config, which the image classes load).

    from segkit_transformers.testing import offline_segmenter
    with offline_segmenter("hf-sam2.1-large", tmp_path) as segmenter:
        segmenter.load()

Each folder is built once per process and hard-linked into each test's ``<workdir>/hf/<repository name>``.
Nothing is downloaded. Input sizes are reduced (``OFFLINE_IMAGE_SIZE``: 128 for SAM 2.1, 112 for SAM 3,
the processor's own setting), SAM 2.1 tiny keeps its full depth, and the other models are built with
fewer layers (``full_depth=True`` builds the official SAM 2.1 trunks, seconds more each).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any, ContextManager

from segkit.testing import backend_entry

from segkit_torch.testing import BuildOnce, link
from segkit_transformers.backend import TransformersOptions, TransformersSegmenter, quiet
from segkit_transformers.concept import HfConceptOptions
from segkit_transformers.models import MODELS, SAM2, HfModel

__all__ = ["OFFLINE_IMAGE_SIZE", "clip_tokenizer", "link", "offline_env", "offline_segmenter", "random_model_folder", "sam2_config"]

OFFLINE_IMAGE_SIZE = {"SAM 2.1": 128, "SAM 3": 112}

# The official Hiera trunks (transformers' own conversion settings for Meta's configs).
HIERA = {
    "tiny": {},
    "small": {"blocks_per_stage": [1, 2, 11, 2], "global_attention_blocks": [7, 10, 13]},
    "base_plus": {
        "hidden_size": 112, "embed_dim_per_stage": [112, 224, 448, 896], "num_attention_heads_per_stage": [2, 4, 8, 16],
        "blocks_per_stage": [2, 3, 16, 3], "global_attention_blocks": [12, 16, 20], "window_positional_embedding_background_size": [14, 14],
    },
    "large": {
        "hidden_size": 144, "embed_dim_per_stage": [144, 288, 576, 1152], "num_attention_heads_per_stage": [2, 4, 8, 16],
        "blocks_per_stage": [2, 6, 36, 4], "global_attention_blocks": [23, 33, 43], "window_size_per_stage": [8, 4, 16, 8],
    },
}
SHALLOW = {"blocks_per_stage": [1, 1, 2, 1], "global_attention_blocks": [3]}  # same widths, 5 blocks

_folders = BuildOnce("segkit-transformers-random-")


def random_model_folder(name: str, directory: Path, *, full_depth: bool = False, version: str = "2.1", layout: str = "hub") -> Path:
    """``directory/<repository name>``: a random-weight from_pretrained folder for backend ``name``.

    ``layout="hub"`` saves the video model and processor as the Hub repositories hold them (sam2_video; for
    SAM 3 the sam3_video config with the weights under the model's own module names, as facebook/sam3 has
    them); ``layout="save_pretrained"`` is SAM 3's video model saved by this transformers' ``save_pretrained``
    (which, in 5.23, writes the tracker's weights under a doubled ``tracker_model.`` prefix);
    ``layout="image"`` saves the image model itself (sam2, sam3_tracker); ``layout="concept"`` is the hub layout
    with ``Sam3Processor`` and its tokenizer, for hf-sam3-concept. ``version="2.0"`` makes a SAM 2.0
    folder (no 2.1 occlusion embedding) for tests of a wrong download.
    """
    model = MODELS[backend_entry(name).params["key"]]
    depth = full_depth or model.key == "tiny"
    key = (model.key, depth, version, layout)
    source = _folders.get(key, lambda folder: _build(model, folder / model.file, depth, version, layout))
    return link(source, Path(directory) / model.file)


def offline_env(directory: Path) -> dict[str, str]:
    """Environment variables that point every hf-* backend at ``directory`` (folders made by
    ``random_model_folder``), on the CPU."""
    return {"SEGKIT_TRANSFORMERS_MODEL_DIR": str(directory), "SEGKIT_TRANSFORMERS_DEVICE": "cpu"}


def offline_segmenter(name: str, workdir: Path, **options: Any) -> ContextManager[TransformersSegmenter]:
    """A ready, not yet loaded segmenter for backend ``name`` with a random-weight folder under ``workdir/hf``, on
    the CPU; ``with`` closes it. ``hf-sam3-concept`` gets the folder with a tokenizer (``layout="concept"``)."""
    concept = name.endswith("-concept")
    random_model_folder(name, Path(workdir) / "hf", layout="concept" if concept else "hub")
    options_class = HfConceptOptions if concept else TransformersOptions
    return closing(backend_entry(name).create(options_class(model_dir=Path(workdir) / "hf", device="cpu", **options)))


def clip_tokenizer() -> Any:
    """SAM 3's text tokenizer (CLIP's BPE, 49408 tokens) built from the BPE vocabulary open_clip ships, as
    CLIP's own vocabulary is derived from it: nothing downloaded. The Hub folder holds the same files."""
    import gzip
    import importlib.util

    import transformers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("a SAM 3 concept test folder needs open_clip's BPE vocabulary: pip install open_clip_torch")
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as file:
        lines = file.read().split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(line.split()) for line in lines]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return transformers.CLIPTokenizer(vocab={token: i for i, token in enumerate(vocab)}, merges=merges)


def sam2_config(size: str, image_size: int, *, full_depth: bool = True, video: bool = True, version: str = "2.1") -> Any:
    """transformers' config of SAM 2.1 ``size`` at ``image_size`` (the video model's, as on the Hub, or the image
    model's); ``full_depth=False`` keeps the trunk's widths with 5 blocks."""
    import transformers

    trunk = {**HIERA[size], **({} if full_depth else SHALLOW)}
    backbone = transformers.Sam2HieraDetConfig(image_size=[image_size, image_size], **trunk)
    vision = transformers.Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=backbone.embed_dim_per_stage[::-1],
        backbone_feature_sizes=[[image_size // stride] * 2 for stride in (4, 8, 16)],
    )
    if not video:
        return transformers.Sam2Config(vision_config=vision, prompt_encoder_config={"image_size": image_size})
    return transformers.Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={"image_size": image_size},
        image_size=image_size,
        memory_attention_rope_feat_sizes=[image_size // 16] * 2,
        enable_occlusion_spatial_embedding=version == "2.1",
    )


def _build(model: HfModel, folder: Path, full_depth: bool, version: str, layout: str) -> Path:
    import torch
    import transformers

    size = OFFLINE_IMAGE_SIZE[model.family.name]
    torch.manual_seed(0)
    with quiet(transformers):
        if model.family is SAM2:
            config = sam2_config(model.hiera, size, full_depth=full_depth, video=layout == "hub", version=version)
            network = (transformers.Sam2VideoModel if layout == "hub" else transformers.Sam2Model)(config)
            image_processor = transformers.Sam2ImageProcessor(size={"height": size, "width": size})
            if layout == "hub":
                video_processor = transformers.Sam2VideoVideoProcessor(size={"height": size, "width": size})
                processor = transformers.Sam2VideoProcessor(image_processor=image_processor, video_processor=video_processor)
            else:
                processor = transformers.Sam2Processor(image_processor=image_processor)
        else:
            config = _sam3_config(size)
            network = transformers.Sam3TrackerModel(config.tracker_config) if layout == "image" else transformers.Sam3VideoModel(config)
            processor = transformers.Sam3TrackerProcessor(image_processor=transformers.Sam3ImageProcessor(size={"height": size, "width": size}))
        if model.family is SAM2 or layout not in ("hub", "concept"):
            network.save_pretrained(folder)
        else:
            _save_under_module_names(network, folder)
        if layout == "concept":  # the concept model's processor: images and text (facebook/sam3 has its tokenizer)
            processor = transformers.Sam3Processor(image_processor=processor.image_processor, tokenizer=clip_tokenizer())
        processor.save_pretrained(folder)
    return folder


def _save_under_module_names(network: Any, folder: Path) -> None:
    """config.json and model.safetensors with the weights named as the model's modules name them."""
    from safetensors.torch import save_file

    network.config.save_pretrained(folder)
    state = {key: value.contiguous() for key, value in network.state_dict().items()}
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})


def _sam3_config(image_size: int) -> Any:
    """SAM 3 (detector and tracker, as facebook/sam3 holds them) with a small ViT, text encoder and DETR."""
    import transformers

    vit = {"model_type": "sam3_vit_model", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
           "num_attention_heads": 2, "global_attn_indexes": [1], "window_size": 4}
    text = {"model_type": "clip_text_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "projection_dim": 32}
    small = {"num_layers": 1, "intermediate_size": 256}
    config = transformers.Sam3VideoConfig(
        detector_config={
            "vision_config": {"backbone_config": vit}, "text_config": text, "detr_encoder_config": small,
            "detr_decoder_config": {**small, "num_queries": 8}, "geometry_encoder_config": small,
        }
    )
    config.tracker_config.vision_config = config.detector_config.vision_config  # one backbone, as in SAM 3
    config.image_size = image_size  # propagates to the detector and the tracker
    return config
