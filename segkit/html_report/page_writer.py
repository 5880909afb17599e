"""``PageWriter``: OUT/report.html built from the image records as they come, one image at a time.

``add(record)`` takes an image record (in any order, from any thread): its detections and masks go into
the chunk being filled, written to ``html/data/`` once it holds ``chunk_images`` images or
``chunk_detections`` detections; only small things stay in memory (the image list, the labels, a
histogram per pair, the worst detections). ``finish(report, evaluation)`` writes the last chunk and the
page, its index inline. Nothing here opens an image or a mask: the records' ``preview`` holds what the
page draws.

One error policy: anything that keeps the page from being written (a full disk, a read-only folder, a
plotting library's error) becomes ``HtmlReportError``, one line, which callers print as a warning; an
``add`` that fails is remembered and reported by ``finish``, and never fails the image.
"""

from __future__ import annotations

import re
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pydantic import BaseModel

from segkit import __version__
from segkit.errors import SegkitError
from segkit.fonts import subset_font
from segkit.html_report import plots
from segkit.html_report.model import (
    MASKS_CALLBACK,
    ROWS_CALLBACK,
    BackendInfo,
    ChunkImages,
    ChunkInfo,
    DetectionColumns,
    GalleryEntry,
    GroundTruthCell,
    ImageColumns,
    MaskChunk,
    PageChunk,
    PageIndex,
    Plots,
)
from segkit.html_report.page import chunk_script, escape_for_script, render_page
from segkit.html_report.palette import backend_color, page_colors
from segkit.html_report.tallies import FINE_BINS, PAIR_BINS, Histogram, Lowest
from segkit.outputs.files import atomic_write_bytes, finite
from segkit.outputs.layout import PAGE_CHUNK_NAME, OutputLayout
from segkit.outputs.mask_metrics import pair_name
from segkit.outputs.records import DetectionRecord, ImageRecord
from segkit.storage import is_remote

MAX_FAILURES = 500
BOX = "box"  # eval's baseline: the detection box as a mask
OLD_PICTURE = re.compile(r"^[0-9a-f]{16}-[0-9a-z-]+\.(jpg|png)$")  # segkit 0.1's overlays and thumbnails


class HtmlReportError(SegkitError):
    """report.html or its data could not be written (disk full, folder made read-only, a bug in making it)."""

    exit_code = 1


@dataclass(frozen=True)
class PageSettings:
    chunk_images: int = 1000  # a chunk holds at most this many images ...
    chunk_detections: int = 4000  # ... and this many detections (an image with more is a chunk alone)
    gallery: int = 100  # the worst detections kept with their masks for the gallery (report.json lists --worst)
    title: str | None = None  # default: the output folder's name


class _Chunk:
    """The chunk being filled: its images and their detections, a plain list per column (``DetectionColumns``)
    until it is written, and the values its plots need."""

    def __init__(self, number: int, first_image: int, first_detection: int):
        self.number = number
        self.first_image = first_image
        self.first_detection = first_detection
        self.backends: dict[str, int] = {}
        self.pairs: dict[str, int] = {}
        self.images = ChunkImages()
        self.masks = MaskChunk(number=number)
        self.id: list[int] = []
        self.label: list[int] = []
        self.confidence: list[float | None] = []
        self.box: list[list[float]] = []
        self.areas: list[list[Any]] = []
        self.scores: list[list[Any]] = []
        self.ious: list[list[Any]] = []
        self.gt: list[GroundTruthCell | None] = []
        self.pair_values: dict[str, array] = {}  # pair -> its IoUs in this chunk (for the histograms)
        self.gt_values: dict[str, array] = {}  # backend or "box" -> IoUs against ground truth

    def backend(self, name: str) -> int:
        return self.backends.setdefault(name, len(self.backends))

    def pair(self, name: str) -> int:
        if name not in self.pairs:
            self.pairs[name] = len(self.pairs)
            self.pair_values[name] = array("d")
        return self.pairs[name]

    @property
    def detections(self) -> int:
        return len(self.id)

    def full(self, settings: PageSettings, adding: int) -> bool:
        images = len(self.images.index)
        return images > 0 and (images >= settings.chunk_images or self.detections + adding > settings.chunk_detections)


