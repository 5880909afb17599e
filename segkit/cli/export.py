"""`segkit export`: an output folder's masks as a dataset (YOLO-seg, COCO, Label Studio, CVAT)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from segkit.cli.app import ConfigOpt, app, count_line, fail, failed, say
from segkit.cli.progress import CliEvents
from segkit.config import find_config, load_settings
from segkit.errors import SegkitError
from segkit.export.filters import DEFAULT_DROP_FLAGS
from segkit.export.formats import FORMAT_NAMES
from segkit.export.formats.labelstudio import DEFAULT_IMAGE_URL
from segkit.storage import as_location

EXPORT_HELP = (
    "Turn the masks of an output folder into a dataset a training or labelling tool loads as it is: yolo-seg"
    " (Ultralytics), coco, labelstudio (tasks with predictions), cvat (COCO 1.0). Filters keep the masks worth"
    " training on; the images are split into train and val by image. Run it again to go on after an interruption."
)


@app.command("export", help=EXPORT_HELP)
def export(
    out_dir: str = typer.Argument(..., help="Output folder of `segkit run` (or several merged into one; a URL works too)."),
    format: str = typer.Option(..., "--format", "-f", help=f"Dataset format: {', '.join(FORMAT_NAMES)}."),
    backend: List[str] = typer.Option([], "--backend", "-b", help="Whose masks (needed when the folder has several); repeat it with --agree: the first one's masks are exported, all must agree."),
    to: Optional[Path] = typer.Option(None, "--to", help="Dataset folder, new or an earlier export to go on with (default: OUT/export-FORMAT)."),
    images: Optional[str] = typer.Option(None, "--images", "-i", help="Folder of the original images (default: where the run read them)."),
    image_files: str = typer.Option("copy", "--image-files", help="Put the images in the dataset: copy, link (symlinks), or none."),
    image_url: str = typer.Option(DEFAULT_IMAGE_URL, "--image-url", help="labelstudio: URL prefix of the images in the tasks."),
    coco_masks: Optional[str] = typer.Option(None, "--coco-masks", help="coco/cvat: rle (pixel-exact; coco's default) or polygon (cvat's default)."),
    polygon_tolerance: float = typer.Option(1.0, "--polygon-tolerance", min=0.0, help="Pixels a polygon may depart from the mask's outline (0: every corner)."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Drop masks whose backend score is below this."),
    drop_flags: str = typer.Option(",".join(DEFAULT_DROP_FLAGS), "--drop-flags", help="Drop masks with these quality flags (empty, spill, low_fill, fragmented; none: only empty masks)."),
    agree: Optional[float] = typer.Option(None, "--agree", min=0.0, max=1.0, help="Keep only detections where every --backend's masks agree at this IoU or more."),
    label_map: Optional[Path] = typer.Option(None, "--label-map", help="YAML/JSON {detector label: class}: rename classes; null or unnamed labels are left out."),
    labels: List[str] = typer.Option([], "--labels", help="Keep only these classes (comma-separated or repeated), in this class-id order."),
    val: Optional[float] = typer.Option(None, "--val", min=0.0, max=0.99, help="Share of images in the val split (default 0.2; yolo-seg and coco)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/val split."),
    whole_images: bool = typer.Option(False, "--whole-images", help="Leave out images where a filter dropped a mask (no unlabelled object in training)."),
    force: bool = typer.Option(False, "--force", help="Write an earlier export in --to again from scratch (other settings)."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    from segkit.export.job import ExportJob, export_job

    try:
        if format not in FORMAT_NAMES:
            fail(f"unknown format {format!r}; pass --format one of {', '.join(FORMAT_NAMES)}")
        if image_files not in ("copy", "link", "none"):
            fail(f"--image-files {image_files!r}: pass copy, link or none")
        if coco_masks not in (None, "rle", "polygon"):
            fail(f"--coco-masks {coco_masks!r}: pass rle or polygon")
        settings = load_settings(find_config(config))
        job = ExportJob(out=as_location(out_dir), format=format, to=to, backends=backend,
                        images=as_location(images) if images else None, image_files=image_files, image_url=image_url,
                        coco_masks=coco_masks, polygon_tolerance=polygon_tolerance, min_score=min_score,
                        drop_flags=[drop_flags], agree=agree, label_map=label_map, labels=labels, val=val, seed=seed,
                        whole_images=whole_images, force=force, limits=settings.limits)
        with CliEvents("exporting", transient=True) as events:
            result = export_job(job, on_image=lambda *_: events.advance())
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    for problem in result.problems:
        failed(problem)
    summary = result.summary
    images, instances = summary["images"], summary["instances"]
    split = f" (train {images['train']}, val {images['val']})" if "train" in images else ""
    say(f"{images['exported']} images{split}, {instances['total']} instances of {len(result.classes)} classes from"
        f" {result.backends[0]} as {result.format} in {result.to}" + (f"; {result.resumed} written before" if result.resumed else ""))
    per_class = ", ".join(f"{name} {count}" for name, count in instances["per_class"].items())
    say(f"per class: {per_class}")
    dropped = ", ".join(f"{which} {d['total']}" for which, d in summary["dropped"].items() if d["total"])
    skipped = ", ".join(f"{why} {n}" for why, n in images["skipped"].items())
    say(f"dropped: {dropped or 'none'}" + (f"; images left out: {skipped}" if skipped else "") + f". Summary: {result.to / 'summary.json'}")
    if result.problems:
        count_line(len(result.problems), "image(s) could not be exported", "; run the same command again once they are fixed")
    raise typer.Exit(result.exit_code)
