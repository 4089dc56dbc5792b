"""alphapulse_shm on rings written by the real collector (`alphapulse collect`: Kraken v2,
Binance, Coinbase, OKX) fed by the built-in simulator (`alphapulse simulate`), all on loopback:
decoding agrees with the TypeScript reader, each book says what guards it, books copied live
(levels, status and topic counts) match the record history, a lapped reader takes books again
and stays exact, and a collector restart is followed into its new generation, whose topic
counts go on from the old one's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import unittest
from collections.abc import Callable
from typing import Any

from .support import BUN, REPO, RingTestCase, TopicCounter, bases_of, counts_of, from_base, ts_dump

from alphapulse_shm import (
    Book,
    BookStatus,
    Follower,
    Gap,
    NewGeneration,
    Record,
    RecordType,
    Ring,
    RingState,
)

WAIT = 60.0
MAIN = str(REPO / "src" / "main.ts")
VENUE_SYMBOLS = {
    "kraken": ("BTC-USD", "ETH-USD"),
    "binance": ("BTC-USDT", "ETH-USDT"),
    "coinbase": ("BTC-USD", "ETH-USD"),
    "okx": ("BTC-USDT", "ETH-USDT"),
}
VENUE_WS_PATHS = {"kraken": "/v2", "okx": "/ws/v5/public"}
"""Where each simulated venue's WebSocket is below its base, if not at it."""
VENUE_CHECKS = {
    "kraken": ["checksum"],
    "binance": ["sequence"],
    "coinbase": ["sequence"],
    "okx": ["sequence"],
}
"""What guards each venue's books (its adapter reports it; the collector's metric says the same).
The simulator sends OKX's checksum 0, as the live venue does: its seqId chain guards alone."""


