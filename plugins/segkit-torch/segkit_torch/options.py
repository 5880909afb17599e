"""Option values every torch backend takes, checked without importing torch (options are validated for
`segkit backends` too, which must stay fast)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

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


class SamOptions(TorchOptions):
    """``TorchOptions`` and how a SAM-style head answers a box: ``multimask_output``, ``mask_threshold``."""

    multimask_output: bool = Field(False, description="ask for 3 masks per box and keep the best-scoring one")
    mask_threshold: float = Field(0.0, description="logit threshold of the masks (0.0, the SAM predictors' default)")


def model_file_options(models: Mapping[str, Any], option: str, folder: str, kind: str = "file") -> Callable[[type], type]:
    """Class decorator for a family's options: one optional ``Path`` field per model of ``models`` (a table of
    ``segkit_torch.models.ModelFile``), named ``option`` with ``{key}`` filled (``checkpoint_{key}`` ->
    ``checkpoint_tiny``), for a model's own file when it is not the official name in the ``folder`` option's
    folder: the convention ``TorchSegmenter.file_option`` / ``folder_option`` reads."""

    def add(cls: type[BaseModel]) -> type[BaseModel]:
        fields: dict[str, Any] = {
            option.format(key=model.key): (Path | None, Field(None, description=f"{model.backend}'s {kind} (default: {folder}/{model.file})"))
            for model in models.values()
        }
        return create_model(cls.__name__, __base__=cls, __module__=cls.__module__, __doc__=cls.__doc__, **fields)

    return add
