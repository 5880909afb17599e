"""What makes a dataset worth training on: which classes, which masks, which split.

Each mask meets the filters in this order and is counted against the first that drops it:

* ``label``: its label is not a class of the dataset (``--label-map`` maps labels to classes, null leaves
  one out, a label the map does not name is left out; ``--labels`` keeps only the classes named);
* ``score``: the backend's score is below ``--min-score``;
* ``flags``: it carries a quality flag named by ``--drop-flags`` (segkit.outputs.quality; an empty mask is
  always dropped: it has no shape to label);
* ``agree``: with ``--agree IOU``, not every pair of the chosen backends has masks for its detection with
  an IoU of at least IOU (consensus labels).

The split is by image: the stems shuffled with ``--seed``, the first ``round(val * n)`` of them ``val``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from segkit.errors import ConfigError
from segkit.evaluation.label_map import normalize_label
from segkit.input_files import LABEL_MAP, load_yaml, read_text
from segkit.outputs.quality import EMPTY, FLAGS
from segkit.text import preview

FILTERS = ("label", "score", "flags", "agree")
DEFAULT_DROP_FLAGS = ("empty", "spill", "fragmented")


@dataclass(frozen=True)
class ClassMap:
    """Detector labels to dataset classes; ``classes`` in class-id order."""

    mapping: dict[str, str | None] | None  # None: every label is its own class
    keep: tuple[str, ...]  # --labels: only these classes (after the mapping); empty: all

    def class_of(self, label: str) -> str | None:
        name = normalize_label(label)
        if self.mapping is not None:
            name = self.mapping.get(name)  # type: ignore[assignment]
        if name is None or (self.keep and name not in self.keep):
            return None
        return name

    def classes(self, found: Iterable[str]) -> list[str]:
        """The dataset's classes, in id order: as --labels names them, else in the label map's order, else the
        labels found in the folder (mapped) by name."""
        if self.keep:
            return list(self.keep)
        if self.mapping is not None:
            return list(dict.fromkeys(c for c in self.mapping.values() if c is not None))
        return sorted({c for c in (self.class_of(label) for label in found) if c is not None})


def load_class_map(path: Path | None, labels: Sequence[str], max_bytes: int) -> ClassMap:
    """``--label-map FILE`` ({detector label: class or null}) and ``--labels`` (classes to keep), checked;
    ConfigError (one line) for a file that is not such a mapping or one that leaves no class."""
    keep = tuple(dict.fromkeys(normalize_label(v) for label in labels for v in label.split(",") if v.strip()))
    if path is None:
        return ClassMap(None, keep)
    data = load_yaml(read_text(path, max_bytes, LABEL_MAP), path, LABEL_MAP)
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"label map {path} is not a mapping of detector label to class, e.g. {{\"りんご\": \"apple\"}};"
                          " fix the file")
    mapping: dict[str, str | None] = {}
    for label, name in data.items():
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"label map {path}: {preview(str(label))} maps to {preview(name)}; give a class name"
                              " (or null to leave the label out)")
        mapping[normalize_label(str(label))] = None if name is None or not name.strip() else normalize_label(name)
    if not any(v is not None for v in mapping.values()):
        raise ConfigError(f"label map {path} maps every label to null and leaves no class; map at least one label to a class name")
    return ClassMap(mapping, keep)


def parse_drop_flags(text: str | Sequence[str]) -> tuple[str, ...]:
    names = [v.strip() for part in ([text] if isinstance(text, str) else text) for v in part.split(",") if v.strip()]
    if names == ["none"]:
        return (EMPTY,)
    unknown = [n for n in names if n not in FLAGS]
    if unknown:
        raise ConfigError(f"--drop-flags {preview(','.join(unknown))}: not a quality flag; use any of {', '.join(FLAGS)} (or none)")
    return tuple(dict.fromkeys([EMPTY, *names]))


@dataclass
class Tally:
    """What one image (or the whole dataset) kept and dropped, per class."""

    kept: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # filter -> class (or label) -> masks

    def keep(self, name: str) -> None:
        self.kept[name] = self.kept.get(name, 0) + 1

    def drop(self, which: str, name: str) -> None:
        per = self.dropped.setdefault(which, {})
        per[name] = per.get(name, 0) + 1

    def add(self, other: "Tally") -> None:
        for name, n in other.kept.items():
            self.kept[name] = self.kept.get(name, 0) + n
        for which, per in other.dropped.items():
            mine = self.dropped.setdefault(which, {})
            for name, n in per.items():
                mine[name] = mine.get(name, 0) + n

    def to_json(self) -> dict:
        return {"kept": dict(sorted(self.kept.items())),
                "dropped": {w: dict(sorted(self.dropped[w].items())) for w in FILTERS if w in self.dropped}}

    @classmethod
    def from_json(cls, data: dict) -> "Tally":
        return cls({str(k): int(v) for k, v in data.get("kept", {}).items()},
                   {str(w): {str(k): int(v) for k, v in per.items()} for w, per in data.get("dropped", {}).items()})


def split_of(stems: Sequence[str], val: float, seed: int) -> dict[str, str]:
    """Each stem's split ("train" or "val"): ``round(val * n)`` stems, drawn with ``seed``, are "val"."""
    order = sorted(stems)
    random.Random(seed).shuffle(order)
    count = round(val * len(order))
    if val > 0 and count == 0 and len(order) > 1:
        count = 1  # asked for a validation split: never an empty one
    chosen = set(order[:count])
    return {stem: "val" if stem in chosen else "train" for stem in stems}


def digest(items: Iterable[str]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(item.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:16]
