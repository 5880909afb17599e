"""Finding and decoding images into the one form every backend receives: (H, W, 3) uint8 RGB."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from segkit.config import LimitSettings
from segkit.errors import ImageFailed, InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_IMAGE_PIXELS: int = LimitSettings.model_fields["max_image_pixels"].default

# segkit refuses images above limits.max_image_pixels itself, from the header and before decoding
# (load_rgb). Pillow's own process-wide check would otherwise warn at 89 megapixels and refuse at 179
# whatever the user set, and it lets through images that are too big for segkit (a 140 KB PNG of
# 12000x12000 pixels needs gigabytes once decoded and segmented).
Image.MAX_IMAGE_PIXELS = None


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    if not folder.exists():
        raise InputError(f"image folder {folder} does not exist; pass --images DIR or set `images:` in the config")
    if not folder.is_dir():
        raise InputError(f"--images {folder} is a file, not a folder; pass the folder that holds the images")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        kinds = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
        raise InputError(f"no images ({kinds}) in {folder}; point --images at the folder that holds them")
    return found


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as stored, read from the file's header only; (0, 0) if it cannot be read
    (``load_rgb`` then says why)."""
    try:
        if not isinstance(path, Path):  # an object-store URL: read the header in small blocks
            with path.fs.open(path.path, "rb", block_size=HEADER_BLOCK) as handle, Image.open(handle) as img:
                return img.size
        with Image.open(path) as img:
            return img.size
    except Exception:
        return 0, 0


JPEG_END = b"\xff\xd9"
HEADER_BLOCK = 64 * 1024  # enough for a JPEG's header with its EXIF


def load_rgb(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image as (H, W, 3) uint8 RGB, upright as its EXIF orientation says.

    Grayscale, palette, RGBA (alpha dropped) and 16-bit images are converted; an image of more than
    ``max_pixels`` pixels is refused before it is decoded; anything that cannot be decoded raises
    ImageFailed with the reason. Whole 8-bit RGB or grayscale JPEGs and PNGs, most photos, are decoded
    by OpenCV, three times faster than Pillow here and equal to it pixel for pixel (both use
    libjpeg-turbo's defaults and apply EXIF orientation); the rest goes through Pillow.
    """
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            check_pixels(path, img.size, max_pixels)
            if _opencv_decodes(img, data):
                decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
                if decoded is not None:
                    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
            img = ImageOps.exif_transpose(img)
            return _to_rgb8(img)
    except ImageFailed:
        raise
    except Exception as exc:  # PIL and its format plugins (some added by other libraries) raise many kinds
        if isinstance(exc, UnidentifiedImageError):  # its text names the in-memory buffer, different every run
            reason = "not an image format segkit can read"
        else:
            reason = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        raise ImageFailed(f"cannot decode image {path}: {reason}; re-save it as PNG or JPEG") from exc


def check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageFailed(
            f"image {path} is {width}x{height} ({width * height / 1e6:.1f} megapixels), above the limit of"
            f" {max_pixels / 1e6:.1f} megapixels; downscale it, or raise limits.max_image_pixels in the config"
        )


def _opencv_decodes(img: Image.Image, data: bytes) -> bool:
    """Whether OpenCV gives exactly what Pillow would: 8-bit RGB/gray JPEG or PNG, whole (a truncated
    JPEG is an error in Pillow but a grey-filled picture in OpenCV), EXIF orientation only on JPEGs."""
    if img.mode not in ("RGB", "L"):
        return False
    if img.format == "JPEG":
        return data.rstrip(b"\x00").endswith(JPEG_END)
    if img.format == "PNG":
        return img.getexif().get(0x0112, 1) == 1
    return False


def _to_rgb8(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img)
        if img.mode == "F":
            peak = float(np.nanmax(arr)) if arr.size else 0.0
            arr = arr * (255.0 if peak <= 1.0 else 255.0 / max(peak, 1.0))
        elif arr.size and arr.max() > 255:
            arr = arr / 257.0  # 16-bit range onto 8 bits
        gray = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def drop_duplicate_stems(paths: list[Path], warn: Callable[[str], None]) -> list[Path]:
    """Outputs are named by stem, so a.jpg and a.png would overwrite each other: keep the first."""
    kept: dict[str, Path] = {}
    for path in paths:
        if path.stem in kept:
            warn(f"{path} has the same name stem as {kept[path.stem].name}; skipping it (rename one of them)")
            continue
        kept[path.stem] = path
    return list(kept.values())
