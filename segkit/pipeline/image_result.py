"""What became of one image: the typed result every engine hands back, and every entry point reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from segkit.outputs.coco import CocoExport
from segkit.outputs.records import ImageRecord

Status = Literal["done", "complete", "failed", "no-detections", "not-run"]


@dataclass
class ImageResult:
    """What became of one image."""

    image: Path
    status: Status
    detections: int = 0
    masks: int = 0
    errors: list[tuple[str | None, str]] = field(default_factory=list)  # (backend or None, message)
    warnings: list[str] = field(default_factory=list)
    record: ImageRecord | None = None  # the image record written (or found complete)
    panel: str = "none"  # "drawn", "skipped", "kept", "none"
    seconds: dict[str, float] = field(default_factory=dict)  # segkit's own work: decode, outputs
    coco: CocoExport | None = None  # this image's COCO annotations (--coco)
