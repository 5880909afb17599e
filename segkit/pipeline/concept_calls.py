"""Calling a concept backend: ``BackendWorker``'s queue, batching and one-at-a-time fallback, with
concepts as prompts. Each request is one image and at most ``max_concepts`` of its concepts (the
pipeline splits an image's concepts into such calls and renumbers the answers' concept indices); up to
``batch_size`` waiting requests go to one ``segment_concepts_batch`` call, and a batch that raises is
retried one request at a time through ``segment_concepts``, so one bad image fails alone. Every answer is
checked by ``check_concept_instances`` before the pipeline sees it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segkit.pipeline.backend_calls import BackendWorker, _Request
from segkit.pipeline.backends import BackendStats
from segkit.plugins.concept_segmenter import ConceptInstances, check_concept_instances


class ConceptWorker(BackendWorker):
    """Feeds one concept backend. ``submit(rgb, concepts)`` returns a Future of (ConceptInstances, seconds)."""

    def _segment_batch(self, images: list[np.ndarray], prompts: list[Any]) -> Any:
        return self.backend.segmenter.segment_concepts_batch(images, prompts)  # type: ignore[attr-defined]

    def _segment(self, rgb: np.ndarray, prompt: Any) -> Any:
        return self.backend.segmenter.segment_concepts(rgb, prompt)  # type: ignore[attr-defined]

    def _check(self, raw: Any, request: _Request) -> ConceptInstances:
        height, width = request.rgb.shape[:2]
        return check_concept_instances(raw, len(request.prompt), height, width, self.backend.name)

    def _tally(self, stats: BackendStats, request: _Request, result: Any) -> None:
        stats.concepts += len(request.prompt)
        stats.masks += len(result.masks)
