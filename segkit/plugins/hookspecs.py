"""The kinds of segkit plugin: detector-output readers, detectors segkit runs, segmenter backends (boxes
in) and concept segmenter backends (phrases and exemplar boxes in, every instance out)."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "segkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_detection_readers(register):
    """Register readers of detector output: call ``register(ReaderClass)`` once per reader."""


@hookspec
def register_segmenters(register):
    """Register segmenter backends: call ``register(name, SegmenterClass, aliases=(), **params)``."""


@hookspec
def register_detectors(register):
    """Register detectors that `segkit detect` runs: call ``register(name, DetectorClass, aliases=(), **params)``."""


@hookspec
def register_concept_segmenters(register):
    """Register concept backends: call ``register(name, ConceptSegmenterClass, aliases=(), **params)``."""
