"""The one place that names output files (segkit.outputs.files writes them, segkit.outputs.reading reads them back).

    OUT/backends/<backend>/<stem>.json                     backend record: one backend's answers for one image
    OUT/masks/<stem>/det<NN>_<label>_<backend>.png         binary mask (1-bit PNG), full resolution
    OUT/masks/<stem>/inst<NN>_<label>_<backend>.png        a concept backend's instance NN (label: its concept's)
    OUT/json/<stem>.json                                   image record: the backend records combined, pair IoUs
    OUT/viz/<stem>_panel.jpg                               original | overlay per backend | diff
    OUT/report.json, OUT/report.csv                        the dataset report of the last run or compare
    OUT/eval.json, OUT/eval.csv                            every backend scored against ground truth (segkit eval, run --gt)
    OUT/coco/<backend>.json                                every mask of a backend as COCO RLE annotations (--coco)
    OUT/failures.json                                      what failed in the last run, and why
    OUT/report.html                                        the page: report, scores and every image, offline
    OUT/html/img/<key>.jpg                                 the page's picture of an image (key: a hash of its stem)
    OUT/html/data/rows-<n>.js, OUT/html/data/masks-<n>.js  the page's data, a chunk of images at a time

`segkit detect` writes a folder of its own, the detections that `segkit run --detections` reads:

    DETECTIONS/<stem>.json                                 one image's boxes in the seed plan's Qwen JSON
    DETECTIONS/unreadable/<stem>.txt                       an answer no box could be read from, kept to look at

Backend records and masks are named by backend, so folders written by runs with different backends
(on different machines) merge by plain copying; the rest is rebuilt from them by `segkit compare`.
Masks live in one folder per image, so no two images can name the same file (image stems are unique
in a run, detection ids within an image, backend names contain no '_').

OUT may also be an object-store URL (``s3://bucket/prefix``, see ``segkit.storage``): the same names under the prefix.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from segkit.errors import InputError
from segkit.storage import is_remote


def safe_label(label: str, limit: int = 40) -> str:
    """A label usable in a file name: letters and digits of any script kept, the rest to '_'."""
    text = unicodedata.normalize("NFC", label)
    text = "".join(c if c.isalnum() or c == "-" else "_" for c in text)
    text = re.sub(r"_+", "_", text).strip("_-")
    return text[:limit] or "item"


def short_hash(text: str, length: int = 16) -> str:
    """A file name for ``text`` (an image stem) that holds nothing of it: no input reaches a URL of the page."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


PAGE_CHUNK_KINDS = ("rows", "masks")
PAGE_CHUNK_NAME = re.compile(r"^(rows|masks)-(0|[1-9][0-9]*)\.js$")


class OutputLayout:
    def __init__(self, root: Path):
        self.root = root
        self.json_dir = root / "json"
        self.masks_dir = root / "masks"
        self.viz_dir = root / "viz"
        self.backends_dir = root / "backends"
        self.coco_dir = root / "coco"

    def create(self) -> None:
        if is_remote(self.root):  # object stores have no folders; check_location checked the bucket
            return
        for folder in (self.json_dir, self.masks_dir, self.viz_dir, self.backends_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    f"cannot create output folder {folder}: {exc.strerror or exc}; pass --out a folder you can write to"
                ) from exc

    def backend_record_path(self, backend: str, stem: str) -> Path:
        return self.backends_dir / backend / f"{stem}.json"

    def json_path(self, stem: str) -> Path:
        return self.json_dir / f"{stem}.json"

    def mask_path(self, stem: str, det_id: int, label: str, backend: str) -> Path:
        return self.masks_dir / stem / f"det{det_id:02d}_{safe_label(label)}_{backend}.png"

    def instance_mask_path(self, stem: str, instance_id: int, label: str, backend: str) -> Path:
        return self.masks_dir / stem / f"inst{instance_id:02d}_{safe_label(label)}_{backend}.png"

    def panel_path(self, stem: str) -> Path:
        return self.viz_dir / f"{stem}_panel.jpg"

    @property
    def failures_path(self) -> Path:
        return self.root / "failures.json"

    @property
    def report_json_path(self) -> Path:
        return self.root / "report.json"

    @property
    def report_csv_path(self) -> Path:
        return self.root / "report.csv"

    @property
    def eval_json_path(self) -> Path:
        return self.root / "eval.json"

    @property
    def eval_csv_path(self) -> Path:
        return self.root / "eval.csv"

    @property
    def report_html_path(self) -> Path:
        return self.root / "report.html"

    @property
    def html_dir(self) -> Path:
        """The page's pictures and data (html/img/, html/data/)."""
        return self.root / "html"

    def preview_path(self, stem: str) -> Path:
        """The page's picture of an image: the original scaled down (segkit.outputs.previews)."""
        return self.html_dir / "img" / f"{short_hash(stem)}.jpg"

    @property
    def page_data_dir(self) -> Path:
        return self.html_dir / "data"

    def page_chunk_path(self, kind: str, number: int) -> Path:
        """A chunk of the page's data: ``rows`` (the detections' numbers) or ``masks`` (the previews' masks)."""
        if kind not in PAGE_CHUNK_KINDS:
            raise ValueError(f"page chunks are {PAGE_CHUNK_KINDS}, not {kind!r}")
        return self.page_data_dir / f"{kind}-{int(number)}.js"

    def coco_path(self, backend: str) -> Path:
        return self.coco_dir / f"{backend}.json"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def unusable_stem(stem: str) -> str | None:
    """Why an image's name cannot name its outputs, or None. (``..png`` has the stem '.'.)"""
    if stem in (".", "..") or not stem:
        return f"its name stem {stem!r} cannot name a folder; rename the image"
    return None


def detection_file_path(folder: Path, stem: str) -> Path:
    """Where `segkit detect` writes an image's detections (and `segkit run` finds them by stem)."""
    return folder / f"{stem}.json"


def unreadable_answer_path(folder: Path, stem: str) -> Path:
    """Where `segkit detect` keeps an answer it could not read (in a subfolder: `segkit run` skips it)."""
    return folder / "unreadable" / f"{stem}.txt"
