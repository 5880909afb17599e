"""Finding a font that draws Japanese (and Latin) labels: cv2's Hershey fonts would print '???'."""

from __future__ import annotations

import functools
import importlib.util
import warnings
from pathlib import Path

from PIL import ImageFont

from segkit.errors import ConfigError
from segkit.input_files import FONT, check_regular

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


def check_font(path: Path) -> None:
    """ConfigError (one line) unless ``path`` is a regular file that FreeType can draw with: checked once,
    when the settings are read, so that a bad ``viz.font`` is one line at the start, not a failure per image."""
    check_regular(path, FONT)  # a FIFO would hang FreeType, /dev/zero would never end
    try:
        ImageFont.truetype(str(path), 12)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a font that can be drawn with ({exc}); {FONT.fix}") from None


@functools.lru_cache(maxsize=64)
def load_font(path: Path | None, size: int, basic: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font at ``path`` (None: Pillow's own) in ``size`` pixels; ``basic``: laid out by Pillow itself,
    without libraqm's shaping (what the panels fall back to when shaping a label fails)."""
    if path is None:
        return ImageFont.load_default(size) if not basic else ImageFont.load_default_imagefont()
    if basic:
        return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.truetype(str(path), size)


def subset_font(text: str, path: Path | None = None) -> bytes | None:
    """The CJK font cut down to the characters of ``text``, as WOFF bytes (a few KB), for pages that
    must draw them without the reader having the font; None when ``text`` is all ASCII or no font is found."""
    wanted = {c for c in text if ord(c) > 0x7F and not c.isspace()}
    source = path or font_path()
    if not wanted or source is None:
        return None
    import io

    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff"  # zlib-compressed; woff2 would need brotli
    options.layout_features = []  # no substitutions: one glyph per character is all a label needs
    options.hinting = False
    options.name_IDs = [1, 2]
    options.notdef_outline = True
    font = subset.load_font(str(source), options, lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(wanted)))
    subsetter.subset(font)
    buffer = io.BytesIO()
    subset.save_font(font, buffer, options)
    return buffer.getvalue()
