"""Every image reaches the backends as (H, W, 3) uint8 RGB, upright."""

import numpy as np
import pytest
from PIL import Image

from segkit.errors import ImageFailed, InputError
from segkit.inputs.images import list_images, load_rgb


def test_rgb_png_is_read_unchanged(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = load_rgb(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(200, dtype=np.uint8).reshape(10, 20)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = load_rgb(tmp_path / "g.png")
    assert out.shape == (10, 20, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_rgba_drops_alpha(tmp_path):
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    out = load_rgb(tmp_path / "t.png")
    assert out.shape == (4, 5, 3) and (out[..., 0] == 200).all()


def test_16_bit_grayscale_is_scaled_to_8_bits(tmp_path):
    import cv2

    deep = np.array([[0, 257, 65535]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    out = load_rgb(tmp_path / "d.png")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255])


def test_16_bit_rgb_png(tmp_path):
    import cv2

    bgr = np.zeros((3, 3, 3), dtype=np.uint16)
    bgr[..., 2] = 65535  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "d.png"), bgr)
    out = load_rgb(tmp_path / "d.png")
    assert out.dtype == np.uint8
    assert (out[..., 0] == 255).all() and (out[..., 2] == 0).all()


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    Image.fromarray(wide).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = load_rgb(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3)  # displayed as portrait
    assert out[:18].mean() > 200 and out[22:].mean() < 50  # white half ends up on top


def test_undecodable_image_is_an_image_failure(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ImageFailed, match=r"cannot decode image .*broken.jpg.*re-save it"):
        load_rgb(tmp_path / "broken.jpg")


def test_list_images(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list_images(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no images"):
        list_images(tmp_path)
    for name in ("b.PNG", "a.jpg", "c.webp"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.webp"]
    with pytest.raises(InputError, match="is a file"):
        list_images(tmp_path / "a.jpg")


def test_a_format_plugin_that_breaks_is_still_one_image_failure(tmp_path, monkeypatch):
    # Libraries register extra PIL openers (Ultralytics adds HEIF, which imports pi_heif lazily).
    def accept(prefix):
        raise ModuleNotFoundError("No module named 'pi_heif'")

    monkeypatch.setattr(Image, "ID", ["BROKEN", *Image.ID])
    monkeypatch.setitem(Image.OPEN, "BROKEN", (lambda fp, filename: None, accept))
    (tmp_path / "x.heic").write_bytes(b"not really an image")
    with pytest.raises(ImageFailed, match=r"cannot decode image .*x.heic: ModuleNotFoundError: No module named 'pi_heif'"):
        load_rgb(tmp_path / "x.heic")
