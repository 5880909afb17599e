"""The pictures of the HTML report, under OUT/html/: small copies made once per image and reused.

Per image (named by a hash of its stem, so no file name from the input reaches a URL):

    html/img/<key>.jpg             the original, its longer side scaled down to ``max_side`` (JPEG)
    html/img/<key>-<b>.png         backend b's masks at that size: its colour, filled see-through, outlined
    html/img/<key>-diff.png        where the backends disagree: two backends, red = only the first, blue =
                                   only the second (as the panels); three or more, the disagreement map
    html/img/<key>-gt.png          the ground truth (every instance), when eval.json names a source
    html/thumb/<key>-<d>-<p>.jpg   a listed detection d (worst of pair p): its box cut from the original,
                                   with the pair's XOR drawn on it

Masks are read with the one reader of answers (``artifacts.load_answer_mask``: PNG file or RLE), from
the backend records, and scaled as the panels scale them (``panel.to_panel``). Overlays are palette
PNGs with transparency (a few colours: a few KB each) stacked over the JPEG by the page, which toggles
them; nothing is drawn in the browser. An image whose inputs (original, mask
files, backends, listed detections, sizes) did not change since the last report keeps its files: a
re-run that skips finished images does not redraw them.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import cv2
import numpy as np
from PIL import Image

from segkit.config import VizSettings
from segkit.errors import ImageFailed
from segkit.html_report.gt_overlays import GtMasks
from segkit.inputs.images import load_rgb
from segkit.outputs.files import atomic_write_bytes, write_jpeg
from segkit.outputs.image_writer import image_path_of
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_metrics import Placed, disagreement_placed, xor_by_side_placed
from segkit.outputs.mask_set import extent
from segkit.outputs.panels import ONLY_FIRST, ONLY_SECOND, PanelGeometry, to_panel
from segkit.outputs.reading import (
    OutputFileError,
    load_answer_mask,
    load_backend_record,
    output_file,
)
from segkit.outputs.records import BackendRecord

ASSET_VERSION = 2
DEFAULT_MAX_SIDE = 1024
THUMB_SIDE = 240
JPEG_QUALITY = 82
FILL_ALPHA = 110
VEIL = (0, 0, 0, 150)  # the diff layer darkens the pixels where the backends agree
# Okabe-Ito: told apart with the common colour-vision deficiencies; backend i gets colour i.
BACKEND_COLORS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
                  (204, 121, 167), (255, 255, 255))
HEAT_LEVELS = 8
GT_COLOR = (255, 255, 255)


def backend_color(index: int) -> tuple[int, int, int]:
    return BACKEND_COLORS[index % len(BACKEND_COLORS)]


def short_hash(text: str, length: int = 16) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class Thumb:
    """A listed detection to cut out: detection ``det`` of an image, showing the XOR of backends a and b."""

    det: int
    a: str
    b: str

    @property
    def name(self) -> str:
        return f"{self.det}-{short_hash(self.a + chr(0) + self.b, 8)}"


@dataclass
class ImageAssets:
    """What the page shows of one image; paths relative to OUT. Empty fields: not made (see ``problem``)."""

    key: str
    preview: str | None = None
    scale: float = 1.0  # preview pixels per original pixel
    overlays: dict[str, str] = field(default_factory=dict)
    diff: str | None = None
    gt: str | None = None
    thumbs: dict[str, str] = field(default_factory=dict)  # Thumb.name -> path
    problem: str | None = None
    files: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.problem = f"{self.problem}; {problem}" if self.problem else problem

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "preview": self.preview, "scale": self.scale, "overlays": self.overlays,
                "diff": self.diff, "gt": self.gt, "thumbs": self.thumbs, "problem": self.problem, "files": self.files}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageAssets":
        return cls(data["key"], data.get("preview"), float(data.get("scale", 1.0)), dict(data.get("overlays", {})),
                   data.get("diff"), data.get("gt"), dict(data.get("thumbs", {})), data.get("problem"),
                   list(data.get("files", [])))


class AssetMaker:
    """Makes (or reuses) the pictures of one image at a time; safe to call from several threads."""

    def __init__(self, root: Path, backends: Sequence[str], images_dir: Path | None, max_side: int,
                 previous: Mapping[str, Mapping[str, Any]], gt_masks: GtMasks | None = None, gt_source: str | None = None):
        self.layout = OutputLayout(root)
        self.root = root
        self.backends = list(backends)
        self.images_dir = images_dir
        self.max_side = max_side
        self.previous = previous  # stamp -> ImageAssets JSON, from the last report
        self.gt_masks = gt_masks  # image name, (width, height) -> the ground truth as one mask, or None
        self.gt_source = gt_source

    def backend_records(self, record: Mapping[str, Any]) -> dict[str, BackendRecord]:
        """The image's backend records (they hold each answer's mask file or RLE), of the report's backends."""
        listed = record.get("backend_records") or {}
        return {name: load_backend_record(output_file(self.layout, listed[name], self.layout.backends_dir, f"the {name} record"))
                for name in self.backends if name in listed and listed[name] and name in record.get("backends", {})}

    def stamp(self, records: Mapping[str, BackendRecord], image: Path | None, record: Mapping[str, Any],
              thumbs: Sequence[Thumb]) -> str:
        """A digest of everything the pictures of this image are made from."""
        def file_id(path: Path, name: str) -> list[Any]:  # by name, so that a copied folder keeps its pictures
            try:
                st = path.stat()
                return [name, st.st_size, st.st_mtime_ns]
            except OSError:
                return [name, None]

        sources = []
        for name, rec in records.items():
            for answer in rec.answers:
                sources.append([name, answer.id, file_id(self.root / answer.mask, answer.mask) if answer.mask
                                else short_hash(answer.rle.counts if answer.rle else "")])
        basis = [ASSET_VERSION, self.max_side, self.backends, record.get("width"), record.get("height"),
                 file_id(image, str(image)) if image else None, sources,
                 [[d.get("id"), d.get("bbox_xyxy_px")] for d in record.get("detections", [])],
                 sorted(t.name for t in thumbs), self.gt_source]
        return hashlib.sha1(json.dumps(basis, sort_keys=True, default=str).encode("utf-8")).hexdigest()

    def make(self, stem: str, record: Mapping[str, Any], thumbs: Sequence[Thumb]) -> tuple[str | None, ImageAssets]:
        """The image's pictures and the stamp they were made for; reused when the stamp is unchanged."""
        assets = ImageAssets(short_hash(stem))
        try:
            records = self.backend_records(record)
            first = next(iter(records.values()), None)
            image = image_path_of(first, self.images_dir) if first is not None else None
            stamp = self.stamp(records, image, record, thumbs)
            old = self.previous.get(stamp)
            if old is not None and all((self.root / f).is_file() for f in old.get("files", [])):
                return stamp, ImageAssets.from_json(old)
            self._draw(record, records, image, thumbs, assets)
        except (OutputFileError, ImageFailed, KeyError, TypeError, ValueError) as exc:
            assets.note(f"{record.get('image', stem)}: {exc}")
            return None, assets
        return stamp, assets

    def _draw(self, record: Mapping[str, Any], records: Mapping[str, BackendRecord], image: Path | None,
              thumbs: Sequence[Thumb], assets: ImageAssets) -> None:
        width, height = int(record["width"]), int(record["height"])
        geometry = PanelGeometry.of(width, height, VizSettings(max_column_width=self.max_side, max_column_height=self.max_side))
        size = geometry.size
        assets.scale = size[0] / width
        rgb = self._original(image, record, (width, height), assets)
        key = assets.key
        preview = rgb if rgb is None or size == (width, height) else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if preview is None:
            preview = np.full((size[1], size[0], 3), 96, np.uint8)
        self._write(assets, ("img", f"{key}.jpg"), preview, jpeg=True)
        assets.preview = assets.files[-1]

        # Each mask is read once: cut to its extent at preview scale (as the panels do), and kept at full
        # size only for the detections that get a thumbnail.
        wanted = {(name, t.det) for t in thumbs for name in (t.a, t.b)}
        placed: dict[str, dict[int, Placed | None]] = {}
        full: dict[tuple[str, int], np.ndarray] = {}
        for name, rec in records.items():
            placed[name] = {}
            for answer in rec.answers:
                mask = load_answer_mask(self.layout, answer, rec.size)
                placed[name][answer.id] = to_panel(mask, extent(mask), geometry)
                if (name, answer.id) in wanted:
                    full[(name, answer.id)] = mask
        for index, name in enumerate(self.backends):
            if name in placed:
                self._write(assets, ("img", f"{key}-{short_hash(name, 8)}.png"), _overlay(placed[name].values(), size, backend_color(index)))
                assets.overlays[name] = assets.files[-1]
        diff = _diff_layer([placed[n] for n in self.backends if n in placed], size)
        if diff is not None:
            self._write(assets, ("img", f"{key}-diff.png"), diff)
            assets.diff = assets.files[-1]
        truth = self._ground_truth(record, (width, height), assets)
        if truth is not None:
            self._write(assets, ("img", f"{key}-gt.png"), _overlay([to_panel(truth, extent(truth), geometry)], size, GT_COLOR))
            assets.gt = assets.files[-1]
        boxes = {d["id"]: d["bbox_xyxy_px"] for d in record["detections"]}
        for thumb in thumbs:
            a, b = full.get((thumb.a, thumb.det)), full.get((thumb.b, thumb.det))
            if a is not None and b is not None and thumb.det in boxes:
                self._write(assets, ("thumb", f"{key}-{thumb.name}.jpg"), _thumbnail(rgb, (width, height), boxes[thumb.det], a, b), jpeg=True)
                assets.thumbs[thumb.name] = assets.files[-1]

    def _original(self, image: Path | None, record: Mapping[str, Any], size: tuple[int, int], assets: ImageAssets) -> np.ndarray | None:
        if image is None:
            assets.note(f"original image {record.get('image')} not found (pass --images DIR): masks shown on grey")
            return None
        try:
            rgb = load_rgb(image)
        except ImageFailed as exc:
            assets.note(str(exc))
            return None
        if (rgb.shape[1], rgb.shape[0]) != size:
            assets.note(f"{image} is {rgb.shape[1]}x{rgb.shape[0]}, not the {size[0]}x{size[1]} its record says")
            return None
        return rgb

    def _ground_truth(self, record: Mapping[str, Any], size: tuple[int, int], assets: ImageAssets) -> np.ndarray | None:
        if self.gt_masks is None:
            return None
        try:
            return self.gt_masks(str(record.get("image", "")), size)
        except Exception as exc:  # eval's readers: a bad polygon, a mask of another size; the rest is shown
            assets.note(f"{record.get('image')}: ground truth not shown ({exc})")
            return None

    def _write(self, assets: ImageAssets, parts: tuple[str, str], picture: Any, jpeg: bool = False) -> None:
        path = self.root.joinpath("html", *parts)
        if jpeg:
            write_jpeg(path, picture, JPEG_QUALITY)
        else:
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG", compress_level=3)  # half the time of level 6, 15% larger
            atomic_write_bytes(path, buffer.getvalue())
        assets.files.append(path.relative_to(self.root).as_posix())


