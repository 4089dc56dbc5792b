"""alphapulse_shm.bulk (numpy) gives exactly what Ring.poll gives: same records, same gaps, on
finished rings and on a live writer that laps the reader. Skipped where numpy is not installed
(Debian: python3-numpy)."""

from __future__ import annotations

import os
import time
import unittest
from typing import Any

from .support import RingTestCase, without_times

from alphapulse_shm import Gap, Record, Ring, RingState

try:
    import numpy as np

    from alphapulse_shm.bulk import RECORD_DTYPE, poll_array
except ImportError:  # numpy is optional
    np = None  # type: ignore[assignment]

FIELDS = ("seq", "type", "flags", "symbol_id", "price", "size", "aux")
KEYS = ("seq", "type", "flags", "symbolId", "price", "size", "aux")


def bulk_events(ring: Ring, max_records: int) -> list[dict[str, Any]]:
    """poll_array's output as one dict per record or gap (times left out)."""
    out: list[dict[str, Any]] = []
    for chunk in poll_array(ring, max_records):
        if isinstance(chunk, Gap):
            out.append({"gap": chunk.from_seq, "lost": chunk.lost})
        else:
            out.extend(row_dict(row) for row in chunk)
    return out


def row_dict(row: Any) -> dict[str, Any]:
    return {key: int(row[field]) for key, field in zip(KEYS, FIELDS, strict=True)}


def scalar_events(ring: Ring) -> list[dict[str, Any]]:
    return [
        without_times(e.to_dict()) if isinstance(e, Record) else {"gap": e.from_seq, "lost": e.lost}
        for e in ring.poll(1 << 40)
    ]


def strip_text(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in ("priceText", "sizeText")}


@unittest.skipIf(np is None, "numpy is not installed")
class BulkTest(RingTestCase):
    def test_dtype_is_one_slot(self) -> None:
        self.assertEqual(RECORD_DTYPE.itemsize, 64)

    def test_same_records_and_gaps_as_poll(self) -> None:
        summary = self.write("--batches", "700", "--capacity", "256", "--seed", "21")
        for start in (1, "oldest", summary["nextSeq"] - 100):
            with Ring.open(self.path, start) as scalar, Ring.open(self.path, start) as bulk:
                expected = [strip_text(line) for line in scalar_events(scalar)]
                got: list[dict[str, Any]] = []
                while chunk := bulk_events(bulk, 100):  # small chunks: runs that wrap the ring
                    got.extend(chunk)
                self.assertEqual(got, expected, f"start {start}")
                self.assertEqual(bulk.position, scalar.position)
                self.assertEqual("gap" in expected[0], start == 1, f"start {start}")

    def test_slow_bulk_reader_of_a_fast_writer(self) -> None:
        args = ("--batches", "20000", "--seed", "13")
        truth = [strip_text(line) for line in self.ground_truth(*args)]
        self.start_writer("--name", "python", "--capacity", "128", *args)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.path):
            self.assertLess(time.monotonic(), deadline, "writer never created its ring")
            time.sleep(0.005)
        events: list[dict[str, Any]] = []
        with Ring.open(self.path, 1) as ring:
            while not (ring.state() == RingState.CLOSED and ring.position == ring.next_seq()):
                self.assertLess(time.monotonic(), deadline, "writer never finished")
                events.extend(bulk_events(ring, 64))
                if not any("gap" in e for e in events):
                    while ring.next_seq() - ring.position < 2 * ring.capacity and ring.state() == RingState.LIVE:
                        time.sleep(0.001)
                time.sleep(0.0003)
            final = ring.next_seq()
        self.assertTrue(any("gap" in e for e in events), "never lapped: the test proves nothing")
        expected_seq = 1
        for event in events:
            if "gap" in event:
                self.assertEqual(event["gap"], expected_seq)
                expected_seq += event["lost"]
            else:
                self.assertEqual(event, truth[expected_seq - 1])
                expected_seq += 1
        self.assertEqual(expected_seq, final)


if __name__ == "__main__":
    unittest.main()
