"""The sam3 backend: Meta's SAM 3 with one mask per box, as SAM 1 and 2 answer box prompts.

SAM 3 answers a box in two ways. Its concept mode (``Sam3Processor.add_geometric_prompt``) takes the box
as an exemplar and returns every similar object; its instance-interactive head (``predict_inst``, the
``enable_inst_interactivity=True`` build, as in sam3's ``sam3_for_sam1_task_example`` notebook) returns
one mask for the object in the box. segkit's contract is the second. A lone image is encoded by
``Sam3Processor.set_image`` and all of its boxes go to one ``predict_inst`` call; several images share one
encoder pass (``set_image_batch`` + ``predict_inst_batch``). The engine (device, precision, batches,
readiness, errors) is segkit-torch's ``TorchSegmenter``; what is SAM 3's own lives here and in
``building``, ``checkpoints`` and ``vocabulary``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from segkit import Segmentation
from segkit_sam3 import checkpoints, vocabulary
from segkit_torch import CheckpointError, SamOptions, TorchSegmenter, best_per_box, package_version

UPSTREAM_MAX_HOLE_AREA = 256.0  # SAM3InteractiveImagePredictor's default


class Sam3Options(SamOptions):
    """Options of the sam3 backend: config `options.sam3`, SEGKIT_SAM3_<FIELD>, -O sam3.<field>=VALUE."""

    checkpoint: Path = Field(Path("checkpoints") / checkpoints.FILE, description="the official sam3.pt (facebook/sam3 on Hugging Face)")
    bpe_path: Path | None = Field(None, description="the tokenizer vocabulary bpe_simple_vocab_16e6.txt.gz (default: sam3's, else open_clip's copy)")
    max_hole_area: float = Field(
        UPSTREAM_MAX_HOLE_AREA, ge=0, description="fill holes up to this many pixels of the 288x288 low-resolution mask (sam3's default 256; 0: off)"
    )
    batch_size: int = Field(1, ge=1, le=64, description="images per image-encoder pass (segment_batch); more needs more memory")


class Sam3File:
    """What both sam3 backends (``sam3``, ``sam3-concept``) do with sam3.pt: readiness (the file by its
    header, the vocabulary), the download hint, the file's contents checked before sam3's lenient loader,
    and the one line when it does not load. A mixin before ``TorchSegmenter`` / ``TorchConceptSegmenter``."""

    package = "sam3"
    held = ("model", "processor")
    checkpoint_file = checkpoints.FILE

    def how_to_get(self) -> str:
        return checkpoints.how_to_get(self.checkpoint)

    def readiness_problem(self) -> str | None:
        return super().readiness_problem() or vocabulary.missing_message(self.options.bpe_path)

    def checked_keys(self) -> list[str]:
        """The file's parameter names, once it is known to hold SAM 3 (sam3 loads with strict=False and only
        prints what it did not find: a wrong file would run on random weights)."""
        from segkit_torch.checkpoints import read_state_dict

        state_dict, problem = read_state_dict(self.checkpoint, key="model", key_required=False)
        problem = problem or checkpoints.problem(state_dict)
        if problem:
            raise CheckpointError(checkpoints.unusable(self.name, self.checkpoint, f"cannot be used: {problem}"))
        return list(state_dict)

    def load_failure(self, exc: Exception) -> str:  # a shape mismatch in the state dict, a corrupt tensor
        from segkit_torch.checkpoints import load_error_text

        return checkpoints.unusable(self.name, self.checkpoint, f"holds SAM 3 weights but does not load: {load_error_text(exc)}")


class Sam3Segmenter(Sam3File, TorchSegmenter):
    """Meta's SAM 3 (`sam3` package), instance-interactive head: one set_image per image, one predict_inst
    call for all of its boxes."""

    options_key = "sam3"
    Options = Sam3Options

    # -- running ---------------------------------------------------------------------------------

    def build(self) -> None:
        from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor
        from sam3.model.sam3_image_processor import Sam3Processor

        from segkit_sam3 import building

        keys = self.checked_keys()
        model = building.build(self.checkpoint, vocabulary.find(self.options.bpe_path), self.device)
        missing = checkpoints.missing_for_boxes(model, keys)
        if missing:
            raise CheckpointError(checkpoints.unusable(self.name, self.checkpoint, checkpoints.missing_message(missing)))
        tracker = model.inst_interactive_predictor.model
        # sam3's own predictor class around the loaded tracker, with this run's threshold and hole filling.
        predictor = SAM3InteractiveImagePredictor(tracker, mask_threshold=self.options.mask_threshold, max_hole_area=self.options.max_hole_area)
        # It hard-codes the feature-map sizes of a 1008 input; take them from the model it wraps.
        predictor._bb_feat_sizes = building.feature_sizes(tracker.image_size, tracker.backbone_stride)
        model.inst_interactive_predictor = predictor
        self.model = model
        self.processor = Sam3Processor(model, resolution=tracker.image_size, device=self.device)

    def forward(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[Segmentation]:
        from PIL import Image

        # PIL, as sam3's notebooks pass it: Sam3Processor.set_image reads a numpy image's size as its last
        # two axes, which for segkit's (H, W, 3) arrays would be (W, 3).
        pictures = [Image.fromarray(image) for image in images]
        multimask = self.options.multimask_output
        if len(pictures) == 1:
            state = self.processor.set_image(pictures[0])
            masks, scores, _ = self.model.predict_inst(state, box=boxes[0], multimask_output=multimask)
            return [best_per_box(masks, scores, len(boxes[0]))]
        state = self.processor.set_image_batch(pictures)
        masks, scores, _ = self.model.predict_inst_batch(state, box_batch=boxes, multimask_output=multimask)
        return [best_per_box(m, s, len(b)) for m, s, b in zip(masks, scores, boxes)]

    def settings(self) -> dict[str, Any]:
        resolution = self.processor.resolution if self.loaded else 1008
        return {
            **super().settings(),
            "implementation": f"sam3 {package_version('sam3')} (Meta, Sam3Processor + predict_inst: the instance-interactive head)",
            "model": "SAM 3",
            "checkpoint": self.checkpoint.name,
            "resolution": resolution,
            "resize": f"stretch to {resolution}x{resolution} (aspect ratio not kept)",
            "multimask_output": self.options.multimask_output,
            "mask_choice": "best of 3 by predicted IoU" if self.options.multimask_output
            else "single mask, best of 3 when it is unstable (sam3's dynamic multimask)",
            "mask_threshold": self.options.mask_threshold,
            "max_hole_area": self.options.max_hole_area,
        }
