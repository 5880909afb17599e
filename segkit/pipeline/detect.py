"""`segkit detect`: ask a detector for the boxes of every image, and write one detection file per image.

Each image is decoded upright (as `segkit run` will see it), sent to the detector with the prompt, and its
answer read by the detector's reader (``qwen-grounding`` for vision-language models: fences, prose and
cut-off lists handled). The boxes are converted from the detector's box space to the image and written
in the seed plan's Qwen JSON, normalized xyxy with labels, beside the raw answer and what was asked:

    {"image": "a.jpg", "width": 640, "height": 480, "detector": "vlm", "prompt": "...",
     "box_space": "smart-resize:12845056", "settings": {"model": ...}, "answer": "```json ...",
     "answer_info": {...}, "detections": [{"bbox_xyxy_norm": [...], "label": "cat", "bbox_2d": [...]}],
     "skipped": [...], "warnings": [...]}

`segkit run --detections OUT` reads these files (reader ``qwen-json``). A file is complete when it was
made by the same detector, settings, prompt and box space: running the same command again skips those
images, and changing any of them redoes them. An answer that cannot be read at all fails its image and
is kept under ``OUT/unreadable/`` for a look. Images are sent ``max_concurrency`` at a time; a problem
with the user's settings (a refused key, an unknown model) stops taking new images.

As a library call, like ``run_job``::

    from segkit.pipeline.detect import DetectJob, detect_job
    summary = detect_job(DetectJob(images=Path("photos"), out=Path("dets"), prompt="Locate every cup.",
                                   flags={"model": "Qwen/Qwen3-VL-8B-Instruct"}))
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from segkit.config import LimitSettings
from segkit.errors import (
    BackendFatalError,
    BackendNotReady,
    ConfigError,
    ImageFailed,
    InputError,
    SegkitError,
    one_line,
)
from segkit.inputs.box_spaces import BoxSpace, parse_box_space, to_normalized_xyxy
from segkit.inputs.detections import (
    Detection,
    SkippedDetection,
    box_space_warning,
    resolve_detections,
)
from segkit.inputs.images import drop_duplicate_stems, list_images, load_rgb
from segkit.inputs.readers.base import (
    DetectionFormatError,
    DetectionReader,
    ReaderContext,
)
from segkit.outputs.files import atomic_write_bytes, write_json
from segkit.outputs.layout import detection_file_path, unreadable_answer_path
from segkit.outputs.reading import read_record
from segkit.pipeline.bounded import bounded_map
from segkit.plugins.detector import Detector, DetectorAnswer
from segkit.plugins.host import PluginHost, get_host
from segkit.plugins.options import resolve_options
from segkit.redact import redact, redact_secrets

FLAGS = ("model", "api_url", "api_key_env")  # `segkit detect` flags that set a detector option of that name


class DetectJob(BaseModel):
    """Everything one `segkit detect` needs, already resolved (the CLI merges flags, environment, config)."""

    model_config = ConfigDict(extra="forbid")

    images: Path
    out: Path
    prompt: str = Field(min_length=1)
    detector: str = "vlm"
    box_space: Optional[str] = None  # None: the detector's own (from the model's name)
    force: bool = False
    limit: Optional[int] = Field(None, ge=1)
    flags: dict[str, str] = Field(default_factory=dict)  # --model, --api-url, --api-key-env
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # config `options:` sections
    overrides: dict[str, dict[str, str]] = Field(default_factory=dict)  # -O key.field=value
    limits: LimitSettings = Field(default_factory=LimitSettings)


@dataclass
class DetectPlan:
    images: Sequence[Path]
    out: Path
    prompt: str
    space: BoxSpace
    reader: DetectionReader
    force: bool = False
    limits: LimitSettings = field(default_factory=LimitSettings)


@dataclass
class DetectOutcome:
    image: Path
    status: str  # "done", "complete" (an earlier run's file matches), "failed", "not-run"
    detections: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class DetectSummary:
    outcomes: list[DetectOutcome]
    seconds: float
    fatal: SegkitError | None = None  # what stopped the run early

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failures(self) -> list[DetectOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


class DetectRunner:
    def __init__(self, plan: DetectPlan, detector: Detector, on_image: Callable[[DetectOutcome], None] | None = None):
        self.plan = plan
        self.detector = detector
        self.on_image = on_image or (lambda outcome: None)
        self.stop = threading.Event()
        self.fatal: SegkitError | None = None
        self.request = {
            "detector": detector.name,
            "prompt": plan.prompt,
            "box_space": plan.space.spec(),
            "settings": detector.settings(),
        }

    def run(self) -> DetectSummary:
        started = time.perf_counter()
        self.plan.out.mkdir(parents=True, exist_ok=True)
        workers = max(1, int(self.detector.max_concurrency))
        outcomes: dict[Path, DetectOutcome] = {}
        with ThreadPoolExecutor(workers, thread_name_prefix=f"detect-{self.detector.name}") as pool:
            try:
                for outcome in bounded_map(pool, self._process, self.plan.images, workers * 2, self.stop.is_set):
                    outcomes[outcome.image] = outcome
                    self.on_image(outcome)
            except KeyboardInterrupt:
                self.stop.set()  # the images in flight finish (or give up at once: cancel) and are kept
                self.detector.cancel()
                raise
        ordered = [outcomes.get(p) or DetectOutcome(p, "not-run") for p in self.plan.images]
        return DetectSummary(ordered, time.perf_counter() - started, self.fatal)

    def _process(self, image: Path) -> DetectOutcome:
        if self.stop.is_set():
            return DetectOutcome(image, "not-run")
        try:
            return self._detect(image)
        except ImageFailed as exc:
            return DetectOutcome(image, "failed", error=redact(f"{image.name}: {one_line(exc)}"))
        except SegkitError as exc:  # the user's settings cannot work: stop taking images
            if self.fatal is None:
                self.fatal = exc
            self.stop.set()
            return DetectOutcome(image, "not-run")
        except Exception as exc:  # a bug or an I/O error on one image must not end the run
            return DetectOutcome(image, "failed", error=redact(f"{image.name}: {one_line(exc)}"))

    def _detect(self, image: Path) -> DetectOutcome:
        plan = self.plan
        path = detection_file_path(plan.out, image.stem)
        if not plan.force:
            earlier = read_record(path)
            if earlier is not None and all(earlier.get(k) == v for k, v in self.request.items()):
                return DetectOutcome(image, "complete", detections=len(earlier.get("detections") or []))
        rgb = load_rgb(image, plan.limits.max_image_pixels)
        height, width = rgb.shape[:2]
        answer = self.detector.detect(rgb, plan.prompt)
        if not isinstance(answer, DetectorAnswer) or not isinstance(answer.text, str):
            raise ImageFailed(f"detector {self.detector.name!r} returned {type(answer).__name__}, expected segkit.DetectorAnswer")

        warnings: list[str] = []
        note = f" ({answer.note})" if answer.note else ""
        context = ReaderContext(plan.space, warn=lambda message: warnings.append(message + note))
        try:
            raws = [r for found in plan.reader.read(plan.reader.parse(answer.text, image), image, context).values() for r in found]
        except SegkitError as exc:  # an answer the reader cannot read: keep it to look at, fail the image
            kept = unreadable_answer_path(plan.out, image.stem)
            atomic_write_bytes(kept, redact_secrets(answer.text).encode("utf-8"))
            problem = exc.problem if isinstance(exc, DetectionFormatError) else str(exc)
            raise ImageFailed(f"the answer cannot be read: {problem}{note}; it is kept in {kept}") from exc
        mismatch = box_space_warning(raws, (width, height))
        if mismatch:
            warnings.append(f"{image.name}: {mismatch}")
        detections, skipped = resolve_detections(raws, (width, height))
        warnings += [f"{image.name}: detection {s.id} ({s.label}) skipped: {s.reason}" for s in skipped]
        write_json(path, self._record(image, (width, height), answer, detections, skipped, warnings))
        return DetectOutcome(image, "done", detections=len(detections), warnings=warnings)

    def _record(self, image: Path, size: tuple[int, int], answer: DetectorAnswer, detections: list[Detection],
                skipped: list[SkippedDetection], warnings: list[str]) -> dict[str, Any]:
        return {
            "image": image.name,
            "width": size[0],
            "height": size[1],
            **self.request,
            "answer": answer.text,
            "answer_info": answer.info,
            "detections": [_detection_entry(det, size) for det in detections],
            "skipped": [{"index": s.id, "label": s.label, "reason": s.reason} for s in skipped],
            "warnings": warnings,
        }


def _detection_entry(det: Detection, size: tuple[int, int]) -> dict[str, Any]:
    """The seed plan's detection (normalized xyxy, label), then the fields of the model's own object."""
    entry: dict[str, Any] = {"bbox_xyxy_norm": [round(v, 6) for v in to_normalized_xyxy(det.box, size)], "label": det.label}
    for key, value in det.fields.items():
        entry.setdefault(key, value)
    return entry


def prepare_detector(job: DetectJob, host: PluginHost) -> Detector:
    """The job's detector with its options (config < SEGKIT_* < -O < the flags), checked ready."""
    entry = host.detector(job.detector)
    overrides = {key: dict(fields) for key, fields in job.overrides.items()}
    for name, value in job.flags.items():
        if name not in FLAGS:
            raise ConfigError(f"unknown detect flag {name!r}; the flags are {', '.join(FLAGS)}")
        if entry.cls.options_key is None or name not in entry.cls.Options.model_fields:
            raise ConfigError(f"detector {entry.name!r} takes no --{name.replace('_', '-')}")
        overrides.setdefault(entry.cls.options_key, {})[name] = value
    detector = entry.create(resolve_options(entry.cls, job.options, overrides))  # type: ignore[arg-type]
    readiness = detector.check_ready()
    if not readiness.ready:
        raise BackendNotReady(f"detector {entry.name!r} is not ready: {readiness.reason}")
    return detector


