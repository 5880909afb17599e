"""segkit-sam3: Meta's SAM 3 (`sam3` package) as the segkit backend ``sam3``.

One mask per box through SAM 3's instance-interactive head (``predict_inst``), from the official
``sam3.pt`` in ``checkpoints/``. Options live under ``options.sam3`` (see ``Sam3Options``).
"""

from __future__ import annotations

import segkit
from segkit_sam3.backend import Sam3Options, Sam3Segmenter

__version__ = "0.1.0"
__all__ = ["Sam3Options", "Sam3Segmenter", "register_segmenters"]


@segkit.hookimpl
def register_segmenters(register):
    register("sam3", Sam3Segmenter, description="Meta SAM 3, one mask per box through predict_inst (sam3.pt)")
