"""``TorchSegmenter`` and ``TorchConceptSegmenter``: the engine every torch backend runs on (box prompts or
concepts); a family keeps only what is its own. Both are ``TorchBackend`` plus the contract they serve.

The base owns readiness (the library importable, the checkpoint there and a PyTorch checkpoint by its
header), device and dtype, TF32, the batch loop in ``torch.inference_mode`` and autocast, optional
``torch.compile`` (CUDA only), close, upstream warnings logged instead of printed, and one exit code per
kind of problem: an unusable file or option before any image is one line and exit 2 (``BackendNotReady``,
``CheckpointError``), out of memory while loading exit 1, a failure while segmenting fails that image.
A family writes::

    package = "sam2"                           # importable name; `install` if pip needs more
    held = ("predictor",)                      # what build() sets; close() drops it
    key, checkpoint_file, checkpoint_url       # which model, its official file, its address
    file_option, folder_option                 # the options naming its file, or the folder of files
    build()                                    # import the library, build on self.device
    forward(images, boxes) -> [Segmentation]   # one batch, already inside the inference context
                                               # (concepts: forward(images, concepts) -> [ConceptInstances])
    settings()                                 # {**super().settings(), ...its own}

and may override ``how_to_get``, ``readiness_problem``, ``load_failure`` and ``compile_target``. Nothing
here imports torch at import time; README.md has the details.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from segkit import (
    BackendFatalError, BackendNotReady, Concept, ConceptInstances, ConceptSegmenter, ConfigError, Readiness, Segmentation, Segmenter,
    SegkitError, one_line,
)
from segkit_torch.files import checkpoint_file_problem
from segkit_torch.upstream import package_version, warnings_logged


class CheckpointError(ConfigError):
    """A checkpoint file or folder that cannot be used (another model, damaged, not a checkpoint): one line,
    exit 2, before any image, like any other setting segkit cannot use."""


class TorchBackend:
    """What every torch backend shares, box or concept (see the module docstring); a mixin before
    ``Segmenter`` (``TorchSegmenter``) or ``ConceptSegmenter`` (``TorchConceptSegmenter``)."""

    package: ClassVar[str] = ""  # the library that runs the model, as imported
    install: ClassVar[str] = ""  # what `pip install` takes for it, when more than the package name
    held: ClassVar[tuple[str, ...]] = ("model",)  # attributes build() fills; the first one says "loaded"
    checkpoint_label: ClassVar[str] = "checkpoint"  # what the library calls its file ("weights")

    def __init__(self, name: str, options: Any = None, **params: Any):
        super().__init__(name, options, **params)
        self.batch_size = getattr(self.options, "batch_size", 1)
        self.device: Any = None
        self.dtype: Any = None
        self.tf32 = False
        self._drop()

    # -- where the weights are: one convention for every family --------------------------------
    # ``file_option`` names one model's file (``{key}`` is ``self.key``: ``checkpoint_{key}`` ->
    # ``checkpoint_tiny``); when it is unset, the file is ``checkpoint_file`` in ``folder_option``'s folder.

    folder_option: ClassVar[str] = ""  # the option naming the folder of the official files, if the family has one
    file_option: ClassVar[str] = "checkpoint"  # the option naming this model's own file
    key = ""  # which model of the family ("tiny"), for ``file_option``
    checkpoint_file = ""  # the official file name: "sam2.1_hiera_tiny.pt"
    checkpoint_url = ""  # where it is published, for the fixes

    @property
    def checkpoint(self) -> Path:
        """The checkpoint file (or folder) this backend loads."""
        own = getattr(self.options, self.file_option.format(key=self.key))
        if own is not None or not self.folder_option:
            return Path(own)
        return Path(getattr(self.options, self.folder_option)) / self.checkpoint_file

    @property
    def checkpoint_option(self) -> str:
        """The option naming it, as `-O` takes it: ``sam2.checkpoint_tiny``."""
        return f"{self.options_key}.{self.file_option.format(key=self.key)}"

    def how_to_get(self) -> str:
        """How a user gets the official file: segkit's download script, and the address."""
        address = f" (or download {self.checkpoint_url})" if self.checkpoint_url else ""
        return f"run `checkpoints/download.sh {self.name}`{address}"

    # -- what a family writes --------------------------------------------------------------------

    def build(self) -> None:
        """Import the library, build the model from ``self.checkpoint`` on ``self.device``, set ``held``."""
        raise NotImplementedError

    def forward(self, images: list[np.ndarray], prompts: list[Any]) -> list[Any]:
        """One batch, inside ``torch.inference_mode`` and autocast (see the two classes below)."""
        raise NotImplementedError

    def compile_target(self) -> Any:
        """The module whose forward ``compile=true`` compiles (families that offer the option)."""
        raise NotImplementedError

    # -- readiness: cheap, no torch -------------------------------------------------------------

    def check_ready(self) -> Readiness:
        if importlib.util.find_spec(self.package) is None:
            return Readiness.missing(f"the {self.package} package is not installed; pip install {self.install or self.package}")
        problem = self.readiness_problem()
        if problem:
            return Readiness.missing(problem)
        return Readiness.ok(self.ready_detail())

    def readiness_problem(self) -> str | None:
        """Why this backend cannot run here, in one line with the fix, or None. Default: the checkpoint file
        is missing, a folder, or not a PyTorch checkpoint by its header."""
        path, label = self.checkpoint, self.checkpoint_label
        if path.is_dir():
            return f"{label} {path} is a folder; point {self.checkpoint_option} at the file {self.checkpoint_file}"
        if not path.is_file():
            env = f"SEGKIT_{self.checkpoint_option.replace('.', '_').upper()}"
            return f"{label} {path} not found; {self.how_to_get()}, or set -O {self.checkpoint_option}=PATH ({env}) to your copy"
        problem = checkpoint_file_problem(path)
        if problem:
            return f"{label} {path} {problem}; replace it with the official {self.checkpoint_file}: {self.how_to_get()}"
        return None

    def ready_detail(self) -> str:
        return f"{self.checkpoint} ({self.checkpoint.stat().st_size / 1e6:.0f} MB), {self.package} {package_version(self.package)}"

    # -- loading ----------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return getattr(self, self.held[0], None) is not None

    @property
    def compiling(self) -> bool:
        return bool(getattr(self.options, "compile", False))

    def load(self) -> None:
        readiness = self.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"backend {self.name!r} is not ready: {readiness.reason}")
        with warnings_logged():
            import torch

            from segkit_torch import runtime
            from segkit_torch.compile import compile_forward, require_cuda

            self.device = runtime.resolve_device(self.options.device)
            if self.compiling:  # refused before minutes of building
                require_cuda(self.device, f"{self.options_key}.compile")
            self.dtype = runtime.resolve_dtype(getattr(self.options, "dtype", "float32"), self.device)
            self.tf32 = runtime.enable_tf32(self.device)
            try:
                self.build()
            except Exception as exc:
                self._drop()
                if isinstance(exc, SegkitError):
                    raise
                if isinstance(exc, ImportError):
                    raise BackendNotReady(f"backend {self.name!r}: cannot import {self.package} ({one_line(exc)});"
                                          f" reinstall it with pip install -U {self.install or self.package}") from exc
                if isinstance(exc, torch.OutOfMemoryError):
                    raise BackendFatalError(f"backend {self.name!r}: out of memory on {self.device} while loading {self.checkpoint};"
                                            " try a smaller model or device=cpu") from exc
                raise CheckpointError(self.load_failure(exc)) from exc  # the file does not fit: say what it holds
        if self.compiling:
            compile_forward(self.compile_target(), self.device, f"{self.options_key}.compile")
            self.warm_up()  # one batch now, so that compiling is part of loading and no image pays for it

    def warm_up(self) -> None:
        raise NotImplementedError

    def load_failure(self, exc: Exception) -> str:
        """The one line for a checkpoint that did not load (``exc`` is the library's error)."""
        from segkit_torch.checkpoints import load_error_text

        return (
            f"backend {self.name!r}: {self.checkpoint_label} {self.checkpoint} does not load ({load_error_text(exc)});"
            f" use the official {self.checkpoint_file}: {self.how_to_get()}"
        )

    # -- running ----------------------------------------------------------------------------------

    def run_batches(self, images: Sequence[np.ndarray], prompts: Sequence[Any]) -> list[Any]:
        """``batch_size`` images (with their prompts: boxes or concepts) per ``forward``; with ``compile`` a
        short batch is padded to ``batch_size`` (a compiled model knows one shape) and the extra answers dropped."""
        if not self.loaded:
            raise BackendFatalError(f"backend {self.name!r} was not loaded; call load() before segmenting")
        from segkit_torch import runtime
        from segkit_torch.compile import fixed_batch

        results: list[Any] = []
        for start in range(0, len(images), self.batch_size):
            chunk_images, chunk_prompts = list(images[start : start + self.batch_size]), list(prompts[start : start + self.batch_size])
            count = len(chunk_images)
            if self.compiling:
                chunk_images, chunk_prompts = fixed_batch(chunk_images, self.batch_size), fixed_batch(chunk_prompts, self.batch_size)
            with warnings_logged(), runtime.inference_context(self.device, self.dtype):
                results += self.forward(chunk_images, chunk_prompts)[:count]
        return results

    def settings(self) -> dict[str, Any]:
        """What every torch backend records; a family adds its own with ``{**super().settings(), ...}``."""
        loaded = self.device is not None
        return {
            "implementation": f"{self.package} {package_version(self.package)}",
            "device": str(self.device) if loaded else self.options.device,
            "dtype": str(self.dtype).removeprefix("torch.") if loaded else getattr(self.options, "dtype", "float32"),
            "tf32": self.tf32,
            "batch_size": self.batch_size,
        }

    def close(self) -> None:
        if not self.loaded:
            return
        self._drop()
        from segkit_torch import runtime

        runtime.release(self.device)

    def _drop(self) -> None:
        for attribute in self.held:
            setattr(self, attribute, None)


