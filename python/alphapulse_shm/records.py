"""What a ring delivers: records (trades, book changes, status) and gaps (records lost to lapping).

Records are decoded as docs/shm-format.md, format version 2, lays out a record slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .layout import (
    BookStatus,
    ConnectionState,
    RecordFlag,
    RecordType,
    StatusReason,
)
from .scaled import format_scaled, to_decimal


@dataclass(frozen=True, slots=True)
class Symbol:
    """One entry of a ring's symbol table; its id is its index."""

    id: int
    venue_symbol: str
    """The venue's own name: BTC/USD, BTCUSDT, BTC-USD."""
    symbol: str
    """Normalized BASE-QUOTE, upper case."""
    price_decimals: int
    size_decimals: int


_AMOUNT_TYPES = frozenset((RecordType.TRADE.value, RecordType.BOOK_LEVEL.value))


class Record:
    """One record, decoded lazily from the slot's fields (copied consistently under its seqlock).

    Integer fields are exactly what the slot holds; `price_decimal`, `size_decimal` and the
    `*_text` forms place the decimal point using the symbol's decimals.
    """

    __slots__ = ("_fields", "symbol")

    def __init__(self, fields: tuple[int, ...], symbol: Symbol | None) -> None:
        self._fields = fields
        self.symbol = symbol
        """The record's symbol, None for connection-wide records (or an id outside the table)."""

    @property
    def type(self) -> int:
        """A RecordType value (kept as int so an unknown future type is still deliverable)."""
        return self._fields[0]

    @property
    def flags(self) -> int:
        return self._fields[1]

    @property
    def symbol_id(self) -> int:
        return self._fields[2]

    @property
    def seq(self) -> int:
        return self._fields[3]

    @property
    def price(self) -> int:
        """Scaled price (trades, book levels) or a StatusReason (status records)."""
        return self._fields[4]

    @property
    def size(self) -> int:
        """Scaled size (trades, book levels); on a connection status record, the status topic's
        count this record makes (docs/shm-format.md, "Topic counts")."""
        return self._fields[5]

    @property
    def exchange_sec(self) -> int:
        return self._fields[6]

    @property
    def exchange_nsec(self) -> int:
        return self._fields[7]

    @property
    def receive_sec(self) -> int:
        return self._fields[8]

    @property
    def receive_nsec(self) -> int:
        return self._fields[9]

    @property
    def publish_sec(self) -> int:
        return self._fields[10]

    @property
    def publish_nsec(self) -> int:
        return self._fields[11]

    @property
    def aux(self) -> int:
        return self._fields[12]

    @property
    def exchange_time_ns(self) -> int:
        """Venue time in ns since the epoch (CLOCK_REALTIME scale); 0 when the venue gave none."""
        return self._fields[6] * 1_000_000_000 + self._fields[7]

    @property
    def receive_time_ns(self) -> int:
        return self._fields[8] * 1_000_000_000 + self._fields[9]

    @property
    def publish_time_ns(self) -> int:
        """When the writer began this record's batch, comparable with
        time.clock_gettime_ns(time.CLOCK_REALTIME) in any process on the host."""
        return self._fields[10] * 1_000_000_000 + self._fields[11]

    @property
    def batch_end(self) -> bool:
        return self._fields[1] & RecordFlag.BATCH_END != 0

    @property
    def is_ask(self) -> bool:
        """Book level: ask side (else bid)."""
        return self._fields[1] & RecordFlag.SIDE != 0

    @property
    def aggressor(self) -> str:
        """Trade: "sell", "buy" or "unknown" (the taker's side)."""
        flags = self._fields[1]
        if flags & RecordFlag.SIDE_UNKNOWN:
            return "unknown"
        return "sell" if flags & RecordFlag.SIDE else "buy"

    @property
    def is_snapshot(self) -> bool:
        return self._fields[1] & RecordFlag.SNAPSHOT != 0

    @property
    def has_amount(self) -> bool:
        """True when price and size are a scaled price and size (trades and book levels)."""
        return self._fields[0] in _AMOUNT_TYPES and self.symbol is not None

    @property
    def price_decimal(self) -> Decimal:
        """Exact price; raises ValueError on a record that carries no price."""
        return to_decimal(self._fields[4], self._amount_symbol().price_decimals)

    @property
    def size_decimal(self) -> Decimal:
        return to_decimal(self._fields[5], self._amount_symbol().size_decimals)

    @property
    def price_text(self) -> str:
        """Exact price as fixed-point text with the symbol's price decimals."""
        return format_scaled(self._fields[4], self._amount_symbol().price_decimals)

    @property
    def size_text(self) -> str:
        return format_scaled(self._fields[5], self._amount_symbol().size_decimals)

    @property
    def reason(self) -> StatusReason | int:
        """Status records: why (the price field)."""
        return _enum_or_int(StatusReason, self._fields[4])

    @property
    def book_status(self) -> BookStatus | int:
        """Book status records: the new status (aux)."""
        return _enum_or_int(BookStatus, self._fields[12])

    @property
    def connection_state(self) -> ConnectionState | int:
        """Connection status records: the new state (aux)."""
        return _enum_or_int(ConnectionState, self._fields[12])

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values (the form the conformance tests compare)."""
        f = self._fields
        out: dict[str, Any] = {
            "seq": f[3],
            "type": f[0],
            "flags": f[1],
            "symbolId": f[2],
            "price": f[4],
            "size": f[5],
            "aux": f[12],
            "exchangeSec": f[6],
            "exchangeNsec": f[7],
            "receiveSec": f[8],
            "receiveNsec": f[9],
            "publishSec": f[10],
            "publishNsec": f[11],
        }
        if self.has_amount:
            out["priceText"] = self.price_text
            out["sizeText"] = self.size_text
        return out

    def _amount_symbol(self) -> Symbol:
        symbol = self.symbol
        if symbol is not None and self._fields[0] in _AMOUNT_TYPES:
            return symbol
        raise ValueError(f"record {self.seq} (type {self.type}) carries no price or size")
        return self.symbol

    def __repr__(self) -> str:
        name = _enum_or_int(RecordType, self.type)
        label = getattr(name, "name", str(name))
        where = self.symbol.symbol if self.symbol else "connection"
        if self.has_amount:
            return f"<Record {self.seq} {label} {where} {self.price_text} x {self.size_text} flags={self.flags}>"
        return f"<Record {self.seq} {label} {where} price={self.price} aux={self.aux} flags={self.flags}>"


@dataclass(frozen=True, slots=True)
class Gap:
    """`lost` records starting at `from_seq` were overwritten before this reader got to them.

    A book consumer must treat its books as unknown and take each one again from the
    latest-book area (Ring.read_book).
    """

    from_seq: int
    lost: int


@dataclass(frozen=True, slots=True)
class NewGeneration:
    """A writer restarted: the path now holds a new ring, a new stream whose sequences start at 1.

    Books must be taken again from the new ring's latest-book area.
    """

    path: str
    generation: int


Event = Record | Gap | NewGeneration


def _enum_or_int(kind: type[Any], value: int) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value
