"""The report's plots as inline SVG, drawn with matplotlib (imported here, on first use: it is slow to import).

Each plot is drawn from counts the page writer kept (histograms), never from every value, so a page over a
million detections draws its plots as fast as one over a hundred. Text stays text in the SVG
(``svg.fonttype: none``) so that the page's fonts draw it, Japanese included; matplotlib lays it out with
the bundled IPAexGothic so its widths are right. Labels are data: a ``$`` in one is a dollar sign, never
mathtext (``text.parse_math`` off). Nothing random or dated goes into the SVG (fixed hash salt, no
metadata), so the same report gives the same page.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

from segkit.fonts import font_path

BAR = "#3b6ea5"
THRESHOLD = "#c0392b"
INK = "#333333"
GRID = "#d9d9d9"
MAX_LABELS = 30
PAIR_COLORS = ("#3b6ea5", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f7f7f", "#bcbd22")


@contextmanager
def _style() -> Iterator[str]:
    import matplotlib
    from matplotlib import font_manager

    family = "DejaVu Sans"
    path = font_path()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        family = font_manager.FontProperties(fname=str(path)).get_name()
    rc = {
        "svg.fonttype": "none", "svg.hashsalt": "segkit", "font.family": [family, "DejaVu Sans"], "font.size": 9,
        "axes.edgecolor": GRID, "axes.labelcolor": INK, "xtick.color": INK, "ytick.color": INK, "text.color": INK,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": GRID,
        "grid.linewidth": 0.6, "axes.axisbelow": True, "axes.titlesize": 9,
        "text.parse_math": False, "text.usetex": False,  # a label "$5 or $10" is drawn as written
    }
    with matplotlib.rc_context(rc):
        yield family


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, transparent=True, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML declaration and doctype: the SVG goes inline in HTML


def pair_histograms(counts: Mapping[str, Sequence[int]], threshold: float) -> str | None:
    """One histogram of per-detection IoU per pair of backends, the threshold marked; ``counts`` holds each
    pair's detections per bin, the bins equal over 0..1 (20 of them, as the page writer counts)."""
    pairs = [p for p in counts if sum(counts[p])]
    if not pairs:
        return None
    from matplotlib.figure import Figure

    with _style():
        cols = min(3, len(pairs))
        rows = -(-len(pairs) // cols)
        fig = Figure(figsize=(3.6 * cols, 2.3 * rows))
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
        for ax, pair in zip(axes.flat, pairs):
            bins = len(counts[pair])
            centres = [(k + 0.5) / bins for k in range(bins)]
            ax.hist(centres, bins=bins, range=(0.0, 1.0), weights=list(counts[pair]), color=BAR, edgecolor="white", linewidth=0.5)
            ax.axvline(threshold, color=THRESHOLD, linestyle="--", linewidth=1)
            ax.set_title(pair, loc="left")
            ax.set_xlim(0, 1)
            ax.set_xlabel("IoU")
            ax.set_ylabel("detections")
        for ax in list(axes.flat)[len(pairs):]:
            ax.set_visible(False)
        fig.tight_layout()
        return _svg(fig)


def label_bars(rows: Sequence[Mapping[str, object]], pairs: Sequence[str]) -> tuple[str | None, int]:
    """Mean IoU per label, one bar per pair, for the MAX_LABELS labels that agree least; and how many labels there are.

    ``rows`` are report.json's ``labels`` entries (label, pair, mean_iou).
    """
    by_label: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.get("mean_iou") is not None:
            by_label.setdefault(str(row["label"]), {})[str(row["pair"])] = float(row["mean_iou"])  # type: ignore[arg-type]
    if not by_label:
        return None, 0
    shown = sorted(by_label, key=lambda label: (min(by_label[label].values()), label))[:MAX_LABELS]
    from matplotlib.figure import Figure

    with _style():
        group = 0.8
        bar = group / max(1, len(pairs))
        fig = Figure(figsize=(7.2, 0.6 + len(shown) * max(0.26, 0.13 * len(pairs))))
        ax = fig.subplots()
        for k, pair in enumerate(pairs):
            ys = [i - group / 2 + bar * (k + 0.5) for i in range(len(shown))]
            xs = [by_label[label].get(pair, 0.0) for label in shown]
            ax.barh(ys, xs, height=bar * 0.9, color=PAIR_COLORS[k % len(PAIR_COLORS)], label=pair)
        ax.set_yticks(range(len(shown)), shown)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("mean IoU")
        ax.grid(axis="y", visible=False)
        if len(pairs) > 1:
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(3, len(pairs)), fontsize=8, frameon=False)
        fig.tight_layout()
        return _svg(fig), len(by_label)


def gt_boxplots(stats: Mapping[str, Mapping[str, object]]) -> str | None:
    """IoU against ground truth per backend (and the box baseline), one box plot each, from box statistics
    (``Histogram.box_stats``: quartiles and whiskers, as matplotlib's ``bxp`` takes them)."""
    names = list(stats)
    if not names:
        return None
    from matplotlib.figure import Figure

    with _style():
        fig = Figure(figsize=(7.2, 0.7 + 0.42 * len(names)))
        ax = fig.subplots()
        parts = ax.bxp([{**stats[n], "label": n} for n in names], orientation="horizontal", widths=0.55, patch_artist=True,
                       medianprops={"color": INK}, showfliers=False)
        for patch in parts["boxes"]:
            patch.set_facecolor("#cfe0f3")
            patch.set_edgecolor(BAR)
        ax.set_yticks(range(1, len(names) + 1), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("mask IoU against ground truth (matched detections)")
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
        return _svg(fig)
