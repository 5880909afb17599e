"""Where a concept backend's concepts come from (phrases typed with --prompt, the detections' labels and
boxes), checked before anything is written.

Per image the concepts are, in this order:

* each ``--prompt`` phrase: ``Concept(text=phrase, label=phrase)``;
* with ``--prompts-from-labels`` and/or ``--exemplars``, one concept per distinct detection label (in the
  order the labels first appear): its text is the label (``--prompts-from-labels``), its exemplar boxes
  the label's detection boxes (``--exemplars``: positive exemplars, in pixels, already resolved and clipped
  by the pipeline's decode step), or both. ``--exemplars`` alone asks by example only (no text): useful
  when the detector's labels are in a language the concept model was not trained on.

A concept equal to one already asked (same text, no boxes) is asked once. Labels and phrases are data:
they reach the backend and the records as they are, and file names only through ``safe_label``.

``concept_request`` checks a job's concept flags against its backends and inputs: a concept backend
needs concepts, a box backend needs detections, and the concept flags need a concept backend to go to;
each mistake is one line (exit 2) before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from segkit.config import LimitSettings
from segkit.errors import ConfigError
from segkit.inputs.detections import Detection
from segkit.outputs.records import ConceptRecord
from segkit.pipeline.backends import ActiveBackend
from segkit.plugins.concept_segmenter import Concept


@dataclass(frozen=True)
class ConceptRequest:
    """What a run asks its concept backends for (the same on every image; labels differ per image)."""

    prompts: tuple[str, ...] = ()
    from_labels: bool = False
    exemplars: bool = False

    @property
    def uses_detections(self) -> bool:
        return self.from_labels or self.exemplars

    @property
    def empty(self) -> bool:
        return not self.prompts and not self.uses_detections


@dataclass
class ImageConcepts:
    """The concepts of one image, or why the image cannot be asked (too many)."""

    concepts: list[Concept] = field(default_factory=list)
    problem: str | None = None


def clean_phrases(phrases: Sequence[str], max_concepts: int, max_chars: int) -> tuple[str, ...]:
    """The --prompt phrases trimmed, duplicates dropped (first kept); ConfigError (one line) for an empty or
    overlong phrase, or more phrases than ``max_concepts``."""
    kept: list[str] = []
    for phrase in phrases:
        text = str(phrase).strip()
        if not text:
            raise ConfigError(f"--prompt {phrase!r}: an empty phrase; give a noun phrase, e.g. --prompt person")
        if len(text) > max_chars:
            raise ConfigError(f"--prompt {text[:40]!r}…: {len(text)} characters, more than limits.max_label_chars"
                              f" ({max_chars}); give a short noun phrase")
        if text not in kept:
            kept.append(text)
    if len(kept) > max_concepts:
        raise ConfigError(f"--prompt: {len(kept)} phrases, more than limits.max_concepts_per_image ({max_concepts});"
                          " give fewer, or raise the limit in the config")
    return tuple(kept)


def image_concepts(request: ConceptRequest, detections: Sequence[Detection], max_concepts: int) -> ImageConcepts:
    """The concepts of one image from the run's request and the image's (resolved) detections."""
    concepts = [Concept(text=phrase, label=phrase) for phrase in request.prompts]
    if request.uses_detections:
        boxes: dict[str, list[tuple[float, float, float, float]]] = {}
        for det in detections:
            boxes.setdefault(det.label, []).append(tuple(float(v) for v in det.box))  # type: ignore[arg-type]
        for label, label_boxes in boxes.items():
            concept = Concept(text=label if request.from_labels else None,
                              boxes=tuple(label_boxes) if request.exemplars else (),
                              negative=(False,) * len(label_boxes) if request.exemplars else (),
                              label=label)
            if concept.boxes or not any(c.text == concept.text and not c.boxes for c in concepts):
                concepts.append(concept)
    if len(concepts) > max_concepts:
        phrases = len(request.prompts)
        return ImageConcepts(problem=f"{len(concepts)} concepts ({phrases} --prompt phrase(s) and {len(concepts) - phrases}"
                                     f" detection label(s)), more than limits.max_concepts_per_image ({max_concepts});"
                                     " raise the limit in the config or ask for fewer")
    return ImageConcepts(concepts)


def concept_names(concepts: Sequence[Concept], limit: int = 5) -> str:
    """Concepts for a message: 'person', 'red car' and 2 more."""
    shown = ", ".join(repr(c.name) for c in concepts[:limit])
    return shown + (f" and {len(concepts) - limit} more" if len(concepts) > limit else "")


def asked_concepts(request: ConceptRequest, detections: Sequence[Detection]) -> list[ConceptRecord]:
    """The concepts an image with these detections is asked, as its records list them (for resume)."""
    return [ConceptRecord.of(c) for c in image_concepts(request, detections, 2**31).concepts]


def concept_request(prompts: Sequence[str], from_labels: bool, exemplars: bool, detections_given: bool,
                    limits: LimitSettings, backends: Sequence[ActiveBackend]) -> ConceptRequest:
    """What a run's concept backends are asked (--prompt, --prompts-from-labels, --exemplars), checked
    against its backends and whether it was given detections."""
    concept = [b.name for b in backends if b.segmenter.kind == "concept"]
    boxed = [b.name for b in backends if b.segmenter.kind != "concept"]
    flags = [flag for flag, given in (("--prompt", bool(prompts)), ("--prompts-from-labels", from_labels),
                                      ("--exemplars", exemplars)) if given]
    if flags and not concept:
        raise ConfigError(f"{flags[0]} is for concept backends (a phrase in, every instance out), and {', '.join(boxed)}"
                          " segment detector boxes; add a concept backend with --backend (see `segkit backends`)")
    request = ConceptRequest(clean_phrases(prompts, limits.max_concepts_per_image, limits.max_label_chars), from_labels, exemplars)
    if concept and request.empty:
        raise ConfigError(f"{', '.join(concept)}: a concept backend finds every instance of a concept and was given none;"
                          " pass --prompt PHRASE (repeatable), or --prompts-from-labels / --exemplars with --detections")
    if not detections_given:
        if request.uses_detections:
            flag = "--prompts-from-labels" if from_labels else "--exemplars"
            raise ConfigError(f"{flag} takes each image's concepts from its detections; pass --detections DIR|FILE")
        if boxed:
            raise ConfigError(f"no detections; pass --detections DIR|FILE or set `detections:` in the config"
                              f" ({', '.join(boxed)} segment detector boxes; only concept backends run on --prompt alone)")
    return request
