"""Test support: runs the TypeScript ring writer and reader (bun) so Python reads real rings.

Rings live in /dev/shm/ap-test-python-* directories that each test removes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

from alphapulse_shm import Book, BookStatus, BookView, Gap, Record, RecordType, Ring, StartAt  # noqa: E402

BUN = shutil.which("bun") or "bun"
WRITER = REPO / "test" / "support" / "python-ring-writer.ts"
DUMPER = REPO / "test" / "support" / "python-ring-dump.ts"
TIME_KEYS = ("exchangeSec", "exchangeNsec", "receiveSec", "receiveNsec", "publishSec", "publishNsec")
COUNT_KEYS = ("bookCount", "tradeCount", "bboCount", "bookBase", "tradeBase", "bboBase")
"""A latest book's topic counts in the JSON lines, named as src/shm/ring-reader.ts's BookCopy."""


class RingTestCase(unittest.TestCase):
    """A test with its own /dev/shm directory and helpers to write and decode rings."""

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ap-test-python-", dir="/dev/shm")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "python.ring")

    def write(self, *args: str, name: str = "python") -> dict[str, Any]:
        """Runs the test writer to completion in this test's directory; returns its summary."""
        done = subprocess.run(
            [BUN, str(WRITER), "--dir", self.dir, "--name", name, *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start_writer(self, *args: str) -> subprocess.Popen[str]:
        """Starts the test writer in the background; the test stops it."""
        process = subprocess.Popen(
            [BUN, str(WRITER), "--dir", self.dir, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def stop() -> None:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)

        self.addCleanup(stop)
        return process

    def ground_truth(self, *args: str) -> list[dict[str, Any]]:
        """Every record the writer makes with these arguments, from a ring too big to lap.

        The writer is deterministic except for times, so these records (times left out) are
        what any run with the same arguments writes."""
        self.write("--capacity", "65536", *args, name="truth")
        lines = ts_dump(os.path.join(self.dir, "truth.ring"), 1)
        return [without_times(line) for line in lines if "seq" in line]


def ts_dump(path: str, start: StartAt) -> list[dict[str, Any]]:
    """The ring as src/shm/ring-reader.ts decodes it: records and gaps, then books."""
    done = subprocess.run(
        [BUN, str(DUMPER), path, str(start)], capture_output=True, text=True, timeout=120, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line]


def py_dump(path: str, start: StartAt) -> list[dict[str, Any]]:
    """The ring as alphapulse_shm decodes it, in the same JSON shape as ts_dump."""
    out: list[dict[str, Any]] = []
    with Ring.open(path, start) as ring:
        for event in ring.poll(1 << 40):
            out.append(event.to_dict() if isinstance(event, Record) else gap_dict(event))
        out.extend(book_dict(ring.read_book(symbol)) for symbol in ring.symbols)
    return out


def gap_dict(gap: Gap) -> dict[str, Any]:
    return {"gap": gap.from_seq, "lost": gap.lost}


def book_dict(book: Book) -> dict[str, Any]:
    return {
        "book": book.symbol.symbol,
        "status": book.status,
        "lastSeq": book.last_seq,
        "venueSeq": book.venue_seq,
        "exchangeSec": book.exchange_sec,
        "exchangeNsec": book.exchange_nsec,
        "publishSec": book.publish_sec,
        "publishNsec": book.publish_nsec,
        "bids": [list(level) for level in book.bids],
        "asks": [list(level) for level in book.asks],
        "bookCount": book.book_count,
        "tradeCount": book.trade_count,
        "bboCount": book.bbo_count,
        "bookBase": book.book_base,
        "tradeBase": book.trade_base,
        "bboBase": book.bbo_base,
        "integrity": int(book.integrity),
    }


def counts_of(book: Book) -> tuple[int, int, int]:
    """(book, trades, bbo) topic counts of a latest-book copy."""
    return (book.book_count, book.trade_count, book.bbo_count)


def bases_of(book: Book) -> tuple[int, int, int]:
    return (book.book_base, book.trade_base, book.bbo_base)


def from_base(book: Book) -> Book:
    """An empty seed at sequence 0 whose counts are `book`'s bases: where a reader that reads the
    generation from record 1 starts counting."""
    return Book(
        book.symbol, BookStatus.UNKNOWN, 0, 0, 0, 0, 0, 0,
        book_count=book.book_base, trade_count=book.trade_base, bbo_count=book.bbo_base,
        book_base=book.book_base, trade_base=book.trade_base, bbo_base=book.bbo_base,
    )  # fmt: skip


class TopicCounter:
    """One symbol's book view and topic counts, kept from records by the rules of
    docs/shm-format.md ("Topic counts"), independently of the writer's own counting.

    Seed it with a Book: one copied from the latest-book area (its levels and counts at
    last_seq; records up to last_seq are skipped) or `from_base(copy)` to count from record 1.
    """

    def __init__(self, book: Book, depth: int) -> None:
        self.symbol = book.symbol
        self.view = BookView(book, depth)
        self.book, self.trade, self.bbo = counts_of(book)
        self._book_batch = False

    @property
    def counts(self) -> tuple[int, int, int]:
        return (self.book, self.trade, self.bbo)

    def apply(self, record: Record) -> None:
        if record.seq <= self.view.last_seq:
            return
        if record.symbol_id == self.symbol.id:
            if record.type == RecordType.TRADE:
                self.trade += 1
            elif record.type == RecordType.BOOK_STATUS:
                self.book += 1  # status records count where they stand
            elif record.type in (RecordType.BOOK_LEVEL, RecordType.BOOK_CLEAR):
                self._book_batch = True
        if not (record.batch_end and self._book_batch):
            self.view.apply(record)
            return
        before = (self.view.bids[:1], self.view.asks[:1])
        self.view.apply(record)
        self._book_batch = False
        self.book += 1  # one book message per batch, at BATCH_END
        if (self.view.bids[:1], self.view.asks[:1]) != before:
            self.bbo += 1


def without_times(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in TIME_KEYS}
