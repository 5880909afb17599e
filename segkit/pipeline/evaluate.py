"""`segkit eval` as a library call, and the scoring `run --gt` and `compare` end with.

    result = eval_job(EvalJob(out=Path("runs/a"), gt=Path("gt.json")))
    print(result.evaluation.document.backends)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from segkit.config import LimitSettings
from segkit.evaluation.folder import (
    DEFAULT_IOU_MATCH,
    DEFAULT_WORST,
    EvalOptions,
    EvalResult,
    evaluate_folder,
    stored_options,
)
from segkit.evaluation.ground_truth.base import GroundTruthCoversNothing
from segkit.outputs.layout import OutputLayout
from segkit.pipeline.events import RunEvents
from segkit.html_report.page_writer import PageWriter
from segkit.html_report.writer import read_failures
from segkit.outputs.reading import read_record
from segkit.pipeline.page import publish_page


class EvalJob(BaseModel):
    """Everything one `segkit eval` needs, already resolved."""

    model_config = ConfigDict(extra="forbid")

    out: Path
    gt: Path
    gt_format: str = "auto"
    gt_classes: Optional[Path] = None
    label_map: Optional[Path] = None
    iou_match: float = Field(DEFAULT_IOU_MATCH, ge=0.0, le=1.0)
    worst: int = Field(DEFAULT_WORST, ge=0)
    backends: list[str] = Field(default_factory=list)
    html: bool = True
    limits: LimitSettings = Field(default_factory=LimitSettings)  # what reading the ground truth may cost

    def options(self) -> EvalOptions:
        return EvalOptions(self.gt, self.gt_format, self.gt_classes, self.label_map, self.iou_match, worst=self.worst,
                           backends=self.backends, limits=self.limits)


@dataclass
class EvalJobResult:
    evaluation: EvalResult
    page: Path | None = None

    @property
    def exit_code(self) -> int:
        """0: every image scored; 1: some could not be."""
        return 1 if self.evaluation.problems else 0


def evaluate(out: Path, options: EvalOptions, events: RunEvents, stems: Sequence[str] | None = None) -> EvalResult:
    """Score the folder, telling ``events`` of each image scored."""
    events.stage("scoring", len(stems) if stems is not None else None)
    return evaluate_folder(out, options, stems, lambda _: events.stage_advanced())


def eval_job(job: EvalJob, events: RunEvents | None = None) -> EvalJobResult:
    """Score an output folder against ground truth and rewrite its page. Raises SegkitError (one line) when
    nothing can be scored (eval.json is then left as it was)."""
    events = events or RunEvents()
    evaluation = evaluate(job.out, job.options(), events)
    page = None
    if job.html:  # the page from the records the scoring holds (rewritten), without reading them again
        layout = OutputLayout(job.out)
        writer = PageWriter(layout.root)
        for record in evaluation.records:
            writer.add(record)
        report = read_record(layout.report_json_path)
        page = (publish_page(job.out, events, writer, report, evaluation, read_failures(layout.root))
                if report is not None else publish_page(job.out, events))
    return EvalJobResult(evaluation, page)


def score_again(out: Path, gt: Path | None, events: RunEvents, *, gt_from_config: bool = False,
                stems: Sequence[str] | None = None, backends: Sequence[str] = (),
                limits: LimitSettings | None = None) -> EvalResult | None:
    """After a run or compare rewrote the image records: score them against ``gt``, or, with no ``gt``,
    re-run the folder's last evaluation (its eval.json) so that no record loses its ground-truth entries.
    None when there is nothing to evaluate.

    With ``gt`` the options of the folder's last evaluation are kept when it used the same ground truth (a
    label map, say). Ground truth from the config file that covers none of the images is a warning, not
    an error: the config's example ground truth does not fit a run on other images. Raises SegkitError."""
    if stems is not None and not stems:
        return None  # the run wrote no image record: nothing to score
    layout = OutputLayout(out)
    previous = stored_options(layout)
    if gt is not None:
        same = previous is not None and Path(previous.gt).resolve() == Path(gt).resolve()
        options = previous if same else EvalOptions(Path(gt))
    elif previous is not None:
        options = previous
        if not options.gt.exists():
            events.warning(f"{layout.eval_json_path} was made against {options.gt}, which is not there any more: the"
                           f" rewritten image records have no ground-truth entries; run `segkit eval {out} --gt FILE`")
            return None
    else:
        return None
    options.backends = list(backends)
    options.limits = limits or LimitSettings()
    try:
        return evaluate(out, options, events, stems)
    except GroundTruthCoversNothing as exc:
        if gt_from_config:
            events.warning(f"not evaluated: {exc} (or set `gt:` in the config)")
            return None
        raise
