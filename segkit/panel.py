"""Side-by-side panels: original | one overlay per backend | where the backends disagree.

Two backends get an XOR column (red: only the first covers the pixel, blue: only the second); three or
more get a per-pixel disagreement map. Overlays use supervision's annotators; text is drawn with a font
that has Japanese glyphs.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from segkit.config import VizSettings
from segkit.detections import Detection
from segkit.fonts import font_path, load_font
from segkit.masks import disagreement, xor_by_side
from segkit.segmenter import Segmentation
from segkit.text import for_terminal

ONLY_FIRST = (255, 64, 64)
ONLY_SECOND = (64, 140, 255)
BACKGROUND_LEVEL = 24
BACKGROUND = (BACKGROUND_LEVEL,) * 3


def render_panel(
    rgb: np.ndarray,
    detections: Sequence[Detection],
    results: Mapping[str, Segmentation],
    viz: VizSettings,
    title: str = "",
) -> np.ndarray:
    """The panel as (H', W', 3) uint8 RGB."""
    height, width = rgb.shape[:2]
    scale = min(1.0, viz.max_column_width / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    base = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    small = {name: _resize_masks(seg.masks, size) for name, seg in results.items()}
    boxes = np.asarray([d.box for d in detections], dtype=np.float32).reshape(-1, 4) * scale
    font = font_path(viz.font)
    text_size = max(12, size[0] // 45)

    columns = [(title or "original", base)]
    for name, seg in results.items():
        columns.append((name, _overlay(base, boxes, small[name], detections, seg.scores, viz, font, text_size)))
    names = list(results)
    if len(names) == 2 and detections:
        a, b = names
        columns.append((f"only {a}: red / only {b}: blue", _xor_column(base, small[a], small[b])))
    elif len(names) > 2 and detections:
        columns.append(("disagreement (dark: all agree, bright: split)", _disagreement_column(base, list(small.values()))))
    return _assemble(columns, font, text_size)


def _resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W) bool masks scaled to the column size (nearest neighbour keeps them binary)."""
    if masks.shape[0] == 0 or (masks.shape[2], masks.shape[1]) == size:
        return masks
    return np.stack([cv2.resize(m.view(np.uint8), size, interpolation=cv2.INTER_NEAREST).view(bool) for m in masks])


def _overlay(base, boxes, masks, detections, scores, viz, font, text_size) -> np.ndarray:
    import supervision as sv  # imported on first use: it pulls in matplotlib and requests

    if not detections:
        return base.copy()
    dets = sv.Detections(xyxy=boxes, mask=masks, class_id=np.arange(len(detections)))
    labels = [f"{d.id}:{d.label} {float(s):.2f}" for d, s in zip(detections, scores)]
    scene = cv2.cvtColor(base, cv2.COLOR_RGB2BGR)  # supervision draws on BGR arrays
    scene = sv.MaskAnnotator(opacity=viz.opacity, color_lookup=sv.ColorLookup.INDEX).annotate(scene, dets)
    scene = sv.BoxAnnotator(thickness=max(1, text_size // 8), color_lookup=sv.ColorLookup.INDEX).annotate(scene, dets)
    labeler = sv.RichLabelAnnotator(
        font_path=str(font) if font else None,
        font_size=text_size,
        text_padding=max(2, text_size // 4),
        color_lookup=sv.ColorLookup.INDEX,
        smart_position=True,
    )
    scene = labeler.annotate(scene, dets, labels=labels)
    return cv2.cvtColor(scene, cv2.COLOR_BGR2RGB)


def _dimmed(base: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)
    return np.repeat((gray * 0.35).astype(np.uint8)[:, :, None], 3, axis=2)


def _xor_column(base: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = _dimmed(base)
    only_a, only_b = xor_by_side(a, b)
    out[only_a] = ONLY_FIRST
    out[only_b] = ONLY_SECOND
    return out


def _disagreement_column(base: np.ndarray, stacks: list[np.ndarray]) -> np.ndarray:
    level = disagreement(stacks)
    heat = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
    out = _dimmed(base)
    hot = level > 0
    out[hot] = heat[hot]
    return out


def _assemble(columns: list[tuple[str, np.ndarray]], font, text_size: int) -> np.ndarray:
    header = text_size + text_size // 2 + 8
    gap = 4
    height, width = columns[0][1].shape[:2]
    total = len(columns) * width + (len(columns) - 1) * gap
    # Only the title strip goes through PIL (for the CJK font); the columns are copied as arrays.
    strip = Image.new("RGB", (total, header), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    text_font = load_font(font, text_size)
    canvas = np.full((height + header, total, 3), BACKGROUND_LEVEL, dtype=np.uint8)  # a grey: one memset
    for i, (title, image) in enumerate(columns):
        x = i * (width + gap)
        canvas[header:, x : x + width] = image
        draw.text((x + 6, 4), _fit(draw, title, text_font, width - 12), fill=(240, 240, 240), font=text_font)
    canvas[:header] = np.asarray(strip)
    return canvas


def _fit(draw: ImageDraw.ImageDraw, text: str, font, max_width: int) -> str:
    text = for_terminal(text)  # on one line: a file name may hold a newline, which PIL refuses to measure
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "…", font=font) > max_width:
        text = text[:-1]
    return text + "…"
