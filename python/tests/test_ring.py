"""alphapulse_shm on rings written by the TypeScript writer: header, symbols, exact decimals,
consistent books, topic counts across generations, the local book view, blocking reads, and
refusal of files that are not rings."""

from __future__ import annotations

import os
import struct
import time
import unittest
from decimal import Decimal

from .support import RingTestCase, TopicCounter, bases_of, counts_of, from_base

from alphapulse_shm import (
    NO_SYMBOL,
    Book,
    BookIntegrity,
    BookStatus,
    BookView,
    Gap,
    Record,
    RecordType,
    Ring,
    RingFormatError,
    RingState,
    format_scaled,
    to_decimal,
)


class HeaderTest(RingTestCase):
    def test_header_and_symbols(self) -> None:
        summary = self.write("--batches", "20", "--capacity", "256", "--depth", "7")
        with Ring.open(self.path) as ring:
            self.assertEqual(ring.exchange, "pytest")
            self.assertEqual(ring.generation, 1)
            self.assertEqual(ring.capacity, 256)
            self.assertEqual(ring.book_depth, 7)
            self.assertEqual(ring.header.book_stride, 128 + 7 * 32)
            self.assertEqual(ring.state(), RingState.CLOSED)
            self.assertEqual(ring.next_seq(), summary["nextSeq"])
            self.assertEqual(ring.position, summary["nextSeq"], "default start is latest")
            self.assertEqual((ring.connection_base, ring.header.connection_base), (0, 0), "a first generation")
            with Ring.open(self.path, 1) as whole:
                connection = [e for e in whole.poll() if isinstance(e, Record) and e.symbol_id == NO_SYMBOL]
            self.assertGreater(len(connection), 1)
            self.assertEqual(ring.connection_count(), len(connection))
            self.assertEqual(connection[-1].size, len(connection))
            self.assertEqual(ring.poll(), [])
            self.assertLess(abs(ring.heartbeat_age_ms()), 600_000)
            self.assertEqual(
                [(s.id, s.venue_symbol, s.symbol, s.price_decimals, s.size_decimals) for s in ring.symbols],
                [
                    (0, "BTC/USD", "BTC-USD", 1, 8),
                    (1, "ETH/USD", "ETH-USD", 2, 6),
                    (2, "PEPE/USD", "PEPE-USD", 12, 0),
                ],
            )
            self.assertEqual(ring.symbol("ETH/USD").id, 1)
            with self.assertRaises(KeyError):
                ring.symbol("DOGE-USD")


class DecodeTest(RingTestCase):
    def test_records_decode_with_exact_decimals(self) -> None:
        self.write("--batches", "300", "--capacity", "4096")
        with Ring.open(self.path, 1) as ring:
            events = ring.poll()
        records = [e for e in events if isinstance(e, Record)]
        self.assertEqual(len(records), len(events), "no gap in a ring that did not lap")
        self.assertEqual([r.seq for r in records], list(range(1, len(records) + 1)))
        first = records[0]
        self.assertEqual(first.type, RecordType.CONNECTION_STATUS)
        self.assertEqual(first.symbol_id, NO_SYMBOL)
        self.assertIsNone(first.symbol)
        with self.assertRaises(ValueError):
            _ = first.price_decimal
        extreme = [r for r in records if r.type == RecordType.TRADE and r.price > 2**52]
        self.assertTrue(extreme, "the writer puts near-2^53 trades in")
        for r in extreme:
            self.assertEqual(r.aux, 2**53 - 1)
            digits = str(r.price)
            decimals = r.symbol.price_decimals if r.symbol else 0
            self.assertEqual(r.price_text, f"{digits[:-decimals]}.{digits[-decimals:]}" if decimals else digits)
            self.assertEqual(r.price_decimal, Decimal(r.price_text))
            self.assertEqual(r.price_decimal.scaleb(decimals), Decimal(r.price))
        pepe = next(r for r in records if r.type == RecordType.TRADE and r.symbol_id == 2 and r.price < 10**7)
        self.assertEqual(pepe.price_text[:10], "0.00000123")
        self.assertEqual(len(pepe.price_text), 14)  # 0. and 12 decimals
        self.assertEqual(pepe.size_text, str(pepe.size))  # 0 size decimals: no point
        sides = {r.aggressor for r in records if r.type == RecordType.TRADE}
        self.assertEqual(sides, {"buy", "sell", "unknown"})
        batch_ends = [r for r in records if r.batch_end]
        self.assertEqual(batch_ends[-1].seq, records[-1].seq)
        for r in records:
            if r.exchange_sec:
                self.assertLessEqual(r.exchange_time_ns, r.receive_time_ns)
            self.assertLessEqual(r.receive_time_ns, r.publish_time_ns)

    def test_scaled_values(self) -> None:
        self.assertEqual(format_scaled(452835, 1), "45283.5")
        self.assertEqual(format_scaled(-5, 3), "-0.005")
        self.assertEqual(format_scaled(7, 0), "7")
        self.assertEqual(format_scaled(0, 2), "0.00")
        self.assertEqual(to_decimal(9007199254740991, 18), Decimal("0.009007199254740991"))
        self.assertEqual(str(to_decimal(100, 2)), "1.00")
        self.assertEqual(to_decimal(-12, 1), Decimal("-1.2"))


