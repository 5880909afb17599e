"""The sam3 backend: Meta's SAM 3 with one mask per box, as SAM 1 and 2 answer box prompts.

SAM 3 answers a box in two ways. Its concept mode (``Sam3Processor.add_geometric_prompt``) takes the box
as an exemplar and returns every similar object; its instance-interactive head (``predict_inst``, the
``enable_inst_interactivity=True`` build, as in sam3's ``sam3_for_sam1_task_example`` notebook) returns
one mask for the object in the box. segkit's contract is the second. Each image is encoded once
(``Sam3Processor.set_image``) and all of its boxes go to one ``predict_inst`` call; ``segment_batch``
encodes several images in one pass (``set_image_batch`` + ``predict_inst_batch``). Nothing heavy is
imported until ``load``.
"""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from segkit import BackendFatalError, Readiness, Segmentation, Segmenter
from segkit.errors import BackendNotReady, one_line
from segkit_sam2.backend import best_per_box, package_version
from segkit_sam3 import checkpoints, vocabulary
from segkit_torch.options import check_device

UPSTREAM_MAX_HOLE_AREA = 256.0  # SAM3InteractiveImagePredictor's default


class Sam3Options(BaseModel):
    """Options of the sam3 backend: config `options.sam3`, SEGKIT_SAM3_<FIELD>, -O sam3.<field>=VALUE."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: Path = Field(Path("checkpoints") / checkpoints.FILE, description="the official sam3.pt (facebook/sam3 on Hugging Face)")
    bpe_path: Path | None = Field(None, description="the tokenizer vocabulary bpe_simple_vocab_16e6.txt.gz (default: sam3's, else open_clip's copy)")
    device: str = Field("auto", description="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="compute precision; auto is bfloat16 autocast on CUDA and float32 elsewhere"
    )
    multimask_output: bool = Field(False, description="ask for 3 masks per box and keep the best-scoring one")
    mask_threshold: float = Field(0.0, description="logit threshold of the masks (sam3's default 0.0)")
    max_hole_area: float = Field(
        UPSTREAM_MAX_HOLE_AREA, ge=0, description="fill holes up to this many pixels of the 288x288 low-resolution mask (sam3's default 256; 0: off)"
    )
    batch_size: int = Field(1, ge=1, le=64, description="images per image-encoder pass (segment_batch); more needs more memory")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)


class Sam3Segmenter(Segmenter):
    """Meta's SAM 3 (`sam3` package), instance-interactive head: one set_image per image, one predict_inst
    call for all of its boxes."""

    options_key = "sam3"
    Options = Sam3Options

    def __init__(self, name: str, options: Sam3Options | None = None, **params: Any):
        super().__init__(name, options, **params)
        self.batch_size = self.options.batch_size
        self.model: Any = None
        self.processor: Any = None
        self.device: Any = None
        self.dtype: Any = None
        self.tf32 = False

    @property
    def checkpoint(self) -> Path:
        return Path(self.options.checkpoint)

    def check_ready(self) -> Readiness:
        if importlib.util.find_spec("sam3") is None:
            return Readiness.missing("the sam3 package is not installed; pip install sam3 (Meta's SAM 3; needs torch)")
        problem = checkpoints.missing_message(self.checkpoint) or vocabulary.missing_message(self.options.bpe_path)
        if problem:
            return Readiness.missing(problem)
        return Readiness.ok(f"{self.checkpoint} ({self.checkpoint.stat().st_size / 1e6:.0f} MB), sam3 {package_version('sam3')}")

    # -- running ---------------------------------------------------------------------------------

    def load(self) -> None:
        readiness = self.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"backend {self.name!r} is not ready: {readiness.reason}")
        try:
            import torch
            from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor
            from sam3.model.sam3_image_processor import Sam3Processor
        except (ImportError, RuntimeError) as exc:
            raise BackendNotReady(f"backend {self.name!r}: cannot import sam3 ({one_line(exc)}); reinstall it with pip install -U sam3") from exc
        from segkit_torch import runtime
        from segkit_sam3 import building

        state_dict, problem = checkpoints.read_state_dict(self.checkpoint)
        problem = problem or checkpoints.describe(state_dict)
        if problem:
            raise BackendFatalError(checkpoints.wrong_file_message(self.name, self.checkpoint, problem))
        keys = list(state_dict)
        del state_dict

        self.device = runtime.resolve_device(self.options.device)
        self.dtype = runtime.resolve_dtype(self.options.dtype, self.device)
        self.tf32 = runtime.enable_tf32(self.device)
        try:
            model = building.build(self.checkpoint, vocabulary.find(self.options.bpe_path), self.device)
        except torch.OutOfMemoryError as exc:
            raise BackendFatalError(f"backend {self.name!r}: out of memory on {self.device} while loading {self.checkpoint}; try device=cpu") from exc
        except Exception as exc:  # a shape mismatch in the state dict, a corrupt tensor
            raise BackendFatalError(checkpoints.load_failed_message(self.name, self.checkpoint, exc)) from exc
        missing = checkpoints.missing_for_boxes(model, keys)
        if missing:
            raise BackendFatalError(checkpoints.incomplete_message(self.name, self.checkpoint, missing))

        tracker = model.inst_interactive_predictor.model
        # sam3's own predictor class around the loaded tracker, with this run's threshold and hole filling.
        predictor = SAM3InteractiveImagePredictor(
            tracker, mask_threshold=self.options.mask_threshold, max_hole_area=self.options.max_hole_area
        )
        # It hard-codes the feature-map sizes of a 1008 input; take them from the model it wraps.
        predictor._bb_feat_sizes = building.feature_sizes(tracker.image_size, tracker.backbone_stride)
        model.inst_interactive_predictor = predictor
        self.model = model
        self.processor = Sam3Processor(model, resolution=tracker.image_size, device=self.device)

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        self._require_loaded()
        from PIL import Image

        from segkit_torch import runtime

        with runtime.inference_context(self.device, self.dtype):
            # PIL, as sam3's notebooks pass it: Sam3Processor.set_image reads a numpy image's size as its
            # last two axes, which for segkit's (H, W, 3) arrays would be (W, 3).
            state = self.processor.set_image(Image.fromarray(image))
            masks, scores, _ = self.model.predict_inst(state, box=boxes, multimask_output=self.options.multimask_output)
        return best_per_box(masks, scores, len(boxes))

    def segment_batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[Segmentation]:
        """Several images through the image encoder at once; the decoder then runs once per image."""
        self._require_loaded()
        if len(images) == 1:
            return [self.segment(images[0], boxes[0])]
        from PIL import Image

        from segkit_torch import runtime

        with runtime.inference_context(self.device, self.dtype):
            state = self.processor.set_image_batch([Image.fromarray(image) for image in images])
            masks, scores, _ = self.model.predict_inst_batch(
                state, box_batch=list(boxes), multimask_output=self.options.multimask_output
            )
        return [best_per_box(m, s, len(b)) for m, s, b in zip(masks, scores, boxes)]

    def settings(self) -> dict[str, Any]:
        loaded = self.model is not None
        resolution = self.processor.resolution if loaded else 1008
        return {
            "implementation": f"sam3 {package_version('sam3')} (Meta, Sam3Processor + predict_inst: the instance-interactive head)",
            "model": "SAM 3",
            "checkpoint": self.checkpoint.name,
            "device": str(self.device) if loaded else self.options.device,
            "dtype": str(self.dtype).removeprefix("torch.") if loaded else self.options.dtype,
            "tf32": self.tf32,
            "resolution": resolution,
            "resize": f"stretch to {resolution}x{resolution} (aspect ratio not kept)",
            "multimask_output": self.options.multimask_output,
            "mask_choice": "best of 3 by predicted IoU" if self.options.multimask_output
            else "single mask, best of 3 when it is unstable (sam3's dynamic multimask)",
            "mask_threshold": self.options.mask_threshold,
            "max_hole_area": self.options.max_hole_area,
            "batch_size": self.batch_size,
        }

    def close(self) -> None:
        if self.model is None:
            return
        self.model = self.processor = None
        gc.collect()
        from segkit_torch import runtime

        runtime.release(self.device)

    def _require_loaded(self) -> None:
        if self.model is None:
            raise BackendFatalError(f"backend {self.name!r} was not loaded; call load() before segment()")

