"""Books: a consistent copy of a latest-book entry, and a local top-N view kept from records.

`Book` is what Ring.read_book copies out of the latest-book area (format version 2: levels,
status and the book, trades and bbo topic counts, all as of last_seq, and the checks that guard
the book now). `BookView` applies book
records to such a copy batch by batch, as docs/shm-format.md describes: the entry copied at
last_seq = S plus every book record after S gives the published top-N view at each BATCH_END.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .layout import BookIntegrity, BookStatus, RecordFlag, RecordType
from .records import Record, Symbol
from .scaled import to_decimal

Level = tuple[int, int]
"""(scaled price, scaled size)."""


@dataclass(slots=True)
class Book:
    """A consistent copy of one symbol's latest-book entry (best levels first, scaled ints).

    Levels, status and counts all describe the same point of the ring, `last_seq`. The counts
    number each topic's messages as docs/shm-format.md ("Topic counts") defines them; they are
    keyword-only and default to 0, so a Book built by hand (say, an empty seed for a BookView)
    needs none of them.
    """

    symbol: Symbol
    status: int
    """A BookStatus value."""
    last_seq: int
    """Ring sequence of the last record this book reflects."""
    venue_seq: int
    exchange_sec: int
    exchange_nsec: int
    publish_sec: int
    publish_nsec: int
    bids: list[Level] = field(default_factory=list[Level])
    asks: list[Level] = field(default_factory=list[Level])
    book_count: int = field(default=0, kw_only=True)
    """The `book` topic's message count through last_seq: +1 per book status record and per
    batch holding book level or book clear records of this symbol."""
    trade_count: int = field(default=0, kw_only=True)
    """The `trades` topic's message count through last_seq: +1 per trade record."""
    bbo_count: int = field(default=0, kw_only=True)
    """The `bbo` topic's message count through last_seq: +1 per batch that changed the best bid
    or best ask (price or size, or a side becoming empty or non-empty)."""
    book_base: int = field(default=0, kw_only=True)
    """The `book` count before this generation's first record (never changes): 0 for a symbol
    new at this path, else the replaced file's count + 1."""
    trade_base: int = field(default=0, kw_only=True)
    """Likewise for `trades`."""
    bbo_base: int = field(default=0, kw_only=True)
    """Likewise for `bbo`."""
    integrity: BookIntegrity = field(default=BookIntegrity(0), kw_only=True)
    """The checks that guard the book now (BookIntegrity bits; not tied to last_seq)."""

    @property
    def checks(self) -> list[str]:
        """The checks that guard the book, by name as REST gives them: "checksum", "sequence"."""
        return [str(flag.name).lower() for flag in BookIntegrity if flag in self.integrity]

    @property
    def valid(self) -> bool:
        return self.status == BookStatus.VALID

    def bids_decimal(self) -> list[tuple[Decimal, Decimal]]:
        """Bids as exact (price, size) Decimals, best (highest) first."""
        return self._decimal(self.bids)

    def asks_decimal(self) -> list[tuple[Decimal, Decimal]]:
        """Asks as exact (price, size) Decimals, best (lowest) first."""
        return self._decimal(self.asks)

    def _decimal(self, levels: list[Level]) -> list[tuple[Decimal, Decimal]]:
        p, s = self.symbol.price_decimals, self.symbol.size_decimals
        return [(to_decimal(price, p), to_decimal(size, s)) for price, size in levels]


class BookView:
    """One symbol's published top-N view, kept current from book records.

    Seed it with a Book copied from the latest-book area, then feed it every record after
    `book.last_seq` with `apply`; book changes take effect together at each BATCH_END. After a
    Gap or a NewGeneration, seed it again. A BookStatus invalid/resyncing record makes it
    invalid until the next snapshot batch.
    """

    def __init__(self, book: Book, depth: int) -> None:
        self.symbol = book.symbol
        self.depth = depth
        self.status = book.status
        self.last_seq = book.last_seq
        self._bids = dict(book.bids)
        self._asks = dict(book.asks)
        self._pending: list[Record] = []

    def apply(self, record: Record) -> bool:
        """Takes one record (any symbol; others are ignored). True when a batch was applied."""
        if record.seq <= self.last_seq:
            return False
        if record.symbol_id == self.symbol.id and record.type in (
            RecordType.BOOK_LEVEL,
            RecordType.BOOK_CLEAR,
            RecordType.BOOK_STATUS,
        ):
            self._pending.append(record)
        if not record.flags & RecordFlag.BATCH_END:
            return False
        self.last_seq = record.seq
        if not self._pending:
            return False
        for change in self._pending:
            self._apply_one(change)
        self._pending.clear()
        return True

    def _apply_one(self, record: Record) -> None:
        if record.type == RecordType.BOOK_CLEAR:
            self._bids.clear()
            self._asks.clear()
            self.status = BookStatus.VALID
        elif record.type == RecordType.BOOK_STATUS:
            self.status = record.aux
        else:
            side = self._asks if record.flags & RecordFlag.SIDE else self._bids
            if record.size == 0:
                side.pop(record.price, None)
            else:
                side[record.price] = record.size

    @property
    def bids(self) -> list[Level]:
        """Best (highest) first, at most `depth` levels."""
        return sorted(self._bids.items(), reverse=True)[: self.depth]

    @property
    def asks(self) -> list[Level]:
        """Best (lowest) first, at most `depth` levels."""
        return sorted(self._asks.items())[: self.depth]
