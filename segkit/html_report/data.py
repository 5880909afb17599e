"""What the page shows, as one JSON document: report.json and eval.json as they are, plus the image records.

The page renders every number from this document and computes none of its own: the summary tables are
report.json's and eval.json's entries verbatim, the detection rows are the image records' IoUs, areas
and scores. Detection rows are arrays (columns named in ``DETECTION_COLUMNS``) to keep a page with
thousands of detections small.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import ValidationError

from segkit.html_report.assets import ImageAssets, Thumb, backend_color
from segkit.html_report.gt_overlays import detection_gt
from segkit.outputs.files import finite
from segkit.outputs.mask_metrics import pair_name
from segkit.outputs.reading import read_record
from segkit.outputs.records import DetectionRecord, ImageRecord

DATA_VERSION = 1
MAX_FAILURES = 500
DETECTION_COLUMNS = ("image", "id", "label", "confidence", "box", "areas", "scores", "ious", "gt")


def read_failures(root: Path) -> list[Any]:
    try:
        data = json.loads((root / "failures.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def report_records(root: Path, backends: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The image records (json/<stem>.json) that have an answer or a failure of a report backend, by stem.

    Kept as read (a newer segkit, or `segkit eval`, may have added fields the page shows); a file that
    is not an image record is left out."""
    records = {}
    folder = root / "json"
    paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    for path in paths:
        record = read_record(path)
        try:
            ImageRecord.model_validate(record)
        except ValidationError:
            continue
        seen = set(record.get("backends", {})) | set(record.get("failed_backends", {}))
        if seen & set(backends):
            records[path.stem] = record
    return records


def listed_thumbs(report: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Thumb]]:
    """The detections the report lists as worst, as thumbnails to cut: stem -> [Thumb]."""
    pairs = {p["pair"]: (p["a"], p["b"]) for p in report.get("pairs", [])}
    stem_of = {r.get("image"): stem for stem, r in records.items()}
    out: dict[str, list[Thumb]] = {}
    for entry in report.get("worst", []):
        stem = stem_of.get(entry.get("image"))
        if stem is not None and entry.get("pair") in pairs:
            out.setdefault(stem, []).append(Thumb(int(entry["detection"]), *pairs[entry["pair"]]))
    return out


def page_data(
    title: str,
    report: Mapping[str, Any],
    evaluation: Mapping[str, Any] | None,
    records: Mapping[str, Mapping[str, Any]],
    assets: Mapping[str, ImageAssets],
    failures: Sequence[Any],
    notes: Sequence[str],
    generator: str,
) -> dict[str, Any]:
    """The page's data; its ``plots`` are left for the writer to draw from it."""
    backends = list(report.get("backends", []))
    pairs = [(p["a"], p["b"]) for p in report.get("pairs", [])]
    labels: dict[str, int] = {}
    images, detections, thumbs = [], [], {}  # thumbs: "<image index>:<det id>:<pair>" -> path
    settings: dict[str, Any] = {}
    for index, (stem, record) in enumerate(records.items()):
        pictures = assets.get(stem)
        for name, info in record.get("backends", {}).items():
            settings.setdefault(name, info)
        images.append({
            "name": record.get("image", stem),
            "width": record.get("width"),
            "height": record.get("height"),
            "panel": record.get("panel"),
            "failed": record.get("failed_backends", {}),
            "preview": pictures.preview if pictures else None,
            "scale": pictures.scale if pictures else None,
            "overlays": [pictures.overlays.get(b) if pictures else None for b in backends],
            "diff": pictures.diff if pictures else None,
            "gt": pictures.gt if pictures else None,
            "problem": pictures.problem if pictures else None,
        })
        for det in record["detections"]:
            typed = DetectionRecord.model_validate(det)
            answers = det.get("backends", {})
            detections.append([
                index,
                det.get("id"),
                labels.setdefault(str(det.get("label", "")), len(labels)),
                det.get("confidence"),
                det.get("bbox_xyxy_px"),
                [answers[b].get("area_px") if b in answers else None for b in backends],
                [answers[b].get("score") if b in answers else None for b in backends],
                [typed.pair_iou(a, b) for a, b in pairs],
                detection_gt(det, backends),
            ])
    stems = list(records)
    for stem, wanted in listed_thumbs(report, records).items():
        made = assets[stem].thumbs if stem in assets else {}
        for thumb in wanted:
            if thumb.name in made:
                thumbs[f"{stems.index(stem)}:{thumb.det}:{pair_name(thumb.a, thumb.b)}"] = made[thumb.name]
    return finite({
        "version": DATA_VERSION,
        "title": title,
        "generator": generator,
        "report": report,
        "eval": evaluation,
        "backends": [
            {"name": b, "color": "#%02x%02x%02x" % backend_color(i), "plugin": settings.get(b, {}).get("plugin"),
             "settings": settings.get(b, {}).get("settings", {})}
            for i, b in enumerate(backends)
        ],
        "pairs": [pair_name(a, b) for a, b in pairs],
        "labels": list(labels),
        "images": images,
        "detection_columns": list(DETECTION_COLUMNS),
        "detections": detections,
        "thumbs": thumbs,
        "failures": list(failures[:MAX_FAILURES]),
        "failures_total": len(failures),
        "plots": {},
        "notes": list(notes),
    })
