"""Side-by-side panels: original | one overlay per backend | where the backends disagree.

Two backends get an XOR column (red: only the first covers the pixel, blue: only the second); three or
more get a per-pixel disagreement map. Columns are scaled to at most ``viz.max_column_width`` x
``viz.max_column_height``, so a panel costs the same for a 1 MP photo and a 50 MP scan, and masks reach
the panel already scaled and cropped to their extent (``Placed``), so drawing costs what the masks
cover, not N x H x W. Crowded images draw their first ``viz.max_detections`` detections and label the
first ``viz.max_labels`` (the column title says so). Boxes use supervision's annotator; labels are drawn
with a font that has Japanese glyphs, one cached bitmap per distinct text. Drawing text never fails a
panel: a text the font's layout cannot take is drawn without shaping, or left out with a warning.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import cv2
import numpy as np
from PIL import Image, ImageDraw

from segkit.config import VizSettings
from segkit.errors import one_line
from segkit.fonts import font_path, load_font
from segkit.inputs.detections import Detection
from segkit.outputs.mask_metrics import Placed, disagreement_placed, xor_by_side_placed
from segkit.plugins.segmenter import Segmentation
from segkit.text import for_terminal, preview

ONLY_FIRST = (255, 64, 64)
ONLY_SECOND = (64, 140, 255)
BACKGROUND_LEVEL = 24
BACKGROUND = (BACKGROUND_LEVEL,) * 3
GAP = 4
T = TypeVar("T")


@dataclass(frozen=True)
class PanelGeometry:
    """How an image of ``width`` x ``height`` maps onto a panel column."""

    scale: float
    size: tuple[int, int]  # column (width, height)

    @classmethod
    def of(cls, width: int, height: int, viz: VizSettings) -> "PanelGeometry":
        return cls.fit(width, height, viz.max_column_width, viz.max_column_height)

    @classmethod
    def fit(cls, width: int, height: int, max_width: int, max_height: int) -> "PanelGeometry":
        """The image scaled down (never up) to fit ``max_width`` x ``max_height``."""
        scale = min(1.0, max_width / width, max_height / height)
        return cls(scale, (max(1, round(width * scale)), max(1, round(height * scale))))


@dataclass
class PanelLayer:
    """One backend's masks at panel scale, in detection order (None: empty or not drawn), with scores."""

    masks: list[Placed | None]
    scores: list[float]


@dataclass
class InstanceLayer:
    """A concept backend's instances at panel scale, every one found (None: empty or not drawn), each with
    its own box (pixel xyxy of the image) and label: its column draws these instead of the detections."""

    masks: list[Placed | None]
    scores: list[float]
    boxes: list[Sequence[float]]
    labels: list[str]


def to_panel(mask: np.ndarray, bbox_xywh: tuple[int, int, int, int], geometry: PanelGeometry) -> Placed | None:
    """A full-resolution (H, W) mask as a crop of the panel column, from its extent (x, y, w, h)."""
    x, y, w, h = bbox_xywh
    if w <= 0 or h <= 0:
        return None
    region = mask[y : y + h, x : x + w]
    s = geometry.scale
    if s >= 1.0:
        return Placed(x, y, np.ascontiguousarray(region))
    cols, rows = geometry.size
    x0, y0 = min(int(x * s), cols - 1), min(int(y * s), rows - 1)
    x1, y1 = min(max(x0 + 1, math.ceil((x + w) * s)), cols), min(max(y0 + 1, math.ceil((y + h) * s)), rows)
    small = cv2.resize(np.ascontiguousarray(region).view(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return Placed(x0, y0, small.view(bool))


def layer_from_dense(masks: np.ndarray, scores: Sequence[float], geometry: PanelGeometry, limit: int) -> PanelLayer:
    """A backend's (N, H, W) masks as a panel layer (the first ``limit`` detections)."""
    placed: list[Placed | None] = []
    for i, mask in enumerate(masks):
        if i >= limit:
            placed.append(None)
            continue
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        bbox = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)) if len(rows) else (0, 0, 0, 0)
        placed.append(to_panel(mask, bbox, geometry))
    return PanelLayer(placed, [float(s) for s in scores])


