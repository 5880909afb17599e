"""What a failed chat completion request means for `segkit detect`.

* 401 and 403 (the key), 404 (the model or the URL) and the other 4xx but 400, 413 and 422 are the
  user's settings: ConfigError stops the run (exit 2) in one line. A 401's own text is not repeated
  (OpenAI's repeats part of the key); its error code is.
* 400, 413 and 422 (an image too large, a prompt too long), an answer that is no JSON object, and a
  request whose tries all failed (timeouts, 429, 5xx, lost connections: segkit-http tries those again)
  fail that image only: ImageFailed, and the run goes on.
* 501: the server has no chat completions; BackendFatalError stops the run (exit 1).
"""

from __future__ import annotations

from segkit import BackendFatalError, ConfigError, ImageFailed, status_text
from segkit_http import HttpError

from segkit_vlm.options import VlmOptions
from segkit_vlm.wire import error_code


def failure_for(exc: HttpError, detector: str, options: VlmOptions, has_key: bool, where: str) -> Exception:
    if exc.kind == "stopped":
        return BackendFatalError(str(exc))
    if exc.kind != "status" or exc.status is None:
        return ImageFailed(f"{detector}: {exc}")
    status = exc.status
    if status in (401, 403):
        code = error_code(exc.body)
        said = status_text(status) + (f" ({code})" if code else "")
        env = options.api_key_env
        if has_key:
            return ConfigError(f"{detector}: {where} refused the API key ({said}); check the key in {env}")
        return ConfigError(f"{detector}: {where} asks for an API key ({said}); set {env}, or name the variable"
                           " that holds it with --api-key-env")
    said = status_text(status) + (f": {exc.detail}" if exc.detail else "")
    if status == 404:
        return ConfigError(f"{detector}: {where} answered {said}; check --model {options.model!r} (the server's name for"
                           " the model) and --api-url (most servers want it to end in /v1)")
    if status in (400, 413, 422):
        return ImageFailed(f"{detector}: {where} refused the request for this image ({said})")
    if status == 501:
        return BackendFatalError(f"{detector}: {where} does not implement chat completions ({said})")
    return ConfigError(f"{detector}: {where} rejected the request ({said}); check --api-url")
