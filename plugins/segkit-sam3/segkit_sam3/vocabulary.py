"""Where SAM 3's text-tokenizer vocabulary is. Cheap: looks for files, imports nothing heavy.

``build_sam3_image_model`` always builds the text encoder, whose tokenizer reads OpenAI CLIP's BPE merges
file ``bpe_simple_vocab_16e6.txt.gz`` when it is built, even though box prompts never tokenize anything.
The ``sam3`` wheels on PyPI (0.1.x) do not ship that file (facebookresearch/sam3#339); a clone of the
repository has it, and ``open_clip_torch`` ships the very same bytes (same git blob as sam3's copy).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

FILE = "bpe_simple_vocab_16e6.txt.gz"


def candidates() -> list[Path]:
    """Where the vocabulary may be, in order: sam3's own places (newer layout, then 0.1.x's ``../assets``),
    then open_clip's copy."""
    out: list[Path] = []
    for package, relative in (("sam3", ("assets", FILE)), ("sam3", ("..", "assets", FILE)), ("open_clip", (FILE,))):
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for root in (spec.submodule_search_locations or []) if spec else []:
            out.append(Path(root).joinpath(*relative).resolve())
    return out


def find(explicit: Path | None) -> Path | None:
    """The vocabulary file to use: ``explicit`` if given (even if missing, so the user hears about it),
    else the first candidate that exists."""
    if explicit is not None:
        return Path(explicit)
    return next((path for path in candidates() if path.is_file()), None)


def missing_message(explicit: Path | None) -> str | None:
    """None when the vocabulary is there; otherwise what is wrong and how to fix it, in one line."""
    path = find(explicit)
    if path is not None and path.is_file():
        return None
    if path is not None:
        return f"tokenizer vocabulary {path} not found; point sam3.bpe_path at {FILE}, or unset it to use open_clip's copy"
    return (
        f"SAM 3's tokenizer vocabulary {FILE} is missing (the sam3 wheels on PyPI do not ship it):"
        f" pip install open_clip_torch (which ships the same file), or set -O sam3.bpe_path=PATH to your copy"
    )
