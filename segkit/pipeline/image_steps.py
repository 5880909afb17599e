"""The steps of one image, whatever engine runs them: the local runner (threads) or the Ray engine.

    task = triage(plan, backends, image)      # an ImageOutcome when there is nothing to do (complete, ...)
    decoded = decode(plan, task)              # pixels and the detections resolved on them
    sinks = {name: new_sink(plan, decoded, name) for name in backends}   # each backend's masks go in
    outcome = write_outputs(plan, decoded, infos, sinks, failed, seconds) # records, panel, image record

An engine decides where and when each step runs; the steps decide what is written, so every engine
writes the same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from segkit.config import LimitSettings
from segkit.errors import ImageFailed, one_line
from segkit.inputs.detection_files import DetectionIndex
from segkit.inputs.detections import (
    Detection,
    RawDetection,
    SkippedDetection,
    resolve_detections,
)
from segkit.inputs.images import load_rgb
from segkit.outputs.coco import CocoExport
from segkit.outputs.image_writer import (
    BackendOutput,
    MaskSink,
    OutputSettings,
    finish_image,
    write_backend_record,
)
from segkit.outputs.layout import OutputLayout, unusable_stem
from segkit.outputs.reading import (
    complete_record,
    load_answer_masks,
    load_backend_record,
)
from segkit.outputs.records import ImageRecord, backend_record
from segkit.plugins.segmenter import ContractError
from segkit.redact import redact


def failure_message(exc: BaseException) -> str:
    """One line for a failure, secrets masked: it goes to the terminal, failures.json and the records."""
    return redact(str(exc) if isinstance(exc, ContractError) else one_line(exc))


def machine_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class BackendStats:
    images: int = 0
    boxes: int = 0
    masks: int = 0
    failures: int = 0
    calls: int = 0  # calls to segment / segment_batch
    seconds: float = 0.0  # time inside the backend, summed over images (a batch's time is shared out)
    load_seconds: float = 0.0

    @property
    def seconds_per_image(self) -> float | None:
        return self.seconds / self.images if self.images else None


@dataclass
class ImageOutcome:
    image: Path
    status: str  # "done", "complete" (skipped: outputs already there), "failed", "no-detections", "not-run"
    detections: int = 0
    masks: int = 0
    errors: list[tuple[str | None, str]] = field(default_factory=list)  # (backend or None, message)
    warnings: list[str] = field(default_factory=list)
    record: ImageRecord | None = None  # the image record written (or found complete), for the report
    panel: str = "none"
    seconds: dict[str, float] = field(default_factory=dict)  # segkit's own work: decode, outputs


@dataclass
class RunSummary:
    outcomes: list[ImageOutcome]
    backends: dict[str, BackendStats]
    seconds: float
    fatal: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failures(self) -> list[dict[str, str | None]]:
        return [
            {"image": o.image.name, "backend": backend, "error": message}
            for o in self.outcomes
            for backend, message in o.errors
        ]

    def stage_seconds(self) -> dict[str, float]:
        """segkit's own work summed over images, by stage (decode, outputs)."""
        total: dict[str, float] = {}
        for outcome in self.outcomes:
            for stage, value in outcome.seconds.items():
                total[stage] = total.get(stage, 0.0) + value
        return total


