"""Offline test helpers: SAM 3 built by sam3's own builder with random weights, saved as the official file.

    from segkit_sam3.testing import offline_segmenter
    with offline_segmenter("sam3", tmp_path) as segmenter:
        segmenter.load()
        result = segmenter.segment(image, boxes)

SAM 3 is big (860M parameters; one 1008x1008 image costs about a minute on a 2-core CPU) and
``build_sam3_image_model`` takes no size. So most tests use a *reduced* SAM 3: the same builder and the
same classes, with three constructors it calls given smaller arguments while ``reduced()`` is active:
the ViT trunk (2 blocks of width 128 instead of 32 of 1024, one windowed and one global as in the full
model), the text encoder (1 layer of width 64; box prompts never use it), and the tracker's input size
(336 instead of 1008, a 24x24 patch grid: one attention window). Everything else (necks, tracker, prompt
encoder, mask decoder, the processor, ``predict_inst``, the checkpoint format and loading) is the real
thing at its real size. ``size="full"`` builds the official architecture itself.

Each size is built once per process and its checkpoint hard-linked into each test's folder. Nothing is
downloaded: the builder is called with ``checkpoint_path=None, load_from_HF=False``.
"""

from __future__ import annotations

import contextlib
import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal
from unittest import mock

from segkit_sam3 import checkpoints, vocabulary
from segkit_sam3.backend import Sam3Options, Sam3Segmenter
from segkit_sam3.concept import Sam3ConceptOptions, Sam3ConceptSegmenter
from segkit_torch.testing import BuildOnce, link

Size = Literal["reduced", "full"]

REDUCED_IMAGE_SIZE = 336
REDUCED_TRUNK = {"img_size": REDUCED_IMAGE_SIZE, "embed_dim": 128, "depth": 2, "num_heads": 2, "global_att_blocks": (1,)}
REDUCED_TEXT = {"width": 64, "heads": 1, "layers": 1}

_checkpoints = BuildOnce("segkit-sam3-random-")


@contextmanager
def reduced() -> Iterator[None]:
    """While active, ``sam3.model_builder.build_sam3_image_model`` builds the reduced SAM 3 (see above)."""
    import sam3.model_builder as builder

    def smaller(cls: Any, overrides: dict[str, Any]) -> Any:
        return lambda *args, **kwargs: cls(*args, **{**kwargs, **overrides})

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(builder, "ViT", smaller(builder.ViT, REDUCED_TRUNK)))
        stack.enter_context(mock.patch.object(builder, "VETextEncoder", smaller(builder.VETextEncoder, REDUCED_TEXT)))
        tracker = smaller(builder.Sam3TrackerPredictor, {"image_size": REDUCED_IMAGE_SIZE})
        stack.enter_context(mock.patch.object(builder, "Sam3TrackerPredictor", tracker))
        yield


def official_layout(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A built image model's state dict under the official sam3.pt names: the instance head's tracker under
    ``tracker.``, everything else under ``detector.`` (what sam3's loader maps back)."""
    head = "inst_interactive_predictor.model."
    return {
        ("tracker." + key[len(head):]) if key.startswith(head) else ("detector." + key): value
        for key, value in state_dict.items()
    }


def random_checkpoint(directory: Path, size: Size = "reduced", name: str = checkpoints.FILE) -> Path:
    """``directory/<name>``: a random-weight SAM 3 checkpoint of ``size`` in the official layout."""
    return link(_checkpoints.get(size, lambda folder: _build(size, folder)), Path(directory) / name)


def offline_env(checkpoint: Path, key: str = "sam3") -> dict[str, str]:
    """Environment variables that point the sam3 backend (``key="sam3_concept"``: sam3-concept) at
    ``checkpoint``, on the CPU."""
    prefix = f"SEGKIT_{key.upper()}"
    return {f"{prefix}_CHECKPOINT": str(checkpoint), f"{prefix}_DEVICE": "cpu"}


@contextmanager
def offline_segmenter(name: str, workdir: Path, size: Size = "reduced", **options: Any) -> Iterator[Sam3Segmenter | Sam3ConceptSegmenter]:
    """A ready, not yet loaded sam3 (or, for a name ending in "-concept", sam3-concept) segmenter on a
    random-weight checkpoint in ``workdir``, on the CPU. With the reduced size, ``reduced()`` stays active
    until the block ends (loading builds through it)."""
    with reduced() if size == "reduced" else contextlib.nullcontext():
        path = random_checkpoint(Path(workdir), size)
        cls, options_cls = (Sam3ConceptSegmenter, Sam3ConceptOptions) if name.endswith("-concept") else (Sam3Segmenter, Sam3Options)
        segmenter = cls(name, options_cls(checkpoint=path, device="cpu", **options))
        try:
            yield segmenter
        finally:
            segmenter.close()


def initialise_text_encoder(model: Any) -> None:
    """Give the two text-encoder parameters sam3 creates with ``torch.empty`` (``positional_embedding``,
    ``text_projection``; the official file fills them) random values as open_clip initialises them:
    left empty they hold whatever memory held (NaN), and every concept answer would be NaN."""
    import torch

    encoder = model.backbone.language_backbone.encoder
    with torch.no_grad():
        torch.nn.init.normal_(encoder.positional_embedding, std=0.01)
        torch.nn.init.normal_(encoder.text_projection, std=encoder.width**-0.5)


def _build(size: Size, folder: Path) -> Path:
    import torch
    from sam3.model_builder import build_sam3_image_model

    from segkit_sam3.building import OnDevice

    torch.manual_seed(0)
    with reduced() if size == "reduced" else contextlib.nullcontext(), OnDevice(torch.device("cpu")):
        model = build_sam3_image_model(  # no checkpoint, no hub: random weights, on purpose
            bpe_path=str(vocabulary.find(None)),
            device="cpu",
            checkpoint_path=None,
            load_from_HF=False,
            enable_inst_interactivity=True,
        )
    initialise_text_encoder(model)
    path = folder / f"random-sam3-{size}.pt"
    torch.save(official_layout(model.state_dict()), path)
    del model
    gc.collect()
    return path
