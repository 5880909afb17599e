"""Device and precision: CUDA, else MPS, else CPU; bf16 autocast on CUDA, fp32 elsewhere. Imports torch."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from segkit.errors import BackendNotReady


def resolve_device(requested: str) -> torch.device:
    """``auto`` picks CUDA, else MPS, else CPU; an explicit device must exist here."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendNotReady(f"device {requested!r} was asked for but CUDA is not available here; use device=auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise BackendNotReady(f"device {requested!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise BackendNotReady(f"device {requested!r} was asked for but MPS is not available here; use device=auto or cpu")
    return device


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on CUDA and float32 elsewhere (CPU autocast is slower and less exact)."""
    if requested == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, requested)


def enable_tf32(device: torch.device) -> bool:
    """TF32 matmuls on Ampere and newer GPUs, as Meta's notebooks do; returns whether it is on."""
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
    if getattr(device, "type", None) == "cuda":
        torch.cuda.empty_cache()
