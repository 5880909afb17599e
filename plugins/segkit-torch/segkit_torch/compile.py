"""``torch.compile`` for a model's heaviest module, CUDA only, never a default.

A cold compile costs minutes, and every new input shape compiles again. So: compile the module's
``forward`` (not the module: its state dict keeps its names, as in Meta's ``compile_image_encoder``),
give it one shape only (``fixed_batch`` pads a short batch with copies of its last item), and warm it
once in ``load`` so no image pays for compilation. Later loads in the same process reuse torch's
compiled graphs (same code, same shapes), and inductor's on-disk cache shortens the next process's.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

import torch

from segkit import BackendNotReady

T = TypeVar("T")


def require_cuda(device: torch.device, option: str) -> None:
    """BackendNotReady, in one line naming ``option`` (e.g. ``sam2.compile``), unless ``device`` is CUDA.

    Call it before building the model, so the user hears it at once. Inductor on CPU or MPS costs minutes
    and gains little for these models, so segkit refuses rather than silently compiling or not.
    """
    if device.type != "cuda":
        raise BackendNotReady(
            f"{option}=true compiles for CUDA only, and the device here is {device}; leave {option} off"
            " (it is off by default) or run on a CUDA device"
        )


def compile_forward(module: torch.nn.Module, device: torch.device, option: str) -> None:
    """Replace ``module.forward`` by its ``torch.compile`` (max-autotune, full graph, static shapes); CUDA
    only (``require_cuda``)."""
    require_cuda(device, option)
    module.forward = torch.compile(module.forward, mode="max-autotune", fullgraph=True, dynamic=False)


def fixed_batch(items: Sequence[T], size: int) -> list[T]:
    """``items`` padded to ``size`` by repeating the last one, so a compiled model sees a single batch shape.

    The caller drops the results past ``len(items)``. Raises ValueError for an empty or oversized batch.
    """
    if not items or len(items) > size:
        raise ValueError(f"a batch of {len(items)} items does not fit batch size {size}")
    return [*items, *[items[-1]] * (size - len(items))]
