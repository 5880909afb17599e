"""The hf-* backends: SAM 2.1 and SAM 3 as Hugging Face ``transformers`` runs them.

Loaded once per run from a local ``from_pretrained`` folder (``Sam2Model`` + ``Sam2Processor``, or
``Sam3TrackerModel`` + ``Sam3TrackerProcessor``), never from the network unless ``allow_network`` is on.
Each batch of images is encoded in one pass (``get_image_embeddings``) and each image's boxes go to one
decoder call; one image alone takes the same path, so batched masks equal one-by-one masks. The engine
is segkit-torch's ``TorchSegmenter``; the folder checks live in ``folders``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from pydantic import Field

from segkit import Segmentation
from segkit_torch import CheckpointError, SamOptions, TorchSegmenter, best_per_box, package_version
from segkit_torch.files import read_config
from segkit_torch.options import model_file_options
from segkit_transformers.folders import describe, download_command, folder_problem
from segkit_transformers.models import MODELS, SAM3, HfModel

MIN_TRANSFORMERS = 5  # Sam3TrackerModel came with transformers 5; Sam2Model with 4.56


@model_file_options(MODELS, "folder_{key}", folder="model_dir", kind="folder")
class TransformersOptions(SamOptions):
    """Options of every hf-* backend: config `options.transformers`, SEGKIT_TRANSFORMERS_<FIELD>, -O;
    folder_tiny, _small, _base_plus, _large, _sam3 name one model's own folder."""

    model_dir: Path = Field(Path("checkpoints/hf"), description="folder holding one from_pretrained folder per model, named as its Hub repository (sam2.1-hiera-large, sam3)")
    allow_network: bool = Field(False, description="load a missing folder's model from the Hugging Face Hub by its id (downloads into transformers' cache)")


class HfFolder:
    """What every hf-* backend (box or concept) does with its ``from_pretrained`` folder: which one, readiness,
    loading the model and processor classes with the missing-weights check, and the one-line failures. A
    mixin before ``TorchSegmenter`` / ``TorchConceptSegmenter``; ``model_class``/``processor_class`` name the
    transformers classes (default: the family's)."""

    package = "transformers"
    install = "'transformers>=5'"
    held = ("network", "processor")
    folder_option, file_option = "model_dir", "folder_{key}"
    model_class: str = ""
    processor_class: str = ""

    def __init__(self, name: str, options: Any = None, *, key: str, **params: Any):
        super().__init__(name, options, key=key, **params)
        self.model: HfModel = MODELS[key]
        self.key, self.checkpoint_file = key, self.model.file
        self.source = ""  # the folder or Hub id it was loaded from

    @property
    def folder(self) -> Path:  # a from_pretrained folder
        return TorchSegmenter.checkpoint.fget(self)

    def readiness_problem(self) -> str | None:
        problem = transformers_problem() or folder_problem(self.model, self.folder, self.checkpoint_option)
        if problem and self.options.allow_network and not self.folder.exists() and not transformers_problem():
            return None  # loaded from the Hub by its id
        return problem

    def ready_detail(self) -> str:
        if not self.folder.exists():
            return f"{self.model.hub_id} from the Hugging Face Hub (allow_network is on; {self.folder} not found)"
        config, _ = read_config(self.folder)
        return f"{self.folder} ({describe(config or {})}), transformers {package_version('transformers')}"

    def build(self) -> None:
        import transformers

        from_hub = not self.folder.exists()  # readiness allowed that only with allow_network
        self.source = self.model.hub_id if from_hub else str(self.folder)
        model_class = getattr(transformers, self.model_class or self.model.family.model_class)
        processor_class = getattr(transformers, self.processor_class or self.model.family.processor_class)
        with quiet(transformers):
            network, info = model_class.from_pretrained(
                self.source, local_files_only=not from_hub, output_loading_info=True, **weight_renames(self.model)
            )
            processor = processor_class.from_pretrained(self.source, local_files_only=not from_hub)
        missing = sorted(info.get("missing_keys") or [])
        if missing:  # transformers only logs this and leaves those weights random: never segment with them
            raise CheckpointError(
                f"{self.where()} lacks {len(missing)} of the model's weights (e.g. {missing[0]}), so it does not hold"
                f" {self.model.label}; {download_command(self.model, self.folder, self.checkpoint_option, occupied=True)}"
            )
        self.network = network.to(self.device).eval()
        self.processor = processor

    def where(self) -> str:
        return f"backend {self.name!r}: {'Hub model' if self.source == self.model.hub_id else 'folder'} {self.source or self.folder}"

    def load_failure(self, exc: Exception) -> str:  # a truncated file, a config of another model, no network for a Hub id
        from segkit_torch.checkpoints import load_error_text

        fix = download_command(self.model, self.folder, self.checkpoint_option)
        return f"{self.where()} could not be loaded by transformers ({load_error_text(exc)}); {fix}"