def detect_job(job: DetectJob, on_image: Callable[[DetectOutcome], None] | None = None,
               warn: Callable[[str], None] | None = None, host: PluginHost | None = None) -> DetectSummary:
    """Ask the job's detector about every image; raises SegkitError (one line) for what stops it before it starts."""
    host = host or get_host()
    warn = warn or (lambda message: None)
    detector = prepare_detector(job, host)
    try:
        space = parse_box_space(job.box_space) or detector.box_space()
    except ValueError as exc:
        raise ConfigError(f"--box-space: {exc}") from exc
    if space is None:
        raise ConfigError(f"cannot tell what {detector.name!r}'s boxes are measured in; pass --box-space: qwen2.5-vl[:MAX_PIXELS]"
                          " for Qwen2.5-VL, qwen3-vl for Qwen3-VL and Qwen2-VL, or pixels, normalized, per-mille")
    reader = host.reader(detector.reader).cls()
    images = drop_duplicate_stems(list_images(job.images), warn)
    if job.limit:
        images = images[: job.limit]
    try:
        job.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {job.out}: {exc.strerror or exc}; pass --out a folder you can write to") from exc
    try:
        detector.load()
    except SegkitError:
        raise
    except Exception as exc:
        raise BackendFatalError(f"detector {detector.name!r} failed to load: {one_line(exc)}") from exc
    try:
        plan = DetectPlan(images, job.out, job.prompt, space, reader, job.force, job.limits)
        return DetectRunner(plan, detector, on_image).run()
    finally:
        detector.close()
