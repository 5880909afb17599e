"""The page's colours, decided here once and handed to its script (``Colors``): each backend's, the
disagreement views' (the panels' own red and blue), the ground truth's."""

from __future__ import annotations

import cv2
import numpy as np

from segkit.html_report.model import Colors
from segkit.outputs.panels import ONLY_FIRST, ONLY_SECOND

# Okabe-Ito: told apart with the common colour-vision deficiencies; backend i gets colour i.
BACKEND_COLORS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
                  (204, 121, 167), (255, 255, 255))
FILL_ALPHA = 110
VEIL = (0, 0, 0, 150)  # the disagreement view darkens the pixels where the backends agree
HEAT_LEVELS = 8
GT_COLOR = (255, 255, 255)


def hex_color(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb[:3])


def backend_color(index: int) -> str:
    return hex_color(BACKEND_COLORS[index % len(BACKEND_COLORS)])


def page_colors() -> Colors:
    ramp = cv2.applyColorMap(np.linspace(0, 255, HEAT_LEVELS + 1).astype(np.uint8)[:, None], cv2.COLORMAP_INFERNO)[:, 0, ::-1]
    return Colors(fill_alpha=FILL_ALPHA, only_first=hex_color(ONLY_FIRST), only_second=hex_color(ONLY_SECOND),
                  veil=list(VEIL), heat=[hex_color(ramp[k]) for k in range(1, HEAT_LEVELS + 1)], gt=hex_color(GT_COLOR))
