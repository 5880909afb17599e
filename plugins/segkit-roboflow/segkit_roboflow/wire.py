"""What the backends hand inference-sdk and read back from it: the image as lossless PNG, box prompts (SAM2,
SAM3 visual segment), concept prompts (SAM3 concept segment), and the predictions coming back. The SDK
builds the request around them::

    POST {api_url}/sam2/segment_image (or /sam3/visual_segment)
    {"sam2_version_id": "hiera_large",            # SAM2 only
     "multimask_output": true, "format": "rle",   # or "json" (polygons)
     "prompts": {"prompts": [{"box": {"x": 36.0, "y": 41.0, "width": 52.0, "height": 58.0}}]},
     "image": {"type": "base64", "value": "<PNG>"},
     "api_key": "..."}                            # or ?api_key=... or Authorization: Bearer ...

    POST {api_url}/sam3/concept_segment           # 1 to 16 prompts; boxes TOP-LEFT x, y, width, height
    {"model_id": "sam3/sam3_final", "output_prob_thresh": 0.5, "format": "rle",   # or "polygon"
     "nms_iou_threshold": 0.5,                    # only when set
     "prompts": [{"type": "text", "text": "red car"},
                 {"type": "visual", "text": "person",            # text optional with boxes
                  "boxes": [{"x": 10.0, "y": 12.0, "width": 52.0, "height": 58.0}], "box_labels": [1]}],
     "image": {"type": "base64", "value": "<PNG>"}, "api_key": "..."}
    -> {"prompt_results": [{"prompt_index": 0, "echo": {...}, "predictions": [{"masks", "confidence", "format"}]}],
        "time": 0.2}
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from segkit import Concept, xyxy_to_cxcywh, xyxy_to_xywh

from segkit_roboflow.decode import MaskDecodeError, decode_prediction

# The API's names for the mask encodings: SAM2's /sam2/segment_image knows "json" (polygons), "rle"
# and "binary"; SAM3's /sam3/visual_segment also accepts "polygon". "json" works for both.
WIRE_FORMAT = {"polygon": "json", "rle": "rle"}
# /sam3/concept_segment's names: "polygon" or "rle".
CONCEPT_FORMAT = {"polygon": "polygon", "rle": "rle"}


class ResponseError(ValueError):
    """An answer that is JSON but not the documented {"predictions": [...]} for our prompts."""


def encode_png_base64(rgb: np.ndarray) -> str:
    """The RGB image as base64 PNG: lossless, so the server sees exactly the pixels local backends see.

    (Handing the SDK a numpy array would re-encode it as JPEG and read it as BGR.)
    """
    import cv2

    ok, buffer = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                              [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding of the image failed")
    return base64.b64encode(buffer.tobytes()).decode("ascii")


def box_prompts(boxes: np.ndarray) -> list[dict[str, Any]]:
    """One prompt per pixel-xyxy box, as the API wants it: x, y = the box centre, plus width, height."""
    return [
        {"box": {"x": float(cx), "y": float(cy), "width": float(w), "height": float(h)}}
        for cx, cy, w, h in xyxy_to_cxcywh(boxes)
    ]


def read_predictions(answer: dict, expected: int, height: int, width: int, requested: str) -> tuple[list[np.ndarray], list[float]]:
    """Masks and confidences from an answer, in prompt order, checked against the number of prompts."""
    predictions = answer.get("predictions")
    if not isinstance(predictions, list):
        keys = ", ".join(sorted(str(k) for k in answer)) or "nothing"
        raise ResponseError(f"the answer has no 'predictions' list (it has {keys})")
    if len(predictions) != expected:
        raise ResponseError(f"the answer has {len(predictions)} predictions for {expected} prompts")
    masks, scores = [], []
    for index, prediction in enumerate(predictions):
        mask, score = _mask_and_score(prediction, height, width, requested, f"prediction {index}")
        masks.append(mask)
        scores.append(score)
    return masks, scores


def _mask_and_score(prediction: Any, height: int, width: int, requested: str, where: str) -> tuple[np.ndarray, float]:
    """One prediction's decoded mask and its confidence; ResponseError naming ``where`` when either is unusable."""
    try:
        mask = decode_prediction(prediction, height, width, requested)
    except MaskDecodeError as exc:
        raise ResponseError(f"{where}: {exc}") from None
    confidence = prediction.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not np.isfinite(confidence):
        raise ResponseError(f"{where} has no numeric confidence (got {confidence!r})")
    return mask, float(confidence)


def concept_prompts(concepts: list[Concept]) -> list[dict[str, Any]]:
    """One /sam3/concept_segment prompt per concept: ``text`` alone, or ``visual`` with exemplar boxes sent
    TOP-LEFT-based (x, y = the box's top-left corner, unlike SAM2's centre boxes) and ``box_labels`` (1:
    find things like this, 0: leave things like this out), with the phrase when there is one."""
    prompts = []
    for index, concept in enumerate(concepts):
        text = concept.text.strip() if concept.text else ""
        if not concept.boxes:
            if not text:
                raise ValueError(f"concept {index} ({concept.name!r}) has neither a phrase nor exemplar boxes")
            prompts.append({"type": "text", "text": text})
            continue
        prompt: dict[str, Any] = {"type": "visual"}
        if text:
            prompt["text"] = text
        prompt["boxes"] = [{"x": float(x), "y": float(y), "width": float(w), "height": float(h)}
                           for x, y, w, h in xyxy_to_xywh(concept.box_array())]
        prompt["box_labels"] = [1 if positive else 0 for positive in concept.positive()]
        prompts.append(prompt)
    return prompts


def mask_extent(mask: np.ndarray) -> tuple[float, float, float, float]:
    """The pixel xyxy box of a mask (x2, y2 exclusive); an empty mask's is all zeros."""
    columns, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if not len(columns):
        return (0.0, 0.0, 0.0, 0.0)
    return (float(columns[0]), float(rows[0]), float(columns[-1] + 1), float(rows[-1] + 1))


def read_concept_results(answer: dict, n_prompts: int, height: int, width: int,
                         requested: str) -> tuple[list[np.ndarray], list[float], list[int], float | None]:
    """Masks, confidences and prompt indices of every instance in a concept answer, prompt by prompt in
    the order the server lists them, and the server's time."""
    results = answer.get("prompt_results")
    if not isinstance(results, list):
        keys = ", ".join(sorted(str(k) for k in answer)) or "nothing"
        raise ResponseError(f"the answer has no 'prompt_results' list (it has {keys})")
    masks: list[np.ndarray] = []
    scores: list[float] = []
    owners: list[int] = []
    for position, result in enumerate(results):
        if not isinstance(result, dict) or not isinstance(result.get("predictions"), list):
            raise ResponseError(f"prompt result {position} has no 'predictions' list")
        index = result.get("prompt_index", position)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_prompts:
            raise ResponseError(f"prompt result {position} answers prompt {index!r}; {n_prompts} were sent")
        for number, prediction in enumerate(result["predictions"]):
            mask, score = _mask_and_score(prediction, height, width, requested, f"prompt {index} prediction {number}")
            masks.append(mask)
            scores.append(score)
            owners.append(index)
    took = answer.get("time")
    return masks, scores, owners, float(took) if isinstance(took, (int, float)) and not isinstance(took, bool) else None
