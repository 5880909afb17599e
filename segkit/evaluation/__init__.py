"""Scoring segmenters against ground truth (`segkit eval`, `segkit run --gt`).

    from segkit.evaluation import EvalOptions, evaluate_folder
    result = evaluate_folder(Path("outputs"), EvalOptions(gt=Path("examples/ground_truth.json")))
    result.document.per_backend   # what eval.json holds

Modules, one job each: ``ground_truth`` (the common model and format choice) with one reader per format
(``gt_coco``, ``gt_instance_pngs``, ``gt_semantic``); ``label_map``; ``matching`` (detections to ground
truth); ``scoring`` (one image); ``metrics`` (statistics); ``coco_ap`` (COCOeval); ``document``
(eval.json / eval.csv); ``folder`` (a whole output folder); ``table`` and ``command`` (the terminal).
"""

from segkit.evaluation.folder import (
    DEFAULT_IOU_MATCH,
    DEFAULT_WORST,
    EvalOptions,
    EvalResult,
    evaluate_folder,
)

__all__ = ["DEFAULT_IOU_MATCH", "DEFAULT_WORST", "EvalOptions", "EvalResult", "evaluate_folder"]
