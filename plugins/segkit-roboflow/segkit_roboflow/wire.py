"""What the backends hand inference-sdk and read back from it: the image as lossless PNG, box prompts, and
the predictions coming back. The SDK builds the request around them::

    POST {api_url}/sam2/segment_image (or /sam3/visual_segment)
    {"sam2_version_id": "hiera_large",            # SAM2 only
     "multimask_output": true, "format": "rle",   # or "json" (polygons)
     "prompts": {"prompts": [{"box": {"x": 36.0, "y": 41.0, "width": 52.0, "height": 58.0}}]},
     "image": {"type": "base64", "value": "<PNG>"},
     "api_key": "..."}                            # or ?api_key=... or Authorization: Bearer ...
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from segkit import xyxy_to_cxcywh

from segkit_roboflow.decode import MaskDecodeError, decode_prediction

# The API's names for the mask encodings: SAM2's /sam2/segment_image knows "json" (polygons), "rle"
# and "binary"; SAM3's /sam3/visual_segment also accepts "polygon". "json" works for both.
WIRE_FORMAT = {"polygon": "json", "rle": "rle"}


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
        try:
            masks.append(decode_prediction(prediction, height, width, requested))
        except MaskDecodeError as exc:
            raise ResponseError(f"prediction {index}: {exc}") from None
        confidence = prediction.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not np.isfinite(confidence):
            raise ResponseError(f"prediction {index} has no numeric confidence (got {confidence!r})")
        scores.append(float(confidence))
    return masks, scores