class BookTest(RingTestCase):
    def test_replaying_records_over_a_book_gives_the_latest_book(self) -> None:
        self.write("--batches", "500", "--capacity", "8192", "--depth", "6", "--seed", "3")
        with Ring.open(self.path, 1) as ring:
            records = [e for e in ring.poll() if isinstance(e, Record)]
            for symbol in ring.symbols:
                latest = ring.read_book(symbol)
                self.assertEqual(latest.status, BookStatus.VALID)
                self.assertLessEqual(len(latest.bids), 6)
                self.assertEqual(latest.bids, sorted(latest.bids, reverse=True))
                self.assertEqual(latest.asks, sorted(latest.asks))
                empty = Book(symbol, BookStatus.UNKNOWN, 0, 0, 0, 0, 0, 0)
                view = BookView(empty, ring.book_depth)
                for record in records:
                    view.apply(record)
                self.assertEqual(view.bids, latest.bids, symbol.symbol)
                self.assertEqual(view.asks, latest.asks, symbol.symbol)
                top = ring.read_book(symbol.symbol, depth=2)
                self.assertEqual(top.bids, latest.bids[:2])
                self.assertEqual(top.asks_decimal()[0][0], to_decimal(latest.asks[0][0], symbol.price_decimals))

    def test_each_book_says_which_checks_guard_it(self) -> None:
        self.write("--batches", "50", "--capacity", "1024", "--seed", "4")
        with Ring.open(self.path) as ring:
            books = [ring.read_book(symbol) for symbol in ring.symbols]
        # The test writer guards its three symbols by both checks, the checksum, the sequence.
        self.assertEqual(
            [book.integrity for book in books],
            [BookIntegrity.CHECKSUM | BookIntegrity.SEQUENCE, BookIntegrity.CHECKSUM, BookIntegrity.SEQUENCE],
        )
        self.assertEqual([book.checks for book in books], [["checksum", "sequence"], ["checksum"], ["sequence"]])
        self.assertEqual(Book(books[0].symbol, BookStatus.UNKNOWN, 0, 0, 0, 0, 0, 0).checks, [])

    def test_book_status_records_invalidate_until_a_snapshot(self) -> None:
        self.write("--batches", "400", "--capacity", "8192", "--seed", "5")
        with Ring.open(self.path, 1) as ring:
            records = [e for e in ring.poll() if isinstance(e, Record)]
            symbol = ring.symbols[0]
        view = BookView(Book(symbol, BookStatus.UNKNOWN, 0, 0, 0, 0, 0, 0), 5)
        invalidated = snapshots = 0
        in_snapshot = False
        for record in records:
            view.apply(record)
            mine = record.symbol_id == symbol.id
            if mine and record.type == RecordType.BOOK_STATUS:
                self.assertEqual(view.status, BookStatus.INVALID)
                invalidated += 1
            in_snapshot = in_snapshot or (mine and record.type == RecordType.BOOK_CLEAR)
            if in_snapshot and record.batch_end:
                self.assertEqual(view.status, BookStatus.VALID)
                snapshots += 1
                in_snapshot = False
        self.assertGreater(invalidated, 0, "the writer invalidates books now and then")
        self.assertGreater(snapshots, invalidated)


