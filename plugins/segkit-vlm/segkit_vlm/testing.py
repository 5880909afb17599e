"""Offline testing of the vlm detector: a loopback server that speaks the chat completions wire format.

``ChatCompletionsTestServer`` is a real HTTP server on 127.0.0.1 (an ephemeral port, a thread per
request) implementing ``POST /v1/chat/completions`` as OpenAI-compatible servers (vLLM, SGLang) do:

* the key is read from ``Authorization: Bearer``; a missing or wrong one gets OpenAI's 401, whose
  message repeats the key it was given (so tests can check segkit never shows it);
* ``model`` must be the served model's name, else vLLM's 404 ``The model `x` does not exist.``;
* the messages must hold one user message with one ``image_url`` part (a ``data:image/png;base64,``
  URL) and one ``text`` part, else 400; the PNG is decoded and recorded (size, a hash of its pixels)
  so tests can check it arrived losslessly and upright;
* the answer is a ```` ```json ```` fenced list of ``{"bbox_2d": [...], "label": ...}`` like Qwen's: boxes
  given per image (by its pixels' hash, as normalized xyxy; else one box over the middle half) are
  rendered as Qwen2.5-VL does (integer pixels of its processor's smart-resized input, ``max_pixels``
  as the server was configured) or as Qwen3-VL does (integers 0..1000 of the image).

Faults are injected with ``server.inject(Fault(...))`` (429 or 503 with Retry-After, 401, 500, slow
answers, cut-off answers with ``finish_reason: length``, an answer text of the test's choosing, a body
that is not JSON) and consumed in order.
"""

from __future__ import annotations

import base64
import io
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from segkit_http.testing import JsonHandler, Reply, StandInServer, pixels_digest

__all__ = ["ChatCompletionsTestServer", "Fault", "Seen", "pixels_digest", "qwen25_input_size", "render_boxes"]

Style = Literal["qwen2.5-vl", "qwen3-vl"]
PATH = "/v1/chat/completions"
DATA_URL = "data:image/png;base64,"
QWEN25_DEFAULT_MAX_PIXELS = 12845056
MIDDLE = (0.25, 0.25, 0.75, 0.75)


def qwen25_input_size(width: int, height: int, max_pixels: int = QWEN25_DEFAULT_MAX_PIXELS,
                      factor: int = 28, min_pixels: int = 56 * 56) -> tuple[int, int]:
    """(width, height) of the picture Qwen2.5-VL's processor makes from an image: transformers'
    ``smart_resize`` written out again here (height first, as there), so that the stand-in server does
    not share the segkit code it tests."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def render_boxes(boxes: Sequence[tuple[str, Sequence[float]]], width: int, height: int, style: Style,
                 max_pixels: int = QWEN25_DEFAULT_MAX_PIXELS) -> str:
    """The answer a Qwen model gives for (label, normalized xyxy) boxes on a width x height image."""
    if style == "qwen2.5-vl":
        frame_w, frame_h = qwen25_input_size(width, height, max_pixels)
    else:
        frame_w, frame_h = 1000, 1000
    lines = []
    for label, (x1, y1, x2, y2) in boxes:
        numbers = [round(x1 * frame_w), round(y1 * frame_h), round(x2 * frame_w), round(y2 * frame_h)]
        lines.append("\t" + json.dumps({"bbox_2d": numbers, "label": label}, ensure_ascii=False))
    return "```json\n[\n" + ",\n".join(lines) + "\n]\n```"


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``times`` requests (None: every one)."""

    status: int | None = None  # answer with this status and an OpenAI-style error body
    body: dict[str, Any] | None = None  # ... or this error body
    retry_after: float | None = None  # Retry-After header on the answer
    delay: float = 0.0  # wait this long before answering (a slow server; timeouts)
    cut_at: int | None = None  # answer normally, cut after this many characters, finish_reason "length"
    answer: str | None = None  # answer with this text
    raw: bytes | None = None  # answer 200 with these bytes as the body (not JSON, say)
    image: str | None = None  # only requests for the picture with this pixels_digest
    times: int | None = 1

    def matches(self, seen: "Seen") -> bool:
        return self.image in (None, seen.image_digest)


@dataclass
class Seen:
    """What the server saw of one request, and what it answered."""

    path: str
    started: float
    authorization: str | None = None
    key_ok: bool = False
    model: str | None = None
    max_tokens: Any = None
    temperature: Any = None
    prompt: str | None = None
    image_size: tuple[int, int] | None = None  # (width, height) of the decoded PNG
    image_digest: str | None = None
    problem: str | None = None  # why the request was refused as malformed
    status: int | None = None
    answer: str | None = None


