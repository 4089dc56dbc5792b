"""alphapulse_shm following live TypeScript writers: lapping counted exactly, no torn record or
book gets through (levels, status and topic counts of a copy agree), and writer restarts (crash,
then a new generation) start a new stream whose topic counts go on from the old one."""

from __future__ import annotations

import os
import shutil
import signal
import time
import unittest
from typing import Any

from .support import RingTestCase, TopicCounter, bases_of, counts_of, ts_dump, without_times

from alphapulse_shm import (
    Book,
    BookBusyError,
    BookStatus,
    Follower,
    Gap,
    NewGeneration,
    Record,
    RecordType,
    Ring,
    RingState,
    Symbol,
)

WAIT = 60.0  # generous: a loaded 2-core machine


def record_from(fields: dict[str, Any], symbols: list[Symbol]) -> Record:
    """A Record rebuilt from a ground-truth JSON line (times zero)."""
    sid = fields["symbolId"]
    values = (fields["type"], fields["flags"], sid, fields["seq"], fields["price"], fields["size"],
              0, 0, 0, 0, 0, 0, fields["aux"])  # fmt: skip
    return Record(values, symbols[sid] if sid < len(symbols) else None)


class LappingTest(RingTestCase):
    def wait_for_ring(self) -> None:
        deadline = time.monotonic() + WAIT
        while not os.path.exists(self.path):
            self.assertLess(time.monotonic(), deadline, "writer never created its ring")
            time.sleep(0.005)

    def test_slow_reader_of_a_fast_writer_loses_exactly_what_it_reports(self) -> None:
        args = ("--batches", "20000", "--depth", "5", "--seed", "11")
        truth = self.ground_truth(*args)
        self.start_writer("--name", "python", "--capacity", "64", *args)
        self.wait_for_ring()
        events: list[Record | Gap] = []
        books: list[Book] = []
        deadline = time.monotonic() + WAIT
        with Ring.open(self.path, 1) as ring:
            while not (ring.state() == RingState.CLOSED and ring.position == ring.next_seq()):
                self.assertLess(time.monotonic(), deadline, "writer never finished")
                polled = ring.poll(40)
                events.extend(polled)
                books.append(ring.read_book(len(books) % len(ring.symbols)))
                if not any(isinstance(e, Gap) for e in events):
                    # Not lapped yet: let the writer get two rings ahead, however slow it runs.
                    while ring.next_seq() - ring.position < 2 * ring.capacity and ring.state() == RingState.LIVE:
                        self.assertLess(time.monotonic(), deadline, "writer stalled")
                        time.sleep(0.001)
                time.sleep(0.0005)
            symbols = ring.symbols
            final_seq = ring.next_seq()
        self.assertEqual(final_seq, len(truth) + 1)
        gaps = [e for e in events if isinstance(e, Gap)]
        self.assertTrue(gaps, "the reader was never lapped: the test proves nothing")
        expected = 1
        for event in events:
            if isinstance(event, Gap):
                self.assertEqual(event.from_seq, expected)
                self.assertGreater(event.lost, 0)
                expected += event.lost
            else:
                self.assertEqual(event.seq, expected)
                self.assertEqual(without_times(event.to_dict()), truth[expected - 1], f"record {expected}")
                expected += 1
        self.assertEqual(expected, final_seq)
        self.assert_books_match_history(books, truth, symbols)

    def assert_books_match_history(self, books: list[Book], truth: list[dict[str, Any]], symbols: list[Symbol]) -> None:
        """Every book copied while the writer ran equals the view and the topic counts replayed
        from the records up to its last_seq: no copy mixed two updates."""
        counters = [TopicCounter(Book(s, BookStatus.UNKNOWN, 0, 0, 0, 0, 0, 0), 5) for s in symbols]
        wanted = sorted((b for b in books if b.last_seq > 0), key=lambda b: b.last_seq)
        self.assertGreater(len(wanted), 10)
        index = 0
        for line in truth:
            record = record_from(line, symbols)
            for counter in counters:
                counter.apply(record)
            while index < len(wanted) and wanted[index].last_seq == record.seq:
                book = wanted[index]
                counter = counters[book.symbol.id]
                view = counter.view
                self.assertEqual(bases_of(book), (0, 0, 0), "a first generation")
                self.assertEqual((book.bids, book.asks, book.status, counts_of(book)),
                                 (view.bids, view.asks, view.status, counter.counts), f"book at {record.seq}")  # fmt: skip
                index += 1
        self.assertEqual(index, len(wanted), "a book's last_seq is not a batch end of its symbol")


