"""The roboflow-* segmenters: SAM2 (one request per image, all boxes as prompts) and SAM3 visual
segment (one request per box, sent concurrently), calling inference-sdk's methods with segkit-http's
client underneath (``segkit_roboflow.sdk``)."""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, ClassVar

import numpy as np

from segkit import (
    BackendFatalError,
    BackendNotReady,
    ImageFailed,
    Readiness,
    RetryPolicy,
    Segmentation,
    Segmenter,
    redact,
    register_secret,
)
from segkit_http import HttpClient, HttpError, api_host

from segkit_roboflow.failures import failure_for, sdk_failure
from segkit_roboflow.options import KEY_HELP, RoboflowOptions, resolve_api_key
from segkit_roboflow.sdk import SdkClient, sdk_missing, sdk_version

SAM2_VERSIONS = ("hiera_tiny", "hiera_small", "hiera_b_plus", "hiera_large")


class RoboflowConnection:
    """What every Roboflow backend shares: the key, segkit-http's client and inference-sdk's client on top."""

    options: RoboflowOptions
    name: str
    endpoint: ClassVar[str] = ""

    def _connect_init(self) -> None:
        self._http: HttpClient | None = None
        self._sdk: SdkClient | None = None

    def _api_key(self) -> str | None:
        key = resolve_api_key(self.options)
        register_secret(key)
        return key

    def check_ready(self) -> Readiness:
        missing = sdk_missing()
        if missing:
            return Readiness.missing(missing)
        if not self._api_key():
            return Readiness.missing(f"no Roboflow API key: {KEY_HELP}")
        return Readiness.ok(f"{self.endpoint} at {api_host(self.options.api_url)}")

    def load(self) -> None:
        missing = sdk_missing()
        if missing:
            raise BackendNotReady(f"backend {self.name!r} is not ready: {missing}")
        key = self._api_key()
        if not key:
            raise BackendNotReady(f"backend {self.name!r} is not ready: no Roboflow API key: {KEY_HELP}")
        options = self.options
        self._http = HttpClient(
            self.name, options.api_url, url_option="-O roboflow.api_url=URL", timeout_option="-O roboflow.timeout=SECONDS",
            timeout=options.timeout, retry=RetryPolicy(options.max_tries, options.backoff, options.max_backoff),
            concurrency=options.concurrency, secrets=[key],
        )
        self._http.check_reachable()
        self._sdk = SdkClient(self._http, options.api_url, key, options.api_key_transport)

    def cancel(self) -> None:
        """Ctrl-C: the requests in flight fail at once, and so does every later one."""
        if self._http is not None:
            self._http.abort()

    def close(self) -> None:
        """Stops requests in flight at once (segkit calls this as soon as a run is interrupted)."""
        self.cancel()

    def _base_settings(self) -> dict[str, Any]:
        """Everything that shapes the masks, and nothing secret (no key, no query string)."""
        return {
            "api_host": api_host(self.options.api_url),
            "endpoint": self.endpoint,
            "client": f"inference-sdk {sdk_version()} over segkit-http",
            "format": self.options.format,
            "image_encoding": "png",
            "concurrency": self.options.concurrency,
            "timeout_s": self.options.timeout,
            "max_tries": self.options.max_tries,
        }

    def _call(self, method: str, **arguments: Any) -> dict[str, Any]:
        """``InferenceHTTPClient.<method>(**arguments)``: its answer, or the failure segkit understands."""
        if self._http is None or self._sdk is None:
            raise RuntimeError(f"{self.name}: segment() called before load()")
        try:
            answer = self._sdk.call(method, **arguments)
        except HttpError as exc:
            error = failure_for(exc, self.name, self.endpoint, self._http.host)
            if isinstance(error, BackendFatalError):
                self._http.abort(error)  # the requests of every other image in flight stop with the same line
            raise error from None
        except (BackendFatalError, ImageFailed):
            raise  # the stop error of an abort(error): already the run's answer
        except Exception as exc:  # noqa: BLE001 - the SDK refusing the input before sending (its errors, requests')
            raise sdk_failure(exc, self.endpoint) from None
        if not isinstance(answer, dict):
            raise ImageFailed(f"{self.endpoint}: unexpected answer: inference-sdk returned {type(answer).__name__}, not an object")
        return answer


