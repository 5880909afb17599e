"""The OpenAI chat completions wire format, as vLLM, SGLang, Ollama and DashScope speak it.

Request (``POST {api_url}/chat/completions``)::

    {"model": "Qwen/Qwen2.5-VL-7B-Instruct", "max_tokens": 4096, "temperature": 0.0,
     "messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
         {"type": "text", "text": "Locate every cup ..."}]}]}

Answer: ``{"choices": [{"message": {"role": "assistant", "content": "```json ..."}, "finish_reason": "stop"}],
"model": ..., "usage": {...}}``; ``finish_reason`` ``"length"`` means the answer stopped at ``max_tokens``.
Errors: OpenAI's ``{"error": {"message", "type", "code"}}`` or vLLM's ``{"object": "error", "message", ...}``.

The image goes as a PNG: lossless, so the model sees exactly the pixels segkit segments.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from segkit_http import server_words

ENDPOINT = "/chat/completions"


class WireError(Exception):
    """An answer that does not have the shape of a chat completion."""


def png_data_url(rgb: np.ndarray) -> str:
    """An (H, W, 3) uint8 RGB image as a ``data:image/png;base64,...`` URL (lossless)."""
    import cv2

    ok, buffer = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise WireError("PNG encoding of the image failed")
    return "data:image/png;base64," + base64.b64encode(buffer.tobytes()).decode("ascii")


def chat_request(model: str, prompt: str, image_url: str, max_tokens: int, temperature: float) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": image_url}},
                {"type": "text", "text": prompt},
            ],
        }],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }


def answer_of(response: Any) -> tuple[str, dict[str, Any]]:
    """(the answer's text, what to record about it) from a chat completion; WireError if it has none."""
    if not isinstance(response, dict):
        raise WireError(f"the server answered with a JSON {type(response).__name__}, not a chat completion object")
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        said = server_words(response)
        raise WireError("the server's answer has no choices" + (f" ({said})" if said else ""))
    choice = choices[0]
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # content parts, as some servers answer
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if not isinstance(content, str):
        raise WireError(f"the server's answer has no text in choices[0].message.content (finish_reason {choice.get('finish_reason')!r})")
    info: dict[str, Any] = {"finish_reason": choice.get("finish_reason")}
    if isinstance(response.get("model"), str):
        info["model"] = response["model"]
    usage = response.get("usage")
    if isinstance(usage, dict):
        info["usage"] = {k: v for k, v in usage.items() if k in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(v, int)}
    return content, info


def error_code(body: Any) -> str:
    """The error's machine-readable code or type (``invalid_api_key``), without its message: what a 401
    may say safely, since OpenAI's message repeats part of the key."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(bytes(body[: 64 * 1024]).decode("utf-8", "replace"))
        except ValueError:
            return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and value.replace("_", "").replace("-", "").isalnum() and len(value) <= 64:
            return value
    return ""
