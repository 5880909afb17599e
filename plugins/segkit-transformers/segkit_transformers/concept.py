"""The hf-sam3-concept backend: SAM 3's promptable concept segmentation as Hugging Face ``transformers`` runs
it (``Sam3Model`` + ``Sam3Processor``), from the same folder as ``hf-sam3`` (facebook/sam3).

Per image: ``processor(images=...)`` and ``get_vision_features`` once; then per concept the processor
tokenises the phrase (none with exemplar boxes only: transformers then uses "visual") and takes the exemplar
boxes as ``input_boxes`` (pixel xyxy) with ``input_boxes_labels`` (1 positive, 0 negative); the model runs
with ``vision_embeds=`` (the image is not encoded again) and ``post_process_instance_segmentation`` keeps
instances scoring above ``threshold``, masks above ``mask_threshold`` at the image's size. No NMS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from segkit import Concept, ConceptInstances
from segkit_torch import TorchConceptSegmenter, TorchOptions, package_version
from segkit_torch.options import model_file_options
from segkit_transformers.backend import HfFolder
from segkit_transformers.models import MODELS

CONCEPT_MODELS = {"sam3": MODELS["sam3"]}


@model_file_options(CONCEPT_MODELS, "folder_{key}", folder="model_dir", kind="folder")
class HfConceptOptions(TorchOptions):
    """Options of hf-sam3-concept: config `options.transformers_concept`, SEGKIT_TRANSFORMERS_CONCEPT_<FIELD>, -O."""

    model_dir: Path = Field(Path("checkpoints/hf"), description="folder holding the from_pretrained folder sam3 (facebook/sam3, as hf-sam3 uses)")
    allow_network: bool = Field(False, description="load a missing folder's model from the Hugging Face Hub by its id (downloads into transformers' cache)")
    threshold: float = Field(0.5, ge=0, le=1, description="keep instances scoring above this (post_process_instance_segmentation's threshold)")
    mask_threshold: float = Field(0.5, ge=0, le=1, description="mask probability threshold (post_process_instance_segmentation's mask_threshold)")
    batch_size: int = Field(1, ge=1, le=64, description="images per call to the backend; each image is encoded on its own")


class HfSam3ConceptSegmenter(HfFolder, TorchConceptSegmenter):
    """SAM 3 concepts through transformers: image features once per image, one model call per concept."""

    options_key = "transformers_concept"
    Options = HfConceptOptions
    model_class, processor_class = "Sam3Model", "Sam3Processor"
    max_concepts = 64

    def forward(self, images: list[np.ndarray], concepts: list[list[Concept]]) -> list[ConceptInstances]:
        return [self._one_image(image if image.flags.writeable else image.copy(), image_concepts) for image, image_concepts in zip(images, concepts)]

    def _one_image(self, image: np.ndarray, concepts: list[Concept]) -> ConceptInstances:
        height, width = image.shape[:2]
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"].to(self.device)
        vision = self.network.get_vision_features(pixel_values=pixels)
        masks, scores, boxes, owners = [], [], [], []
        for index, concept in enumerate(concepts):
            if not concept.text and not concept.boxes:
                continue
            found = answer(self.network, self.processor, vision, concept, (height, width), self.options.threshold, self.options.mask_threshold)
            masks.append(found["masks"].bool().cpu().numpy())
            scores.append(found["scores"].float().cpu().numpy())
            boxes.append(found["boxes"].float().cpu().numpy())
            owners.append(np.full(len(scores[-1]), index, np.int64))
        if not masks:
            return ConceptInstances.empty(height, width)
        return ConceptInstances(np.concatenate(masks), np.concatenate(scores).astype(np.float64), np.concatenate(boxes).astype(np.float32), np.concatenate(owners))

    def settings(self) -> dict[str, Any]:
        size = self.processor.image_processor.size if self.loaded else None
        image_size = f"{size.width}x{size.height}" if size is not None else "the processor's (1008)"
        return {
            **super().settings(),
            "implementation": f"transformers {package_version('transformers')} (Sam3Model + Sam3Processor: concept segmentation)",
            "model": self.model.label,
            "source": self.model.hub_id if self.source == self.model.hub_id else self.folder.name,
            "threshold": self.options.threshold,
            "mask_threshold": self.options.mask_threshold,
            "nms": "none (transformers applies none)",
            "image_size": image_size,
            "resize": f"stretch to {image_size} (aspect ratio not kept)",
        }


def answer(network: Any, processor: Any, vision: Any, concept: Concept, size: tuple[int, int], threshold: float, mask_threshold: float) -> dict:
    """One concept on an encoded image, as transformers' Sam3 documentation calls it: {scores, boxes, masks}."""
    device = vision.fpn_hidden_states[0].device
    prompt: dict[str, Any] = {"original_sizes": [list(size)], "return_tensors": "pt"}
    if concept.text:
        prompt["text"] = concept.text
    if concept.boxes:
        prompt["input_boxes"] = [concept.box_array().tolist()]
        prompt["input_boxes_labels"] = [[int(p) for p in concept.positive()]]
    inputs = processor(**prompt)  # boxes and no phrase: the processor's text is "visual"
    model_inputs = {k: v.to(device) for k, v in inputs.items() if k in ("input_ids", "attention_mask", "input_boxes", "input_boxes_labels")}
    outputs = network(vision_embeds=vision, **model_inputs)
    return processor.post_process_instance_segmentation(outputs, threshold=threshold, mask_threshold=mask_threshold, target_sizes=[size])[0]
