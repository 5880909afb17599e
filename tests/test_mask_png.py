"""segkit's mask PNGs: the 1-bit writer and the fast reader of what it writes, against OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segkit.outputs.mask_png import decode_mask_png as fast_decode
from segkit.outputs.mask_png import encode_mask_png
from segkit.outputs.reading import OutputFileError, decode_mask_png


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (8, 5), (9, 4), (64, 48), (1281, 961)])
def test_what_segkit_writes_reads_back_as_opencv_reads_it(size):
    rng = np.random.default_rng(sum(size))
    mask = rng.random((size[1], size[0])) < 0.3
    data = encode_mask_png(mask)
    fast = fast_decode(data)
    assert fast is not None and fast.dtype == bool and np.array_equal(fast, mask)
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) > 127, mask)


def test_other_pngs_are_left_to_opencv(tmp_path):
    mask = np.zeros((40, 60), bool)
    mask[5:30, 10:50] = True
    eight_bit = cv2.imencode(".png", mask.astype(np.uint8) * 255)[1].tobytes()  # 8-bit, filtered rows
    assert fast_decode(eight_bit) is None
    assert np.array_equal(decode_mask_png(eight_bit, tmp_path / "m.png", (60, 40)), mask)
    assert fast_decode(b"not a png") is None and fast_decode(encode_mask_png(mask)[:-30]) is None  # cut short
    with pytest.raises(OutputFileError, match="is 60x40 but its record says the image is 40x60"):
        decode_mask_png(encode_mask_png(mask), tmp_path / "m.png", (40, 60))
