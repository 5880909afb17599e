"""segkit-sam3: Meta's SAM 3 (`sam3` package) as the segkit backend ``sam3``.

``sam3``: one mask per box through SAM 3's instance-interactive head (``predict_inst``), from the official
``sam3.pt`` in ``checkpoints/``. Options live under ``options.sam3`` (see ``Sam3Options``).
``sam3-concept``: every instance of a phrase and/or exemplar boxes through ``Sam3Processor``, same file,
options under ``options.sam3_concept`` (see ``Sam3ConceptOptions``).
"""

from __future__ import annotations

import segkit
from segkit_sam3.backend import Sam3Options, Sam3Segmenter
from segkit_sam3.concept import Sam3ConceptOptions, Sam3ConceptSegmenter

__version__ = "0.1.0"
__all__ = ["Sam3ConceptOptions", "Sam3ConceptSegmenter", "Sam3Options", "Sam3Segmenter", "register_concept_segmenters", "register_segmenters"]


@segkit.hookimpl
def register_segmenters(register):
    register("sam3", Sam3Segmenter, description="Meta SAM 3, one mask per box through predict_inst (sam3.pt)")


@segkit.hookimpl
def register_concept_segmenters(register):
    register("sam3-concept", Sam3ConceptSegmenter, description="Meta SAM 3 concept segmentation: every instance of a phrase or exemplar boxes (sam3.pt)")