def shrink(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` scaled down to ``size`` (width, height), fast: OpenCV's area filter is ten times faster by a
    whole factor (the image cropped by less than that factor to make it exact), then linear interpolation
    does the rest, under 2x, where it loses nothing visible."""
    height, width = rgb.shape[:2]
    k = min(width // size[0], height // size[1])
    if k >= 2:
        w, h = width // k * k, height // k * k
        rgb = cv2.resize(rgb[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


class Downscaled:
    """An image and the smaller copies made of it so far: a smaller size is made from the smallest copy that is
    still at least as large (the page's preview from the panel's column, not from the original again)."""

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb
        self._copies: dict[tuple[int, int], np.ndarray] = {}

    def to(self, size: tuple[int, int], area: bool = False) -> np.ndarray:
        """The image at ``size`` (width, height), never larger than the original; ``area``: OpenCV's area
        filter from the original (the panel's look), else ``shrink`` from the nearest larger copy."""
        height, width = self.rgb.shape[:2]
        if size == (width, height):
            return self.rgb
        if size not in self._copies:
            if area:
                self._copies[size] = cv2.resize(self.rgb, size, interpolation=cv2.INTER_AREA)
            else:
                larger = [c for (w, h), c in self._copies.items() if w >= size[0] and h >= size[1]]
                self._copies[size] = shrink(min(larger, key=lambda c: c.shape[0] * c.shape[1]) if larger else self.rgb, size)
        return self._copies[size]


def render_panel(
    rgb: np.ndarray,
    detections: Sequence[Detection],
    layers: Mapping[str, PanelLayer | Segmentation],
    viz: VizSettings,
    title: str = "",
    instances: Mapping[str, InstanceLayer] | None = None,
    scaled: Downscaled | None = None,
) -> np.ndarray:
    """The panel as (H', W', 3) uint8 RGB. ``layers`` maps backend to its masks (panel-scale or dense), in
    detection order; a concept backend's column draws all of its ``instances`` instead (its layer, the
    instances paired with detections, feeds the difference column). An image without detections compares
    the union of each backend's masks."""
    instances = instances or {}
    height, width = rgb.shape[:2]
    geometry = PanelGeometry.of(width, height, viz)
    size = geometry.size
    layers = {name: layer if isinstance(layer, PanelLayer) else layer_from_dense(layer.masks, layer.scores, geometry, viz.max_detections)
              for name, layer in layers.items()}
    base = (scaled or Downscaled(rgb)).to(size, area=True)
    shown = min(len(detections), viz.max_detections)
    boxes = np.asarray([d.box for d in detections[:shown]], dtype=np.float32).reshape(-1, 4) * geometry.scale
    font = font_path(viz.font)
    text_size = max(12, size[0] // 45)
    note = _crowd_note(len(detections), viz)

    columns = [(title or "original", base)]
    for name, layer in layers.items():
        found = instances.get(name)
        if found is not None:
            drawn = min(len(found.masks), viz.max_detections)
            column = _instance_overlay(base, found, drawn, geometry.scale, viz, font, text_size)
            columns.append((f"{name}: {len(found.masks)} instances{_crowd_note(len(found.masks), viz)}", column))
            continue
        column = _overlay(base, boxes, layer, detections[:shown], viz, font, text_size)
        columns.append((f"{name}{note}", column))
    names = list(layers)
    shape = (size[1], size[0])
    per_item = {n: layers[n].masks for n in names}
    if not detections and instances:  # nothing to pair by detection: compare what each backend covers
        per_item = {n: [_union(instances[n].masks if n in instances else [], shape)] for n in names}
    if len(names) == 2 and (detections or instances):
        a, b = names
        only_a, only_b = xor_by_side_placed(per_item[a], per_item[b], shape)
        columns.append((f"only {a}: red / only {b}: blue", _xor_column(base, only_a, only_b)))
    elif len(names) > 2 and (detections or instances):
        level = disagreement_placed([per_item[n] for n in names], shape)
        columns.append(("disagreement (dark: all agree, bright: split)", _disagreement_column(base, level)))
    return _assemble(columns, font, text_size)


def _union(masks: Sequence[Placed | None], shape: tuple[int, int]) -> Placed:
    """Every mask of a layer pasted into one column-sized mask."""
    out = np.zeros(shape, dtype=bool)
    for item in masks:
        if item is not None:
            out[item.y : item.y + item.crop.shape[0], item.x : item.x + item.crop.shape[1]] |= item.crop
    return Placed(0, 0, out)


def _crowd_note(count: int, viz: VizSettings) -> str:
    if count > viz.max_detections:
        return f" (first {viz.max_detections} of {count} drawn)"
    if count > viz.max_labels:
        return f" (first {viz.max_labels} of {count} labelled)"
    return ""


def _palette():
    import supervision as sv  # imported on first use: it pulls in matplotlib and requests

    return sv.ColorPalette.DEFAULT


def _overlay(base, boxes, layer: PanelLayer, detections, viz: VizSettings, font, text_size) -> np.ndarray:
    texts = [f"{det.id}:{det.label} {float(layer.scores[i] if i < len(layer.scores) else 0.0):.2f}"
             for i, det in enumerate(detections[: viz.max_labels])]
    return _paint(base, boxes, layer.masks[: len(detections)], texts, viz, font, text_size)


def _instance_overlay(base, found: InstanceLayer, drawn: int, scale: float, viz: VizSettings, font, text_size) -> np.ndarray:
    """A concept backend's column: its first ``drawn`` instances, each with its own box and label."""
    boxes = np.asarray(found.boxes[:drawn], dtype=np.float32).reshape(-1, 4) * scale
    texts = [f"{i}:{found.labels[i]} {float(found.scores[i]):.2f}" for i in range(min(drawn, viz.max_labels))]
    return _paint(base, boxes, found.masks[:drawn], texts, viz, font, text_size)


def _paint(base, boxes: np.ndarray, masks: Sequence[Placed | None], texts: Sequence[str], viz: VizSettings, font,
           text_size) -> np.ndarray:
    """Masks (item i in palette colour i), boxes and labels over the column's image."""
    if not len(boxes):
        return base.copy()
    import supervision as sv

    palette = _palette()
    painted = base.copy()
    # Larger masks first so that small ones stay visible on top, as supervision's MaskAnnotator paints.
    order = sorted((i for i, p in enumerate(masks) if p is not None), key=lambda i: -masks[i].crop.size)  # type: ignore[union-attr]
    for i in order:
        x, y, crop = masks[i]  # type: ignore[misc]
        painted[y : y + crop.shape[0], x : x + crop.shape[1]][crop] = palette.by_idx(i).as_rgb()
    scene = cv2.cvtColor(cv2.addWeighted(painted, viz.opacity, base, 1 - viz.opacity, 0), cv2.COLOR_RGB2BGR)
    dets = sv.Detections(xyxy=boxes, class_id=np.arange(len(boxes)))
    scene = sv.BoxAnnotator(thickness=max(1, text_size // 8), color_lookup=sv.ColorLookup.INDEX).annotate(scene, dets)
    scene = cv2.cvtColor(scene, cv2.COLOR_BGR2RGB)  # supervision draws on BGR arrays
    for i, text in enumerate(texts):
        _draw_label(scene, text, boxes[i], palette.by_idx(i).as_rgb(), font, text_size)
    return scene


def _with_font(font: Path | None, text_size: int, text: str, draw: Callable[[Any], T]) -> T | None:
    """``draw(pil_font)`` with the font as loaded, else laid out without shaping (libraqm fails on some
    right-to-left text in some Pillow builds), else None with one warning: text never fails a panel."""
    for basic in (False, True):
        try:
            return draw(load_font(font, text_size, basic))
        except Exception as exc:  # Pillow, FreeType and libraqm raise OSError, ValueError, or their own
            problem = exc
    _warn_once(f"cannot draw the text {preview(text)} on a panel ({one_line(problem, 200)}); left it out")
    return None


@functools.lru_cache(maxsize=64)
def _warn_once(message: str) -> None:
    logging.getLogger("segkit").warning(message)


@functools.lru_cache(maxsize=1024)
def _label_bitmap(text: str, font: Path | None, text_size: int, colour: tuple[int, int, int]) -> np.ndarray:
    """A label as an RGB tile: the text on its colour, padded (rendered once per distinct text). A text that
    no font can draw leaves a plain tile of the colour."""
    pad = max(2, text_size // 4)
    ink = (0, 0, 0) if sum(colour) > 3 * 150 else (255, 255, 255)

    def draw(pil_font) -> Image.Image:
        left, top, right, bottom = pil_font.getbbox(text)
        tile = Image.new("RGB", (max(1, right - left) + 2 * pad, max(1, bottom - top) + 2 * pad), colour)
        ImageDraw.Draw(tile).text((pad - left, pad - top), text, fill=ink, font=pil_font)
        return tile

    tile = _with_font(font, text_size, text, draw) or Image.new("RGB", (text_size + 2 * pad, text_size + 2 * pad), colour)
    array = np.asarray(tile)
    array.setflags(write=False)
    return array


def _draw_label(scene: np.ndarray, text: str, box: np.ndarray, colour, font, text_size: int) -> None:
    """Paste a label above the box's top-left corner (inside it when there is no room), clipped to the scene."""
    text = text if len(text) <= 60 else text[:59] + "…"
    tile = _label_bitmap(text, font, text_size, tuple(int(c) for c in colour))
    th, tw = tile.shape[:2]
    height, width = scene.shape[:2]
    x = int(np.clip(box[0], 0, max(0, width - tw)))
    y = int(box[1]) - th
    if y < 0:
        y = int(np.clip(box[1], 0, max(0, height - th)))
    h, w = min(th, height - y), min(tw, width - x)
    if h > 0 and w > 0:
        scene[y : y + h, x : x + w] = tile[:h, :w]


def _dimmed(base: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor((gray * 0.35).astype(np.uint8), cv2.COLOR_GRAY2RGB)


def _xor_column(base: np.ndarray, only_a: np.ndarray, only_b: np.ndarray) -> np.ndarray:
    out = _dimmed(base)
    out[only_a] = ONLY_FIRST
    out[only_b] = ONLY_SECOND
    return out


def _disagreement_column(base: np.ndarray, level: np.ndarray) -> np.ndarray:
    heat = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
    out = _dimmed(base)
    hot = level > 0
    out[hot] = heat[hot]
    return out


def _assemble(columns: list[tuple[str, np.ndarray]], font, text_size: int) -> np.ndarray:
    header = text_size + text_size // 2 + 8
    height, width = columns[0][1].shape[:2]
    total = len(columns) * width + (len(columns) - 1) * GAP
    # Only the title strip goes through PIL (for the CJK font); the columns are copied as arrays.
    strip = Image.new("RGB", (total, header), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    canvas = np.full((height + header, total, 3), BACKGROUND_LEVEL, dtype=np.uint8)  # a grey: one memset
    for i, (title, image) in enumerate(columns):
        x = i * (width + GAP)
        canvas[header:, x : x + width] = image
        _with_font(font, text_size, title, lambda text_font: draw.text(
            (x + 6, 4), _fit(draw, title, text_font, width - 12), fill=(240, 240, 240), font=text_font))  # noqa: B023
    canvas[:header] = np.asarray(strip)
    return canvas


def _fit(draw: ImageDraw.ImageDraw, text: str, font, max_width: int) -> str:
    text = for_terminal(text)  # on one line: a file name may hold a newline, which PIL refuses to measure
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "…", font=font) > max_width:
        text = text[:-1]
    return text + "…"
