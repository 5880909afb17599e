"""What a failed request to the Roboflow API means for the run.

* 401 and 403 (the key), 402 and 423 (billing), 404 (a wrong api_url), 501 and every other 4xx but 413
  are not tried again: BackendFatalError ends the run with one line, and the requests of other images
  in flight stop with it.
* 413 (the image is too large), an answer that is no JSON object, and a request whose tries all failed
  (429, 408, 5xx, timeouts, lost connections: segkit-http tries those again) fail that image only.

A fatal error names the backend itself; segkit prefixes an image's failure with the backend and image.
"""

from __future__ import annotations

from segkit import BackendFatalError, ImageFailed, status_text
from segkit_http import HttpError, shorten

from segkit_roboflow.options import KEY_ENV


def failure_for(exc: HttpError, backend: str, endpoint: str, host: str) -> Exception:
    if exc.kind == "stopped":
        return BackendFatalError(str(exc))
    if exc.kind != "status" or exc.status is None:
        return ImageFailed(str(exc))
    code, detail = exc.status, exc.detail
    said = status_text(code) + (f": {detail}" if detail else "")
    if code in (401, 403):
        said = status_text(code) + (f": {_first_sentence(detail)}" if detail else "")
        fatal = f"{host} refused the API key ({said}); check the key in {KEY_ENV} (or options.roboflow.api_key)"
    elif code in (402, 423):
        fatal = f"{host} refused the request ({said}); check the workspace's billing and API usage"
    elif code == 404:
        fatal = (f"{endpoint} was not found at {host} ({said}); check api_url (-O roboflow.api_url=URL): the hosted API,"
                 " a local inference server or a dedicated deployment")
    elif code == 413:
        return ImageFailed(f"{endpoint}: the image is too large for the API ({said})")
    elif code == 501:
        fatal = f"{host} does not implement {endpoint} ({said})"
    else:
        fatal = (f"{host} rejected the request ({said}); the API may have changed, please report this with"
                 " segkit-roboflow's version")
    return BackendFatalError(f"{backend}: {fatal}")


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head if dot else text


def sdk_failure(exc: Exception, endpoint: str) -> ImageFailed:
    """inference-sdk (or requests under it) refusing a call before anything was sent: that image fails,
    in one line, with the key masked."""
    words = shorten(" ".join(str(exc).split()) or type(exc).__name__, 300)
    return ImageFailed(f"{endpoint}: inference-sdk could not send the request ({type(exc).__name__}: {words})")