class TopicCountTest(RingTestCase):
    def read_all(self) -> tuple[Ring, list[Record], dict[int, Book], dict[int, TopicCounter]]:
        """Opens the ring at record 1 (it must not have lapped), reads every record and every
        latest book, and replays the records through a TopicCounter per symbol from its bases."""
        ring = Ring.open(self.path, 1)
        self.addCleanup(ring.close)
        events = ring.poll(1 << 40)
        records = [e for e in events if isinstance(e, Record)]
        self.assertEqual(len(records), len(events), "the ring lapped: the test needs record 1")
        books = {s.id: ring.read_book(s) for s in ring.symbols}
        counters = {sid: TopicCounter(from_base(book), ring.book_depth) for sid, book in books.items()}
        for record in records:
            for counter in counters.values():
                counter.apply(record)
        return ring, records, books, counters

    def assert_counts_follow_records(self) -> tuple[Ring, dict[int, Book]]:
        """Each entry's counts are its bases plus the messages its symbol's records make up to its
        last_seq; a closed ring's entries stand at or after the last batch that touched their
        symbol (trades alone move an entry only now and then, and closing moves it to the end);
        levels, status and counts describe that same point. Connection records carry the status
        count they make."""
        ring, records, books, counters = self.read_all()
        for sid, book in books.items():
            name = book.symbol.symbol
            counter = counters[sid]
            touched = [r.seq for r in records if r.symbol_id == sid]
            last_end = next(r.seq for r in records if r.batch_end and r.seq >= touched[-1])
            self.assertTrue(last_end <= book.last_seq <= records[-1].seq, name)
            self.assertEqual(counts_of(book), counter.counts, name)
            self.assertEqual((book.bids, book.asks, book.status), (counter.view.bids, counter.view.asks,
                                                                   counter.view.status), name)  # fmt: skip
            trades = sum(1 for r in records if r.symbol_id == sid and r.type == RecordType.TRADE)
            self.assertEqual(book.trade_count - book.trade_base, trades, name)
            self.assertGreater(book.bbo_count - book.bbo_base, 0, name)
            self.assertLess(book.bbo_count - book.bbo_base, book.book_count - book.book_base, name)
        connection = [r for r in records if r.type == RecordType.CONNECTION_STATUS]
        self.assertGreater(len(connection), 1)
        first = ring.connection_base + 1
        self.assertEqual([r.size for r in connection], list(range(first, first + len(connection))))
        self.assertEqual(ring.connection_count(), ring.connection_base + len(connection))
        return ring, books

    def test_counts_follow_the_records(self) -> None:
        self.write("--batches", "600", "--capacity", "8192", "--depth", "6", "--seed", "3")
        ring, books = self.assert_counts_follow_records()
        self.assertEqual(ring.connection_base, 0)
        for book in books.values():
            self.assertEqual(bases_of(book), (0, 0, 0), "a first generation starts each topic at 0")
        top = ring.read_book(0, depth=1)
        self.assertEqual((counts_of(top), bases_of(top)), (counts_of(books[0]), bases_of(books[0])))

    def test_each_generation_continues_the_counts_of_the_one_it_replaces(self) -> None:
        self.write("--batches", "300", "--capacity", "8192", "--seed", "3")
        _, first = self.assert_counts_follow_records()
        with Ring.open(self.path) as ring:
            first_connection = ring.connection_count()
        # A generation with no records yet: every entry at last_seq 0 with its counts at its bases.
        self.write("--batches", "0", "--capacity", "8192")
        with Ring.open(self.path, 1) as ring:
            self.assertEqual((ring.generation, ring.poll()), (2, []))
            self.assertEqual(ring.connection_base, first_connection + 1)
            self.assertEqual(ring.connection_count(), ring.connection_base)
            second = {s.id: ring.read_book(s) for s in ring.symbols}
        for sid, book in second.items():
            self.assertEqual(book.last_seq, 0)
            self.assertEqual(bases_of(book), tuple(c + 1 for c in counts_of(first[sid])), book.symbol.symbol)
            self.assertEqual(counts_of(book), bases_of(book))
        # And a third that writes: it counts on from bases one past the second's counts.
        self.write("--batches", "300", "--capacity", "8192", "--seed", "4")
        ring, third = self.assert_counts_follow_records()
        self.assertEqual(ring.generation, 3)
        self.assertEqual(ring.connection_base, first_connection + 2)
        for sid, book in third.items():
            self.assertEqual(bases_of(book), tuple(c + 1 for c in counts_of(second[sid])), book.symbol.symbol)


