"""roboflow-sam3-concept: SAM 3 promptable concept segmentation on the Roboflow API (/sam3/concept_segment),
through inference-sdk's ``sam3_concept_segment`` with segkit-http underneath (the same key, deadline,
retries and abort as the box backends).

Each concept is one prompt (a phrase, exemplar boxes, or both); the API takes at most 16 prompts per
request, so more concepts go out as several requests, one after the other, and their instances are joined
in concept order with each instance's concept index kept. The API answers masks and confidences only:
each instance's box is its mask's extent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segkit import Concept, ConceptInstances, ConceptSegmenter, ImageFailed, redact
from segkit_roboflow.backend import RoboflowConnection
from segkit_roboflow.options import RoboflowOptions

PROMPTS_PER_REQUEST = 16  # /sam3/concept_segment refuses more (422)


class RoboflowSam3ConceptSegmenter(RoboflowConnection, ConceptSegmenter):
    """Every instance of each concept (phrase and/or exemplar boxes) from /sam3/concept_segment."""

    options_key = "roboflow"
    Options = RoboflowOptions
    endpoint = "/sam3/concept_segment"
    max_concepts = PROMPTS_PER_REQUEST

    def __init__(self, name: str, options: RoboflowOptions | None = None, **params: Any):
        super().__init__(name, options, **params)
        self.options: RoboflowOptions
        self.max_concurrency = self.options.concurrency  # images in flight, one request each
        self._connect_init()

    def segment_concepts(self, image: np.ndarray, concepts: Sequence[Concept]) -> ConceptInstances:
        from segkit_roboflow.wire import concept_prompts, encode_png_base64, mask_extent

        height, width = image.shape[:2]
        if not concepts:
            return ConceptInstances.empty(height, width)
        try:
            prompts = concept_prompts(list(concepts))
        except ValueError as exc:
            raise ImageFailed(f"{self.endpoint}: {exc}") from None
        picture = encode_png_base64(image)
        masks: list[np.ndarray] = []
        scores: list[float] = []
        owners: list[int] = []
        took: list[float] = []
        for start in range(0, len(prompts), PROMPTS_PER_REQUEST):
            chunk = prompts[start:start + PROMPTS_PER_REQUEST]
            found, confidences, indices, seconds = self._ask(picture, chunk, height, width)
            masks += found
            scores += confidences
            owners += [start + index for index in indices]
            if seconds is not None:
                took.append(seconds)
        info = {"requests": -(-len(prompts) // PROMPTS_PER_REQUEST)}
        if took:
            info["server_time_s"] = round(sum(took), 6)
        if not masks:
            empty = ConceptInstances.empty(height, width)
            empty.info = info
            return empty
        boxes = np.asarray([mask_extent(m) for m in masks], dtype=np.float32)
        return ConceptInstances(np.stack(masks), np.asarray(scores, dtype=np.float64), boxes,
                                np.asarray(owners, dtype=np.int64), info)

    def _ask(self, picture: str, prompts: list[dict], height: int, width: int):
        from segkit_roboflow.wire import (
            CONCEPT_FORMAT,
            ResponseError,
            read_concept_results,
        )

        options = self.options
        answer = self._call("sam3_concept_segment", inference_input=picture, prompts=prompts,
                            model_id=options.concept_model_id, output_prob_thresh=options.output_prob_thresh,
                            nms_iou_threshold=options.nms_iou_threshold, format=CONCEPT_FORMAT[options.format])
        try:
            return read_concept_results(answer, len(prompts), height, width, options.format)
        except ResponseError as exc:
            raise ImageFailed(redact(f"{self.endpoint}: unexpected answer: {exc}")) from None

    def settings(self) -> dict[str, Any]:
        options = self.options
        return {**self._base_settings(), "model_id": options.concept_model_id,
                "output_prob_thresh": options.output_prob_thresh, "nms_iou_threshold": options.nms_iou_threshold,
                "prompts_per_request": PROMPTS_PER_REQUEST, "instance_boxes": "mask extent"}