def _outline(crop: np.ndarray) -> np.ndarray:
    """The pixels of a mask crop on its contour (the crop's edge counts as outside)."""
    padded = np.pad(crop.view(np.uint8), 1)
    return crop & ~cv2.erode(padded, np.ones((3, 3), np.uint8))[1:-1, 1:-1].view(bool)


def _palette_png(indices: np.ndarray, colors: Sequence[tuple[int, int, int, int]]) -> Image.Image:
    """An 8-bit palette image whose entry i is colors[i] (RGBA): small files for few-colour layers."""
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    image.putpalette([c for rgba in colors for c in rgba[:3]])
    image.info["transparency"] = bytes(rgba[3] for rgba in colors)
    return image


def _overlay(masks: Iterable[Placed | None], size: tuple[int, int], color: tuple[int, int, int]) -> Image.Image:
    """Masks at preview scale, filled see-through and outlined (each its own outline) in one colour."""
    indices = np.zeros((size[1], size[0]), np.uint8)
    items = [m for m in masks if m is not None and m.crop.size]
    for m in items:
        h, w = m.crop.shape
        window = indices[m.y : m.y + h, m.x : m.x + w]
        window[m.crop & (window == 0)] = 1
    for m in items:
        h, w = m.crop.shape
        indices[m.y : m.y + h, m.x : m.x + w][_outline(m.crop)] = 2
    return _palette_png(indices, [(0, 0, 0, 0), (*color, FILL_ALPHA), (*color, 255)])