class CollectorTest(RingTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.path = os.path.join(self.dir, "kraken.ring")
        self.logs: list[str] = []
        # Port 0: the simulator picks a free port and logs it (other tests run on this machine too).
        self.spawn(
            "simulate",
            SIMULATOR_PORT="0",
            SIMULATOR_HOST="127.0.0.1",
            SIMULATOR_SYMBOLS="BTC-USD,ETH-USD,BTC-USDT,ETH-USDT",
            SIMULATOR_UPDATES_PER_SECOND="200",
            SIMULATOR_TRADES_PER_SECOND="20",
        )
        log = self.logs[0]
        self.wait_until(lambda: self.logged(log, "simulator listening") is not None, "the simulator to listen")
        listening = self.logged(log, "simulator listening")
        assert listening is not None
        self.simulator_port = int(listening["port"])

    def spawn(self, mode: str, **env: str) -> subprocess.Popen[bytes]:
        """Starts an alphapulse mode logging to a file in the test directory; cleanup stops it
        with SIGTERM (SIGKILL if it hangs)."""
        self.logs.append(os.path.join(self.dir, f"{mode}-{len(self.logs)}.log"))
        with open(self.logs[-1], "wb") as log_file:
            process = subprocess.Popen(
                [BUN, MAIN, mode],
                env={**os.environ, "LOG_LEVEL": "info", **env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

        def stop() -> None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=WAIT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

        self.addCleanup(stop)
        return process

    @staticmethod
    def logged(path: str, msg: str) -> dict[str, Any] | None:
        """The first JSON log line in `path` whose msg is `msg`, if it was written yet."""
        with open(path, errors="replace") as log_file:
            for line in log_file:
                if not line.endswith("\n") or not line.startswith("{"):
                    continue
                record = json.loads(line)
                if record.get("msg") == msg:
                    return record
        return None

    def log_tails(self) -> str:
        tails = []
        for path in self.logs:
            with open(path, errors="replace") as log_file:
                tails.append(f"--- {os.path.basename(path)}\n" + "".join(log_file.readlines()[-5:]))
        return "\n".join(tails)

    def collect(self, capacity: int = 65536, exchange: str = "kraken") -> subprocess.Popen[bytes]:
        """Starts a collector of `exchange` (its ring: <dir>/<exchange>.ring) on the simulator."""
        base = f"127.0.0.1:{self.simulator_port}/{exchange}"
        return self.spawn(
            "collect",
            EXCHANGE=exchange,
            SYMBOLS=",".join(VENUE_SYMBOLS[exchange]),
            EXCHANGE_WS_URL=f"ws://{base}{VENUE_WS_PATHS.get(exchange, '')}",
            EXCHANGE_REST_URL=f"http://{base}",
            METRICS_PORT="0",
            SHARED_MEMORY_PATH=self.dir,
            RING_CAPACITY=str(capacity),
            BOOK_DEPTH="10",
        )

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=WAIT), 0, self.log_tails())

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            self.assertLess(time.monotonic(), deadline, f"timed out waiting for {what}\n{self.log_tails()}")
            time.sleep(0.02)

    def books_valid(self) -> bool:
        if not os.path.exists(self.path):
            return False
        with Ring.open(self.path) as ring:
            return all(ring.read_book(s).status == BookStatus.VALID for s in ring.symbols)

    def test_kraken_ring_decodes_like_typescript_and_books_match_history(self) -> None:
        self.check_collector_ring("kraken")

    def test_binance_ring_decodes_like_typescript_and_books_match_history(self) -> None:
        self.check_collector_ring("binance")

    def test_coinbase_ring_decodes_like_typescript_and_books_match_history(self) -> None:
        self.check_collector_ring("coinbase")

    def test_okx_ring_decodes_like_typescript_and_books_match_history(self) -> None:
        self.check_collector_ring("okx")

    def check_collector_ring(self, exchange: str) -> None:
        self.path = os.path.join(self.dir, f"{exchange}.ring")
        self.collect(exchange=exchange)
        self.wait_until(self.books_valid, f"valid books in the {exchange} collector's ring")
        with Ring.open(self.path, 1) as ring:
            self.assertEqual(ring.exchange, exchange)
            self.assertEqual(tuple(s.symbol for s in ring.symbols), VENUE_SYMBOLS[exchange])
            self.assertEqual(ring.state(), RingState.LIVE)
            self.assertLess(ring.heartbeat_age_ms(), 5000)
            for s in ring.symbols:
                self.assertEqual(ring.read_book(s).checks, VENUE_CHECKS[exchange], s.symbol)
            # Follow for a while, copying books as we go; every copy must equal the view and the
            # topic counts the records give at its last_seq (counted from the entries' bases).
            counters = {s.id: TopicCounter(from_base(ring.read_book(s)), ring.book_depth) for s in ring.symbols}
            connection = ring.connection_base
            counted = 0
            copies: dict[int, list[Book]] = {}
            checked = 0
            records: list[Record] = []
            deadline = time.monotonic() + WAIT
            while checked < 20 or len(records) < 2000:
                self.assertLess(time.monotonic(), deadline, f"only {checked} books checked")
                for s in ring.symbols:
                    book = ring.read_book(s)
                    copies.setdefault(book.last_seq, []).append(book)
                for event in ring.poll(256):
                    self.assertIsInstance(event, Record, "a 65536-slot ring should not lap here")
                    assert isinstance(event, Record)
                    records.append(event)
                    for counter in counters.values():
                        counter.apply(event)
                    if event.type == RecordType.CONNECTION_STATUS:
                        connection += 1
                        self.assertEqual(event.size, connection, f"status count at {event.seq}")
                    for book in copies.pop(event.seq, []):
                        counter = counters[book.symbol.id]
                        self.assertEqual((book.status, counts_of(book)), (counter.view.status, counter.counts),
                                         f"{book.symbol.symbol} at {event.seq}")  # fmt: skip
                        counted += 1
                        if book.status == BookStatus.VALID:
                            view = counter.view
                            self.assertEqual((view.bids, view.asks), (book.bids, book.asks), f"at {event.seq}")
                            checked += 1
                time.sleep(0.002)
            self.assertGreaterEqual(counted, checked)
            self.assertGreater(connection, ring.connection_base, "no connection status record")
            self.assertGreaterEqual(ring.connection_count(), connection)
        self.assertEqual([r.seq for r in records], list(range(1, len(records) + 1)))
        kinds = {r.type for r in records}
        self.assertIn(RecordType.TRADE, kinds)
        self.assertIn(RecordType.BOOK_LEVEL, kinds)
        for trade in (r for r in records if r.type == RecordType.TRADE):
            self.assertEqual(len(trade.price_text.split(".")[1]), trade.symbol.price_decimals if trade.symbol else -1)
        # The same records, decoded by src/shm/ring-reader.ts.
        theirs = [line for line in ts_dump(self.path, 1) if "seq" in line][: len(records)]
        self.assertEqual([r.to_dict() for r in records], theirs)

    def test_lapped_reader_takes_books_again_and_stays_exact(self) -> None:
        self.collect(capacity=1024)
        self.wait_until(self.books_valid, "valid books in the collector's ring")
        with Ring.open(self.path, 1) as ring:
            self.wait_until(lambda: ring.next_seq() > 3 * ring.capacity, "the collector to lap a reader at 1")
            counters: dict[int, TopicCounter] = {}
            copies: dict[int, list[Book]] = {}
            gaps = checked = 0
            deadline = time.monotonic() + WAIT
            while checked < 20:
                self.assertLess(time.monotonic(), deadline, f"only {checked} books checked")
                # Copy first, then read on: a copy the reader has not passed yet gets checked
                # when the reader reaches its last_seq.
                for s in ring.symbols:
                    book = ring.read_book(s)
                    if counters and book.status == BookStatus.VALID and book.last_seq >= ring.position:
                        copies.setdefault(book.last_seq, []).append(book)
                for event in ring.poll(256):
                    if isinstance(event, Gap):
                        # Books are unknown after a loss: take each one again, copied after the gap,
                        # and count each topic on from the copy's counts.
                        gaps += 1
                        counters = {s.id: TopicCounter(ring.read_book(s), ring.book_depth) for s in ring.symbols}
                        copies.clear()
                        continue
                    for counter in counters.values():
                        counter.apply(event)
                    for book in copies.pop(event.seq, []):
                        counter = counters[book.symbol.id]
                        view = counter.view
                        self.assertEqual((view.bids, view.asks, counter.counts), (book.bids, book.asks, counts_of(book)),
                                         f"at {event.seq}")  # fmt: skip
                        checked += 1
                time.sleep(0.002)
            self.assertGreaterEqual(gaps, 1)

    def test_collector_restart_is_a_new_generation(self) -> None:
        first = self.collect()
        self.wait_until(self.books_valid, "the first collector's books")
        generations: list[int] = []
        counts: dict[int, int] = {}
        with Follower(self.path, start="oldest") as follower:

            def read(done: Callable[[], bool]) -> bool:
                """Reads what is there now; True once `done` holds."""
                for event in follower.poll(1024):
                    if isinstance(event, NewGeneration):
                        generations.append(event.generation)
                    elif isinstance(event, Gap):
                        self.fail(f"unexpected {event}")
                    else:
                        counts[generations[-1]] = counts.get(generations[-1], 0) + 1
                return done()

            self.wait_until(lambda: read(lambda: counts.get(1, 0) > 100), "records of generation 1")
            self.stop(first)
            ring = follower.ring
            assert ring is not None
            self.wait_until(lambda: read(lambda: ring.position == ring.next_seq()), "the rest of generation 1")
            self.assertEqual(ring.state(), RingState.CLOSED)
            old_connection = ring.connection_count()
            old_counts = {s.symbol: counts_of(ring.read_book(s)) for s in ring.symbols}
            self.collect()
            self.wait_until(lambda: read(lambda: generations == [1, 2] and counts.get(2, 0) > 100), "generation 2")
            assert follower.ring is not None
            self.assertEqual(follower.ring.generation, 2)
            # The new generation's topics go on from the old one's: bases one past its counts.
            self.assertEqual(follower.ring.connection_base, old_connection + 1)
            for s in follower.ring.symbols:
                expected = tuple(c + 1 for c in old_counts[s.symbol])
                self.assertEqual(bases_of(follower.ring.read_book(s)), expected, s.symbol)
        with Ring.open(self.path, 1) as second:
            first_record = second.poll(1)[0]
            assert isinstance(first_record, Record)
            self.assertEqual((first_record.seq, first_record.type), (1, RecordType.CONNECTION_STATUS))
            self.assertEqual(first_record.size, second.connection_base + 1, "the status count goes on")

if __name__ == "__main__":
    unittest.main()
