"""The JSON records of one image.

Two kinds, so that output folders written on different machines merge without losing anything:

* the **backend record** ``backends/<backend>/<stem>.json``: what one backend was asked for one image
  (the prompts: detections with their boxes) and what it answered (area, score and mask file per
  detection, its settings and seconds, or why it failed). Written by ``segkit run`` and never rewritten
  by ``segkit compare``.
* the **image record** ``json/<stem>.json``: the backend records of one image combined, with the IoU of
  every pair of backends per detection. Written by ``segkit run`` for the backends of that run and
  rebuilt by ``segkit compare`` from every backend record in the folder.

Both are built here, from in-memory results (``backend_record``) or from records read back
(``combine_records``), so a run and a compare of the same masks write the same image record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from segkit.boxes import to_normalized_xyxy
from segkit.detections import Detection, SkippedDetection
from segkit.masks import area, pair_name, pairwise_ious_by_id
from segkit.segmenter import Segmentation

RECORD_VERSION = 2

PairIous = Mapping[tuple[str, str], Mapping[int, float]]  # (a, b) -> detection id -> IoU


class RecordConflict(ValueError):
    """Backend records of one image that cannot be combined (different image size or detections)."""


def _round(value: float, digits: int = 6) -> float:
    return float(round(float(value), digits))


def prompt_entry(det: Detection, size: tuple[int, int]) -> dict[str, Any]:
    """One detection as it was sent to every backend."""
    return {
        "id": det.id,
        "label": det.label,
        "confidence": det.confidence,
        "bbox_xyxy_px": [_round(v, 3) for v in det.box],
        "bbox_xyxy_norm": [_round(v) for v in to_normalized_xyxy(det.box, size)],
        "box_area_px": _round((det.box[2] - det.box[0]) * (det.box[3] - det.box[1]), 3),
        "source": det.fields,
    }


def answer_entry(det_id: int, mask_area: int, score: float, mask_file: str | None) -> dict[str, Any]:
    """One backend's answer for one detection."""
    return {"id": det_id, "area_px": int(mask_area), "score": _round(score), "mask": mask_file}


def backend_record(
    *,
    backend: str,
    image: Path,
    size: tuple[int, int],
    detections_file: Path | None,
    reader: str | None,
    conf: float,
    detections: Sequence[Detection],
    skipped: Sequence[SkippedDetection],
    info: Mapping[str, Any],
    segmentation: Segmentation | None,
    mask_files: Mapping[int, str],
    failed: str | None = None,
) -> dict[str, Any]:
    """The JSON written to ``backends/<backend>/<stem>.json``; ``mask_files`` maps det id to a relative path.

    ``segmentation`` is None when the backend failed on the image (``failed`` says why): its prompts are
    still recorded, with no answers.
    """
    width, height = size
    answers = []
    if segmentation is not None:
        answers = [
            answer_entry(det.id, area(segmentation.masks[i]), segmentation.scores[i], mask_files.get(det.id))
            for i, det in enumerate(detections)
        ]
    return {
        "version": RECORD_VERSION,
        "backend": backend,
        "image": image.name,
        "image_path": str(image),
        "width": width,
        "height": height,
        "detections_file": str(detections_file) if detections_file else None,
        "reader": reader,
        "conf_threshold": conf,
        "plugin": info.get("plugin"),
        "settings": info.get("settings", {}),
        "seconds": info.get("seconds", 0.0),
        "failed": failed,
        "detections": [prompt_entry(det, size) for det in detections],
        "answers": answers,
        "skipped": [{"id": s.id, "label": s.label, "reason": s.reason} for s in skipped],
    }


def pair_ious_by_id(detections: Sequence[Detection], results: Mapping[str, Segmentation]) -> dict[tuple[str, str], dict[int, float]]:
    """IoU per detection id for every pair of backends, from a run's masks in memory (all share the detections)."""
    ids = [det.id for det in detections]
    return pairwise_ious_by_id({name: (ids, seg.masks) for name, seg in results.items()})


