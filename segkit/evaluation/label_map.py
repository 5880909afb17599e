"""``--label-map FILE``: detector labels (any script) to ground-truth category names.

A YAML or JSON mapping, ``{detector label: category}``; ``null`` leaves a label out on purpose. With a
label map, matching is class-aware and per-label results are per ground-truth category. Labels are
compared after Unicode NFC normalization and trimming, so ``りんご`` typed on any keyboard matches.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from segkit.errors import ConfigError
from segkit.input_files import LABEL_MAP, load_yaml, read_text
from segkit.text import preview, shorten


def normalize_label(label: str) -> str:
    return unicodedata.normalize("NFC", str(label)).strip()


class _Unmapped:
    def __repr__(self) -> str:
        return "UNMAPPED"


UNMAPPED = _Unmapped()  # a label the map does not name
DEFAULT_MAX_BYTES = 16 * 2**20  # limits.max_config_file_bytes


@dataclass
class LabelMap:
    path: Path | None = None
    mapping: dict[str, str | None] = field(default_factory=dict)

    @property
    def class_aware(self) -> bool:
        return self.path is not None

    def category(self, label: str) -> str | None | _Unmapped:
        """The category a detector label maps to, None when mapped to null, UNMAPPED when not named."""
        return self.mapping.get(normalize_label(label), UNMAPPED)


def load_label_map(path: Path | None, categories: Sequence[str] | None, max_bytes: int = DEFAULT_MAX_BYTES) -> LabelMap:
    """The label map at ``path`` checked against the ground truth's categories; ConfigError (one line) if unusable.

    It is read bounded (a regular file of at most ``max_bytes``, ``limits.max_config_file_bytes``; its YAML
    aliases bounded), and every value a message quotes is a short preview."""
    if path is None:
        return LabelMap()
    if categories is None:
        raise ConfigError("--label-map needs ground truth with categories (COCO or semantic masks); instance PNGs have none: drop --label-map")
    data = load_yaml(read_text(path, max_bytes, LABEL_MAP), path, LABEL_MAP)
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"label map {path} is not a mapping of detector label to category, e.g. {{\"りんご\": \"apple\"}}")
    mapping: dict[str, str | None] = {}
    for label, category in data.items():
        if category is not None and not isinstance(category, str):
            raise ConfigError(f"label map {path}: {preview(str(label))} maps to {preview(category)}; give a category name"
                              " (or null to leave the label out)")
        mapping[normalize_label(str(label))] = None if category is None else normalize_label(category)
    known = {normalize_label(c): c for c in categories}
    unknown = [f"{preview(c)} (for {preview(label)})" for label, c in mapping.items() if c is not None and c not in known]
    if unknown:
        listing = ", ".join(shorten(c, 60) for c in sorted(known.values())[:12]) + (", …" if len(known) > 12 else "")
        raise ConfigError(f"label map {path} names categories the ground truth does not have: {', '.join(unknown[:5])}"
                          f"{' and more' if len(unknown) > 5 else ''}; its categories are: {listing or 'none'}")
    return LabelMap(path, {label: (None if c is None else known[c]) for label, c in mapping.items()})