class BlockingTest(RingTestCase):
    def test_events_wait_for_a_live_writer_and_time_out_when_idle(self) -> None:
        self.start_writer("--name", "python", "--batches", "300", "--interval-ms", "2", "--capacity", "4096")
        deadline = time.monotonic() + 60
        while not os.path.exists(self.path):
            self.assertLess(time.monotonic(), deadline, "writer never created its ring")
            time.sleep(0.01)
        seqs: list[int] = []
        with Ring.open(self.path, 1) as ring:
            while not (ring.state() == RingState.CLOSED and ring.position == ring.next_seq()):
                self.assertLess(time.monotonic(), deadline, "writer never finished")
                for event in ring.events(timeout=0.5):
                    assert isinstance(event, Record), event
                    seqs.append(event.seq)
            self.assertGreater(len(seqs), 300)
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
            started = time.monotonic()
            self.assertEqual(list(ring.events(timeout=0.2)), [])
            self.assertGreaterEqual(time.monotonic() - started, 0.2)


class RefusalTest(RingTestCase):
    def corrupt(self, offset: int, data: bytes) -> None:
        with open(self.path, "r+b") as file:
            file.seek(offset)
            file.write(data)

    def test_refuses_files_that_are_not_rings(self) -> None:
        self.write("--batches", "5")
        size = os.path.getsize(self.path)
        self.corrupt(8, struct.pack("<I", 1))
        with self.assertRaisesRegex(RingFormatError, "format version 1; this reader understands 2"):
            Ring.open(self.path)
        self.corrupt(8, struct.pack("<I", 2))
        Ring.open(self.path).close()
        with open(self.path, "rb") as file:
            connection_base = file.read(128)[120:]
        for bad in (0.5, -1.0, float("nan")):
            self.corrupt(120, struct.pack("<d", bad))
            with self.assertRaisesRegex(RingFormatError, "connection base"):
                Ring.open(self.path)
        self.corrupt(120, connection_base)
        self.corrupt(72, struct.pack("<Q", size - 4))
        with self.assertRaisesRegex(RingFormatError, "not a multiple of 8"):
            Ring.open(self.path)
        self.corrupt(72, struct.pack("<Q", size))
        self.corrupt(24, struct.pack("<I", 1 << 20))
        with self.assertRaisesRegex(RingFormatError, "record slots"):
            Ring.open(self.path)
        self.corrupt(24, struct.pack("<I", 64))
        os.truncate(self.path, size - 64)
        with self.assertRaisesRegex(RingFormatError, "header says"):
            Ring.open(self.path)
        self.corrupt(0, b"NOTARING")
        with self.assertRaisesRegex(RingFormatError, "bad magic"):
            Ring.open(self.path)
        os.truncate(self.path, 100)
        with self.assertRaisesRegex(RingFormatError, "smaller than a header"):
            Ring.open(self.path)
        with self.assertRaises(FileNotFoundError):
            Ring.open(os.path.join(self.dir, "absent.ring"))

    def test_gap_is_a_value(self) -> None:
        self.assertEqual(Gap(3, 4), Gap(3, 4))


if __name__ == "__main__":
    unittest.main()
