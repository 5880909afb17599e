"""segkit backends for the Roboflow hosted API, via inference-sdk's client with segkit-http underneath.

    roboflow-sam2-tiny, roboflow-sam2-small, roboflow-sam2-b+, roboflow-sam2-large   /sam2/segment_image
    roboflow-sam3                                                                     /sam3/visual_segment
    roboflow-sam3-concept (phrases / exemplar boxes in, every instance out)           /sam3/concept_segment

Set ROBOFLOW_API_KEY; choose the server with -O roboflow.api_url=URL (hosted serverless by default, a
local inference server, or a dedicated deployment). Other options: see ``RoboflowOptions``.
inference-sdk and the mask decoders (OpenCV, pycocotools) are imported only when a backend loads or segments.
"""

from __future__ import annotations

from segkit import hookimpl

from segkit_roboflow.backend import RoboflowSam2Segmenter, RoboflowSam3Segmenter, RoboflowSegmenter
from segkit_roboflow.concept import RoboflowSam3ConceptSegmenter
from segkit_roboflow.options import RoboflowOptions

__version__ = "0.1.0"
__all__ = ["RoboflowOptions", "RoboflowSam2Segmenter", "RoboflowSam3ConceptSegmenter", "RoboflowSam3Segmenter",
           "RoboflowSegmenter", "register_concept_segmenters", "register_segmenters"]

SAM2_BACKENDS = {
    "roboflow-sam2-tiny": "hiera_tiny",
    "roboflow-sam2-small": "hiera_small",
    "roboflow-sam2-b+": "hiera_b_plus",
    "roboflow-sam2-large": "hiera_large",
}
SAM3_BACKEND = "roboflow-sam3"
BACKENDS = (*SAM2_BACKENDS, SAM3_BACKEND)  # the box backends (one mask per box)
CONCEPT_BACKEND = "roboflow-sam3-concept"


@hookimpl
def register_segmenters(register):
    for name, version_id in SAM2_BACKENDS.items():
        register(name, RoboflowSam2Segmenter, version_id=version_id,
                 description=f"SAM2 {version_id} on the Roboflow API (/sam2/segment_image), all boxes in one request")
    register(SAM3_BACKEND, RoboflowSam3Segmenter,
             description="SAM3 visual segment on the Roboflow API (/sam3/visual_segment), one request per box")


@hookimpl
def register_concept_segmenters(register):
    register(CONCEPT_BACKEND, RoboflowSam3ConceptSegmenter,
             description="SAM3 concept segmentation on the Roboflow API (/sam3/concept_segment): every instance of"
             " each phrase or exemplar, up to 16 concepts per request")
