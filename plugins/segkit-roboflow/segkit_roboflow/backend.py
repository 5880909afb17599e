"""The roboflow-* segmenters: SAM2 (one request per image, all boxes as prompts) and SAM3 visual
segment (one request per box, sent concurrently), both through inference-sdk's InferenceHTTPClient."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from segkit.errors import BackendFatalError, ImageFailed
from segkit.redact import redact, register_secret
from segkit.plugins.segmenter import Readiness, Segmentation, Segmenter

from segkit_roboflow.options import KEY_HELP, RoboflowOptions, api_host, resolve_api_key

if TYPE_CHECKING:
    from segkit_roboflow.transport import RoboflowTransport

SAM2_VERSIONS = ("hiera_tiny", "hiera_small", "hiera_b_plus", "hiera_large")


class RoboflowSegmenter(Segmenter):
    """Shared by the Roboflow backends: options, key, client, retries, decoding."""

    options_key = "roboflow"
    Options = RoboflowOptions
    endpoint: ClassVar[str] = ""

    def __init__(self, name: str, options: RoboflowOptions | None = None, **params: Any):
        super().__init__(name, options, **params)
        self.options: RoboflowOptions
        self.max_concurrency = self.options.concurrency
        self._transport: RoboflowTransport | None = None
        self._sdk_version: str | None = None

    def _api_key(self) -> str | None:
        key = resolve_api_key(self.options)
        register_secret(key)
        return key

    def check_ready(self) -> Readiness:
        if importlib.util.find_spec("inference_sdk") is None:
            return Readiness.missing("inference-sdk is not installed; pip install 'inference-sdk>=1.8,<2'")
        if not self._api_key():
            return Readiness.missing(f"no Roboflow API key: {KEY_HELP}")
        return Readiness.ok(f"{self.endpoint} at {api_host(self.options.api_url)}")

    def load(self) -> None:
        from segkit_roboflow.transport import RoboflowTransport

        key = self._api_key()
        if not key:
            from segkit.errors import BackendNotReady

            raise BackendNotReady(f"backend {self.name!r} is not ready: no Roboflow API key: {KEY_HELP}")
        transport = RoboflowTransport(self.name, self.options, key, self.endpoint)
        transport.open()
        self._transport = transport
        self._sdk_version = _version("inference-sdk")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def settings(self) -> dict[str, Any]:
        """Everything that shapes the masks, and nothing secret (no key, no query string)."""
        return {
            "api_host": api_host(self.options.api_url),
            "endpoint": self.endpoint,
            "format": self.options.format,
            "multimask_output": self.options.multimask,
            "image_encoding": "png",
            "concurrency": self.options.concurrency,
            "timeout_s": self.options.timeout,
            "max_tries": self.options.max_tries,
            "inference_sdk": self._sdk_version or _version("inference-sdk"),
        }

    def _request(self, send) -> dict:
        if self._transport is None:
            raise RuntimeError(f"{self.name}: segment() called before load()")
        return self._transport.call(send)

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
        picture, prompts = encode_png_base64(image), box_prompts(boxes)
        answer = self._request(lambda client: client.sam2_segment_image(
            inference_input=picture,
            prompts=prompts,
            sam2_version_id=self.version_id,
            multimask_output=self.options.multimask,
            mask_input_format=WIRE_FORMAT[self.options.format],
        ))
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
        # One pool for every image in flight: at most `concurrency` requests reach the API at once.
        self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix=f"{self.name}-request")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().close()

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        from segkit_roboflow.wire import WIRE_FORMAT, box_prompts, encode_png_base64

        height, width = image.shape[:2]
        if len(boxes) == 0:
            return Segmentation(np.zeros((0, height, width), bool), np.zeros(0))
        if self._pool is None:
            raise RuntimeError(f"{self.name}: segment() called before load()")
        picture = encode_png_base64(image)
        fmt = WIRE_FORMAT[self.options.format]

        def one(prompt: dict) -> tuple[np.ndarray, float]:
            answer = self._request(lambda client: client.sam3_visual_segment(
                inference_input=picture,
                prompts=[prompt],
                multimask_output=self.options.multimask,
                mask_input_format=fmt,
            ))
            masks, scores = self._read(answer, 1, height, width)
            return masks[0], scores[0]

        futures = [self._pool.submit(one, prompt) for prompt in box_prompts(boxes)]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        errors = [f.exception() for f in futures if f in done and f.exception() is not None]
        if errors:
            for future in pending:
                future.cancel()
            fatal = [e for e in errors if isinstance(e, BackendFatalError)]
            raise (fatal or errors)[0]
        results = [f.result() for f in futures]
        return Segmentation(np.stack([m for m, _ in results]), np.asarray([s for _, s in results], dtype=np.float64))

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "model_id": "sam3/sam3_interactive", "prompts_per_request": 1}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