class TransformersSegmenter(HfFolder, TorchSegmenter):
    """SAM 2.1 / SAM 3 through transformers: one encoder pass per image (or batch), all boxes in one call."""

    options_key = "transformers"
    Options = TransformersOptions

    # -- running ---------------------------------------------------------------------------------

    def forward(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[Segmentation]:
        results = []
        images = [image if image.flags.writeable else image.copy() for image in images]  # torch warns on read-only arrays
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        embeddings = self.network.get_image_embeddings(pixels)
        for index, (image, image_boxes) in enumerate(zip(images, boxes)):
            size = [list(image.shape[:2])]
            prompt = self.processor(original_sizes=size, input_boxes=[np.asarray(image_boxes, np.float32).tolist()], return_tensors="pt")
            output = self.network(
                image_embeddings=[level[index : index + 1] for level in embeddings],
                input_boxes=prompt["input_boxes"].to(self.device),
                multimask_output=self.options.multimask_output,
            )
            (masks,) = self.processor.post_process_masks(output.pred_masks.float().cpu(), size, mask_threshold=self.options.mask_threshold)
            results.append(best_per_box(masks.numpy(), output.iou_scores.float().cpu().numpy()[0], len(image_boxes)))
        return results

    def settings(self) -> dict[str, Any]:
        size = self.processor.image_processor.size if self.loaded else None
        image_size = f"{size.width}x{size.height}" if size is not None else "the processor's (SAM 2.1: 1024, SAM 3: 1008)"
        return {
            **super().settings(),
            "implementation": f"transformers {package_version('transformers')} ({self.model.family.model_class} + {self.model.family.processor_class})",
            "model": self.model.label,
            "source": self.model.hub_id if self.source == self.model.hub_id else self.folder.name,
            "multimask_output": self.options.multimask_output,
            "mask_threshold": self.options.mask_threshold,
            "image_size": image_size,
            "resize": f"stretch to {image_size} (aspect ratio not kept)",
        }


def weight_renames(model: HfModel) -> dict[str, Any]:
    """Extra from_pretrained arguments. A SAM 3 video checkpoint holds the tracker's weights under
    ``tracker_model.``; transformers strips that prefix once when loading Sam3TrackerModel, but its own
    ``Sam3VideoModel.save_pretrained`` (5.23) writes it twice, and such a folder would load with the tracker's
    mask decoder and prompt encoder left random. Stripping it here as well loads both layouts (and changes
    nothing in a tracker-only folder); the missing-weights check in ``build`` catches anything else."""
    return {"key_mapping": {r"^tracker_model\.": ""}} if model.family is SAM3 else {}


@contextlib.contextmanager
def quiet(transformers: Any) -> Iterator[None]:
    """transformers' load reports and progress bars off while loading (segkit says what matters in one
    line); the user's own settings come back afterwards."""
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def transformers_problem() -> str | None:
    """Why the installed transformers cannot run these backends, or None. Cheap: no import."""
    version = package_version("transformers")
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        return None
    if major < MIN_TRANSFORMERS:
        return f"transformers {version} is too old (SAM 3's tracker came with transformers 5); pip install -U 'transformers>=5'"
    return None
