"""segkit-ultralytics: SAM 2.1 as the `ultralytics` package runs it, as segkit backends.

``ultralytics-sam2.1-t``, ``-s``, ``-b`` and ``-l``, from the weight files ``sam2.1_{t,s,b,l}.pt`` in
``checkpoints/``, options under ``options.ultralytics`` (see ``UltralyticsOptions``); and ``ultralytics-sam3``
from Meta's ``sam3.pt``, options under ``options.ultralytics_sam3`` (see ``segkit_ultralytics.sam3``); and the
concept backend ``ultralytics-sam3-concept`` on the same file (``segkit_ultralytics.concept``; needs Ultralytics'
CLIP fork).
"""

from __future__ import annotations

import segkit
from segkit_ultralytics.backend import UltralyticsOptions, UltralyticsSam2Segmenter
from segkit_ultralytics.models import MODELS
from segkit_ultralytics.concept import UltralyticsSam3ConceptSegmenter
from segkit_ultralytics.sam3 import UltralyticsSam3Segmenter

__version__ = "0.1.0"
__all__ = [
    "MODELS", "UltralyticsOptions", "UltralyticsSam2Segmenter", "UltralyticsSam3ConceptSegmenter", "UltralyticsSam3Segmenter",
    "register_concept_segmenters", "register_segmenters",
]


@segkit.hookimpl
def register_segmenters(register):
    for model in MODELS.values():
        register(model.backend, UltralyticsSam2Segmenter, size=model.key, description=model.description)
    register("ultralytics-sam3", UltralyticsSam3Segmenter, description="SAM 3, box prompts, through Ultralytics (sam3.pt)")


@segkit.hookimpl
def register_concept_segmenters(register):
    register("ultralytics-sam3-concept", UltralyticsSam3ConceptSegmenter,
             description="SAM 3 concept segmentation through Ultralytics (SAM3SemanticPredictor, sam3.pt; needs Ultralytics' CLIP fork)")
