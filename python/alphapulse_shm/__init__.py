"""Read AlphaPulse shared-memory rings from Python, on the standard library alone.

The ring format is docs/shm-format.md; this package is written from it. Start with
`Ring.open(path)` for one file or `Follower(path)` to keep reading across writer restarts.
"""

from .book import Book, BookView
from .follow import Follower
from .layout import (
    NO_SYMBOL,
    BookIntegrity,
    BookStatus,
    ConnectionState,
    RecordFlag,
    RecordType,
    RingState,
    StatusReason,
)
from .records import Event, Gap, NewGeneration, Record, Symbol
from .ring import BookBusyError, Header, Ring, RingFormatError, StartAt
from .scaled import format_scaled, to_decimal

__all__ = [
    "NO_SYMBOL",
    "Book",
    "BookBusyError",
    "BookIntegrity",
    "BookStatus",
    "BookView",
    "ConnectionState",
    "Event",
    "Follower",
    "Gap",
    "Header",
    "NewGeneration",
    "Record",
    "RecordFlag",
    "RecordType",
    "Ring",
    "RingFormatError",
    "RingState",
    "StartAt",
    "StatusReason",
    "Symbol",
    "format_scaled",
    "to_decimal",
]
