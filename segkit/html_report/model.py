"""The page's data, typed: what ``PageWriter`` writes and what static/report.js reads, field for field.

Three documents:

* ``PageIndex``, inline in report.html: report.json and eval.json as they are, the image list (a column
  per field), the label list, the plots, the worst detections with their masks (the gallery), and where
  the chunks are. Everything the page shows before it loads a chunk.
* ``PageChunk``, ``html/data/rows-<n>.js``: the detections of a run of images, a column per field, in
  the chunk's own backend and pair order (``backends``, ``pairs``; the page maps them to the report's).
  Loaded in the background for the detections table and its filters, or at once for an image view.
* ``MaskChunk``, ``html/data/masks-<n>.js``: the same images' masks at preview scale, loaded only for an
  image view.

A chunk file is one call, ``segkitChunk(n, JSON.parse('{...}'))`` or ``segkitMasks(...)`` (``page.chunk_script``),
so that it loads with a script element from the file system, where a page can fetch nothing. Numbers are
the records' own: the page computes none of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segkit.outputs.records import PreviewMask

PAGE_VERSION = 2
ROWS_CALLBACK = "segkitChunk"
MASKS_CALLBACK = "segkitMasks"


class _Page(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackendInfo(_Page):
    name: str
    color: str  # "#rrggbb", the backend's overlay colour
    plugin: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class Colors(_Page):
    """How the page's script draws masks (the same colours the panels use)."""

    fill_alpha: int  # a backend's masks filled with its colour at this alpha (0..255), outlined opaque
    only_first: str  # two backends: pixels only the first covers
    only_second: str
    veil: list[int]  # RGBA over pixels where the backends agree, in the disagreement view
    heat: list[str]  # three or more backends: disagreement levels, low to high
    gt: str  # the ground truth's overlay colour


class ImageColumns(_Page):
    """The image list: one entry per image in each column, in the order the images were added."""

    name: list[str] = Field(default_factory=list)
    chunk: list[int] = Field(default_factory=list)  # which chunk holds its detections and masks
    detections: list[int] = Field(default_factory=list)
    min_iou: list[float | None] = Field(default_factory=list)  # the lowest pair IoU of its detections
    failed: list[int] = Field(default_factory=list)  # how many backends failed on it


class ChunkInfo(_Page):
    rows: str  # path relative to OUT: html/data/rows-<n>.js
    masks: str  # html/data/masks-<n>.js
    first_image: int
    images: int
    first_detection: int
    detections: int


class GalleryEntry(_Page):
    """A worst detection with what its card draws: the preview's picture and each backend's mask there."""

    image: int
    detection: int
    box: list[float]  # xyxy in original pixels
    picture: str | None  # html/img/<key>.jpg; None: grey
    width: int  # the preview's size
    height: int
    scale: float  # preview pixels per original pixel
    masks: dict[str, PreviewMask] = Field(default_factory=dict)  # backend -> mask


class Plots(_Page):
    pairs: str | None = None  # inline SVG
    labels: str | None = None
    labels_caption: str = ""
    gt: str | None = None


class PageIndex(_Page):
    version: int = PAGE_VERSION
    title: str
    generator: str
    report: dict[str, Any]  # report.json as it is
    eval: dict[str, Any] | None = None  # eval.json as it is
    backends: list[BackendInfo]
    pairs: list[str]
    labels: list[str]  # a detection's label is its index here
    images: ImageColumns
    chunks: list[ChunkInfo]
    detections: int  # over every chunk
    has_gt: bool  # some detection was scored against ground truth
    gallery: list[GalleryEntry]
    colors: Colors
    plots: Plots
    failures: list[Any]  # failures.json, the first MAX_FAILURES
    failures_total: int
    notes: list[str]


class ChunkImages(_Page):
    """The chunk's images, one entry per image in each column (columns, not objects: a chunk holds a thousand)."""

    index: list[int] = Field(default_factory=list)  # in the image list
    width: list[int] = Field(default_factory=list)  # original pixels
    height: list[int] = Field(default_factory=list)
    panel: list[str | None] = Field(default_factory=list)
    failed: list[dict[str, str]] = Field(default_factory=list)  # backend -> why
    preview_file: list[str | None] = Field(default_factory=list)  # html/img/<key>.jpg; None: no picture (grey)
    preview_width: list[int | None] = Field(default_factory=list)  # None: the record has no preview
    preview_height: list[int | None] = Field(default_factory=list)
    first: list[int] = Field(default_factory=list)  # its first detection in the chunk's columns (its own are in a row)
    count: list[int] = Field(default_factory=list)


class GroundTruthCell(_Page):
    """A detection's scores against ground truth (segkit eval), per backend in the chunk's order."""

    status: str | None = None
    gt_id: int | None = None
    category: str | None = None
    iou: list[float | None]
    boundary_iou: list[float | None]
    box_iou: float | None = None


class DetectionColumns(_Page):
    id: list[int] = Field(default_factory=list)
    label: list[int] = Field(default_factory=list)
    confidence: list[float | None] = Field(default_factory=list)
    box: list[list[float]] = Field(default_factory=list)  # xyxy, original pixels
    areas: list[list[int | None]] = Field(default_factory=list)  # per backend of the chunk
    scores: list[list[float | None]] = Field(default_factory=list)
    ious: list[list[float | None]] = Field(default_factory=list)  # per pair of the chunk
    gt: list[GroundTruthCell | None] = Field(default_factory=list)


class PageChunk(_Page):
    number: int
    backends: list[str]
    pairs: list[str]
    images: ChunkImages
    detections: DetectionColumns


class MaskChunk(_Page):
    """The same images' masks at preview scale, a column per field."""

    number: int
    index: list[int] = Field(default_factory=list)
    masks: list[dict[str, dict[int, PreviewMask]]] = Field(default_factory=list)  # backend -> detection id -> mask
    gt: list[list[PreviewMask] | None] = Field(default_factory=list)