def _diff_layer(per_backend: Sequence[Mapping[int, Placed | None]], size: tuple[int, int]) -> Image.Image | None:
    """Two backends: their XOR (red / blue); three or more: the disagreement map; over the detections all have."""
    if len(per_backend) < 2:
        return None
    shared = sorted(set.intersection(*(set(m) for m in per_backend)))
    layers = [[m[i] for i in shared] for m in per_backend]
    shape = (size[1], size[0])
    indices = np.zeros(shape, np.uint8)
    if len(layers) == 2:
        only_a, only_b = xor_by_side_placed(*layers, shape)
        indices[only_a] = 1
        indices[only_b] = 2
        return _palette_png(indices, [VEIL, (*ONLY_FIRST, 255), (*ONLY_SECOND, 255)])
    level = disagreement_placed(layers, shape)
    hot = level > 0
    indices[hot] = np.clip(np.ceil(level[hot] * HEAT_LEVELS), 1, HEAT_LEVELS).astype(np.uint8)
    ramp = cv2.applyColorMap(np.linspace(0, 255, HEAT_LEVELS + 1).astype(np.uint8)[:, None], cv2.COLORMAP_INFERNO)[:, 0, ::-1]
    return _palette_png(indices, [VEIL] + [(*map(int, ramp[k]), 255) for k in range(1, HEAT_LEVELS + 1)])


