"""Mask PNGs: 1-bit grayscale, written directly (packbits + zlib).

A mask is written once per detection and backend, so its encoder is on the hot path. OpenCV's bilevel
writer and Pillow's mode "1" writer both pack bits pixel by pixel (1.7 and 2.5 ms for a 1280x960 mask
on these machines); numpy packs them in 0.1 ms and zlib at level 1 compresses the mostly-empty rows in
about 0.2 ms, both releasing the GIL. The file is a standard PNG (colour type 0, bit depth 1) that every
viewer, Pillow (mode "1") and OpenCV (0/255) read.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_mask_png(mask: np.ndarray, level: int = 1) -> bytes:
    """An (H, W) bool mask as a 1-bit grayscale PNG (white = inside)."""
    height, width = mask.shape
    packed = np.packbits(mask, axis=1)
    rows = np.zeros((height, packed.shape[1] + 1), dtype=np.uint8)  # column 0: filter type 0 (none)
    rows[:, 1:] = packed
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.data, level)) + IEND_CHUNK


def looks_whole(data: bytes) -> bool:
    """Cheap check that a PNG file was written to its end (signature and IEND trailer present)."""
    return data.startswith(PNG_SIGNATURE) and data.endswith(IEND_CHUNK)


def decode_mask_png(data: bytes) -> np.ndarray | None:
    """A 1-bit grayscale PNG with unfiltered rows (what ``encode_mask_png`` writes) as (H, W) bool, read
    with zlib and numpy: 0.2 ms for a 1280x960 mask here, six times less than OpenCV. None for any other
    PNG (another bit depth or colour type, filtered or interlaced rows): the caller decodes it in general."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if (depth, colour, compression, filtering, interlace) != (1, 0, 0, 0, 0) or not width or not height:
        return None
    parts, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            parts.append(data[pos + 8 : pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    stride = (width + 7) // 8 + 1  # a filter-type byte, then the packed row
    try:
        raw = zlib.decompressobj().decompress(b"".join(parts), stride * height + 1)
    except zlib.error:
        return None
    if len(raw) != stride * height:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride)
    if rows[:, 0].any():  # a row filter (Sub, Up, ...): a general decoder undoes it
        return None
    return np.unpackbits(rows[:, 1:], axis=1, count=width).view(bool)
