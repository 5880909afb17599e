"""segkit-grabcut: the ``grabcut`` backend, OpenCV's GrabCut initialised from each box.

A box-prompted segmenter that needs no weights, so ``segkit run --backend grabcut`` gives real masks
on any machine. segkit finds this module through the entry point in pyproject.toml::

    [project.entry-points.segkit]
    grabcut = "segkit_grabcut"
"""

from __future__ import annotations

import segkit

from segkit_grabcut.backend import GrabCutOptions, GrabCutSegmenter

__version__ = "0.1.0"
__all__ = ["GrabCutOptions", "GrabCutSegmenter", "register_segmenters"]


@segkit.hookimpl
def register_segmenters(register):
    register("grabcut", GrabCutSegmenter, description="OpenCV GrabCut from each box (no weights, CPU)")
