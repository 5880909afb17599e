"""What the page keeps of every detection while the records stream by: counts, not values.

A page over a million detections is built in bounded memory: the plots are drawn from histograms, and
the gallery from the few worst detections, each kept with its masks.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

PAIR_BINS = 20  # the IoU histograms' bins over 0..1
FINE_BINS = 1000  # the box plots' quartiles are read from these (to 0.001)


@dataclass
class Histogram:
    """Values in 0..1 counted in ``bins`` equal bins, with the exact count, lowest and highest."""

    bins: int = PAIR_BINS
    counts: list[int] = field(default_factory=list)
    count: int = 0
    low: float = math.inf
    high: float = -math.inf

    def add(self, values: Sequence[float]) -> None:
        """Count a batch of values (numpy's bins, as matplotlib's hist draws them: 1.0 in the last)."""
        if not len(values):
            return
        array = np.asarray(values, dtype=np.float64)
        counts = np.histogram(array, bins=self.bins, range=(0.0, 1.0))[0]
        self.counts = (counts + self.counts).tolist() if self.counts else counts.tolist()
        self.count += int(array.size)
        self.low = min(self.low, float(array.min()))
        self.high = max(self.high, float(array.max()))

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of the values lie, to the width of one bin (its centre)."""
        wanted = q * self.count
        seen = 0
        for k, n in enumerate(self.counts):
            seen += n
            if n and seen >= wanted:
                return min(self.high, max(self.low, (k + 0.5) / self.bins))
        return self.high

    def box_stats(self) -> dict[str, Any]:
        """Box-plot statistics (matplotlib's ``bxp`` form): quartiles, and whiskers at 1.5 IQR within the data."""
        q1, median, q3 = self.quantile(0.25), self.quantile(0.5), self.quantile(0.75)
        reach = 1.5 * (q3 - q1)
        low = next(((k + 0.5) / self.bins for k, n in enumerate(self.counts) if n and (k + 1) / self.bins >= q1 - reach), self.low)
        high = next(((k + 0.5) / self.bins for k in range(self.bins - 1, -1, -1) if self.counts[k] and k / self.bins <= q3 + reach), self.high)
        return {"med": median, "q1": q1, "q3": q3, "whislo": max(self.low, min(low, q1)), "whishi": min(self.high, max(high, q3)),
                "fliers": []}


class Lowest:
    """The ``size`` entries with the lowest keys, as they stream by (a max-heap of the kept ones)."""

    def __init__(self, size: int):
        self.size = size
        self._heap: list[tuple[float, str, int, Any]] = []  # keys negated: the root is the highest kept

    @property
    def bound(self) -> float:
        """Entries whose first key is above this are not kept (a cheap test before ``add``)."""
        return -self._heap[0][0] if len(self._heap) >= self.size else math.inf

    def admits(self, key: tuple[float, str, int]) -> bool:
        """Whether an entry of this key would be kept (so that it is made only then)."""
        return self.size > 0 and (len(self._heap) < self.size or self._item(key) > self._heap[0][:3])

    def add(self, key: tuple[float, str, int], entry: Any) -> None:
        if not self.admits(key):
            return
        item = (*self._item(key), entry)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)

    @staticmethod
    def _item(key: tuple[float, str, int]) -> tuple[float, "_Reverse", int]:
        return (-key[0], _Reverse(key[1]), -key[2])

    def sorted(self) -> list[Any]:
        """The kept entries, lowest key first."""
        return [item[3] for item in sorted(self._heap, key=lambda item: item[:3], reverse=True)]


class _Reverse:
    """A string that sorts backwards (for the max-heap of ``Lowest``)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __lt__(self, other: "_Reverse") -> bool:
        return self.text > other.text

    def __gt__(self, other: "_Reverse") -> bool:
        return self.text < other.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.text == other.text
