"""The per-image pipeline: one image from its detection file to every output it has, whatever engine runs it.

    pipeline = ImagePipeline(plan, names)             # the backends' names, in run order
    step = pipeline.triage(image, entry, error)       # an ImageTask, or the ImageResult already (complete, no boxes)
    decoded = pipeline.decode(step)                   # pixels and the detections resolved on them
    masks = pipeline.segment(decoded, calls)          # every backend's masks, box chunk by chunk, kept compact
    result = pipeline.finish(decoded, masks, infos)   # backend records, pair IoUs, panel, the image record

``process`` runs all four in one thread (the local engine); the Ray engine runs ``triage`` + ``decode`` in
a task, ``segment`` in each backend's actor and ``finish`` in another task. The steps decide what is
written and the engines only decide where and when, so every engine writes the same files. The result
is an ``ImageResult``: the image's status, its record (what the report, the page and COCO are built
from), its COCO annotations, warnings, failures and segkit's own seconds.

Concept backends (phrases and exemplar boxes in, every instance out) go through the same steps: decode
works out the image's concepts (``segkit.pipeline.concept_sources``), segment sends them in calls of at most the
backend's ``max_concepts`` into an ``InstanceSink``, and finish pairs the instances with the detections.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping, Sequence

import numpy as np

from segkit.config import LimitSettings
from segkit.errors import BackendFatalError, ImageFailed
from segkit.inputs.detection_files import DetectionIndex
from segkit.inputs.detections import (
    Detection,
    RawDetection,
    SkippedDetection,
    boxes_array,
    resolve_detections,
)
from segkit.inputs.images import load_rgb
from segkit.machine import machine_cores
from segkit.outputs.coco import CocoExport
from segkit.outputs.image_writer import (
    BackendOutput,
    MaskSink,
    OutputSettings,
    finish_image,
    write_backend_record,
)
from segkit.outputs.instances import InstanceSink
from segkit.outputs.layout import OutputLayout, unusable_stem
from segkit.outputs.reading import (
    complete_record,
    load_answer_masks,
    load_backend_record,
    output_file,
    load_instance_masks,
)
from segkit.outputs.records import ConceptRecord, ImageRecord, backend_record
from segkit.pipeline.backend_calls import RunStopped, failure_message
from segkit.pipeline.concept_sources import ConceptRequest, ImageConcepts, asked_concepts, concept_names, image_concepts
from segkit.pipeline.image_result import ImageResult

# (backend, rgb, boxes or concepts) -> Future of (Segmentation or ConceptInstances, seconds): how an engine
# hands an image's prompts to a backend
SubmitCall = Callable[[str, np.ndarray, Any], Future]
Sink = MaskSink | InstanceSink


@dataclass
class RunPlan:
    """What every image of a run is done with (the images themselves come to the engine separately)."""

    layout: OutputLayout
    detections: DetectionIndex = field(default_factory=DetectionIndex)
    conf: float = 0.0
    force: bool = False
    outputs: OutputSettings = field(default_factory=OutputSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    coco: bool = False  # collect every mask as COCO RLE (--coco)
    cores: int = field(default_factory=machine_cores)  # CPU slots for segkit's own work
    concepts: ConceptRequest = field(default_factory=ConceptRequest)  # what concept backends are asked
    detections_given: bool = True  # False: a run of concept backends on --prompt phrases alone (no -d)


@dataclass
class ImageTask:
    """An image that needs segmenting, with what its detection file said."""

    image: Path
    detections_file: Path | None
    reader: str | None
    raws: list[RawDetection]

    @property
    def stem(self) -> str:
        return self.image.stem


@dataclass
class DecodedImage:
    task: ImageTask
    rgb: np.ndarray
    detections: list[Detection]
    skipped: list[SkippedDetection]
    warnings: list[str] = field(default_factory=list)
    concepts: ImageConcepts = field(default_factory=ImageConcepts)  # what concept backends are asked here

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


@dataclass
class SegmentedImage:
    """Every backend's masks of one image, or why a backend has none."""

    sinks: dict[str, Sink] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # inside each backend
    stopped: bool = False  # the run was stopped before some backend reached the image

    def merge(self, other: "SegmentedImage") -> None:
        """Another backend's part (the Ray engine segments with each backend in its own actor)."""
        self.sinks.update(other.sinks)
        self.failed.update(other.failed)
        self.seconds.update(other.seconds)
        self.stopped = self.stopped or other.stopped

    def discard(self) -> None:
        """Remove the mask files already written: the image is left whole for the next run."""
        discard(self.sinks)


