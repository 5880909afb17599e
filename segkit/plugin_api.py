"""Everything a segkit plugin may import, in one place (re-exported by ``segkit`` itself).

A plugin imports these names from ``segkit`` (``from segkit import Segmenter, one_line``) and nothing
else of segkit's but ``segkit.testing``; every other module is internal and may change in any release.
docs/plugin-api.md lists each name with one line and says what is stable.
"""

from __future__ import annotations

from typing import Any

from segkit.errors import (
    BackendFatalError,
    BackendNotReady,
    ConfigError,
    ImageFailed,
    InputError,
    SegkitError,
    exception_text,
    one_line,
)
from segkit.inputs.box_spaces import (
    NORMALIZED,
    PER_MILLE,
    PIXELS,
    BoxSpace,
    box_space_for_model,
    parse_box_space,
    to_normalized_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)
from segkit.inputs.detections import Detection, RawDetection
from segkit.inputs.images import load_rgb
from segkit.inputs.readers.base import (
    DetectionFormatError,
    DetectionReader,
    ReaderContext,
)
from segkit.plugins.detector import Detector, DetectorAnswer
from segkit.plugins.concept_segmenter import Concept, ConceptContractError, ConceptInstances, ConceptSegmenter
from segkit.plugins.hookspecs import hookimpl
from segkit.plugins.segmenter import (
    ContractError,
    NoOptions,
    Readiness,
    Segmentation,
    Segmenter,
)
from segkit.redact import redact, register_secret
from segkit.retry import RetryPolicy, retry_after_seconds, status_text


def get_backend(name: str, **options: Any) -> Segmenter:
    """A backend by the name `segkit run --backend` takes, created with ``options`` (its Options fields,
    over the SEGKIT_<KEY>_<FIELD> environment), checked ready and loaded: call ``segment`` on it, then
    ``close``. Raises UnknownBackendError (listing the names), ConfigError or BackendNotReady in one line."""
    from segkit.plugins.host import get_host
    from segkit.plugins.options import resolve_options

    entry = get_host().backend(name)
    key = entry.cls.options_key
    segmenter = entry.create(resolve_options(entry.cls, {key: options} if key else {}, {}))
    readiness = segmenter.check_ready()
    if not readiness.ready:
        raise BackendNotReady(f"backend {entry.name!r} is not ready: {readiness.reason}")
    segmenter.load()
    return segmenter


def get_detector(name: str, **options: Any) -> Detector:
    """A detector by the name `segkit detect --detector` takes, created with ``options``, checked ready and
    loaded: call ``detect`` on it, then ``close``."""
    from segkit.plugins.host import get_host
    from segkit.plugins.options import resolve_options

    entry = get_host().detector(name)
    key = entry.cls.options_key
    detector = entry.create(resolve_options(entry.cls, {key: options} if key else {}, {}))  # type: ignore[arg-type]
    readiness = detector.check_ready()
    if not readiness.ready:
        raise BackendNotReady(f"detector {entry.name!r} is not ready: {readiness.reason}")
    detector.load()
    return detector


__all__ = [
    # contracts
    "Segmenter", "Segmentation", "Readiness", "NoOptions", "ContractError",
    "ConceptSegmenter", "Concept", "ConceptInstances", "ConceptContractError",
    "Detector", "DetectorAnswer",
    "DetectionReader", "ReaderContext", "DetectionFormatError", "RawDetection", "Detection",
    "hookimpl",
    # errors and their one-line form
    "SegkitError", "ConfigError", "InputError", "BackendNotReady", "BackendFatalError", "ImageFailed",
    "one_line", "exception_text",
    # secrets
    "register_secret", "redact",
    # remote calls
    "RetryPolicy", "retry_after_seconds", "status_text",
    # boxes and images
    "BoxSpace", "PIXELS", "NORMALIZED", "PER_MILLE", "parse_box_space", "box_space_for_model",
    "xyxy_to_cxcywh", "xyxy_to_xywh", "to_normalized_xyxy", "load_rgb",
    # one backend or detector without a run
    "get_backend", "get_detector",
]
