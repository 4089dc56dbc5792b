"""Following a ring path across writer restarts: one stream of events over every generation.

A restarted writer puts a new file at the same path and marks the old one Retired. The
Follower drains the old file, then opens the new one from sequence 1 and says so with a
NewGeneration event, so the two streams are never joined.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .records import Event, NewGeneration
from .ring import Ring, StartAt
from .waiting import wait_for_events


class Follower:
    """Reads whatever ring lives at `path`, now and after restarts.

    The first ring is opened at `start` ("latest", "oldest" or a sequence); every later
    generation from sequence 1. Each open is announced with a NewGeneration event (take books
    again then). A path that does not exist yet is waited for.
    """

    def __init__(self, path: str | os.PathLike[str], start: StartAt = "latest") -> None:
        self.path = os.fspath(path)
        self.ring: Ring | None = None
        self._start: StartAt = start

    def poll(self, max_records: int = 65536) -> list[Event]:
        """New events, never waiting."""
        if self.ring is None:
            return self._open()
        events: list[Event] = list(self.ring.poll(max_records))
        if events or not self.ring.replaced():
            return events
        # Nothing left in the old generation (its writer is gone): switch to the new file.
        self.ring.close()
        self.ring = None
        self._start = 1
        return self._open()

    def events(
        self, timeout: float | None = None, *, spin: float = 0.0002, idle_sleep: float = 0.0005
    ) -> Iterator[Event]:
        """Yields events as they arrive; stops after `timeout` seconds without any (None: never)."""
        return wait_for_events(self.poll, timeout, spin, idle_sleep)

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
            self.ring = None

    def _open(self) -> list[Event]:
        try:
            self.ring = Ring.open(self.path, self._start)
        except FileNotFoundError:
            return []
        return [NewGeneration(self.path, self.ring.generation)]

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
