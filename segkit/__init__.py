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
"""

from segkit.boxes import NORMALIZED, PER_MILLE, PIXELS, BoxSpace
from segkit.detection_reader import DetectionFormatError, DetectionReader, ReaderContext
from segkit.detections import Detection, RawDetection
from segkit.errors import BackendFatalError, BackendNotReady, ImageFailed, SegkitError
from segkit.hookspecs import hookimpl
from segkit.segmenter import NoOptions, Readiness, Segmentation, Segmenter

__version__ = "0.1.0"

__all__ = [
    "NORMALIZED",
    "PER_MILLE",
    "PIXELS",
    "BackendFatalError",
    "BackendNotReady",
    "BoxSpace",
    "Detection",
    "DetectionFormatError",
    "DetectionReader",
    "ImageFailed",
    "NoOptions",
    "RawDetection",
    "ReaderContext",
    "Readiness",
    "SegkitError",
    "Segmentation",
    "Segmenter",
    "hookimpl",
]
