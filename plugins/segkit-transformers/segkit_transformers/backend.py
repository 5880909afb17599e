"""The hf-* backends: SAM 2.1 and SAM 3 as Hugging Face ``transformers`` runs them.

Loaded once per run from a local ``from_pretrained`` folder (``Sam2Model`` + ``Sam2Processor``, or
``Sam3TrackerModel`` + ``Sam3TrackerProcessor``), never from the network unless ``allow_network`` is on.
Each image is encoded once (``get_image_embeddings``) and all of its boxes go to one decoder call; with
``batch_size`` > 1 several images share one encoder pass. Nothing heavy is imported until ``load``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from segkit import BackendFatalError, Readiness, Segmentation, Segmenter
from segkit.errors import BackendNotReady, one_line
from segkit_torch.options import DEVICE_HELP, DTYPE_HELP, DtypeName, check_device
from segkit_transformers.folders import describe, download_command, folder_problem, read_config
from segkit_transformers.models import MODELS, SAM3, HfModel

MIN_TRANSFORMERS = 5  # Sam3TrackerModel came with transformers 5; Sam2Model with 4.56


class TransformersOptions(BaseModel):
    """Options of every hf-* backend: config `options.transformers`, SEGKIT_TRANSFORMERS_<FIELD>, -O."""

    model_config = ConfigDict(extra="forbid")

    model_dir: Path = Field(Path("checkpoints/hf"), description="folder holding one from_pretrained folder per model, named as its Hub repository (sam2.1-hiera-large, sam3)")
    folder_tiny: Path | None = Field(None, description="hf-sam2.1-tiny's folder (default: model_dir/sam2.1-hiera-tiny)")
    folder_small: Path | None = Field(None, description="hf-sam2.1-small's folder")
    folder_base_plus: Path | None = Field(None, description="hf-sam2.1-base-plus's folder")
    folder_large: Path | None = Field(None, description="hf-sam2.1-large's folder")
    folder_sam3: Path | None = Field(None, description="hf-sam3's folder (facebook/sam3)")
    allow_network: bool = Field(False, description="load a missing folder's model from the Hugging Face Hub by its id (downloads into transformers' cache)")
    device: str = Field("auto", description=DEVICE_HELP)
    dtype: DtypeName = Field("auto", description=DTYPE_HELP)
    multimask_output: bool = Field(False, description="ask for 3 masks per box and keep the best-scoring one")
    mask_threshold: float = Field(0.0, description="logit threshold of the masks (transformers' default 0.0)")
    batch_size: int = Field(1, ge=1, description="images encoded in one forward pass; for GPUs")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)


class TransformersSegmenter(Segmenter):
    """SAM 2.1 / SAM 3 through transformers: one encoder pass per image (or batch), all boxes in one call."""

    options_key = "transformers"
    Options = TransformersOptions

    def __init__(self, name: str, options: TransformersOptions | None = None, *, key: str, **params: Any):
        super().__init__(name, options, key=key, **params)
        self.model: HfModel = MODELS[key]
        self.batch_size = self.options.batch_size
        self.network: Any = None  # the loaded transformers model
        self.processor: Any = None
        self.source = ""  # the folder or Hub id it was loaded from
        self.device: Any = None
        self.dtype: Any = None
        self.tf32 = False

    # -- where things are ------------------------------------------------------------------------

    @property
    def folder_option(self) -> str:
        return f"folder_{self.model.key}"

    @property
    def folder(self) -> Path:
        explicit = getattr(self.options, self.folder_option)
        return Path(explicit) if explicit is not None else Path(self.options.model_dir) / self.model.folder

    def check_ready(self) -> Readiness:
        problem = transformers_problem()
        if problem:
            return Readiness.missing(problem)
        problem = folder_problem(self.model, self.folder, self.folder_option)
        if problem and self.options.allow_network and not self.folder.exists():
            return Readiness.ok(f"{self.model.hub_id} from the Hugging Face Hub (allow_network is on; {self.folder} not found)")
        if problem:
            return Readiness.missing(problem)
        config, _ = read_config(self.folder / "config.json")
        return Readiness.ok(f"{self.folder} ({describe(config or {})}), transformers {package_version('transformers')}")

    # -- running ---------------------------------------------------------------------------------

    def load(self) -> None:
        readiness = self.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"backend {self.name!r} is not ready: {readiness.reason}")
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise BackendNotReady(
                f"backend {self.name!r}: cannot import transformers ({one_line(exc)}); reinstall it with pip install -U 'transformers>=5'"
            ) from exc
        from segkit_torch import runtime

        self.device = runtime.resolve_device(self.options.device)
        self.dtype = runtime.resolve_dtype(self.options.dtype, self.device)
        self.tf32 = runtime.enable_tf32(self.device)
        from_hub = not self.folder.exists()  # check_ready allowed that only with allow_network
        self.source = self.model.hub_id if from_hub else str(self.folder)
        model_class = getattr(transformers, self.model.family.model_class)
        processor_class = getattr(transformers, self.model.family.processor_class)
        where = f"backend {self.name!r}: {'Hub model' if from_hub else 'folder'} {self.source}"
        try:
            with quiet(transformers):
                network, info = model_class.from_pretrained(
                    self.source, local_files_only=not from_hub, output_loading_info=True, **weight_renames(self.model)
                )
                processor = processor_class.from_pretrained(self.source, local_files_only=not from_hub)
        except torch.OutOfMemoryError as exc:
            raise BackendFatalError(f"{where}: out of memory while loading; try a smaller model or device=cpu") from exc
        except Exception as exc:  # a truncated file, a config of another model, no network for a Hub id
            raise BackendFatalError(f"{where} could not be loaded by transformers ({one_line(exc)}); {download_command(self.model, self.folder)}") from exc
        missing = sorted(info.get("missing_keys") or [])
        if missing:  # transformers only logs this and leaves those weights random: never segment with them
            raise BackendFatalError(
                f"{where} lacks {len(missing)} of the model's weights (e.g. {missing[0]}), so it does not hold"
                f" {self.model.label}; {download_command(self.model, self.folder)}"
            )
        try:
            self.network = network.to(self.device).eval()
        except torch.OutOfMemoryError as exc:
            raise BackendFatalError(f"{where}: out of memory on {self.device}; try a smaller model or device=cpu") from exc
        self.processor = processor

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        return self.segment_batch([image], [boxes])[0]

    def segment_batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[Segmentation]:
        """Up to ``batch_size`` images per encoder pass, then each image's boxes in one decoder call. One image
        alone takes the same path, so batched masks equal one-by-one masks."""
        if self.network is None:
            raise BackendFatalError(f"backend {self.name!r} was not loaded; call load() before segment()")
        results: list[Segmentation] = []
        for start in range(0, len(images), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            results += self._encode_and_decode(list(images[chunk]), list(boxes[chunk]))
        return results

    def _encode_and_decode(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[Segmentation]:
        from segkit_torch import runtime

        results = []
        images = [image if image.flags.writeable else image.copy() for image in images]  # torch warns on read-only arrays
        with runtime.inference_context(self.device, self.dtype):
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
                results.append(best_per_box(masks.numpy(), output.iou_scores.float().cpu().numpy()[0]))
        return results

    def settings(self) -> dict[str, Any]:
        loaded = self.network is not None
        size = self.processor.image_processor.size if loaded else None
        image_size = f"{size.width}x{size.height}" if size is not None else "the processor's (SAM 2.1: 1024, SAM 3: 1008)"
        return {
            "implementation": f"transformers {package_version('transformers')} ({self.model.family.model_class} + {self.model.family.processor_class})",
            "model": self.model.label,
            "source": self.model.hub_id if self.source == self.model.hub_id else self.folder.name,
            "device": str(self.device) if loaded else self.options.device,
            "dtype": str(self.dtype).removeprefix("torch.") if loaded else self.options.dtype,
            "tf32": self.tf32,
            "multimask_output": self.options.multimask_output,
            "mask_threshold": self.options.mask_threshold,
            "image_size": image_size,
            "resize": f"stretch to {image_size} (aspect ratio not kept)",
            "batch_size": self.batch_size,
        }

    def close(self) -> None:
        if self.network is None:
            return
        self.network = self.processor = None
        from segkit_torch import runtime

        runtime.release(self.device)


def best_per_box(masks: np.ndarray, scores: np.ndarray) -> Segmentation:
    """One bool mask and score per box from transformers' (N, C, H, W) masks and (N, C) scores; with C > 1
    (multimask) the best-scoring candidate is kept."""
    best = scores.argmax(axis=1)
    rows = np.arange(len(best))
    return Segmentation(masks=np.ascontiguousarray(masks[rows, best]).astype(bool, copy=False), scores=scores[rows, best].astype(np.float64))


def weight_renames(model: HfModel) -> dict[str, Any]:
    """Extra from_pretrained arguments. A SAM 3 video checkpoint holds the tracker's weights under
    ``tracker_model.``; transformers strips that prefix once when loading Sam3TrackerModel, but its own
    ``Sam3VideoModel.save_pretrained`` (5.23) writes it twice, and such a folder would load with the tracker's
    mask decoder and prompt encoder left random. Stripping it here as well loads both layouts (and changes
    nothing in a tracker-only folder); the missing-weights check in ``load`` catches anything else."""
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
    if importlib.util.find_spec("transformers") is None:
        return "the transformers package is not installed; pip install 'transformers>=5'"
    version = package_version("transformers")
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        return None
    if major < MIN_TRANSFORMERS:
        return f"transformers {version} is too old (SAM 3's tracker came with transformers 5); pip install -U 'transformers>=5'"
    return None


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"