def pair_iou(ious: Mapping[str, float], a: str, b: str) -> float | None:
    """The IoU of backends a and b in a detection's ``iou`` mapping, whichever way round it was written."""
    value = ious.get(pair_name(a, b))
    return ious.get(pair_name(b, a)) if value is None else value


def combine_records(
    records: Sequence[Mapping[str, Any]],
    pair_ious: PairIous,
    panel_file: str | None,
    record_files: Mapping[str, str],
) -> dict[str, Any]:
    """The image record ``json/<stem>.json`` from the backend records of one image, in backend order.

    ``record_files`` maps backend to its backend record's relative path. A detection that only some
    backends have (runs with different --conf, say) lists only those, and pairs only where both have it.
    Raises RecordConflict when the records describe different images or different boxes.
    """
    if not records:
        raise ValueError("combine_records needs at least one backend record")
    first = records[0]
    size = (first["width"], first["height"])
    prompts: dict[int, dict[str, Any]] = {}
    prompt_owner: dict[int, str] = {}
    for rec in records:
        if (rec["width"], rec["height"]) != size:
            raise RecordConflict(
                f"backend {first['backend']!r} saw {first['image']} as {size[0]}x{size[1]} but backend"
                f" {rec['backend']!r} saw {rec['image']} as {rec['width']}x{rec['height']}: two different images share the stem"
            )
        for prompt in rec["detections"]:
            known = prompts.get(prompt["id"])
            if known is None:
                prompts[prompt["id"]] = prompt
                prompt_owner[prompt["id"]] = rec["backend"]
            elif known["bbox_xyxy_px"] != prompt["bbox_xyxy_px"] or known["label"] != prompt["label"]:
                raise RecordConflict(
                    f"backends {prompt_owner[prompt['id']]!r} and {rec['backend']!r} were given different detection"
                    f" {prompt['id']} ({known['label']} {known['bbox_xyxy_px']} vs {prompt['label']} {prompt['bbox_xyxy_px']}):"
                    " their runs read different detections"
                )

    ok = [rec for rec in records if not rec.get("failed")]
    answers = {rec["backend"]: {a["id"]: a for a in rec["answers"]} for rec in ok}
    detections = []
    for det_id in sorted(prompts):
        prompt = prompts[det_id]
        per_backend = {
            name: {"area_px": ans[det_id]["area_px"], "score": ans[det_id]["score"], "mask": ans[det_id]["mask"]}
            for name, ans in answers.items()
            if det_id in ans
        }
        ious = {pair_name(a, b): _round(v[det_id]) for (a, b), v in pair_ious.items() if det_id in v}
        detections.append({**{k: v for k, v in prompt.items() if k != "source"}, "backends": per_backend, "iou": ious,
                           "source": prompt.get("source", {})})

    confs = {rec.get("conf_threshold") for rec in records}
    mask_files = {a["mask"] for ans in answers.values() for a in ans.values() if a.get("mask")}
    files = sorted(mask_files) + sorted(record_files[rec["backend"]] for rec in records if rec["backend"] in record_files)
    return {
        "version": RECORD_VERSION,
        "image": first["image"],
        "image_path": first.get("image_path"),
        "width": size[0],
        "height": size[1],
        "detections_file": first.get("detections_file"),
        "reader": first.get("reader"),
        "conf_threshold": confs.pop() if len(confs) == 1 else None,
        "backends": {
            rec["backend"]: {"plugin": rec.get("plugin"), "settings": rec.get("settings", {}), "seconds": rec.get("seconds", 0.0)}
            for rec in ok
        },
        "failed_backends": {rec["backend"]: rec["failed"] for rec in records if rec.get("failed")},
        "detections": detections,
        "skipped": first.get("skipped", []),
        "panel": panel_file,
        "backend_records": {rec["backend"]: record_files.get(rec["backend"]) for rec in records},
        "files": files + ([panel_file] if panel_file else []),
    }

