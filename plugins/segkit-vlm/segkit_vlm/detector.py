"""The vlm detector: a vision-language model behind an OpenAI-compatible chat completions endpoint."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from segkit.inputs.box_spaces import BoxSpace, box_space_for_model
from segkit.plugins.detector import Detector, DetectorAnswer
from segkit.errors import BackendNotReady, ImageFailed
from segkit.redact import register_secret
from segkit.plugins.segmenter import Readiness

from segkit_vlm.options import VlmOptions, api_host, resolve_api_key
from segkit_vlm.transport import ChatTransport
from segkit_vlm.wire import WireError, answer_of, chat_request, png_data_url


class VlmDetector(Detector):
    """Asks a vision-language model (Qwen2.5-VL, Qwen3-VL, ...) behind an OpenAI-compatible API for boxes."""

    options_key = "vlm"
    Options = VlmOptions
    reader = "qwen-grounding"

    def __init__(self, name: str, options: VlmOptions | None = None, **params: Any):
        super().__init__(name, options, **params)
        self.max_concurrency = self.options.concurrency
        self._transport: ChatTransport | None = None

    def check_ready(self) -> Readiness:
        if importlib.util.find_spec("requests") is None:
            return Readiness.missing("requests cannot be imported; pip install requests")
        if not self.options.model:
            return Readiness.missing("no model named: pass --model NAME (the server's name for it, e.g."
                                     " Qwen/Qwen2.5-VL-7B-Instruct) or set -O vlm.model=NAME")
        key = resolve_api_key(self.options)
        register_secret(key)
        env = self.options.api_key_env
        said = f"key from {env}" if key else f"no key ({env} is unset: fine for a local server)"
        return Readiness.ok(f"{self.options.model} at {api_host(self.options.api_url)}, {said}")

    def load(self) -> None:
        readiness = self.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"detector {self.name!r} is not ready: {readiness.reason}")
        key = resolve_api_key(self.options)
        register_secret(key)
        self._transport = ChatTransport(self.name, self.options, key)
        self._transport.open()

    def detect(self, image: np.ndarray, prompt: str) -> DetectorAnswer:
        if self._transport is None:
            raise BackendNotReady(f"detector {self.name!r} used before load()")
        options = self.options
        body = chat_request(options.model, prompt, png_data_url(image), options.max_tokens, options.temperature)
        response = self._transport.post(body)
        try:
            text, info = answer_of(response)
        except WireError as exc:
            raise ImageFailed(f"{self.name}: {exc}") from exc
        note = ""
        if info.get("finish_reason") == "length":
            note = f"the model stopped at max_tokens={options.max_tokens}: raise it with -O vlm.max_tokens=N"
        return DetectorAnswer(text, info, note)

    def box_space(self) -> BoxSpace | None:
        return box_space_for_model(self.options.model)

    def settings(self) -> dict[str, Any]:
        options = self.options
        return {"model": options.model, "api_url": api_host(options.api_url), "max_tokens": options.max_tokens,
                "temperature": options.temperature}

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
