"""Finding a font that draws Japanese (and Latin) labels: cv2's Hershey fonts would print '???'."""

from __future__ import annotations

import functools
import importlib.util
import warnings
from pathlib import Path

from PIL import ImageFont

# Looked up without importing japanize_matplotlib (importing it reconfigures matplotlib).
BUNDLED = ("japanize_matplotlib", "fonts/ipaexg.ttf")
SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:/Windows/Fonts/meiryo.ttc",
)


def bundled_font() -> Path | None:
    spec = importlib.util.find_spec(BUNDLED[0])
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / BUNDLED[1]
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=None)
def font_path(explicit: Path | None = None) -> Path | None:
    """The configured font, else the bundled IPAexGothic, else a known system CJK font."""
    if explicit is not None:
        return explicit
    found = bundled_font()
    if found:
        return found
    for candidate in map(Path, SYSTEM_FONTS):
        if candidate.is_file():
            return candidate
    warnings.warn("no CJK font found: Japanese labels will not render; set viz.font in the config", stacklevel=2)
    return None


@functools.lru_cache(maxsize=64)
def load_font(path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)
