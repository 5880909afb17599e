"""Submitting work to a pool with a bounded number of tasks in flight, results handed back as they finish.

``run`` and ``detect`` both walk a possibly huge list of images: submitting everything at once would hold
every task (and, for images, their pixels) in memory; submitting one at a time would leave the pool idle.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int,
                stopped: Callable[[], bool] = lambda: False) -> Iterator[R]:
    """``fn(item)`` for each item on ``pool``, at most ``window`` in flight, yielded in the order they finish.
    Once ``stopped()`` says so no more items are submitted; those in flight are still yielded."""
    pending: set[Future] = set()
    todo = iter(items)
    exhausted = False
    window = max(1, window)
    while True:
        while not exhausted and len(pending) < window and not stopped():
            try:
                item = next(todo)
            except StopIteration:
                exhausted = True
                break
            pending.add(pool.submit(fn, item))
        if not pending:
            return
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()


def bounded_map_ordered(pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """``fn(item)`` for each item on ``pool``, at most ``window`` in flight, yielded in the items' order."""
    from collections import deque

    pending: deque[Future] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= max(1, window):
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
