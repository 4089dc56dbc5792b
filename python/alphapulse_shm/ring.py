"""A read-only reader of one ring file: header, symbols, records in sequence, consistent books.

It follows docs/shm-format.md (format version 2) step by step: seqlocked slot copies, lapping
detected by each record's sequence and reported as a Gap with the exact count lost, latest-book
entries (levels and topic counts) copied under their seqlock, the status topic's count read
with one aligned load, and `replaced()` telling when the path holds a new generation.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .book import Book
from .layout import (
    BOOK_ENTRY_HEAD,
    BOOK_ENTRY_HEADER_SIZE,
    BOOK_INTEGRITY_OFFSET,
    CONNECTION_COUNT_WORD,
    FIRST_SEQ_WORD,
    FORMAT_VERSION,
    HEADER,
    HEADER_SIZE,
    HEARTBEAT_MS_WORD,
    LEVEL_SIZE,
    MAGIC,
    NEXT_SEQ_WORD,
    SLOT_BODY,
    SLOT_SIZE,
    STATE_WORD,
    SYMBOL,
    SYMBOL_ENTRY_SIZE,
    BookIntegrity,
    RingState,
)
from .records import Gap, Record, Symbol
from .waiting import wait_for_events

StartAt = int | str
""""latest" (only new records), "oldest" (the oldest still safe to read) or a sequence."""

_SLOT_WORDS = SLOT_SIZE // 4


class RingFormatError(Exception):
    """The file is not a ring this reader understands (bad magic, version, size or layout)."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path


class BookBusyError(Exception):
    """A latest-book entry stayed busy (odd, or changing under every copy) for the whole timeout."""


@dataclass(frozen=True, slots=True)
class Header:
    """The header fields that never change once the file is at its path."""

    version: int
    generation: int
    writer_pid: int
    """For operators; a pid from another PID namespace means nothing here."""
    capacity: int
    slot_size: int
    symbol_count: int
    book_depth: int
    book_stride: int
    symbols_offset: int
    books_offset: int
    slots_offset: int
    file_size: int
    created_sec: int
    created_nsec: int
    exchange: str
    connection_base: int
    """The status topic's message count before this generation's first record (docs/shm-format.md,
    "Topic counts"): 0 for a first generation, else the replaced file's connection_count + 1."""


