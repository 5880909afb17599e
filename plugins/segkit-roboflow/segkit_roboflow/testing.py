"""Offline testing of the Roboflow backends: a loopback server that speaks the API's wire format.

``RoboflowTestServer`` is a real HTTP server on 127.0.0.1 (an ephemeral port, a thread per request)
implementing ``POST /sam2/segment_image``, ``POST /sam3/visual_segment`` and ``POST /sam3/concept_segment``
as roboflow/inference does:

* the body is validated like FastAPI validates the server's pydantic models: a malformed body gets
  422 with an ``HTTPValidationError`` body (``{"detail": [{"type", "loc", "msg", "input"}]}``);
* the key is read from the ``api_key`` query parameter, the JSON body or ``Authorization: Bearer``;
  a missing or wrong one gets the server's 401;
* the image (``{"type": "base64"}``) is decoded the server's way (OpenCV, then BGR to RGB) and recorded
  (encoding, shape, a hash of its pixels) so tests can check that it arrived losslessly;
* each box prompt is read as the server does, centre-based (x1 = x - width / 2); with
  ``expected_boxes`` set, a box that matches none of them is refused with 400 and recorded;
* each prompt gets one mask drawn in the box (``reference_mask``: an ellipse with a hole and a separate
  corner square, by default) and a confidence (``confidence_for``), encoded as the server encodes:
  ``json`` -> outer contours from ``cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE)``, ``rle`` ->
  COCO RLE. SAM3 answers only a request's first prompt, as its docs warn.
* ``/sam3/concept_segment`` takes 1 to 16 prompts (more: 422, as the API's schema says), exemplar boxes
  TOP-LEFT-based ``{x, y, width, height}`` or ``{x0, y0, x1, y1}`` with one ``box_labels`` entry per box,
  and answers ``prompt_results`` (``prompt_index``, ``echo``, ``predictions``) in ``rle`` or ``polygon``.
  Its "model" is ``concept_instances``: a phrase's colour words find every blob of that colour
  (``colour_blobs``), a positive exemplar the blobs of its blob's colour, a negative one leaves out the
  blob it covers; confidence is ``blob_confidence`` (how much of its box a blob fills), thresholded by
  ``output_prob_thresh`` (per prompt or per request), with cross-prompt NMS when ``nms_iou_threshold`` is set.

Faults are injected with ``server.inject(Fault(...))`` (429, 503, 401, slow answers, bodies that are not
JSON, dropped connections), consumed in order; ``delay`` slows every answer (for throughput runs).
``offline_segmenter(name, workdir)`` yields a roboflow-* segmenter pointed at a running server; segkit's
contract test picks it up for every backend of this plugin.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator

from segkit import ConceptSegmenter, Segmenter
from segkit_http.testing import JsonHandler, Reply, StandInServer, pixels_digest

SAM2_PATH = "/sam2/segment_image"
SAM3_PATH = "/sam3/visual_segment"
CONCEPT_PATH = "/sam3/concept_segment"
MAX_CONCEPT_PROMPTS = 16
SAM2_VERSION_IDS = ("hiera_tiny", "hiera_small", "hiera_b_plus", "hiera_large")
UNAUTHORIZED = (
    "Unauthorized access to roboflow API - check API key and make sure the key is valid for workspace you use. "
    "Visit https://docs.roboflow.com/api-reference/authentication#retrieve-an-api-key to learn how to retrieve one."
)


# -- the request models, as the server declares them ---------------------------------------------


class _Image(BaseModel):
    type: str
    value: Any = None


class _Box(BaseModel):
    x: float
    y: float
    width: float
    height: float


class _Point(BaseModel):
    x: float
    y: float
    positive: bool


class _Prompt(BaseModel):
    box: _Box | None = None
    points: list[_Point] | None = None


class _PromptSet(BaseModel):
    prompts: list[_Prompt] | None = None


class _SegmentationRequest(BaseModel):
    """Sam2SegmentationRequest: the body of both endpoints (unknown fields are ignored, as there)."""

    api_key: str | None = None
    image: _Image
    image_id: str | None = None
    prompts: _PromptSet = _PromptSet()
    format: str | None = "json"
    sam2_version_id: str | None = "hiera_large"
    multimask_output: bool = True


class _TopLeftBox(BaseModel):
    """Sam3's Box: x, y = the TOP-LEFT corner (unlike SAM2's centre boxes)."""

    x: float
    y: float
    width: float
    height: float

    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.width, self.y + self.height)


class _CornerBox(BaseModel):
    x0: float
    y0: float
    x1: float
    y1: float

    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


class _Sam3Prompt(BaseModel):
    type: str
    text: str | None = None
    output_prob_thresh: float | None = None
    boxes: list[_TopLeftBox | _CornerBox] | None = None
    box_labels: list[int | bool] | None = None

    @model_validator(mode="after")
    def _labels_per_box(self):
        if self.boxes and (self.box_labels is None or len(self.box_labels) != len(self.boxes)):
            raise ValueError("box_labels must give one label per box")
        return self


class _ConceptRequest(BaseModel):
    """Sam3SegmentationRequest (POST /sam3/concept_segment)."""

    api_key: str | None = None
    image: _Image
    prompts: list[_Sam3Prompt] = Field(min_length=1, max_length=MAX_CONCEPT_PROMPTS)
    format: str = "polygon"
    image_id: str | None = None
    output_prob_thresh: float = 0.5
    model_id: str = "sam3/sam3_final"
    nms_iou_threshold: float | None = Field(None, ge=0.0, le=1.0)


# -- what the server draws -------------------------------------------------------------------------


def _pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(height, dtype=np.float64)[:, None] + 0.5, np.arange(width, dtype=np.float64)[None, :] + 0.5


def reference_mask(box: Sequence[float], height: int, width: int, shape: str = "ring") -> np.ndarray:
    """The mask the test server returns for a pixel-xyxy box, decided by pixel centres.

    ``box`` fills the box, ``ellipse`` the inscribed ellipse, ``blobs`` adds a separate square near the
    top-left corner (two regions), ``ring`` also cuts a hole in the ellipse, ``empty`` is empty.
    """
    ys, xs = _pixel_centres(height, width)
    x1, y1, x2, y2 = (float(v) for v in box)
    if shape == "empty":
        return np.zeros((height, width), bool)
    if shape == "box":
        return (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    mask = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
    if shape == "ellipse":
        return mask
    if shape == "ring":
        mask &= ((xs - cx) / (0.45 * rx)) ** 2 + ((ys - cy) / (0.45 * ry)) ** 2 > 1.0
    side = min(x2 - x1, y2 - y1)
    if side >= 30:  # room for a square well apart from the ellipse
        sx, sy = x1 + 0.02 * side, y1 + 0.02 * side
        mask |= (xs >= sx) & (xs < sx + 0.08 * side) & (ys >= sy) & (ys < sy + 0.08 * side)
    if shape not in ("ring", "blobs"):
        raise ValueError(f"unknown shape {shape!r}")
    return mask


COLOURS = ("red", "green", "blue")  # what a phrase may name, by channel
EVERYTHING = frozenset({"shape", "shapes", "thing", "things", "object", "objects"})
MIN_BLOB_AREA = 16


def colour_blobs(image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The stand-in's "objects": 8-connected blobs of at least MIN_BLOB_AREA pixels whose colour is clearly
    red, green or blue (that channel at least 150, and 80 above the others), as (colour, mask), colour by
    colour, each colour's blobs in raster order of their first pixel."""
    import cv2

    rgb = image.astype(np.int32)
    blobs = []
    for channel, colour in enumerate(COLOURS):
        others = np.delete(rgb, channel, axis=2).max(axis=2)
        standing = ((rgb[..., channel] >= 150) & (rgb[..., channel] - others >= 80)).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(standing, connectivity=8)
        blobs += [(colour, labels == k) for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= MIN_BLOB_AREA]
    return blobs


