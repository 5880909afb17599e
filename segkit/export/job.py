"""`segkit export OUT` as a library call: ``export_job(ExportJob(out=..., format="yolo-seg", ...))``.

The masks of one backend of an output folder (local or object storage, PNG or RLE masks, merged folders)
become a dataset in ``job.to``: filtered (segkit.export.filters), split by image, in the format asked for
(segkit.export.formats). Images are read, filtered and written one at a time on a few threads, each
image's outcome kept in a small part file (segkit.export.target): memory stays bounded whatever the number
of images, and an interrupted export, run again, goes on where it stopped.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from segkit import storage
from segkit.config import LimitSettings
from segkit.errors import ConfigError, InputError, OutputWriteError, one_line
from segkit.export.filters import DEFAULT_DROP_FLAGS, FILTERS, Tally, digest, load_class_map, parse_drop_flags, split_of
from segkit.export.formats import writer_class
from segkit.export.formats.labelstudio import DEFAULT_IMAGE_URL
from segkit.export.libraries import need
from segkit.export.source import ExportImage, Filters, FolderSource
from segkit.export.target import SUMMARY, Target
from segkit.input_files import read_limited
from segkit.machine import machine_cores
from segkit.outputs.files import atomic_write_bytes, write_json
from segkit.outputs.layout import OutputLayout
from segkit.outputs.reading import OutputFileError, backend_order
from segkit.pipeline.bounded import bounded_map
from segkit.pipeline.compare import check_folder
from segkit.storage import Location, is_remote

ExportFormat = Literal["yolo-seg", "coco", "labelstudio", "cvat"]
DEFAULT_VAL = 0.2
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


class ExportJob(BaseModel):
    """Everything one `segkit export` needs, already resolved."""

    model_config = ConfigDict(extra="forbid")

    out: Location  # the output folder of `segkit run` (or several merged), local or a URL
    format: ExportFormat
    to: Optional[Path] = None  # the dataset folder (default: OUT/export-<format>)
    backends: list[str] = Field(default_factory=list)  # the first one's masks; with agree, all of them vote
    images: Optional[Location] = None  # where the original images are (default: where the run read them)
    image_files: Literal["copy", "link", "none"] = "copy"
    image_url: str = DEFAULT_IMAGE_URL  # labelstudio: the URL prefix of the images
    coco_masks: Optional[Literal["rle", "polygon"]] = None  # default: rle for coco, polygon for cvat
    polygon_tolerance: float = Field(1.0, ge=0.0)  # pixels the polygons may depart from the mask's outline
    min_score: Optional[float] = None
    drop_flags: list[str] = Field(default_factory=lambda: list(DEFAULT_DROP_FLAGS))
    agree: Optional[float] = Field(None, ge=0.0, le=1.0)
    label_map: Optional[Path] = None
    labels: list[str] = Field(default_factory=list)
    val: Optional[float] = Field(None, ge=0.0, lt=1.0)  # default: 0.2 for yolo-seg and coco, none for the review formats
    seed: int = 0
    whole_images: bool = False  # leave out images where a filter dropped a mask (no unlabelled object in training)
    force: bool = False
    limits: LimitSettings = Field(default_factory=LimitSettings)


@dataclass
class ExportResult:
    to: Path
    format: str
    backends: list[str]
    classes: list[str]
    summary: dict[str, Any]
    files: list[Path]
    problems: list[str] = field(default_factory=list)
    resumed: int = 0  # images an earlier, interrupted export had written already
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def _choose_backends(layout: OutputLayout, found: dict[str, Any], job: ExportJob) -> list[str]:
    chosen = backend_order(layout, list(found), job.backends)
    if not job.backends:
        if len(found) > 1:
            raise ConfigError(f"{layout.root} has masks from {', '.join(chosen)}; pass --backend NAME to choose whose"
                              " masks the dataset holds (with --agree, name every backend that must agree)")
    if job.agree is not None and len(chosen) < 2:
        raise ConfigError("--agree needs two or more backends to agree; pass --backend twice or more (the first one's masks"
                          " are exported)")
    return chosen


def _file_name(stem: str, image: str) -> str:
    suffix = Path(image).suffix
    return stem + (suffix.lower() if _SUFFIX.fullmatch(suffix) else ".jpg")


class _Exporter:
    """Exports one image; safe to run for several images at once."""

    def __init__(self, job: ExportJob, source: FolderSource, writer: Any, target: Target, splits: dict[str, str]):
        self.job, self.source, self.writer, self.target, self.splits = job, source, writer, target, splits
        self.max_image_bytes = 8 * job.limits.max_image_pixels + 2**20

    def run(self, stem: str) -> tuple[str, str | None]:
        try:
            self._export(stem)
        except OutputFileError as exc:
            return stem, f"{stem}: {exc}; re-run `segkit run --force` for this image, or delete its files"
        except InputError as exc:
            return stem, f"{stem}: {exc}"
        except OSError as exc:
            return stem, f"{stem}: cannot write it in {self.target.root} ({exc.strerror or exc}); check that it is writable and has space"
        except Exception as exc:  # anything else about one image stays with that image
            return stem, f"{stem}: {one_line(exc)}; check {self.source.layout.backends_dir}/*/{stem}.json"
        return stem, None

    def _export(self, stem: str) -> None:
        image = self.source.read(stem)
        split = self.splits[stem] if self.writer.splits else "default"
        if image.skipped is None and self.job.whole_images and any(w != "label" for w in image.tally.dropped):
            image.skipped = "partial"
        if image.skipped is not None:
            self.target.write_part(stem, {"skipped": image.skipped, "tally": image.tally.to_json()})
            return
        file_name = _file_name(stem, image.file_name)
        if self.job.image_files != "none":
            self._place_image(image, self.writer.image_dir(split) / file_name)
        payload = self.writer.write_image(image, split, file_name)
        self.target.write_part(stem, {"split": split, "file_name": file_name, "tally": image.tally.to_json(), **payload})

    def _place_image(self, image: ExportImage, dest: Path) -> None:
        where = image.image
        if where is None:
            raise InputError(f"its image {image.file_name} was not found where the run read it; pass --images DIR"
                             " (the folder that holds the original images), or --image-files none")
        if self.job.image_files == "link" and not is_remote(where):
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name[:100]}.segkit-0-0.tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(Path(where).resolve())
            tmp.replace(dest)
            return
        if is_remote(where):
            data = storage.read_limited(where, self.max_image_bytes)
            if data is None:
                raise InputError(f"its image {where} is above {self.max_image_bytes} bytes (limits.max_image_pixels)")
        else:
            data = read_limited(Path(where), self.max_image_bytes)
        atomic_write_bytes(dest, data)


def export_job(job: ExportJob, on_image: Callable[[str, str | None], None] | None = None,
               workers: int | None = None) -> ExportResult:
    """Write the dataset; SegkitError (one line, nothing written) when the folder, a backend, a flag or the
    target folder cannot be used. Images that cannot be exported are listed in ``problems`` (exit code 1)."""
    started = time.perf_counter()
    layout = OutputLayout(job.out)
    found = check_folder(layout)
    chosen = _choose_backends(layout, found, job)
    writer_type = writer_class(job.format)
    if job.val and not writer_type.splits:
        raise ConfigError(f"--val: a {job.format} export is for review, one set of images, not split; drop --val")
    if job.image_files == "none" and writer_type.images_needed:
        raise ConfigError(f"--image-files none: {job.format} needs the images beside the labels; use copy or link")
    for module in writer_type.requires:
        need(module, f"--format {job.format}")
    val = (DEFAULT_VAL if job.val is None else job.val) if writer_type.splits else 0.0
    to = job.to
    if to is None:
        if is_remote(job.out):
            raise ConfigError(f"{job.out} is on object storage; pass --to a local folder for the dataset")
        to = Path(job.out) / f"export-{job.format}"
    coco_masks = job.coco_masks or ("polygon" if job.format == "cvat" else "rle")
    classes_map = load_class_map(job.label_map, job.labels, int(job.limits.max_config_file_bytes))
    filters = Filters(classes_map, job.min_score, parse_drop_flags(job.drop_flags), job.agree)
    source = FolderSource(layout, found, chosen, filters, job.images, job.limits.max_image_pixels)
    stems = source.stems

    # The first pass reads the records only (no mask): the classes must be known before any label file is written.
    labels: dict[str, int] = {}
    with ThreadPoolExecutor(workers or machine_cores(), thread_name_prefix="export-labels") as pool:
        for found_labels in bounded_map(pool, source.labels, stems, 64):
            for label in found_labels:
                labels[label] = labels.get(label, 0) + 1
    if not labels:
        raise InputError(f"{layout.root} has no masks from backend {chosen[0]!r} ({len(stems)} image(s), none answered);"
                         " pass the --out folder of a `segkit run` that wrote masks, or another --backend")
    classes = classes_map.classes(labels)
    kept = {classes_map.class_of(label) for label in labels} & set(classes)
    if not classes or not kept:
        listing = ", ".join(sorted(labels)[:10]) + (", …" if len(labels) > 10 else "")
        raise ConfigError(f"{'--label-map ' + str(job.label_map) if job.label_map else '--labels'} leaves no class of the"
                          f" folder's labels ({listing}); name some of them")

    writer = writer_type(to, classes, {"polygon_tolerance": job.polygon_tolerance, "coco_masks": coco_masks,
                                       "image_url": job.image_url, "backend": chosen[0]})
    settings = {"format": job.format, "source": str(job.out), "backends": chosen, "classes": classes,
                "images_digest": digest(stems), "min_score": job.min_score, "drop_flags": list(filters.drop_flags),
                "agree": job.agree, "val": val, "seed": job.seed, "whole_images": job.whole_images,
                "image_files": job.image_files, "image_url": job.image_url if job.format == "labelstudio" else None,
                "coco_masks": coco_masks if job.format in ("coco", "cvat") else None,
                "polygon_tolerance": job.polygon_tolerance if job.format == "yolo-seg" or coco_masks == "polygon" else None}
    target = Target(to, writer.owned)
    done = target.open(settings, job.force)
    done &= set(stems)
    try:
        target.write_manifest(settings, {"classes": classes}, complete=False)
    except OSError as exc:
        raise OutputWriteError(f"cannot write in {to} ({exc.strerror or exc}); pass --to a folder you can write to") from exc

    splits = split_of(stems, val, job.seed)
    problems: list[str] = []
    exporter = _Exporter(job, source, writer, target, splits)
    todo = [s for s in stems if s not in done]
    with ThreadPoolExecutor(workers or machine_cores(), thread_name_prefix="export") as pool:
        for stem, problem in bounded_map(pool, exporter.run, todo, 2 * (workers or machine_cores())):
            if problem:
                problems.append(problem)
            if on_image:
                on_image(stem, problem)
    for stem in done:
        if on_image:
            on_image(stem, None)

    def parts(split: str | None) -> Iterator[dict[str, Any]]:
        for part in target.iter_parts([s for s in stems if split is None or not writer.splits or splits[s] == split]):
            if "skipped" not in part:
                yield part

    summary = _summary(job, chosen, classes, stems, target, problems, writer.splits)
    try:
        files = writer.finish(parts, summary["images"])
        write_json(to / SUMMARY, summary)
        target.write_manifest(settings, {"classes": classes}, complete=not problems)
    except OSError as exc:
        raise OutputWriteError(f"cannot write the dataset's files in {to} ({exc.strerror or exc}); free some space or"
                               " make the folder writable") from exc
    return ExportResult(to, job.format, chosen, classes, summary, files + [to / SUMMARY], problems, len(done),
                        time.perf_counter() - started)


def _summary(job: ExportJob, chosen: list[str], classes: list[str], stems: list[str], target: Target,
             problems: list[str], split: bool) -> dict[str, Any]:
    """images, instances per class (and split), what each filter dropped: read back from the parts, one at a time."""
    total, per_split = Tally(), {"train": Tally(), "val": Tally()} if split else {}
    images = {"in_folder": len(stems), "exported": 0, **({"train": 0, "val": 0} if split else {}), "skipped": {},
              "problems": len(problems)}
    for part in target.iter_parts(stems):
        tally = Tally.from_json(part.get("tally") or {})
        if "skipped" in part:
            reason = str(part["skipped"])
            images["skipped"][reason] = images["skipped"].get(reason, 0) + 1
            if reason == "partial":  # its masks are not in the dataset: count them as dropped by the filters that made it partial
                tally = Tally({}, {**tally.dropped, "partial": dict(tally.kept)})
            total.add(Tally({}, tally.dropped))
            continue
        images["exported"] += 1
        total.add(tally)
        if split:
            images[part["split"]] += 1
            per_split[part["split"]].add(Tally(tally.kept))
    summary = {
        "format": job.format, "backends": chosen, "classes": classes,
        "images": images,
        "instances": {"total": sum(total.kept.values()), "per_class": {c: total.kept.get(c, 0) for c in classes},
                      **({"per_split": {s: {c: t.kept.get(c, 0) for c in classes} for s, t in per_split.items()}} if split else {})},
        "dropped": {w: {"total": sum(total.dropped.get(w, {}).values()), "per_class": dict(sorted(total.dropped.get(w, {}).items()))}
                    for w in (*FILTERS, "partial") if w in total.dropped or w in FILTERS},
        "filters": {"min_score": job.min_score, "drop_flags": list(parse_drop_flags(job.drop_flags)), "agree": job.agree,
                    "label_map": str(job.label_map) if job.label_map else None, "labels": job.labels,
                    "whole_images": job.whole_images},
        "problems": problems[:100],
    }
    return summary
