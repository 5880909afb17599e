"""Settings: built-in defaults < config file < SEGKIT_* environment variables < command-line flags.

The config file is ``--config FILE``, else ``$SEGKIT_CONFIG``, else ``configs/default.yaml`` in the
current folder when it exists. Relative paths in it are relative to the current folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from segkit.errors import ConfigError, SegkitError
from segkit.fonts import check_font
from segkit.input_files import CONFIG_FILE, check_regular, load_yaml, read_text
from segkit.redact import redact
from segkit.storage import Location
from segkit.text import preview

DEFAULT_CONFIG = Path("configs/default.yaml")


class QualitySettings(BaseModel):
    """Thresholds of the quality flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_spill: float = Field(0.10, ge=0, le=1, description="flag 'spill' when more than this share of the mask lies outside its box")
    min_fill: float = Field(0.05, ge=0, le=1, description="flag 'low_fill' when the mask covers less than this share of its box")
    max_pieces: int = Field(3, ge=1, description="flag 'fragmented' when the mask has more pieces than this")
    min_piece: float = Field(0.01, ge=0, le=1, description="pieces smaller than this share of the mask are specks, not counted")


class _CheckFailed(ValueError):
    """A setting refused by one of segkit's own checks, whose message is the whole story."""


class VizSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    font: Path | None = Field(None, description="TrueType/OpenType font for labels (default: bundled IPAexGothic)")

    @field_validator("font")
    @classmethod
    def _usable_font(cls, path: Path | None) -> Path | None:
        """Checked once, when the settings are read: a font that cannot be drawn with would fail every panel."""
        if path is not None:
            try:
                check_font(path)
            except SegkitError as exc:
                raise _CheckFailed(str(exc)) from None
        return path
    opacity: float = Field(0.45, ge=0, le=1, description="mask fill opacity in overlays")
    max_column_width: int = Field(640, ge=64, description="panel columns are scaled down to fit this width")
    max_column_height: int = Field(640, ge=64, description="... and this height")
    max_detections: int = Field(200, ge=1, description="a panel draws at most this many detections (the first ones)")
    max_labels: int = Field(40, ge=0, description="and labels at most this many of them")
    jpeg_quality: int = Field(90, ge=1, le=100)
    preview_side: int = Field(480, ge=32, le=4096, description="the page's picture of each image (and its masks) has at most this longer side")


class LimitSettings(BaseModel):
    """Bounds on what one input may cost, so that memory and time depend on settings, not on the input."""

    model_config = ConfigDict(extra="forbid")

    max_image_pixels: int = Field(
        64_000_000, ge=1, description="refuse an image above this many pixels (width x height), read from its header before decoding",
    )
    max_detection_file_bytes: ByteSize = Field(
        ByteSize(64 * 2**20), ge=1, description="refuse a detection file larger than this (e.g. 64MiB, 1GB)",
    )
    max_detection_fields_bytes: ByteSize = Field(
        ByteSize(16 * 2**10), ge=0,
        description="a detection's other fields kept in the records, as JSON; fields beyond this are dropped and named",
    )
    max_label_chars: int = Field(200, ge=1, description="labels longer than this are cut, the cut marked with '…'")
    max_pixels_in_flight: int = Field(200_000_000, ge=1, description="image pixels decoded and not yet written, summed over the images in flight")
    max_boxes_per_call: int = Field(64, ge=1, description="boxes sent to a backend in one call; an image with more is segmented in chunks")
    max_mask_pixels_per_call: int = Field(500_000_000, ge=1, description="and at most this many mask pixels (boxes x image pixels) per call")
    max_ground_truth_bytes: ByteSize = Field(
        ByteSize(512 * 2**20), ge=1, description="refuse a ground-truth file (COCO JSON, a mask PNG) larger than this",
    )
    max_ground_truth_instances: int = Field(
        1000, ge=1, description="one image's ground-truth instances (annotations, ids in a PNG, instance PNGs); an image with more is not scored",
    )
    max_config_file_bytes: ByteSize = Field(
        ByteSize(16 * 2**20), ge=1,
        description="refuse a label map or class-name file larger than this (the config file itself: always this default)",
    )
    max_concepts_per_image: int = Field(
        64, ge=1, description="most concepts (--prompt phrases plus labels from the detections) a concept backend is asked for on one image",
    )


MaskFormat = Literal["png", "rle"]
PanelMode = Literal["all", "disagree", "none"]
Engine = Literal["local", "ray"]


class RaySettings(BaseModel):
    """Where and how `--engine ray` runs (config `ray:`; flags --ray-address, --actors, --gpus-per-actor)."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, description="None: start a local Ray; 'auto' or HOST:PORT or ray://HOST:10001: join that cluster")
    actors: int | None = Field(None, ge=1, description="actors per backend (default: as many as the cluster's GPUs allow, else its CPUs)")
    gpus_per_actor: float | None = Field(None, ge=0, description="GPUs per backend actor (default: 1 when the cluster has GPUs, else 0)")
    cpus_per_actor: float | None = Field(
        None, gt=0, description="CPUs per backend actor (default: 1, less on a small cluster: the actors leave half its CPUs to decoding and writing)",
    )


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: Location | None = None  # a folder, or a URL (s3://bucket/prefix)
    detections: Location | None = None
    out: Location = Path("segkit-out")
    backends: list[str] = Field(default_factory=list)
    conf: float = Field(0.0, ge=0.0, le=1.0)
    reader: str = "auto"
    box_space: str | None = None
    input_size: str | None = None  # box_space's old name
    mask_format: MaskFormat = "png"
    panels: PanelMode = "all"
    gt: Path | None = None  # ground truth to score the masks against at the end of a run (segkit eval)
    viz: VizSettings = Field(default_factory=VizSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    engine: Engine = "local"
    ray: RaySettings = Field(default_factory=RaySettings)


def find_config(explicit: Path | None) -> Path | None:
    if explicit is not None:
        check_regular(explicit, CONFIG_FILE)  # one line for a missing file, a folder, a FIFO, a device
        return explicit
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(path: Path | None) -> Settings:
    """Built-in defaults overlaid with the YAML file at ``path`` (None: defaults only).

    The file is read as every file a user names is (``segkit.input_files``): a regular file of at most
    the default ``limits.max_config_file_bytes`` (its own limits cannot raise the bound it is read with),
    its YAML aliases bounded."""
    if path is None:
        return Settings()
    data = load_yaml(read_text(path, LimitSettings().max_config_file_bytes, CONFIG_FILE), path, CONFIG_FILE) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_error(exc)}; fix the file") from exc
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be settings; fix the file") from None


def first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "value"
    got = err.get("input")
    got = redact(preview(redact(got) if isinstance(got, str) else got))  # masked before it is cut, and bounded
    if any(word in where.lower() for word in ("key", "token", "secret", "password")):
        got = "***"  # never echo a secret
    if err["type"] == "extra_forbidden":
        return f"unknown setting {preview(where)}"
    if isinstance(err.get("ctx", {}).get("error"), _CheckFailed):
        return f"{where}: {err['ctx']['error']}"  # a check of ours (viz.font): its own line says it all
    return f"{where}: {err['msg']} (got {got})"