def blob_confidence(mask: np.ndarray) -> float:
    """The stand-in's confidence for an instance: 0.35 + 0.6 x the share of its bounding box it fills (a
    square 0.95, a disc about 0.82, a right triangle about 0.65)."""
    ys, xs = np.nonzero(mask)
    fill = len(xs) / float((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))
    return round(0.35 + 0.6 * fill, 4)


def _overlap(mask: np.ndarray, box: Sequence[float]) -> int:
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return int(mask[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)].sum())


def concept_instances(image: np.ndarray, prompts: Sequence[Any], default_thresh: float,
                      nms_iou: float | None) -> list[list[tuple[np.ndarray, float]]]:
    """What the stand-in finds for each prompt, as (mask, confidence) lists in prompt order:

    * a phrase's colour words (red, green, blue) select the blobs of those colours; "shape", "thing" or
      "object" selects every blob; other words select nothing ("person" finds nobody);
    * a positive exemplar box selects the blobs of the colour of the blob it covers most; a negative one
      leaves out the blobs it covers at least half of;
    * an instance is kept when its confidence is above the prompt's ``output_prob_thresh`` (else the
      request's); with ``nms_iou_threshold``, instances of all prompts are taken by falling confidence (the
      earlier prompt first on a tie) and one whose mask IoU with a kept one is above it is dropped
      (cross-prompt NMS).
    """
    import re

    blobs = colour_blobs(image)
    found: list[list[tuple[np.ndarray, float]]] = []
    for index, prompt in enumerate(prompts):
        words = set(re.findall(r"[a-z]+", (prompt.text or "").lower()))
        colours = set(COLOURS) if words & EVERYTHING else words & set(COLOURS)
        left_out: set[int] = set()
        for box, label in zip(prompt.boxes or [], prompt.box_labels or []):
            xyxy = box.xyxy()
            if bool(label):
                covered = [(_overlap(mask, xyxy), colour) for colour, mask in blobs]
                best = max(covered, default=(0, ""))
                if best[0] > 0:
                    colours.add(best[1])
            else:
                left_out |= {k for k, (_, mask) in enumerate(blobs) if 2 * _overlap(mask, xyxy) >= mask.sum()}
        threshold = prompt.output_prob_thresh if prompt.output_prob_thresh is not None else default_thresh
        kept = []
        for k, (colour, mask) in enumerate(blobs):
            confidence = blob_confidence(mask)
            if colour in colours and k not in left_out and confidence > threshold:
                kept.append((mask, confidence))
        found.append(kept)
    if nms_iou is None:
        return found
    order = sorted(((confidence, -index, -k) for index, kept in enumerate(found) for k, (_, confidence) in enumerate(kept)),
                   reverse=True)
    survivors: list[np.ndarray] = []
    keep: set[tuple[int, int]] = set()
    for _, index, k in order:
        mask = found[-index][-k][0]
        if all(_iou(mask, other) <= nms_iou for other in survivors):
            survivors.append(mask)
            keep.add((-index, -k))
    return [[item for k, item in enumerate(kept) if (index, k) in keep] for index, kept in enumerate(found)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def confidence_for(box: Sequence[float]) -> float:
    """The confidence the test server gives a pixel-xyxy box: deterministic, in [0.5, 0.98]."""
    x1, y1, x2, y2 = (round(float(v), 3) for v in box)
    return round(0.5 + ((x1 * 7 + y1 * 13 + x2 * 17 + y2 * 19) % 97) / 200, 4)


def encode_polygons(mask: np.ndarray) -> list[list[list[int]]]:
    """The server's polygon encoding: outer contours only, integer points; an empty mask is [[]]."""
    import cv2

    contours = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    polygons = [c.reshape(-1, 2).astype(int).tolist() for c in contours]
    return polygons or [[]]


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """The server's RLE encoding: pycocotools' compressed counts as a string."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("utf-8")}


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """What a mask becomes through the API's polygons: every region with its holes filled (pixels not
    reachable from outside through 4-connected background)."""
    import cv2

    height, width = mask.shape
    canvas = np.zeros((height + 2, width + 2), np.uint8)
    canvas[1:-1, 1:-1] = mask
    cv2.floodFill(canvas, np.zeros((height + 4, width + 4), np.uint8), (0, 0), 2)
    return canvas[1:-1, 1:-1] != 2


# -- faults and records ----------------------------------------------------------------------------


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``times`` requests that match (None: forever)."""

    status: int | None = None  # answer with this status and a JSON {"message": ...}
    delay: float = 0.0  # wait this long before answering (a slow server; timeouts)
    malformed: bool = False  # answer 200 with a body that is not JSON
    drop: bool = False  # close the connection without answering
    retry_after: float | None = None  # Retry-After header on the answer
    message: str | None = None
    times: int | None = 1
    endpoint: str | None = None  # only requests to this path
    match: Callable[["SeenRequest"], bool] | None = None

    def matches(self, seen: "SeenRequest") -> bool:
        if self.endpoint is not None and seen.path != self.endpoint:
            return False
        return self.match is None or bool(self.match(seen))