def _padded(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Rows written before the chunk met its later backends or pairs, filled out with None."""
    for row in rows:
        row.extend([None] * (width - len(row)))
    return rows


def _import_libraries() -> None:
    try:
        import fontTools.subset  # noqa: F401
        import matplotlib.figure  # noqa: F401
    except Exception:  # noqa: BLE001 - finish() imports them again and reports what fails
        pass


def _as_dict(document: Any) -> dict[str, Any] | None:
    if document is None:
        return None
    if isinstance(document, BaseModel):
        return document.model_dump(mode="json")
    return dict(document)


class PageWriter:
    """report.html and its data chunks, from image records added one at a time; safe to use from several threads."""

    def __init__(self, out_root: Path, settings: PageSettings | None = None):
        self.layout = OutputLayout(out_root if not isinstance(out_root, str) else Path(out_root))
        self.settings = settings or PageSettings()
        self.images = ImageColumns()
        self.labels: dict[str, int] = {}
        self.chunks: list[ChunkInfo] = []
        self.written: set[str] = set()
        self.pair_values: dict[str, Histogram] = {}
        self.gt_values: dict[str, Histogram] = {}
        self.worst = Lowest(self.settings.gallery)
        self.backend_runs: dict[str, Any] = {}
        self.has_gt = False
        self.font_text: set[str] = set()  # characters only the chunks hold (ground-truth categories, failures)
        self.counts = {"no_preview": 0, "no_picture": 0, "no_gt_layer": 0}
        self.problem: str | None = None
        self._chunk = _Chunk(0, 0, 0)
        self._lock = threading.Lock()
        self._detections = 0
        self._importing = False

    # ------------------------------------------------------------ per image
    def add(self, record: ImageRecord) -> None:
        """One image's record (its ``preview`` holds the masks the page draws). Never raises: a failure
        is kept and reported by ``finish``."""
        with self._lock:
            if self.problem is not None:
                return
            try:
                self._add(record)
            except OSError as exc:
                self.problem = f"cannot write in {self.layout.page_data_dir} ({exc.strerror or exc})"
            except Exception as exc:  # noqa: BLE001 - the page must never fail an image
                self.problem = f"{record.image}: {type(exc).__name__}: {exc}"

    def _add(self, record: ImageRecord) -> None:
        if not self._importing and len(record.backends) + len(record.failed_backends) > 1:
            # Two backends make plots; the plotting library takes a second to import: meanwhile the images
            # are added. One backend has nothing to plot (unless scored later), so none of it is paid for.
            self._importing = True
            threading.Thread(target=_import_libraries, name="page-imports", daemon=True).start()
        detections = record.detections
        if self._chunk.full(self.settings, len(detections)):
            self._flush()
        chunk = self._chunk
        index = len(self.images.name)
        for name in (*record.backends, *record.failed_backends):
            chunk.backend(name)
        for name, run in record.backends.items():
            self.backend_runs.setdefault(name, run)
        for message in record.failed_backends.values():
            self._font(message)
        preview = record.preview
        if preview is None:
            self.counts["no_preview"] += 1
        elif preview.file is None:
            self.counts["no_picture"] += 1

        first = chunk.detections
        lowest = None
        labels = self.labels
        backends, pairs, pair_values = chunk.backends, chunk.pairs, chunk.pair_values
        worst_bound = self.worst.bound
        # Per detection little more than appends (methods bound once): a run adds every image here.
        add_id, add_label, add_confidence, add_box = chunk.id.append, chunk.label.append, chunk.confidence.append, chunk.box.append
        add_areas, add_scores, add_ious, add_gt = chunk.areas.append, chunk.scores.append, chunk.ious.append, chunk.gt.append
        for det in detections:
            label = labels.get(det.label)
            if label is None:
                label = labels[det.label] = len(labels)
            add_id(det.id)
            add_label(label)
            add_confidence(det.confidence)
            add_box(det.bbox_xyxy_px)
            areas: list[Any] = [None] * len(backends)
            scores = areas.copy()
            for name, answer in det.backends.items():
                k = backends.get(name)
                if k is None:  # an answer of a backend the image record does not list: not segkit's, kept anyway
                    k = chunk.backend(name)
                    areas += [None] * (k + 1 - len(areas))
                    scores += [None] * (k + 1 - len(scores))
                areas[k] = answer.area_px
                scores[k] = answer.score
            add_areas(areas)
            add_scores(scores)
            ious: list[Any] = [None] * len(pairs)
            det_lowest = None
            for pair, value in det.iou.items():
                k = pairs.get(pair)
                if k is None:
                    k = chunk.pair(pair)
                    ious += [None] * (k + 1 - len(ious))
                ious[k] = value
                pair_values[pair].append(value)
                if det_lowest is None or value < det_lowest:
                    det_lowest = value
            add_ious(ious)
            add_gt(None if det.ground_truth is None else self._ground_truth(chunk, det))
            if det_lowest is not None:
                if lowest is None or det_lowest < lowest:
                    lowest = det_lowest
                if det_lowest <= worst_bound:
                    key = (det_lowest, record.image, det.id)
                    if self.worst.admits(key):
                        self.worst.add(key, self._gallery_entry(index, record, det))
                        worst_bound = self.worst.bound
        if preview is not None and preview.gt is None and any(d.ground_truth is not None for d in detections):
            self.counts["no_gt_layer"] += 1

        images = chunk.images
        images.index.append(index)
        images.width.append(record.width)
        images.height.append(record.height)
        images.panel.append(record.panel)
        images.failed.append(record.failed_backends)
        images.preview_file.append(preview.file if preview else None)
        images.preview_width.append(preview.width if preview else None)
        images.preview_height.append(preview.height if preview else None)
        images.first.append(first)
        images.count.append(len(detections))
        chunk.masks.index.append(index)
        chunk.masks.masks.append(preview.masks if preview else {})
        chunk.masks.gt.append(preview.gt if preview else None)
        self.images.name.append(record.image)
        self.images.chunk.append(chunk.number)
        self.images.detections.append(len(detections))
        self.images.min_iou.append(lowest)
        self.images.failed.append(len(record.failed_backends))
        self._detections += len(detections)

    def _ground_truth(self, chunk: _Chunk, det: DetectionRecord) -> GroundTruthCell:
        entry = det.ground_truth
        assert entry is not None
        self.has_gt = True
        iou: list[Any] = [None] * len(chunk.backends)
        boundary: list[Any] = [None] * len(chunk.backends)
        for name, score in entry.backends.items():
            k = chunk.backend(name)
            if k >= len(iou):
                iou += [None] * (k + 1 - len(iou))
                boundary += [None] * (k + 1 - len(boundary))
            iou[k], boundary[k] = score.iou, score.boundary_iou
            chunk.gt_values.setdefault(name, array("d")).append(score.iou)
        if entry.box is not None:
            chunk.gt_values.setdefault(BOX, array("d")).append(entry.box.iou)
        if entry.category:
            self._font(entry.category)
        return GroundTruthCell.model_construct(status=entry.status, gt_id=entry.gt_id, category=entry.category, iou=iou,
                                               boundary_iou=boundary, box_iou=entry.box.iou if entry.box is not None else None)

    def _gallery_entry(self, index: int, record: ImageRecord, det: DetectionRecord) -> GalleryEntry:
        preview = record.preview
        if preview is None:
            return GalleryEntry(image=index, detection=det.id, box=list(det.bbox_xyxy_px), picture=None, width=record.width,
                                height=record.height, scale=1.0)
        masks = {name: by_id[det.id] for name, by_id in preview.masks.items() if det.id in by_id}
        return GalleryEntry(image=index, detection=det.id, box=list(det.bbox_xyxy_px), picture=preview.file, width=preview.width,
                            height=preview.height, scale=preview.width / record.width, masks=masks)

    def _font(self, text: str) -> None:
        if not text.isascii():
            self.font_text.update(text)

    def _flush(self) -> None:
        """Write the chunk being filled (rows and masks), count its values, and start the next."""
        chunk = self._chunk
        images = len(chunk.images.index)
        if not images:
            return
        for name, values in chunk.pair_values.items():
            self.pair_values.setdefault(name, Histogram(PAIR_BINS)).add(values)
        for name, values in chunk.gt_values.items():
            self.gt_values.setdefault(name, Histogram(FINE_BINS)).add(values)
        width = len(chunk.backends)
        _padded(chunk.areas, width)
        _padded(chunk.scores, width)
        _padded(chunk.ious, len(chunk.pairs))
        for cell in chunk.gt:
            if cell is not None:
                _padded([cell.iou, cell.boundary_iou], width)
        # Built by this writer, of the types the models name: constructed, not validated again (a million
        # detections); the tests read every chunk back through the models.
        columns = DetectionColumns.model_construct(id=chunk.id, label=chunk.label, confidence=chunk.confidence, box=chunk.box,
                                                   areas=chunk.areas, scores=chunk.scores, ious=chunk.ious, gt=chunk.gt)
        rows = PageChunk.model_construct(number=chunk.number, backends=list(chunk.backends), pairs=list(chunk.pairs),
                                         images=chunk.images, detections=columns)
        paths = {}
        for kind, callback, document in (("rows", ROWS_CALLBACK, rows), ("masks", MASKS_CALLBACK, chunk.masks)):
            path = self.layout.page_chunk_path(kind, chunk.number)
            atomic_write_bytes(path, chunk_script(callback, chunk.number, document.model_dump_json()).encode("utf-8"))
            paths[kind] = self.layout.relative(path)
            self.written.add(path.name)
        self.chunks.append(ChunkInfo(rows=paths["rows"], masks=paths["masks"], first_image=chunk.first_image,
                                     images=images, first_detection=chunk.first_detection, detections=chunk.detections))
        self._chunk = _Chunk(chunk.number + 1, chunk.first_image + images, chunk.first_detection + chunk.detections)

    # ------------------------------------------------------------ the page
    def finish(self, report: Mapping[str, Any] | BaseModel, evaluation: Mapping[str, Any] | BaseModel | None = None,
               failures: Sequence[Any] = (), notes: Iterable[str] = ()) -> Path:
        """Write the last chunk and OUT/report.html (report.json's and eval.json's documents, as they are);
        return the page's path. HtmlReportError (one line) when it cannot be written."""
        root = self.layout.root
        with self._lock:
            try:
                if self.problem is not None:
                    raise HtmlReportError(f"the HTML report was not written: {self.problem}; the other outputs are kept")
                self._flush()
                return self._write(_as_dict(report) or {}, _as_dict(evaluation), list(failures), list(notes))
            except HtmlReportError:
                raise
            except OSError as exc:
                raise HtmlReportError(f"cannot write the HTML report in {root} ({exc.strerror or exc}); the other outputs are kept:"
                                      " free some space or make the folder writable, or pass --no-html") from exc
            except Exception as exc:  # noqa: BLE001 - a plotting library's error must not cost the run
                raise HtmlReportError(f"the HTML report could not be made ({type(exc).__name__}: {exc});"
                                      " the other outputs are kept") from exc

    def _write(self, report: dict[str, Any], evaluation: dict[str, Any] | None, failures: list[Any], notes: list[str]) -> Path:
        root = self.layout.root
        backends = [str(b) for b in report.get("backends", [])]
        pairs = [str(p.get("pair", pair_name(p["a"], p["b"]))) for p in report.get("pairs", [])]
        page_notes = [*notes, *self._notes()]
        drawn = self._plots(report, evaluation, backends, page_notes)  # a plot that fails adds a note
        remote = is_remote(root)
        index = PageIndex(
            title=self.settings.title or (root.name if remote else root.resolve().name) or str(root),
            generator=f"segkit {__version__}",
            report=finite(report),
            eval=finite(evaluation),
            backends=[BackendInfo(name=name, color=backend_color(i), plugin=getattr(self.backend_runs.get(name), "plugin", None),
                                  settings=finite(getattr(self.backend_runs.get(name), "settings", {}) or {}))
                      for i, name in enumerate(backends)],
            pairs=pairs,
            labels=list(self.labels),
            images=self.images,
            chunks=self.chunks,
            detections=self._detections,
            has_gt=self.has_gt,
            gallery=self.worst.sorted(),
            colors=page_colors(),
            plots=drawn,
            failures=finite(failures[:MAX_FAILURES]),
            failures_total=len(failures),
            notes=page_notes,
        )
        data = escape_for_script(index.model_dump_json())
        # The page's own font: IPAexGothic cut down to the characters the page can show.
        font = subset_font(data + "".join(sorted(self.font_text)))
        page = render_page(f"segkit report: {index.title}", data, font)
        if not remote:  # an object store keeps what it has: nothing there is listed to be removed
            self._remove_stale()
        atomic_write_bytes(self.layout.report_html_path, page.encode("utf-8"))
        return self.layout.report_html_path

    def _notes(self) -> list[str]:
        counts = self.counts
        notes = []
        if counts["no_preview"]:
            notes.append(f"{counts['no_preview']} image(s) have no preview in their records (written with --no-html, or by"
                         " segkit before 0.2): they are listed without picture or masks; `segkit compare` on this folder makes them")
        if counts["no_picture"]:
            notes.append(f"{counts['no_picture']} image(s) have no picture (their originals were not at hand, or html/img/ could"
                         " not be written): their masks are drawn on grey; `segkit compare --images DIR` makes the pictures")
        if counts["no_gt_layer"]:
            notes.append(f"{counts['no_gt_layer']} image(s) have scores against ground truth but no ground-truth layer:"
                         " run `segkit eval` on this folder again to draw it")
        return notes

    def _plots(self, report: Mapping[str, Any], evaluation: Mapping[str, Any] | None, backends: Sequence[str],
               notes: list[str]) -> Plots:
        """The plots from the counts kept; one that cannot be drawn is left out, and said so."""
        def drawn(what: str, draw, *args):
            try:
                return draw(*args)
            except Exception as exc:  # noqa: BLE001 - matplotlib's own errors (a font, a layout): the page goes on
                notes.append(f"the {what} plot could not be drawn ({type(exc).__name__}: {exc})")
                return None

        pairs = [(str(p.get("pair")), str(p.get("a")), str(p.get("b"))) for p in report.get("pairs", [])]
        counts = {}
        for name, a, b in pairs:
            histogram = self.pair_values.get(name) or self.pair_values.get(pair_name(b, a))
            if histogram is not None and histogram.count:
                counts[name] = histogram.counts
        labels = drawn("per-label", plots.label_bars, report.get("labels", []), [name for name, _, _ in pairs])
        label_svg, label_count = labels if labels else (None, 0)
        shown = min(label_count, plots.MAX_LABELS)
        gt = None
        if evaluation is not None:
            stats = {name: self.gt_values[name].box_stats() for name in [*backends, BOX]
                     if name in self.gt_values and self.gt_values[name].count}
            gt = drawn("ground-truth", plots.gt_boxplots, stats) if stats else None
        return Plots(
            pairs=drawn("IoU histogram", plots.pair_histograms, counts, float(report.get("iou_threshold", 0.5))),
            labels=label_svg,
            labels_caption=(f"Mean IoU per label and pair: the {shown} of {label_count} labels that agree least"
                            " (all of them in the table below)." if label_count > shown else "Mean IoU per label and pair."),
            gt=gt,
        )

    def _remove_stale(self) -> None:
        """Chunks of an earlier page that this one does not use, and segkit 0.1's pictures (only files named as
        segkit names them)."""
        data = self.layout.page_data_dir
        if data.is_dir():
            for path in data.iterdir():
                if PAGE_CHUNK_NAME.match(path.name) and path.name not in self.written:
                    path.unlink(missing_ok=True)
        html = self.layout.html_dir
        for folder in (html / "img", html / "thumb"):
            if folder.is_dir():
                for path in folder.iterdir():
                    if OLD_PICTURE.match(path.name):
                        path.unlink(missing_ok=True)
        (html / "assets.json").unlink(missing_ok=True)
        try:
            (html / "thumb").rmdir()
        except OSError:
            pass
