"""segkit-ultralytics: SAM 2.1 as the `ultralytics` package runs it, as segkit backends.

``ultralytics-sam2.1-t``, ``-s``, ``-b`` and ``-l``, from the weight files ``sam2.1_{t,s,b,l}.pt`` in
``checkpoints/``. Options live under ``options.ultralytics`` (see ``UltralyticsOptions``).
"""

from __future__ import annotations

import segkit
from segkit_ultralytics.backend import UltralyticsOptions, UltralyticsSam2Segmenter
from segkit_ultralytics.models import MODELS

__version__ = "0.1.0"
__all__ = ["MODELS", "UltralyticsOptions", "UltralyticsSam2Segmenter", "register_segmenters"]


@segkit.hookimpl
def register_segmenters(register):
    for model in MODELS.values():
        register(
            model.backend,
            UltralyticsSam2Segmenter,
            size=model.size,
            description=f"SAM 2.1 {model.label} through Ultralytics ({model.weights})",
        )