class RestartTest(RingTestCase):
    def test_follower_crosses_a_crash_and_restart_into_a_new_stream(self) -> None:
        first = self.start_writer("--name", "python", "--batches", "1000000", "--interval-ms", "1",
                                  "--capacity", "65536")  # fmt: skip
        second_args = ("--batches", "300", "--seed", "2")
        truth = self.ground_truth(*second_args)
        streams: list[list[Record]] = []
        lost = 0
        crashed_counts: dict[str, tuple[int, int, int]] = {}
        crashed_connection = -1
        deadline = time.monotonic() + WAIT
        with Follower(self.path, start="oldest") as follower:
            second = None
            while True:
                self.assertLess(time.monotonic(), deadline, f"stuck after {[len(s) for s in streams]}")
                for event in follower.events(timeout=0.2):
                    if isinstance(event, NewGeneration):
                        self.assertEqual(event.generation, len(streams) + 1)
                        streams.append([])
                    elif isinstance(event, Gap):
                        lost += event.lost
                    else:
                        streams[-1].append(event)
                    if len(streams) == 1 and len(streams[0]) >= 300 and first.poll() is None:
                        first.send_signal(signal.SIGKILL)  # a crash: the file stays live
                        first.wait(timeout=WAIT)
                        crashed = follower.ring
                        assert crashed is not None
                        self.assertEqual(crashed.state(), RingState.LIVE)
                        crashed_connection = crashed.connection_count()
                        for s in crashed.symbols:
                            try:
                                crashed_counts[s.symbol] = counts_of(crashed.read_book(s, timeout=0.2))
                            except BookBusyError:
                                pass  # killed inside this entry: its seqlock stays odd for good
                        second = self.start_writer("--name", "python", "--capacity", "65536", *second_args)
                if second is not None and second.poll() is not None and follower.ring is not None:
                    ring = follower.ring
                    if ring.generation == 2 and ring.state() == RingState.CLOSED and ring.position == ring.next_seq():
                        break
        self.assertEqual(lost, 0, "65536 slots at a few records a millisecond should not lap")
        self.assertEqual(len(streams), 2)
        for stream in streams:
            self.assertEqual([r.seq for r in stream], list(range(1, len(stream) + 1)))
        with Ring.open(self.path) as ring:
            self.assertEqual((ring.generation, ring.state()), (2, RingState.CLOSED))
            # The topic counts go on across the crash: one past where the crashed writer left them.
            self.assertGreater(crashed_connection, 0)
            self.assertEqual(ring.connection_base, crashed_connection + 1)
            self.assertTrue(crashed_counts, "no entry of the crashed ring could be copied")
            for s in ring.symbols:
                if s.symbol in crashed_counts:
                    expected = tuple(c + 1 for c in crashed_counts[s.symbol])
                    self.assertEqual(bases_of(ring.read_book(s)), expected, s.symbol)
            connection_base = ring.connection_base
        # Ground truth comes from a first generation (connection base 0): a connection status
        # record's size, the status count it makes, is connection_base more here.
        for line in truth:
            if line["type"] == RecordType.CONNECTION_STATUS:
                line["size"] += connection_base
        self.assertEqual([without_times(r.to_dict()) for r in streams[1]], truth)

    def test_a_file_replaced_without_retiring_is_a_new_generation(self) -> None:
        self.write("--batches", "10", "--capacity", "1024")
        with Ring.open(self.path, 1) as old:
            self.assertEqual(len(old.poll()), old.next_seq() - 1)
            other = os.path.join(self.dir, "other")
            os.mkdir(other)
            summary = self.write("--batches", "20", "--seed", "9", "--capacity", "1024", name="other/python")
            self.assertFalse(old.replaced(stat_interval=0))
            shutil.copyfile(os.path.join(other, "python.ring"), self.path + ".new")
            os.rename(self.path + ".new", self.path)
            self.assertEqual(old.state(), RingState.CLOSED)
            self.assertTrue(old.replaced(stat_interval=0))
        with Follower(self.path, start="latest") as follower:
            first = follower.poll()
            self.assertIsInstance(first[0], NewGeneration)
            self.assertEqual(follower.poll(), [])
        self.assertEqual(len([line for line in ts_dump(self.path, 1) if "seq" in line]), summary["nextSeq"] - 1)


if __name__ == "__main__":
    unittest.main()