@dataclass
class RunPlan:
    images: Sequence[Path]
    detections: DetectionIndex
    layout: OutputLayout
    conf: float = 0.0
    force: bool = False
    outputs: OutputSettings = field(default_factory=OutputSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    coco: CocoExport | None = None  # collects every mask as COCO RLE when set (--coco)
    cores: int = field(default_factory=machine_cores)  # CPU slots for segkit's own work


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

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def triage(plan: RunPlan, backends: Sequence[str], image: Path) -> ImageTask | ImageOutcome:
    """What an image needs: an ImageTask, or its outcome already (no detections, a bad file, complete)."""
    _, entry, error = plan.detections.lookup(image)
    return triage_found(plan, backends, image, entry, error)


def triage_found(plan: RunPlan, backends: Sequence[str], image: Path,
                 entry: tuple[Path, str, list[RawDetection]] | None, error: str | None) -> ImageTask | ImageOutcome:
    """``triage`` once the image's detections were looked up (an engine may look up on one machine and
    triage on another, where the resume check reads the output folder)."""
    if error:
        return ImageOutcome(image, "failed", errors=[(None, error)])
    if entry is None:
        return ImageOutcome(
            image, "no-detections",
            warnings=[f"{image.name}: no detections found for it; add a detection file named {image.stem}.json or remove the image"],
        )
    problem = unusable_stem(image.stem)
    if problem:
        return ImageOutcome(image, "failed", errors=[(None, f"{image.name}: {problem}")])
    if not plan.force:
        done = complete_record(plan.layout, image.stem, list(backends), plan.conf)
        if done is not None:
            if plan.coco is not None:
                export_written_masks(plan, backends, image.stem, done)
            return ImageOutcome(image, "complete", record=done)
    det_file, reader, raws = entry
    return ImageTask(image, det_file, reader, raws)


def decode(plan: RunPlan, task: ImageTask) -> DecodedImage:
    """The image's pixels and its detections resolved on them (ImageFailed if it cannot be decoded)."""
    rgb = load_rgb(task.image, plan.limits.max_image_pixels)
    height, width = rgb.shape[:2]
    detections, skipped = resolve_detections(task.raws, (width, height), plan.conf)
    warnings = [f"{task.image.name}: detection {s.id} ({s.label}) skipped: {s.reason}"
                for s in skipped if not s.reason.startswith("confidence")]
    mismatch = plan.detections.box_space_warning(task.detections_file, task.raws, (width, height))
    return DecodedImage(task, rgb, detections, skipped, [mismatch, *warnings] if mismatch else warnings)


def new_sink(plan: RunPlan, decoded: DecodedImage, backend: str) -> MaskSink:
    """Where one backend's masks of the image go (mask files are written as they arrive)."""
    return MaskSink(plan.layout, decoded.task.stem, backend, decoded.size, plan.outputs, full_rle=plan.coco is not None)


def write_outputs(
    plan: RunPlan,
    decoded: DecodedImage,
    backends: Sequence[tuple[str, Mapping[str, Any]]],
    sinks: Mapping[str, MaskSink],
    failed: Mapping[str, str],
    seconds: Mapping[str, float],
    outcome: ImageOutcome | None = None,
) -> ImageOutcome:
    """Backend records, pair IoUs, the panel and the image record (written last: it marks the image done).

    ``backends`` lists (name, info) in run order, info being the plugin and settings; a backend in neither
    ``sinks`` nor ``failed`` was stopped before it ran and is not recorded."""
    task = decoded.task
    outcome = outcome or ImageOutcome(task.image, "done")
    outcome.detections = len(decoded.detections)
    common = dict(image=task.image, size=decoded.size, detections_file=task.detections_file, reader=task.reader,
                  conf=plan.conf, detections=decoded.detections, skipped=decoded.skipped)
    outputs = []
    for name, info in backends:
        if name not in sinks and name not in failed:
            continue
        sink = sinks.get(name)
        record = backend_record(backend=name, info={**info, "seconds": round(seconds.get(name, 0.0), 4)},
                                answers=sink.answers if sink else (), failed=failed.get(name), **common)
        outputs.append(BackendOutput(record, write_backend_record(plan.layout, record, task.stem), sink))
        if sink is not None:
            outcome.masks += len(sink.answers)
    outcome.record, outcome.panel = finish_image(plan.layout, task.stem, outputs, plan.outputs, decoded.rgb, plan.coco)
    if failed:
        outcome.status = "failed"
        outcome.errors += [(name, f"{task.image.name}: {message}") for name, message in failed.items()]
    return outcome


def conclude(
    plan: RunPlan,
    decoded: DecodedImage,
    backends: Sequence[tuple[str, Mapping[str, Any]]],
    sinks: dict[str, MaskSink],
    failed: Mapping[str, str],
    seconds: Mapping[str, float],
    stopped: bool,
    outcome: ImageOutcome | None = None,
) -> ImageOutcome:
    """The image's outputs once every backend answered, or "not-run" when the run was stopped before some
    backend reached it (its masks are removed: the next run redoes the image whole)."""
    if stopped and not failed and len(sinks) < len(backends):
        discard(sinks)
        return ImageOutcome(decoded.task.image, "not-run")
    return write_outputs(plan, decoded, backends, sinks, failed, seconds, outcome)


def failure_outcome(plan: RunPlan, image: Path, exc: BaseException) -> ImageOutcome:
    """An image that failed as a whole, as one line (a bad image, a full disk, a bug)."""
    if isinstance(exc, ImageFailed):
        message = failure_message(exc)
    elif isinstance(exc, OSError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        message = (f"{image.name}: cannot write its outputs{where} ({exc.strerror or exc});"
                   f" check that {plan.layout.root} is writable and has space")
    else:
        message = f"{image.name}: {failure_message(exc)}"
    return ImageOutcome(image, "failed", errors=[(None, message)])


def discard(sinks: Mapping[str, MaskSink]) -> None:
    """Mask files already written for backends that did not finish the image."""
    for sink in sinks.values():
        for answer in sink.answers:
            if answer.mask:
                (sink.layout.root / answer.mask).unlink(missing_ok=True)


def export_written_masks(plan: RunPlan, backends: Sequence[str], stem: str, record: ImageRecord) -> None:
    """COCO export of an image an earlier run completed: its masks are read back once."""
    layout = plan.layout
    for name in backends:
        rel = record.backend_records.get(name)
        if rel is None:
            continue
        ids, masks = load_answer_masks(layout, load_backend_record(layout.root / rel))
        plan.coco.add(stem, record, name, ids, masks)  # type: ignore[union-attr]