class ChatCompletionsTestServer(StandInServer):
    """A loopback stand-in for an OpenAI-compatible server serving a Qwen-VL model (see the module doc)."""

    thread_name = "chat-test-server"
    request_queue_size = 64

    def __init__(self, style: Style = "qwen2.5-vl", model: str = "Qwen/Qwen2.5-VL-7B-Instruct",
                 api_key: str | None = None, max_pixels: int = QWEN25_DEFAULT_MAX_PIXELS):
        self.style = style
        self.model = model
        self.api_key = api_key if api_key is not None else f"sk-test-{secrets.token_hex(12)}"
        self.max_pixels = max_pixels
        self.boxes: dict[str, list[tuple[str, tuple[float, float, float, float]]]] = {}
        super().__init__()

    @property
    def url(self) -> str:
        """The API's base URL, as a user passes it to --api-url."""
        return self.origin + "/v1"

    # -- test controls ---------------------------------------------------------------------------

    def add_image(self, rgb: np.ndarray, boxes: Sequence[tuple[str, Sequence[float]]]) -> None:
        """Answer this picture (as decoded from the request) with these (label, normalized xyxy) boxes."""
        with self._lock:
            self.boxes[pixels_digest(rgb)] = [(label, tuple(float(v) for v in box)) for label, box in boxes]

    # -- the far side of the wire ----------------------------------------------------------------

    def respond(self, path: str, query: dict[str, list[str]], headers: Any, raw: bytes) -> Reply:
        seen = Seen(path=path, started=time.perf_counter(), authorization=headers.get("Authorization"))
        self.record(seen)
        reply = self._answer(seen, raw)
        seen.status = reply.status
        return reply

    def _answer(self, seen: Seen, raw: bytes) -> Reply:
        if seen.path != PATH:
            return Reply(404, {"detail": "Not Found"})
        given = (seen.authorization or "").removeprefix("Bearer ").strip()
        seen.key_ok = bool(self.api_key) and secrets.compare_digest(given.encode(), self.api_key.encode())
        if self.api_key and not seen.key_ok:
            return Reply(401, {"error": {
                "message": f"Incorrect API key provided: {given or '(none)'}. You can find your API key at https://example.invalid/keys.",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})
        try:
            request = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._bad(seen, "the body is not JSON")
        if not isinstance(request, dict):
            return self._bad(seen, "the body is not a JSON object")
        seen.model, seen.max_tokens, seen.temperature = request.get("model"), request.get("max_tokens"), request.get("temperature")
        if seen.model != self.model:
            return Reply(404, {"object": "error", "message": f"The model `{seen.model}` does not exist.",
                               "type": "NotFoundError", "param": None, "code": 404})
        image = self._read_messages(seen, request.get("messages"))
        if isinstance(image, str):
            return self._bad(seen, image)

        fault = self.take_fault(seen)
        if fault is not None:
            self.pause(fault.delay)
        if fault is not None and fault.raw is not None:
            return Reply(200, fault.raw)
        if fault is not None and (fault.status is not None or fault.body is not None):
            status = fault.status or 500
            body = fault.body or {"error": {"message": f"test server fault {status}", "type": "server_error", "code": status}}
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return Reply(status, body, headers)

        height, width = image.shape[:2]
        boxes = self.boxes.get(seen.image_digest or "", [("object", MIDDLE)])
        text = render_boxes(boxes, width, height, self.style, self.max_pixels)
        finish = "stop"
        if fault is not None and fault.answer is not None:
            text = fault.answer
        if fault is not None and fault.cut_at is not None:
            text, finish = text[: fault.cut_at], "length"
        seen.answer = text
        return Reply(200, {
            "id": f"chatcmpl-{secrets.token_hex(8)}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": len(text) // 3, "total_tokens": 1000 + len(text) // 3},
        })

    def _read_messages(self, seen: Seen, messages: Any) -> np.ndarray | str:
        from PIL import Image

        if not isinstance(messages, list) or len(messages) != 1 or not isinstance(messages[0], dict):
            return "expected one message"
        message = messages[0]
        if message.get("role") != "user" or not isinstance(message.get("content"), list):
            return "expected a user message with a list of content parts"
        parts = message["content"]
        images = [p for p in parts if isinstance(p, dict) and p.get("type") == "image_url"]
        texts = [p for p in parts if isinstance(p, dict) and p.get("type") == "text"]
        if len(images) != 1 or len(texts) != 1 or len(parts) != 2:
            return "expected one image_url part and one text part"
        url = (images[0].get("image_url") or {}).get("url")
        if not isinstance(url, str) or not url.startswith(DATA_URL):
            return f"the image is not a {DATA_URL}... URL"
        if not isinstance(texts[0].get("text"), str):
            return "the text part has no text"
        seen.prompt = texts[0]["text"]
        try:
            with Image.open(io.BytesIO(base64.b64decode(url[len(DATA_URL):], validate=True))) as img:
                if img.format != "PNG":
                    return f"the image is {img.format}, not PNG"
                rgb = np.asarray(img.convert("RGB"))
        except Exception as exc:  # what a server says about an image it cannot open
            return f"cannot decode the image: {exc}"
        seen.image_size, seen.image_digest = (rgb.shape[1], rgb.shape[0]), pixels_digest(rgb)
        return rgb

    def _bad(self, seen: Seen, problem: str) -> Reply:
        seen.problem = problem
        return Reply(400, {"object": "error", "message": problem, "type": "BadRequestError", "param": None, "code": 400})


ChatCompletionsTestServer.handler = JsonHandler


def main() -> None:
    """``python -m segkit_vlm.testing [--delay S] [--style qwen3-vl]``: serve until stdin closes, printing
    the base URL and the model's name (benchmarks run the server in its own process, off the client's GIL)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="A loopback chat completions server answering like a Qwen-VL model.")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--style", choices=("qwen2.5-vl", "qwen3-vl"), default="qwen2.5-vl")
    parser.add_argument("--max-pixels", type=int, default=QWEN25_DEFAULT_MAX_PIXELS)
    args = parser.parse_args()
    with ChatCompletionsTestServer(args.style, api_key="", max_pixels=args.max_pixels) as server:
        if args.delay:
            server.inject(Fault(delay=args.delay, times=None))
        print(server.url, server.model, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