class RoboflowSegmenter(RoboflowConnection, Segmenter):
    """Shared by the Roboflow box backends: options, key, clients, decoding."""

    options_key = "roboflow"
    Options = RoboflowOptions

    def __init__(self, name: str, options: RoboflowOptions | None = None, **params: Any):
        super().__init__(name, options, **params)
        self.options: RoboflowOptions
        self.max_concurrency = self.options.concurrency
        self._connect_init()

    def settings(self) -> dict[str, Any]:
        return {**self._base_settings(), "multimask_output": self.options.multimask}

    def _read(self, answer: dict, expected: int, height: int, width: int) -> tuple[list[np.ndarray], list[float]]:
        from segkit_roboflow.wire import ResponseError, read_predictions

        try:
            return read_predictions(answer, expected, height, width, self.options.format)
        except ResponseError as exc:
            raise ImageFailed(redact(f"{self.endpoint}: unexpected answer: {exc}")) from None


class RoboflowSam2Segmenter(RoboflowSegmenter):
    """SAM2 on the Roboflow API (/sam2/segment_image): all of an image's boxes in one request."""

    endpoint = "/sam2/segment_image"

    def __init__(self, name: str, options: RoboflowOptions | None = None, *, version_id: str = "hiera_tiny", **params: Any):
        if version_id not in SAM2_VERSIONS:
            raise ValueError(f"unknown sam2_version_id {version_id!r}; one of {', '.join(SAM2_VERSIONS)}")
        super().__init__(name, options, version_id=version_id, **params)
        self.version_id = version_id

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        from segkit_roboflow.wire import WIRE_FORMAT, box_prompts, encode_png_base64

        height, width = image.shape[:2]
        if len(boxes) == 0:
            return Segmentation(np.zeros((0, height, width), bool), np.zeros(0))
        prompts = box_prompts(boxes)
        answer = self._call("sam2_segment_image", inference_input=encode_png_base64(image), prompts=prompts,
                            sam2_version_id=self.version_id, multimask_output=self.options.multimask,
                            mask_input_format=WIRE_FORMAT[self.options.format])
        masks, scores = self._read(answer, len(prompts), height, width)
        return Segmentation(np.stack(masks), np.asarray(scores, dtype=np.float64))

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "sam2_version_id": self.version_id}


class RoboflowSam3Segmenter(RoboflowSegmenter):
    """SAM3 visual segment on the Roboflow API (/sam3/visual_segment): one request per box, concurrently."""

    endpoint = "/sam3/visual_segment"

    def __init__(self, name: str, options: RoboflowOptions | None = None, **params: Any):
        super().__init__(name, options, **params)
        self._pool: ThreadPoolExecutor | None = None

    def load(self) -> None:
        super().load()
        # One pool for every image in flight; the client lets at most `concurrency` requests reach the API.
        self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix=f"{self.name}-request")

    def close(self) -> None:
        super().close()  # first: the pool's threads are released at once
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        from segkit_roboflow.wire import WIRE_FORMAT, box_prompts, encode_png_base64

        height, width = image.shape[:2]
        if len(boxes) == 0:
            return Segmentation(np.zeros((0, height, width), bool), np.zeros(0))
        picture = encode_png_base64(image)

        def one(prompt: dict) -> tuple[np.ndarray, float]:
            answer = self._call("sam3_visual_segment", inference_input=picture, prompts=[prompt],
                                multimask_output=self.options.multimask, mask_input_format=WIRE_FORMAT[self.options.format])
            masks, scores = self._read(answer, 1, height, width)
            return masks[0], scores[0]

        futures = [self._submit(one, prompt) for prompt in box_prompts(boxes)]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        errors = [f.exception() for f in futures if f in done and f.exception() is not None]
        if errors:
            for future in pending:
                future.cancel()
            fatal = [e for e in errors if isinstance(e, BackendFatalError)]
            raise (fatal or errors)[0]
        results = [f.result() for f in futures]
        return Segmentation(np.stack([m for m, _ in results]), np.asarray([s for _, s in results], dtype=np.float64))

    def _submit(self, work, prompt):
        pool = self._pool
        try:
            if pool is None:
                raise RuntimeError("closed")
            return pool.submit(work, prompt)
        except RuntimeError:  # closed while this image was being prepared (an interrupted run)
            raise BackendFatalError(f"{self.name}: stopped") from None

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "model_id": "sam3/sam3_interactive", "prompts_per_request": 1}
