"""Option values every torch backend takes, checked without importing torch (options are validated for
`segkit backends` too, which must stay fast)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEVICE_HELP = "auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps"
DTYPE_HELP = "compute precision; auto is bfloat16 autocast on CUDA and float32 elsewhere"

DtypeName = Literal["auto", "float32", "bfloat16", "float16"]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(value: str) -> str:
    """A device option normalised (``' CUDA:1 '`` -> ``'cuda:1'``); ValueError naming the choices otherwise.

    Use it as a pydantic ``field_validator``: segkit turns the ValueError into one ``error:`` line.
    """
    value = value.strip().lower()
    if not _DEVICE.match(value):
        raise ValueError("use auto, cpu, cuda, cuda:N or mps")
    return value


class DeviceOptions(BaseModel):
    """The ``device`` option, checked; the base of a backend's options when the library picks the precision."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field("auto", description=DEVICE_HELP)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)


class TorchOptions(DeviceOptions):
    """``device``, ``dtype`` and ``batch_size``: what ``TorchSegmenter`` reads. Subclass it and add the
    backend's own fields (redeclare ``batch_size`` to change its bounds or description)."""

    dtype: DtypeName = Field("auto", description=DTYPE_HELP)
    batch_size: int = Field(1, ge=1, description="images encoded in one forward pass; raise it on a GPU")