@dataclass
class SeenRequest:
    """What the server saw of one request, and what it answered."""

    path: str
    started: float
    key_channel: str | None = None  # "query", "body" or "header"
    key_ok: bool = False
    content_length: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # as sent (User-Agent, Content-Type, ...)
    payload: Any = None  # the JSON body as sent
    sam2_version_id: str | None = None
    format: str | None = None
    multimask_output: bool | None = None
    image_type: str | None = None
    image_encoding: str | None = None  # "png", "jpeg", ...
    image_shape: tuple[int, ...] | None = None
    image_digest: str | None = None
    prompts: list[dict] = field(default_factory=list)
    boxes_xyxy: list[tuple[float, float, float, float]] = field(default_factory=list)  # box prompts or exemplars
    model_id: str | None = None  # /sam3/concept_segment
    output_prob_thresh: float | None = None
    nms_iou_threshold: float | None = None
    status: int | None = None
    fault: str | None = None
    finished: float | None = None


class RoboflowTestServer(StandInServer):
    """A loopback stand-in for the Roboflow inference API (see the module docstring)."""

    thread_name = "roboflow-test-server"
    request_queue_size = 128

    def __init__(self, api_key: str | None = None, shape: str = "ring", delay: float = 0.0,
                 expected_boxes: Sequence[Sequence[float]] | None = None):
        super().__init__()
        self.api_key = api_key or f"rf_test_{secrets.token_hex(10)}"
        self.shape = shape
        self.delay = delay
        self.expected_boxes = None if expected_boxes is None else np.asarray(expected_boxes, dtype=np.float64).reshape(-1, 4)
        self.problems: list[str] = []
        self.max_in_flight = 0
        self._in_flight = 0

    @property
    def url(self) -> str:
        return self.origin

    # -- test controls ---------------------------------------------------------------------------

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self.problems.clear()
            self.max_in_flight = 0

    def seen(self, path: str | None = None) -> list[SeenRequest]:
        return [r for r in super().seen() if path is None or r.path == path]

    # -- the far side of the wire ----------------------------------------------------------------

    def respond(self, path: str, query: dict[str, list[str]], headers: Any, raw: bytes) -> Reply:
        seen = SeenRequest(path=path, started=time.perf_counter(), content_length=len(raw), headers=dict(headers.items()))
        self.record(seen)
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            reply = self._answer(seen, query, headers, raw)
        finally:
            with self._lock:
                self._in_flight -= 1
        seen.status, seen.finished = reply.status, time.perf_counter()
        return reply

    def respond_get(self, path: str) -> Reply:
        return Reply(405 if path in (SAM2_PATH, SAM3_PATH, CONCEPT_PATH) else 404, {"detail": "Method Not Allowed"})

    def _answer(self, seen: SeenRequest, query, headers, raw: bytes) -> Reply:
        if seen.path not in (SAM2_PATH, SAM3_PATH, CONCEPT_PATH):
            return Reply(404, {"detail": "Not Found"})
        try:
            data = seen.payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            pos = getattr(exc, "pos", 0)
            return Reply(422, {"detail": [{"type": "json_invalid", "loc": ["body", pos], "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": str(getattr(exc, "msg", exc))}}]})
        model = _ConceptRequest if seen.path == CONCEPT_PATH else _SegmentationRequest
        try:
            request = model.model_validate(data)
        except ValidationError as exc:
            detail = [{"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"], "input": e.get("input")}
                      for e in exc.errors(include_url=False)]
            return Reply(422, {"detail": detail})
        if isinstance(request, _ConceptRequest):
            return self._answer_concepts(seen, query, headers, data, request)

        seen.sam2_version_id = request.sam2_version_id if seen.path == SAM2_PATH else None
        seen.format, seen.multimask_output, seen.image_type = request.format, request.multimask_output, request.image.type
        seen.prompts = [p.model_dump(exclude_none=True) for p in (request.prompts.prompts or [])]
        for prompt in request.prompts.prompts or []:
            if prompt.box is not None:
                b = prompt.box
                seen.boxes_xyxy.append((b.x - b.width / 2, b.y - b.height / 2, b.x + b.width / 2, b.y + b.height / 2))
        image = self._decode_image(seen, request.image)
        refused = self._fault_or_key(seen, query, headers, data)
        if refused is not None:
            return refused
        if seen.path == SAM2_PATH and request.sam2_version_id not in SAM2_VERSION_IDS:
            return Reply(400, {"message": "Invalid Model ID sent in request."})
        if isinstance(image, str):
            return Reply(400, {"message": f"Could not load input image. Cause: {image}"})
        if not seen.boxes_xyxy or len(seen.boxes_xyxy) != len(seen.prompts):
            return Reply(400, {"message": "Error with model input. Cause: the test server answers box prompts only"})
        problem = self._check_boxes(seen.boxes_xyxy)
        if problem:
            with self._lock:
                self.problems.append(problem)
            return Reply(400, {"message": f"Error with model input. Cause: {problem}"})

        started = time.perf_counter()
        self.pause(self.delay)
        boxes = seen.boxes_xyxy[:1] if seen.path == SAM3_PATH else seen.boxes_xyxy
        height, width = image.shape[:2]
        fmt = request.format
        if fmt in ("json", "polygon") and not (seen.path == SAM2_PATH and fmt == "polygon"):
            encode, name = encode_polygons, "polygon"
        elif fmt == "rle":
            encode, name = encode_rle, "rle"
        elif seen.path == SAM3_PATH:  # SAM3 answers an unknown format with no predictions
            return Reply(200, {"predictions": [], "time": time.perf_counter() - started})
        else:  # SAM2 raises ValueError(f"Invalid format {format}"), which the server turns into a 500
            return Reply(500, {"message": "Internal error."})
        predictions = [
            {"masks": encode(reference_mask(box, height, width, self.shape)), "confidence": confidence_for(box), "format": name}
            for box in boxes
        ]
        return Reply(200, {"predictions": predictions, "time": time.perf_counter() - started})

    def _fault_or_key(self, seen: SeenRequest, query, headers, data) -> Reply | None:
        """The next injected fault that matches, else the key check's 401, else None."""
        fault = self.take_fault(seen)
        if fault is not None:
            seen.fault = _describe(fault)
            self.pause(fault.delay)
            if fault.drop:
                return Reply(-1)
            if fault.malformed:
                return Reply(200, b'{"predictions": [{"masks": [[[1, 2], [3')
            if fault.status is not None:
                extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                return Reply(fault.status, {"message": fault.message or _default_message(fault.status)}, extra)
        key, channel = _find_key(query, headers, data)
        seen.key_channel, seen.key_ok = channel, (key is not None and secrets.compare_digest(key, self.api_key))
        if not seen.key_ok:
            return Reply(401, {"message": UNAUTHORIZED})
        return None

    def _answer_concepts(self, seen: SeenRequest, query, headers, data, request: _ConceptRequest) -> Reply:
        seen.format, seen.image_type, seen.model_id = request.format, request.image.type, request.model_id
        seen.output_prob_thresh, seen.nms_iou_threshold = request.output_prob_thresh, request.nms_iou_threshold
        seen.prompts = [p.model_dump(exclude_none=True) for p in request.prompts]
        seen.boxes_xyxy = [box.xyxy() for p in request.prompts for box in (p.boxes or [])]
        image = self._decode_image(seen, request.image)
        refused = self._fault_or_key(seen, query, headers, data)
        if refused is not None:
            return refused
        if isinstance(image, str):
            return Reply(400, {"message": f"Could not load input image. Cause: {image}"})
        problem = self._check_boxes(seen.boxes_xyxy, "read top-left-based: x2 = x + width")
        if problem:
            with self._lock:
                self.problems.append(problem)
            return Reply(400, {"message": f"Error with model input. Cause: {problem}"})
        if request.format not in ("polygon", "rle"):
            return Reply(400, {"message": f"Error with model input. Cause: unknown format {request.format!r}"})
        started = time.perf_counter()
        self.pause(self.delay)
        encode = encode_rle if request.format == "rle" else encode_polygons
        found = concept_instances(image, request.prompts, request.output_prob_thresh, request.nms_iou_threshold)
        results = []
        for index, prompt in enumerate(request.prompts):
            predictions = [{"masks": encode(mask), "confidence": confidence, "format": request.format}
                           for mask, confidence in found[index]]
            echo = {"prompt_index": index, "type": prompt.type, "text": prompt.text, "num_boxes": len(prompt.boxes or [])}
            results.append({"prompt_index": index, "echo": echo, "predictions": predictions})
        return Reply(200, {"prompt_results": results, "time": time.perf_counter() - started})

    def _decode_image(self, seen: SeenRequest, image: _Image) -> np.ndarray | str:
        import cv2

        if image.type != "base64" or not isinstance(image.value, str):
            return f"image type {image.type!r} is not served by the test server; send base64"
        try:
            payload = base64.b64decode(image.value, validate=True)
        except (binascii.Error, ValueError) as exc:
            return f"the image is not valid base64 ({exc})"
        seen.image_encoding = _sniff(payload)
        bgr = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            return "the image bytes cannot be decoded"
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        seen.image_shape, seen.image_digest = rgb.shape, pixels_digest(rgb)
        return rgb

    def _check_boxes(self, boxes: list[tuple[float, float, float, float]],
                     reading: str = "read centre-based: x1 = x - width / 2") -> str | None:
        if self.expected_boxes is None:
            return None
        for box in boxes:
            if not np.any(np.all(np.abs(self.expected_boxes - np.asarray(box)) <= 1e-6, axis=1)):
                return (f"box {[round(v, 3) for v in box]} ({reading}) matches none of the expected boxes;"
                        " were the boxes sent in another convention?")
        return None


