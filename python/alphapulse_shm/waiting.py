"""Blocking iteration over a non-blocking poll: spin briefly, then sleep, until a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

E = TypeVar("E")

CHUNK = 1024
"""Records asked of each poll: small lists keep the garbage collector's work small."""


def wait_for_events(
    poll: Callable[[int], list[E]], timeout: float | None, spin: float, idle_sleep: float
) -> Iterator[E]:
    """Yields what `poll(CHUNK)` returns; ends after `timeout` seconds in which no event came (None:
    never). An idle reader spins for `spin` seconds (low latency), then sleeps `idle_sleep`
    between polls (so it does not hold a core: spin in one process per core at most)."""
    idle_since = time.monotonic()
    while True:
        events = poll(CHUNK)
        if events:
            yield from events
            idle_since = time.monotonic()
            continue
        idle = time.monotonic() - idle_since
        if timeout is not None and idle >= timeout:
            return
        if idle >= spin:
            time.sleep(idle_sleep)
