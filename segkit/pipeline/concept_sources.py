"""Checking where a run's concepts come from, before anything is written: one line (exit 2) per mistake.

A concept backend needs concepts (--prompt phrases, or the detections' labels and boxes), a box backend
needs detections, and the concept flags need a concept backend to go to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from segkit.errors import ConfigError
from segkit.inputs.concepts import ConceptRequest, clean_phrases
from segkit.pipeline.backends import ActiveBackend

if TYPE_CHECKING:
    from segkit.pipeline.job import RunJob


def concept_request(job: "RunJob", backends: Sequence[ActiveBackend]) -> ConceptRequest:
    """What the job's concept backends are asked, checked against its backends and inputs."""
    concept = [b.name for b in backends if b.segmenter.kind == "concept"]
    boxed = [b.name for b in backends if b.segmenter.kind != "concept"]
    flags = [flag for flag, given in (("--prompt", bool(job.prompts)), ("--prompts-from-labels", job.prompts_from_labels),
                                      ("--exemplars", job.exemplars)) if given]
    if flags and not concept:
        raise ConfigError(f"{flags[0]} is for concept backends (a phrase in, every instance out), and {', '.join(boxed)}"
                          " segment detector boxes; add a concept backend with --backend (see `segkit backends`)")
    request = ConceptRequest(clean_phrases(job.prompts, job.limits.max_concepts_per_image, job.limits.max_label_chars),
                             job.prompts_from_labels, job.exemplars)
    if concept and request.empty:
        raise ConfigError(f"{', '.join(concept)}: a concept backend finds every instance of a concept and was given none;"
                          " pass --prompt PHRASE (repeatable), or --prompts-from-labels / --exemplars with --detections")
    if job.detections is None:
        if request.uses_detections:
            flag = "--prompts-from-labels" if job.prompts_from_labels else "--exemplars"
            raise ConfigError(f"{flag} takes each image's concepts from its detections; pass --detections DIR|FILE")
        if boxed:
            raise ConfigError(f"no detections; pass --detections DIR|FILE or set `detections:` in the config"
                              f" ({', '.join(boxed)} segment detector boxes; only concept backends run on --prompt alone)")
    return request
