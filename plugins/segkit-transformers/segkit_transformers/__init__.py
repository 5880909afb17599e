"""segkit-transformers: SAM 2.1 and SAM 3 as Hugging Face ``transformers`` runs them, as segkit backends.

``hf-sam2.1-tiny``, ``-small``, ``-base-plus``, ``-large`` (``Sam2Model``) and ``hf-sam3`` (SAM 3's tracker,
``Sam3TrackerModel``, one mask per box), each from a local ``from_pretrained`` folder under
``checkpoints/hf/``. Options live under ``options.transformers`` (see ``TransformersOptions``).
``hf-sam3-concept`` (``Sam3Model`` + ``Sam3Processor``): every instance of a phrase or exemplar boxes, from the
same sam3 folder; options under ``options.transformers_concept`` (see ``HfConceptOptions``).
"""

from __future__ import annotations

import segkit
from segkit_transformers.backend import TransformersOptions, TransformersSegmenter
from segkit_transformers.concept import HfConceptOptions, HfSam3ConceptSegmenter
from segkit_transformers.models import MODELS

__version__ = "0.1.0"
__all__ = [
    "MODELS", "HfConceptOptions", "HfSam3ConceptSegmenter", "TransformersOptions", "TransformersSegmenter",
    "register_concept_segmenters", "register_segmenters",
]


@segkit.hookimpl
def register_segmenters(register):
    for model in MODELS.values():
        register(model.backend, TransformersSegmenter, key=model.key, description=model.description)


@segkit.hookimpl
def register_concept_segmenters(register):
    register("hf-sam3-concept", HfSam3ConceptSegmenter, key="sam3",
             description="SAM 3 concept segmentation through Hugging Face transformers (Sam3Model, facebook/sam3)")
