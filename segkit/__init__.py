"""segkit: detector boxes in, instance masks out, from any segmenter, compared.

The public plugin API. A segmenter plugin subclasses ``Segmenter`` and registers it::

    import segkit

    class MySegmenter(segkit.Segmenter):
        def segment(self, image, boxes):
            ...
            return segkit.Segmentation(masks=masks, scores=scores)

    @segkit.hookimpl
    def register_segmenters(register):
        register("my-backend", MySegmenter)

and `segkit run` is a library call: ``segkit.run_job(segkit.RunJob(backends=[...], images=..., ...))``, as is
`segkit detect`: ``segkit.detect_job(segkit.DetectJob(images=..., out=..., prompt=..., flags={"model": ...}))``.
"""

from segkit.boxes import NORMALIZED, PER_MILLE, PIXELS, BoxSpace
from segkit.detection_reader import DetectionFormatError, DetectionReader, ReaderContext
from segkit.detections import Detection, RawDetection
from segkit.detector import Detector, DetectorAnswer
from segkit.errors import BackendFatalError, BackendNotReady, ConfigError, ImageFailed, SegkitError
from segkit.hookspecs import hookimpl
from segkit.segmenter import NoOptions, Readiness, Segmentation, Segmenter

__version__ = "0.1.0"

_LAZY = {"RunJob": "segkit.job", "RunEvents": "segkit.job", "RunResult": "segkit.job", "run_job": "segkit.job",
         "DetectJob": "segkit.detect", "detect_job": "segkit.detect"}


def __getattr__(name: str):
    """The run and detect APIs, imported on first use (they pull in the whole output stage)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'segkit' has no attribute {name!r}")


__all__ = [
    "NORMALIZED",
    "PER_MILLE",
    "PIXELS",
    "BackendFatalError",
    "BackendNotReady",
    "BoxSpace",
    "ConfigError",
    "DetectJob",
    "Detection",
    "DetectionFormatError",
    "DetectionReader",
    "Detector",
    "DetectorAnswer",
    "ImageFailed",
    "NoOptions",
    "RawDetection",
    "ReaderContext",
    "Readiness",
    "RunEvents",
    "RunJob",
    "RunResult",
    "SegkitError",
    "Segmentation",
    "Segmenter",
    "detect_job",
    "hookimpl",
    "run_job",
]
