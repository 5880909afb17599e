"""Panels: one column per backend plus the diff, and labels drawn in real Japanese glyphs."""

import numpy as np
from fontTools.ttLib import TTFont

from segkit.config import VizSettings
from segkit.fonts import font_path
from segkit.inputs.detections import Detection
from segkit.outputs.panels import ONLY_FIRST, ONLY_SECOND, render_panel
from segkit.plugins.segmenter import Segmentation

H, W = 60, 80


def det(label, box=(10, 10, 50, 40)):
    return Detection(0, label, box, 0.9, {})


def seg(mask):
    return Segmentation(masks=mask[None], scores=np.array([0.87]))


def test_bundled_font_has_the_japanese_glyphs():
    path = font_path(None)
    assert path is not None and path.name == "ipaexg.ttf"
    cmap = TTFont(str(path), fontNumber=0).getBestCmap()
    assert all(ord(c) in cmap for c in "りんご焼き魚カップ猫犬")


def test_japanese_labels_render_as_distinct_glyphs_not_placeholders():
    # Placeholder boxes (tofu) or '???' would draw two different labels identically.
    image = np.full((H, W, 3), 128, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[10:40, 10:50] = True
    cat = render_panel(image, [det("猫")], {"m": seg(mask)}, VizSettings())
    dog = render_panel(image, [det("犬")], {"m": seg(mask)}, VizSettings())
    same_width = render_panel(image, [det("猫")], {"m": seg(mask)}, VizSettings())
    assert cat.shape == dog.shape
    assert not np.array_equal(cat, dog)
    np.testing.assert_array_equal(cat, same_width)  # rendering is deterministic


def test_two_backends_get_an_xor_column_coloured_by_side():
    image = np.zeros((H, W, 3), np.uint8)
    a = np.zeros((H, W), bool)
    b = np.zeros((H, W), bool)
    a[10:40, 10:30] = True
    b[10:40, 20:50] = True
    panel = render_panel(image, [det("x")], {"a": seg(a), "b": seg(b)}, VizSettings())
    header = panel.shape[0] - H
    column = panel.shape[1] // 4  # original | a | b | XOR
    xor = panel[header:, -W:]
    assert panel.shape[1] == 4 * W + 3 * 4 and column > W
    assert tuple(xor[25, 15]) == ONLY_FIRST  # only a covers it
    assert tuple(xor[25, 45]) == ONLY_SECOND  # only b covers it
    assert xor[25, 25].max() == 0  # both agree (dimmed black)


def test_three_backends_get_a_disagreement_map_and_big_images_are_scaled():
    image = np.zeros((600, 2000, 3), np.uint8)
    masks = [np.zeros((600, 2000), bool) for _ in range(3)]
    masks[0][100:300, 100:500] = True
    panel = render_panel(image, [det("x", (100, 100, 500, 300))], {n: seg(m) for n, m in zip("abc", masks)},
                         VizSettings(max_column_width=500))
    assert panel.shape[1] == 5 * 500 + 4 * 4  # original, three overlays, disagreement
    header = panel.shape[0] - 150
    heat = panel[header:, -500:]
    assert heat[50, 50].max() > 0 and heat[140, 400].max() == 0  # split where one of three covers it


def test_a_label_whose_shaping_fails_is_drawn_without_shaping_never_failing_the_panel(monkeypatch, caplog):
    """Pillow 13 with libraqm raised on some right-to-left labels, failing the whole image. Here the font's
    shaping fails as it did (on right-to-left text, with any layout engine but Pillow's own); the label is
    drawn with Pillow's basic layout instead. When no layout can draw it, it is left out with one warning."""
    from PIL import ImageFont

    def is_rtl(text):
        return any("\u0590" <= c <= "\u08ff" for c in str(text))

    for name in ("getbbox", "getlength", "getmask2"):
        original = getattr(ImageFont.FreeTypeFont, name)

        def failing(self, text, *args, _original=original, **kwargs):
            if is_rtl(text) and self.layout_engine != ImageFont.Layout.BASIC:
                raise OSError("raqm shaping failed")
            return _original(self, text, *args, **kwargs)

        monkeypatch.setattr(ImageFont.FreeTypeFont, name, failing)
    image = np.full((H, W, 3), 128, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[10:40, 10:50] = True
    hebrew = render_panel(image, [det("שלום עולם")], {"עברית": seg(mask)}, VizSettings())
    blank = render_panel(image, [det("")], {"x": seg(mask)}, VizSettings())
    assert hebrew.shape[0] == blank.shape[0] and not np.array_equal(hebrew[:, W:], blank[:, W:])  # the label is drawn

    def never(self, text, *args, **kwargs):
        raise OSError("no layout at all")

    monkeypatch.setattr(ImageFont.FreeTypeFont, "getbbox", never)
    monkeypatch.setattr(ImageFont.FreeTypeFont, "getlength", never)
    with caplog.at_level("WARNING", logger="segkit"):
        panel = render_panel(image, [det("עוד תווית")], {"y": seg(mask)}, VizSettings())
    assert panel.shape == blank.shape
    assert any("cannot draw the text" in r.getMessage() and "left it out" in r.getMessage() for r in caplog.records)
