"""The per-image JSON record: what was asked, what every backend answered, and how they compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from segkit.boxes import to_normalized_xyxy
from segkit.detections import Detection, SkippedDetection
from segkit.masks import area, pair_name, pairwise_ious
from segkit.segmenter import Segmentation

RECORD_VERSION = 1


def _round(value: float, digits: int = 6) -> float:
    return float(round(float(value), digits))


def build_record(
    *,
    image: Path,
    size: tuple[int, int],
    detections_file: Path | None,
    reader: str | None,
    conf: float,
    detections: Sequence[Detection],
    skipped: Sequence[SkippedDetection],
    results: Mapping[str, Segmentation],
    backend_info: Mapping[str, dict[str, Any]],
    failed_backends: Mapping[str, str],
    mask_files: Mapping[tuple[int, str], str],
    panel_file: str | None,
) -> dict[str, Any]:
    """The JSON written to ``json/<stem>.json``; ``mask_files`` maps (det id, backend) to a relative path."""
    width, height = size
    names = list(results)
    pair_ious = pairwise_ious({n: results[n].masks for n in names}) if len(names) > 1 else {}
    records = []
    for i, det in enumerate(detections):
        per_backend = {}
        for name in names:
            seg = results[name]
            per_backend[name] = {
                "area_px": area(seg.masks[i]),
                "score": _round(seg.scores[i]),
                "mask": mask_files.get((det.id, name)),
            }
        records.append(
            {
                "id": det.id,
                "label": det.label,
                "confidence": det.confidence,
                "bbox_xyxy_px": [_round(v, 3) for v in det.box],
                "bbox_xyxy_norm": [_round(v) for v in to_normalized_xyxy(det.box, size)],
                "box_area_px": _round((det.box[2] - det.box[0]) * (det.box[3] - det.box[1]), 3),
                "backends": per_backend,
                "iou": {pair_name(a, b): _round(v[i]) for (a, b), v in pair_ious.items()},
                "source": det.fields,
            }
        )
    files = sorted(set(mask_files.values())) + ([panel_file] if panel_file else [])
    return {
        "version": RECORD_VERSION,
        "image": image.name,
        "width": width,
        "height": height,
        "detections_file": str(detections_file) if detections_file else None,
        "reader": reader,
        "conf_threshold": conf,
        "backends": dict(backend_info),
        "failed_backends": dict(failed_backends),
        "detections": records,
        "skipped": [{"id": s.id, "label": s.label, "reason": s.reason} for s in skipped],
        "panel": panel_file,
        "files": files,
    }