def _ascii(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


def _parse_header(path: str, data: bytes | mmap.mmap, file_length: int) -> Header:
    fields = HEADER.unpack_from(data, 0)
    (magic, version, _state, generation, pid, capacity, slot_size, symbol_count, depth, stride, _r,
     symbols_offset, books_offset, slots_offset, file_size, created_sec, created_nsec, _hb, _next,
     exchange, connection_base, _connection_count) = fields  # fmt: skip
    if magic != MAGIC:
        raise RingFormatError(path, f"bad magic {magic!r}: not an AlphaPulse ring")
    if version != FORMAT_VERSION:
        raise RingFormatError(path, f"format version {version}; this reader understands {FORMAT_VERSION}")
    if file_length < file_size:
        raise RingFormatError(path, f"file is {file_length} bytes but its header says {file_size}")
    if file_size % 8:
        raise RingFormatError(path, f"file size {file_size} in the header is not a multiple of 8")
    if slot_size != SLOT_SIZE:
        raise RingFormatError(path, f"slot size {slot_size}, expected {SLOT_SIZE}")
    if capacity <= 0 or capacity & (capacity - 1):
        raise RingFormatError(path, f"capacity {capacity} is not a power of two")
    if stride != BOOK_ENTRY_HEADER_SIZE + depth * 2 * LEVEL_SIZE:
        raise RingFormatError(path, f"book stride {stride} does not match book depth {depth}")
    if not (0 <= connection_base <= 2**53 and connection_base == int(connection_base)):
        raise RingFormatError(path, f"connection base {connection_base} is not a count")
    regions = (
        (symbols_offset, symbol_count * SYMBOL_ENTRY_SIZE, "symbol table"),
        (books_offset, symbol_count * stride, "latest-book area"),
        (slots_offset, capacity * SLOT_SIZE, "record slots"),
    )
    for offset, length, name in regions:
        if offset < HEADER_SIZE or offset % 8 or offset + length > file_size:
            raise RingFormatError(path, f"{name} at {offset} (+{length}) lies outside {file_size} bytes")
    return Header(
        version, generation, pid, capacity, slot_size, symbol_count, depth, stride, symbols_offset,
        books_offset, slots_offset, file_size, created_sec, created_nsec, _ascii(exchange),
        int(connection_base),
    )  # fmt: skip


class Ring:
    """One ring file mapped read-only (PROT_READ, MAP_SHARED).

    >>> with Ring.open("/dev/shm/alphapulse/kraken.ring", start="latest") as ring:
    ...     for event in ring.events(timeout=1.0):
    ...         print(event)

    A Ring never writes and never waits inside a slot: the writer does not know it exists.
    """

    def __init__(self, path: str, start: StartAt = "latest") -> None:
        """Maps the ring at `path`; prefer Ring.open. Raises RingFormatError or OSError."""
        self.path = path
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            stat = os.fstat(fd)
            self.inode = (stat.st_dev, stat.st_ino)
            if stat.st_size < HEADER_SIZE:
                raise RingFormatError(path, f"file is {stat.st_size} bytes, smaller than a header")
            with mmap.mmap(fd, HEADER_SIZE, mmap.MAP_SHARED, mmap.PROT_READ) as head:
                self.header = _parse_header(path, head, stat.st_size)
            self._mm = mmap.mmap(fd, self.header.file_size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        self._view = memoryview(self._mm)
        # Aligned single-word loads for the fields the writer stores atomically.
        self._i32 = self._view.cast("i")
        self._i64 = self._view.cast("q")
        self._f64 = self._view.cast("d")
        h = self.header
        self.symbols: list[Symbol] = []
        for index in range(h.symbol_count):
            sid, price_decimals, size_decimals, venue, name = SYMBOL.unpack_from(
                self._mm, h.symbols_offset + index * SYMBOL_ENTRY_SIZE
            )
            self.symbols.append(Symbol(sid, _ascii(venue), _ascii(name), price_decimals, size_decimals))
        self._symbol_by_id = {s.id: s for s in self.symbols}
        self._slots_word = h.slots_offset // 4
        self._mask = h.capacity - 1
        self._next = 1
        self.lost = 0
        """Records this reader lost to lapping, in total."""
        self._last_stat = 0.0
        self.seek(start)

    @classmethod
    def open(cls, path: str | os.PathLike[str], start: StartAt = "latest") -> Ring:
        """Maps the ring at `path` read-only, positioned at `start`."""
        return cls(os.fspath(path), start)

    # -- header ------------------------------------------------------------------------------

    @property
    def exchange(self) -> str:
        return self.header.exchange

    @property
    def generation(self) -> int:
        return self.header.generation

    @property
    def capacity(self) -> int:
        return self.header.capacity

    @property
    def book_depth(self) -> int:
        return self.header.book_depth

    def state(self) -> RingState | int:
        """Live, Closed (writer stopped cleanly), Retired (a newer generation is at the path)."""
        value = self._i32[STATE_WORD]
        try:
            return RingState(value)
        except ValueError:
            return value

    def heartbeat_ms(self) -> int:
        """Writer heartbeat, ms since the epoch; refreshed every 100 ms while the writer lives."""
        return self._i64[HEARTBEAT_MS_WORD]

    def heartbeat_age_ms(self, now_ms: int | None = None) -> int:
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        return now - self.heartbeat_ms()

    def next_seq(self) -> int:
        """The writer's committed cursor: records 1 .. next_seq - 1 are committed (stored as an
        f64 holding an integer, so that the JavaScript writer needs no BigInt)."""
        return int(self._f64[NEXT_SEQ_WORD])

    @property
    def connection_base(self) -> int:
        """The status topic's message count before this generation's first record (it never
        changes): a reader that starts at record 1 numbers connection status records on from it."""
        return self.header.connection_base

    def connection_count(self) -> int:
        """The status topic's message count through the last connection status record written
        (an f64 holding an integer, read with one aligned load). Each connection status record's
        `size` is the count it makes; a reader that starts later takes this as its start."""
        return int(self._f64[CONNECTION_COUNT_WORD])

    def first_seq(self) -> int:
        """The oldest sequence the file holds: 1, or later in a relay's copy that started from the
        latest books or went on past records it could not get (0 in older files means 1)."""
        return max(1, int(self._f64[FIRST_SEQ_WORD]))

    def oldest_seq(self) -> int:
        """Oldest record safe to read (next_seq - capacity shares its slot with next_seq)."""
        return max(self.first_seq(), self.next_seq() - self.header.capacity + 1)

    @property
    def memory(self) -> memoryview:
        """The whole mapping, read-only (for bulk readers such as alphapulse_shm.bulk)."""
        return self._view

    def symbol(self, name: str) -> Symbol:
        """A symbol by normalized (BTC-USD) or venue (BTC/USD) name; KeyError if absent."""
        for s in self.symbols:
            if name in (s.symbol, s.venue_symbol):
                return s
        raise KeyError(f"{self.path} has no symbol {name!r}")

    # -- records -----------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """Sequence of the next record this reader will deliver."""
        return self._next

    def seek(self, start: StartAt) -> None:
        """Moves to "latest", "oldest" or a sequence (>= 1)."""
        if start == "latest":
            target = self.next_seq()
        elif start == "oldest":
            target = self.oldest_seq()
        elif isinstance(start, int):
            target = start
        else:
            raise ValueError(f"start must be 'latest', 'oldest' or a sequence, not {start!r}")
        self._next = max(1, target)

    def poll(self, max_records: int = 65536) -> list[Record | Gap]:
        """Returns up to `max_records` new records, in sequence, with a Gap wherever records were
        lost to lapping. Never waits: a slot the writer is inside ends the poll."""
        out: list[Record | Gap] = []
        i32 = self._i32
        view = self._view
        unpack = SLOT_BODY.unpack_from
        symbols = self._symbol_by_id
        mask = self._mask
        slots_word = self._slots_word
        nxt = self._next
        delivered = 0
        while delivered < max_records:
            word = slots_word + (nxt & mask) * _SLOT_WORDS
            before = i32[word]
            if before & 1:
                break  # the writer is inside this slot: try again next poll
            fields = unpack(view, word * 4 + 4)
            if i32[word] != before:
                continue  # torn: the writer came through while we copied
            seq = fields[3]
            if seq == nxt:
                out.append(Record(fields, symbols.get(fields[2])))
                nxt += 1
                delivered += 1
            elif seq < nxt:
                first = self.first_seq()
                if first <= nxt:
                    break  # not written yet
                # A hole: records the writer never had (a relay's copy went on after them).
                out.append(Gap(nxt, first - nxt))
                self.lost += first - nxt
                nxt = first
            else:
                newest = max(seq, self.next_seq() - 1)
                resume = max(nxt + 1, newest - self.header.capacity + 2, self.first_seq())
                out.append(Gap(nxt, resume - nxt))
                self.lost += resume - nxt
                nxt = resume
        self._next = nxt
        return out

    def events(
        self, timeout: float | None = None, *, spin: float = 0.0002, idle_sleep: float = 0.0005
    ) -> Iterator[Record | Gap]:
        """Yields records and gaps as they arrive; stops after `timeout` seconds without any
        (None: never). Between empty polls it spins `spin` seconds, then sleeps `idle_sleep`."""
        return wait_for_events(self.poll, timeout, spin, idle_sleep)

    # -- books -------------------------------------------------------------------------------

    def read_book(self, symbol: Symbol | str | int, depth: int | None = None, timeout: float = 1.0) -> Book:
        """Copies a symbol's latest-book entry consistently (seqlock retry), top `depth` levels
        per side (default: all the entry holds), with its topic counts at `last_seq`. Raises
        BookBusyError if no copy was consistent for `timeout` seconds. The bound is time, not
        attempts: a writer preempted inside the entry keeps it odd for a whole scheduler slice,
        and a spinning reader only delays it."""
        sym = self._resolve(symbol)
        h = self.header
        limit = h.book_depth if depth is None else min(depth, h.book_depth)
        base = h.books_offset + sym.id * h.book_stride
        word = base // 4
        i32 = self._i32
        view = self._view
        give_up = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            if attempt > 64:  # contended: let the writer run, and watch the clock
                if time.monotonic() > give_up:
                    raise BookBusyError(f"{self.path}: book of {sym.symbol} stayed busy for {timeout} s")
                os.sched_yield()
            before = i32[word]
            if before & 1:
                continue
            (status, bid_count, ask_count, last_seq, ex_s, ex_ns, pub_s, pub_ns, venue_seq,
             book_count, trade_count, bbo_count, book_base, trade_base, bbo_base) = (
                BOOK_ENTRY_HEAD.unpack_from(view, base + 4)
            )  # fmt: skip
            integrity = i32[word + BOOK_INTEGRITY_OFFSET // 4]
            bids_n = min(bid_count, limit)
            asks_n = min(ask_count, limit)
            bid_words = struct.unpack_from(f"<{2 * bids_n}q", view, base + BOOK_ENTRY_HEADER_SIZE)
            ask_words = struct.unpack_from(
                f"<{2 * asks_n}q", view, base + BOOK_ENTRY_HEADER_SIZE + h.book_depth * LEVEL_SIZE
            )
            if i32[word] != before:
                continue
            return Book(
                sym, status, last_seq, venue_seq, ex_s, ex_ns, pub_s, pub_ns,
                list(zip(bid_words[0::2], bid_words[1::2], strict=True)),
                list(zip(ask_words[0::2], ask_words[1::2], strict=True)),
                book_count=book_count, trade_count=trade_count, bbo_count=bbo_count,
                book_base=book_base, trade_base=trade_base, bbo_base=bbo_base,
                integrity=BookIntegrity(integrity),
            )  # fmt: skip

    def _resolve(self, symbol: Symbol | str | int) -> Symbol:
        if isinstance(symbol, Symbol):
            return symbol
        if isinstance(symbol, int):
            found = self._symbol_by_id.get(symbol)
            if found is None:
                raise KeyError(f"{self.path} has no symbol id {symbol}")
            return found
        return self.symbol(symbol)

    # -- generations -------------------------------------------------------------------------

    def replaced(self, stat_interval: float = 0.01) -> bool:
        """True when the path holds a new generation: this file is Retired, or the path names
        another file. The path is stat'ed at most every `stat_interval` seconds."""
        if self._i32[STATE_WORD] == RingState.RETIRED:
            return True
        now = time.monotonic()
        if now - self._last_stat < stat_interval:
            return False
        self._last_stat = now
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (stat.st_dev, stat.st_ino) != self.inode

    def close(self) -> None:
        """Unmaps the file; the Ring is unusable afterwards."""
        if self._mm.closed:
            return
        self._i32.release()
        self._i64.release()
        self._f64.release()
        self._view.release()
        self._mm.close()

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