RoboflowTestServer.handler = JsonHandler


def _find_key(query: dict[str, list[str]], headers: Any, data: Any) -> tuple[str | None, str | None]:
    auth = headers.get("Authorization") or ""
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), "header"
    if query.get("api_key"):
        return query["api_key"][0], "query"
    if isinstance(data, dict) and isinstance(data.get("api_key"), str):
        return data["api_key"], "body"
    return None, None


def _sniff(payload: bytes) -> str:
    if payload.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if payload.startswith(b"\xff\xd8"):
        return "jpeg"
    return "other"


def _default_message(status: int) -> str:
    return {429: "Rate limit exceeded.", 503: "Service Unavailable.", 401: UNAUTHORIZED,
            403: "Forbidden: the API key has no access to this workspace."}.get(status, f"Test server error {status}.")


def _describe(fault: Fault) -> str:
    if fault.drop:
        return "drop"
    if fault.malformed:
        return "malformed"
    if fault.status is not None:
        return f"status {fault.status}"
    return f"delay {fault.delay:g}"


@contextmanager
def offline_segmenter(name: str, workdir: Path, **options_given: Any) -> Iterator[Segmenter | ConceptSegmenter]:
    """A roboflow-* backend for ``name`` (box or concept) pointed at a running test server, not yet loaded;
    ``options_given`` are RoboflowOptions fields."""
    from segkit_roboflow import (
        CONCEPT_BACKEND,
        SAM2_BACKENDS,
        RoboflowSam2Segmenter,
        RoboflowSam3ConceptSegmenter,
        RoboflowSam3Segmenter,
    )
    from segkit_roboflow.options import RoboflowOptions

    with RoboflowTestServer() as server:
        options = RoboflowOptions(**{"timeout": 10, "max_tries": 2, "backoff": 0.05, "max_backoff": 0.2, **options_given,
                                     "api_url": server.url, "api_key": server.api_key})
        if name in SAM2_BACKENDS:
            yield RoboflowSam2Segmenter(name, options, version_id=SAM2_BACKENDS[name])
        elif name == CONCEPT_BACKEND:
            yield RoboflowSam3ConceptSegmenter(name, options)
        else:
            yield RoboflowSam3Segmenter(name, options)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m segkit_roboflow.testing [--delay S] [--shape ring] [--key KEY]``: serve on loopback
    until interrupted; the first line printed is ``<url> <key>``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m segkit_roboflow.testing", description=main.__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds every answer waits (default 0)")
    parser.add_argument("--shape", default="ring", choices=["ring", "blobs", "ellipse", "box", "empty"])
    parser.add_argument("--key", default=None, help="the API key to accept (default: a random one)")
    args = parser.parse_args(argv)
    with RoboflowTestServer(api_key=args.key, shape=args.shape, delay=args.delay) as server:
        print(server.url, server.api_key, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            sys.stdout.flush()


if __name__ == "__main__":
    main()
