"""The vlm detector: a vision-language model behind an OpenAI-compatible chat completions endpoint."""

from __future__ import annotations

from typing import Any

import numpy as np

from segkit import (
    BackendFatalError,
    BackendNotReady,
    BoxSpace,
    ConfigError,
    Detector,
    DetectorAnswer,
    ImageFailed,
    Readiness,
    RetryPolicy,
    box_space_for_model,
    redact,
    register_secret,
)
from segkit_http import HttpClient, HttpError, api_host

from segkit_vlm.failures import failure_for
from segkit_vlm.options import VlmOptions, resolve_api_key
from segkit_vlm.wire import ENDPOINT, WireError, answer_of, chat_request, png_data_url

MAX_ANSWER_BYTES = 16 * 1024 * 1024


class VlmDetector(Detector):
    """Asks a vision-language model (Qwen2.5-VL, Qwen3-VL, ...) behind an OpenAI-compatible API for boxes."""

    options_key = "vlm"
    Options = VlmOptions
    reader = "qwen-grounding"

    def __init__(self, name: str, options: VlmOptions | None = None, **params: Any):
        super().__init__(name, options, **params)
        self.options: VlmOptions
        self.max_concurrency = self.options.concurrency
        self._http: HttpClient | None = None
        self._key: str | None = None

    def check_ready(self) -> Readiness:
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
        options = self.options
        self._key = resolve_api_key(options)
        self._http = HttpClient(
            self.name, options.api_url, url_option="--api-url", timeout_option="-O vlm.timeout=SECONDS",
            timeout=options.timeout, retry=RetryPolicy(options.max_tries, options.backoff, options.max_backoff),
            concurrency=options.concurrency, secrets=[self._key], max_response_bytes=MAX_ANSWER_BYTES,
        )
        self._http.check_reachable()

    def detect(self, image: np.ndarray, prompt: str) -> DetectorAnswer:
        if self._http is None:
            raise BackendNotReady(f"detector {self.name!r} used before load()")
        options = self.options
        body = chat_request(options.model, prompt, png_data_url(image), options.max_tokens, options.temperature)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        try:
            response = self._http.post_json(ENDPOINT, body, headers=headers)
        except HttpError as exc:
            error = failure_for(exc, self.name, options, bool(self._key), self._http.where(ENDPOINT))
            if isinstance(error, (ConfigError, BackendFatalError)):
                self._http.abort(error)  # every image in flight and to come stops with the same line
            raise error from None
        try:
            text, info = answer_of(response)
        except WireError as exc:
            raise ImageFailed(redact(f"{self.name}: {exc}")) from None
        note = ""
        if info.get("finish_reason") == "length":
            note = f"the model stopped at max_tokens={options.max_tokens}: raise it with -O vlm.max_tokens=N"
        # A model may repeat whatever it was given, the key too: nothing secret reaches the detection file.
        return DetectorAnswer(redact(text), _redacted(info), note)

    def box_space(self) -> BoxSpace | None:
        return box_space_for_model(self.options.model)

    def settings(self) -> dict[str, Any]:
        options = self.options
        return {"model": options.model, "api_url": api_host(options.api_url), "max_tokens": options.max_tokens,
                "temperature": options.temperature}

    def cancel(self) -> None:
        """Ctrl-C: the requests in flight give up at once, and so does every later one."""
        if self._http is not None:
            self._http.abort()

    def close(self) -> None:
        """Stops requests in flight at once."""
        if self._http is not None:
            self._http.abort()


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value
