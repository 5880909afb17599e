"""segkit-sam2: Meta's official SAM 2.1 (`sam2` package) as segkit backends.

``sam2-tiny``, ``sam2-small``, ``sam2-base-plus`` (alias ``sam2-b+``) and ``sam2-large``, each the matching
``configs/sam2.1/sam2.1_hiera_*.yaml`` of the sam2 package with its official ``sam2.1_hiera_*.pt``
checkpoint from ``checkpoints/``. Options live under ``options.sam2`` (see ``Sam2Options``).
"""

from __future__ import annotations

import segkit
from segkit_sam2.backend import Sam2Options, Sam2Segmenter
from segkit_sam2.models import MODELS

__version__ = "0.1.0"
__all__ = ["MODELS", "Sam2Options", "Sam2Segmenter", "register_segmenters"]


@segkit.hookimpl
def register_segmenters(register):
    for model in MODELS.values():
        register(model.backend, Sam2Segmenter, aliases=model.aliases, size=model.key, description=model.description)