def _thumbnail(rgb: np.ndarray | None, size: tuple[int, int], box: Sequence[float], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The detection's box with a margin, cut from the original, with only-a red and only-b blue drawn on it."""
    width, height = size
    x1, y1, x2, y2 = (float(v) for v in box)
    margin = max(8.0, 0.15 * max(x2 - x1, y2 - y1))
    left, top = max(0, int(x1 - margin)), max(0, int(y1 - margin))
    right, bottom = min(width, int(np.ceil(x2 + margin))), min(height, int(np.ceil(y2 + margin)))
    right, bottom = max(right, left + 1), max(bottom, top + 1)
    crop = (rgb[top:bottom, left:right] if rgb is not None else np.full((bottom - top, right - left, 3), 96, np.uint8)).astype(np.float32)
    ca, cb = a[top:bottom, left:right], b[top:bottom, left:right]
    for mask, color in ((ca & ~cb, ONLY_FIRST), (cb & ~ca, ONLY_SECOND)):
        crop[mask] = 0.35 * crop[mask] + 0.65 * np.asarray(color, np.float32)
    crop = crop.astype(np.uint8)
    scale = min(1.0, THUMB_SIDE / max(crop.shape[:2]))
    out_size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    out = cv2.resize(crop, out_size, interpolation=cv2.INTER_AREA) if scale < 1 else np.ascontiguousarray(crop)
    corner1 = (round((x1 - left) * scale), round((y1 - top) * scale))
    corner2 = (round((x2 - left) * scale) - 1, round((y2 - top) * scale) - 1)
    cv2.rectangle(out, corner1, corner2, (255, 255, 255), 1, cv2.LINE_AA)
    return out