class TorchSegmenter(TorchBackend, Segmenter):
    """A box-prompted torch backend: ``forward(images, boxes)`` returns one ``Segmentation`` per image."""

    def forward(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[Segmentation]:
        """One batch (at most ``batch_size`` images), inside ``torch.inference_mode`` and autocast."""
        raise NotImplementedError

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        return self.run_batches([image], [boxes])[0]

    def segment_batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[Segmentation]:
        return self.run_batches(images, boxes)

    def warm_up(self) -> None:
        self.segment_batch([np.zeros((64, 64, 3), np.uint8)], [np.array([[8, 8, 56, 56]], np.float32)])


class TorchConceptSegmenter(TorchBackend, ConceptSegmenter):
    """A concept torch backend (phrases and exemplar boxes in, every instance out): the same readiness,
    loading, device, dtype, errors and close as ``TorchSegmenter``; ``forward(images, concepts)`` returns one
    ``ConceptInstances`` per image."""

    def forward(self, images: list[np.ndarray], concepts: list[list[Concept]]) -> list[ConceptInstances]:
        """One batch (at most ``batch_size`` images, each with its concepts), inside the inference context."""
        raise NotImplementedError

    def segment_concepts(self, image: np.ndarray, concepts: Sequence[Concept]) -> ConceptInstances:
        return self.run_batches([image], [list(concepts)])[0]

    def segment_concepts_batch(self, images: Sequence[np.ndarray], concepts: Sequence[Sequence[Concept]]) -> list[ConceptInstances]:
        return self.run_batches(images, [list(c) for c in concepts])

    def warm_up(self) -> None:
        self.segment_concepts_batch([np.zeros((64, 64, 3), np.uint8)], [[Concept(text="object")]])
