"""Device, precision, TF32, the inference context and memory release. Imports torch: call from ``load``.

One policy for every torch backend: ``auto`` picks CUDA, else MPS, else CPU; computation runs in bfloat16
autocast on CUDA and float32 elsewhere (CPU autocast is slower and less exact); TF32 matmuls on Ampere and
newer GPUs, as Meta's notebooks do.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import torch

from segkit import BackendNotReady


def resolve_device(requested: str) -> torch.device:
    """The torch device for a checked device option (see ``options.check_device``).

    ``auto`` picks CUDA (the current device, with its index), else MPS, else CPU. An explicit device must
    exist here; if not, BackendNotReady says so in one line.
    """
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendNotReady(f"device {requested!r} was asked for but CUDA is not available here; use device=auto or cpu")
        index = torch.cuda.current_device() if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise BackendNotReady(f"device {requested!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise BackendNotReady(f"device {requested!r} was asked for but MPS is not available here; use device=auto or cpu")
    return device


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on CUDA and float32 elsewhere; ``float32``, ``bfloat16``, ``float16`` as named."""
    if requested == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, requested)


def enable_tf32(device: torch.device) -> bool:
    """TF32 matmuls and convolutions on Ampere and newer GPUs; returns whether it is on (False off CUDA)."""
    if device.type != "cuda" or torch.cuda.get_device_properties(device).major < 8:
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return True


def inference_context(device: torch.device, dtype: torch.dtype) -> contextlib.ExitStack:
    """Inference mode, plus autocast when computing in a lower precision than the fp32 weights."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if dtype != torch.float32:
        stack.enter_context(torch.autocast(device_type=device.type, dtype=dtype))
    return stack


def release(device: Any) -> None:
    """After a backend dropped its model: collect it, and hand cached CUDA memory back to the driver."""
    gc.collect()
    if getattr(device, "type", None) == "cuda":
        torch.cuda.empty_cache()
