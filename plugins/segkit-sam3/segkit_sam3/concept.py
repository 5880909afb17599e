"""The sam3-concept backend: Meta's SAM 3 promptable concept segmentation (a phrase and/or exemplar boxes in,
every instance out) through sam3's own ``Sam3Processor``, on the same sam3.pt as the ``sam3`` backend.

Per image: ``set_image(PIL)`` once (the image encoder), then per concept ``reset_all_prompts``,
``set_text_prompt(phrase)`` if it has one, and ``add_geometric_prompt(box, positive)`` for each exemplar
box (normalised cx, cy, w, h); the last call's state holds the answer: masks at the image's size, boxes in
pixels, scores = sigmoid(logit) x sigmoid(presence), kept above ``confidence_threshold``. sam3 applies no
NMS (200 queries at most per concept). Each ``add_geometric_prompt`` runs the grounding head again with
the boxes so far, so a concept with a phrase and K boxes costs K + 1 (cheap) head passes, as with the
processor used by hand. The model is built without the instance-interactive head (concepts never use it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from segkit import Concept, ConceptInstances
from segkit_sam3 import checkpoints
from segkit_sam3.backend import Sam3File
from segkit_torch import CheckpointError, TorchConceptSegmenter, TorchOptions, package_version

NUM_QUERIES = 200  # SAM 3's detector queries: the most instances one concept can get


class Sam3ConceptOptions(TorchOptions):
    """Options of sam3-concept: config `options.sam3_concept`, SEGKIT_SAM3_CONCEPT_<FIELD>, -O sam3_concept.<field>=VALUE."""

    checkpoint: Path = Field(Path("checkpoints") / checkpoints.FILE, description="the official sam3.pt (facebook/sam3 on Hugging Face)")
    bpe_path: Path | None = Field(None, description="the tokenizer vocabulary bpe_simple_vocab_16e6.txt.gz (default: sam3's, else open_clip's copy)")
    confidence_threshold: float = Field(
        0.5, ge=0, le=1, description="keep instances scoring above this (score = sigmoid(logit) x presence; Sam3Processor's default 0.5)"
    )
    batch_size: int = Field(1, ge=1, le=64, description="images per call to the backend; each image is encoded on its own")


class Sam3ConceptSegmenter(Sam3File, TorchConceptSegmenter):
    """Meta's SAM 3 concept mode (`Sam3Processor`): one set_image per image, one prompt round per concept."""

    options_key = "sam3_concept"
    Options = Sam3ConceptOptions
    max_concepts = 64  # no limit in the model: concepts run one after another on the same image features

    def build(self) -> None:
        from sam3.model.sam3_image_processor import Sam3Processor

        from segkit_sam3 import building, vocabulary

        keys = self.checked_keys()
        model = building.build(self.checkpoint, vocabulary.find(self.options.bpe_path), self.device, interactive=False)
        missing = checkpoints.missing_for_concepts(model, keys)
        if missing:
            raise CheckpointError(checkpoints.unusable(self.name, self.checkpoint, checkpoints.missing_message(missing, "concept prompts")))
        self.model = model
        self.processor = Sam3Processor(
            model, resolution=building.image_size(model), device=self.device, confidence_threshold=self.options.confidence_threshold
        )

    def forward(self, images: list[np.ndarray], concepts: list[list[Concept]]) -> list[ConceptInstances]:
        from segkit_sam3 import building

        with building.unpinned():
            return [self._one_image(image, image_concepts) for image, image_concepts in zip(images, concepts)]

    def _one_image(self, image: np.ndarray, concepts: list[Concept]) -> ConceptInstances:
        from PIL import Image

        height, width = image.shape[:2]
        # PIL, as sam3's notebooks pass it: set_image reads a numpy image's size from its last two axes.
        state = self.processor.set_image(Image.fromarray(image))
        masks, scores, boxes, owners = [], [], [], []
        for index, concept in enumerate(concepts):
            self.processor.reset_all_prompts(state)
            if concept.text:
                state = self.processor.set_text_prompt(concept.text, state)
            for box, positive in zip(normalized_cxcywh(concept.box_array(), width, height), concept.positive()):
                state = self.processor.add_geometric_prompt(box.tolist(), positive, state)
            if not concept.text and not concept.boxes:
                continue
            found = state["masks"].shape[0]
            masks.append(state["masks"][:, 0].cpu().numpy())
            scores.append(state["scores"].float().cpu().numpy())
            boxes.append(state["boxes"].float().cpu().numpy())
            owners.append(np.full(found, index, np.int64))
        self.processor.reset_all_prompts(state)
        if not masks:
            return ConceptInstances.empty(height, width)
        return ConceptInstances(
            np.concatenate(masks).astype(bool), np.concatenate(scores).astype(np.float64), np.concatenate(boxes).astype(np.float32),
            np.concatenate(owners),
        )

    def settings(self) -> dict[str, Any]:
        resolution = self.processor.resolution if self.loaded else 1008
        return {
            **super().settings(),
            "implementation": f"sam3 {package_version('sam3')} (Meta, Sam3Processor: promptable concept segmentation)",
            "model": "SAM 3",
            "checkpoint": self.checkpoint.name,
            "resolution": resolution,
            "resize": f"stretch to {resolution}x{resolution} (aspect ratio not kept)",
            "confidence_threshold": self.options.confidence_threshold,
            "score": "sigmoid(logit) x sigmoid(presence)",
            "mask_threshold": "probability > 0.5 (sam3's, fixed)",
            "nms": "none (sam3 applies none)",
            "max_instances_per_concept": NUM_QUERIES,
        }


def normalized_cxcywh(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel xyxy boxes (K, 4) as add_geometric_prompt takes them: centre x, centre y, width, height in 0..1."""
    x0, y0, x1, y1 = boxes.T.astype(np.float64)
    return np.stack([(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height], axis=1).reshape(-1, 4)