def box_chunks(n_boxes: int, pixels: int, limits: LimitSettings) -> list[slice]:
    """Slices of an image's boxes, each small enough for one backend call under ``limits``."""
    per_call = max(1, min(limits.max_boxes_per_call, limits.max_mask_pixels_per_call // max(1, pixels)))
    return [slice(i, min(i + per_call, n_boxes)) for i in range(0, n_boxes, per_call)]


def discard(sinks: Mapping[str, Sink]) -> None:
    for sink in sinks.values():
        files = sink.mask_files() if isinstance(sink, InstanceSink) else [a.mask for a in sink.answers if a.mask]
        for rel in files:
            (sink.layout.root / rel).unlink(missing_ok=True)


def concept_chunks(n_concepts: int, max_concepts: int) -> list[slice]:
    """Slices of an image's concepts, each at most one call's worth for the backend."""
    per_call = max(1, int(max_concepts))
    return [slice(i, min(i + per_call, n_concepts)) for i in range(0, n_concepts, per_call)]


class ImagePipeline:
    """The steps of one image (see the module). Safe to use from many threads at once.

    ``concept``: the concept backends among ``names``, each with the most concepts one call may take."""

    def __init__(self, plan: RunPlan, names: Sequence[str], concept: Mapping[str, int] | None = None):
        self.plan = plan
        self.names = list(names)
        self.concept = dict(concept or {})

    # -- the local engine: every step in one thread ---------------------------------------------

    def process(self, image: Path, submit: SubmitCall, infos: Mapping[str, Mapping[str, Any]],
                cpu: Callable[[], ContextManager[Any]] = nullcontext, stopped: Callable[[], bool] = lambda: False) -> ImageResult:
        """All steps for one image; ``infos``: each backend's plugin and settings (recorded with its answers),
        ``cpu`` guards segkit's own work (decode, outputs), ``stopped`` says the run is ending (images not
        started yet are left for the next run). Never raises: a bad image, a full disk or a bug on one
        image becomes that image's failed result."""
        try:
            if stopped():
                return ImageResult(image, "not-run")
            _, entry, error = self.plan.detections.lookup(image)
            step = self.triage(image, entry, error)
            if isinstance(step, ImageResult):
                return step
            seconds: dict[str, float] = {}
            with _timed(cpu, seconds, "decode"):
                decoded = self.decode(step)
            masks = self.segment(decoded, submit, cpu=lambda: _timed(cpu, seconds, "outputs"))
            with _timed(cpu, seconds, "outputs"):
                result = self.finish(decoded, masks, infos)
            for stage, value in seconds.items():
                result.seconds[stage] = result.seconds.get(stage, 0.0) + value
            return result
        except Exception as exc:
            return self.failed(image, exc)

    # -- the steps ------------------------------------------------------------------------------

    def triage(self, image: Path, entry: tuple[Path, str, list[RawDetection]] | None, error: str | None) -> ImageTask | ImageResult:
        """What an image needs: an ImageTask, or its result already (no detections, a bad file, complete).
        ``entry`` and ``error`` are what the run's detection index says of the image (looked up on the
        driver: an engine may triage on another machine, where the resume check reads the output folder)."""
        plan = self.plan
        if error:
            return ImageResult(image, "failed", errors=[(None, error)])
        if entry is None and not plan.detections_given:
            entry = (None, None, [])  # concept backends on --prompt phrases alone: no detection file to find
        if entry is None:
            return ImageResult(image, "no-detections", warnings=[
                f"{image.name}: no detections found for it; add a detection file named {image.stem}.json or remove the image"])
        problem = unusable_stem(image.stem)
        if problem:
            return ImageResult(image, "failed", errors=[(None, f"{image.name}: {problem}")])
        if not plan.force:
            asked = (lambda dets: asked_concepts(plan.concepts, dets)) if self.concept else None
            done = complete_record(plan.layout, image.stem, self.names, plan.conf, concepts=asked)
            if done is not None:
                result = ImageResult(image, "complete", record=done, detections=len(done.detections))
                if plan.coco:
                    result.coco = self._coco_of_written(image.stem, done)
                return result
        det_file, reader, raws = entry
        return ImageTask(image, det_file, reader, raws)

    def decode(self, task: ImageTask) -> DecodedImage:
        """The image's pixels and its detections resolved on them (ImageFailed if it cannot be decoded)."""
        plan = self.plan
        rgb = load_rgb(task.image, plan.limits.max_image_pixels)
        height, width = rgb.shape[:2]
        detections, skipped = resolve_detections(task.raws, (width, height), plan.conf)
        warnings = [f"{task.image.name}: detection {s.id} ({s.label}) skipped: {s.reason}"
                    for s in skipped if not s.reason.startswith("confidence")]
        mismatch = plan.detections.box_space_warning(task.detections_file, task.raws, (width, height)) if task.detections_file else None
        concepts = image_concepts(plan.concepts, detections, plan.limits.max_concepts_per_image) if self.concept else ImageConcepts()
        return DecodedImage(task, rgb, detections, skipped, [mismatch, *warnings] if mismatch else warnings, concepts)

    def segment(self, decoded: DecodedImage, submit: SubmitCall, names: Sequence[str] | None = None,
                cpu: Callable[[], ContextManager[Any]] = nullcontext) -> SegmentedImage:
        """The masks of ``names`` (default: every backend) for the image, all backends at once, in calls of
        a chunk of boxes (``limits``) or of concepts (the concept backend's ``max_concepts``), into one
        compact sink per backend as they arrive."""
        out = SegmentedImage()
        names = list(self.names if names is None else names)
        out.sinks = {name: self._sink(decoded, name) for name in names}
        out.seconds = dict.fromkeys(names, 0.0)
        calls = {name: self._calls(decoded, name, out) for name in names}  # [(slice, prompt)] per backend
        position = dict.fromkeys(names, 0)
        running: dict[Future, str] = {}
        for name in names:
            if calls[name]:
                running[submit(name, decoded.rgb, calls[name][0][1])] = name
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                part, prompt = calls[name][position[name]]
                try:
                    result, took = future.result()
                except RunStopped:
                    out.stopped = True
                    discard({name: out.sinks.pop(name)})
                    continue
                except Exception as exc:  # BackendFatalError included: the worker already stopped the run
                    message = failure_message(exc)
                    if name in self.concept:  # name what it was asked, as the answer could not be used
                        message += f" (asked for {concept_names(prompt)})"
                    out.failed[name] = message
                    discard({name: out.sinks.pop(name)})
                    continue
                out.seconds[name] += took
                sink = out.sinks[name]
                with cpu():
                    if isinstance(sink, InstanceSink):
                        sink.add(result, offset=part.start)  # concept indices of the call -> of the image
                    else:
                        sink.add(decoded.detections[part], result.masks, result.scores)
                del result  # the dense masks: only their compact form is kept
                position[name] += 1
                if position[name] < len(calls[name]):
                    running[submit(name, decoded.rgb, calls[name][position[name]][1])] = name
        return out

    def _calls(self, decoded: DecodedImage, name: str, out: SegmentedImage) -> list[tuple[slice, Any]]:
        """The calls one backend gets for the image: (which boxes or concepts, the prompt) each."""
        if name in self.concept:
            image = decoded.concepts
            if image.problem:  # too many concepts: this backend fails on the image, the others go on
                out.failed[name] = image.problem
                out.sinks.pop(name)
                return []
            return [(part, image.concepts[part]) for part in concept_chunks(len(image.concepts), self.concept[name])]
        if not decoded.detections:
            return []
        boxes = boxes_array(decoded.detections)
        return [(part, boxes[part]) for part in box_chunks(len(boxes), decoded.size[0] * decoded.size[1], self.plan.limits)]

    def finish(self, decoded: DecodedImage, masks: SegmentedImage, infos: Mapping[str, Mapping[str, Any]]) -> ImageResult:
        """Backend records, pair IoUs, the panel and the image record (written last: it marks the image
        done); "not-run" when the run was stopped before some backend reached the image (its masks are
        removed: the next run redoes the image whole)."""
        task = decoded.task
        if masks.stopped and not masks.failed and len(masks.sinks) < len(self.names):
            masks.discard()
            return ImageResult(task.image, "not-run")
        plan = self.plan
        result = ImageResult(task.image, "done", detections=len(decoded.detections), warnings=list(decoded.warnings))
        result.coco = CocoExport() if plan.coco else None
        common = dict(image=task.image, size=decoded.size, detections_file=task.detections_file, reader=task.reader,
                      conf=plan.conf, detections=decoded.detections, skipped=decoded.skipped)
        outputs = []
        for name in self.names:
            if name not in masks.sinks and name not in masks.failed:
                continue
            sink = masks.sinks.get(name)
            info = {**infos.get(name, {}), "seconds": round(masks.seconds.get(name, 0.0), 4)}
            if name in self.concept:
                found = sink if isinstance(sink, InstanceSink) else None
                if found is not None:
                    found.match(decoded.detections)
                record = backend_record(backend=name, info=info, failed=masks.failed.get(name), **common,
                                        concepts=[ConceptRecord.of(c) for c in decoded.concepts.concepts],
                                        instances=found.instances if found else ())
                outputs.append(BackendOutput(record, write_backend_record(plan.layout, record, task.stem), instances=found))
                result.masks += len(found.instances) if found else 0
                continue
            record = backend_record(backend=name, info=info, answers=sink.answers if sink else (), failed=masks.failed.get(name), **common)
            outputs.append(BackendOutput(record, write_backend_record(plan.layout, record, task.stem), sink))  # type: ignore[arg-type]
            if sink is not None:
                result.masks += len(sink.answers)  # type: ignore[union-attr]
        result.record, result.panel = finish_image(plan.layout, task.stem, outputs, plan.outputs, decoded.rgb, result.coco)
        if masks.failed:
            result.status = "failed"
            result.errors += [(name, f"{task.image.name}: {message}") for name, message in masks.failed.items()]
        return result

    def failed(self, image: Path, exc: BaseException) -> ImageResult:
        """An image that failed as a whole, as one line (a bad image, a full disk, a bug)."""
        if isinstance(exc, ImageFailed):
            message = failure_message(exc)
        elif isinstance(exc, OSError):
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            message = (f"{image.name}: cannot write its outputs{where} ({exc.strerror or exc});"
                       f" check that {self.plan.layout.root} is writable and has space")
        elif isinstance(exc, BackendFatalError):
            message = failure_message(exc)
        else:
            message = f"{image.name}: {failure_message(exc)}"
        return ImageResult(image, "failed", errors=[(None, message)])

    # -- helpers --------------------------------------------------------------------------------

    def _sink(self, decoded: DecodedImage, backend: str) -> Sink:
        """Where one backend's masks of the image go (mask files are written as they arrive)."""
        if backend in self.concept:
            return InstanceSink(self.plan.layout, decoded.task.stem, backend, decoded.size, self.plan.outputs,
                                decoded.concepts.concepts, full_rle=self.plan.coco)
        return MaskSink(self.plan.layout, decoded.task.stem, backend, decoded.size, self.plan.outputs,
                        full_rle=self.plan.coco)

    def _coco_of_written(self, stem: str, record: ImageRecord) -> CocoExport:
        """COCO annotations of an image an earlier run completed: its masks are read back once."""
        layout = self.plan.layout
        coco = CocoExport()
        for name in self.names:
            rel = record.backend_records.get(name)
            if rel is None:
                continue
            written = load_backend_record(output_file(layout, rel, layout.backends_dir, "backend record"))  # records are not trusted
            if written.kind == "concept":
                coco.add_instances(stem, record, name, written.instances, load_instance_masks(layout, written))
                continue
            ids, masks = load_answer_masks(layout, written)
            coco.add(stem, record, name, ids, masks)
        return coco


@contextmanager
def _timed(cpu: Callable[[], ContextManager[Any]], seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Under the CPU gate, adding the time inside to ``seconds[stage]``."""
    with cpu():
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
