"""The byte layout of an AlphaPulse ring file, format version 2, as docs/shm-format.md gives it.

Only numbers live here: offsets, sizes, struct formats and the codes records carry. Everything
is little-endian; the reader refuses to run on a big-endian host rather than misread.
"""

from __future__ import annotations

import enum
import struct
import sys

if sys.byteorder != "little":  # the atomic word views below use native order
    raise ImportError("alphapulse_shm reads rings on little-endian hosts only")

MAGIC = b"APULSERG"
FORMAT_VERSION = 2
"""Version 1 (no topic counts, 64-byte latest-book entry headers) is refused."""
HEADER_SIZE = 4096
SLOT_SIZE = 64
SYMBOL_ENTRY_SIZE = 64
BOOK_ENTRY_HEADER_SIZE = 128
"""Bytes before a latest-book entry's levels: book_stride = 128 + book_depth * 32."""
LEVEL_SIZE = 16
NO_SYMBOL = 0xFFFF
"""symbol_id of records about the whole connection."""

HEADER = struct.Struct("<8sIIIIIIIIIIQQQQIIqd16sdd")
"""Header bytes 0..135: magic, version, state, generation, writer_pid, capacity, slot_size,
symbol_count, book_depth, book_stride, reserved, symbols_offset, books_offset, slots_offset,
file_size, created_sec, created_nsec, heartbeat_ms, next_seq, exchange, connection_base,
connection_count (the last two f64 holding integers)."""

# Header fields the writer changes while readers watch, read as single aligned words.
STATE_WORD = 12 // 4  # u32 index
HEARTBEAT_MS_WORD = 88 // 8  # i64 index
NEXT_SEQ_WORD = 96 // 8  # f64 index: next_seq is a double holding an integer
CONNECTION_COUNT_WORD = 128 // 8  # f64 index: the status topic's count, a double holding an integer
FIRST_SEQ_WORD = 136 // 8  # f64 index: the oldest sequence the file holds (0 from older writers: 1)

SYMBOL = struct.Struct("<HBB4x24s24s8x")
"""Symbol entry: id, price_decimals, size_decimals, venue symbol, normalized symbol."""

SLOT_BODY = struct.Struct("<BBHqqqIIIIIIq")
"""Record slot bytes 4..63: type, flags, symbol_id, seq, price, size, exchange sec/nsec,
receive sec/nsec, publish sec/nsec, aux. Bytes 0..3 are the slot's seqlock version."""

BOOK_ENTRY_HEAD = struct.Struct("<IIIqIIIIqqqqqqq")
"""Latest-book entry bytes 4..95: status, bid_count, ask_count, last_seq, exchange sec/nsec,
publish sec/nsec, venue_seq, book_count, trade_count, bbo_count, book_base, trade_base,
bbo_base. Bytes 0..3 are the entry's seqlock version, 96..99 its integrity word
(BOOK_INTEGRITY_OFFSET), 100..127 are reserved; levels start at 128 (BOOK_ENTRY_HEADER_SIZE)."""
BOOK_INTEGRITY_OFFSET = 96
"""u32 BookIntegrity bits, stored on its own with one aligned store: read it as one word."""


class RingState(enum.IntEnum):
    """Header `state`."""

    INITIALIZING = 1
    LIVE = 2
    CLOSED = 3
    """The writer stopped cleanly; the data stays valid."""
    RETIRED = 4
    """A newer generation lives at this path now: re-open it."""


class RecordType(enum.IntEnum):
    """Record slot `type`."""

    TRADE = 1
    BOOK_LEVEL = 2
    BOOK_CLEAR = 3
    BOOK_STATUS = 4
    CONNECTION_STATUS = 5
    """symbol_id NO_SYMBOL; aux a ConnectionState, price a StatusReason, size the status topic's
    count this record makes."""


class RecordFlag(enum.IntFlag):
    """Record slot `flags` bits."""

    SIDE = 1
    """Trade: the aggressor sold. Book level: ask side."""
    BATCH_END = 2
    SNAPSHOT = 4
    SIDE_UNKNOWN = 8


class BookIntegrity(enum.IntFlag):
    """Latest-book integrity bits: the checks that guard the book now (0: none)."""

    CHECKSUM = 1
    """The venue's checksum over its book is verified."""
    SEQUENCE = 2
    """The venue's update sequence is followed: a gap is detected."""


class BookStatus(enum.IntEnum):
    """Latest-book `status` and the aux of a book status record."""

    UNKNOWN = 0
    VALID = 1
    INVALID = 2
    RESYNCING = 3


class ConnectionState(enum.IntEnum):
    """The aux of a connection status record."""

    CONNECTED = 1
    DISCONNECTED = 2
    RECONNECTING = 3


class StatusReason(enum.IntEnum):
    """The price field of status records."""

    NONE = 0
    CHECKSUM_MISMATCH = 1
    SEQUENCE_GAP = 2
    DISCONNECTED = 3
    STALE = 4
    SNAPSHOT = 5
    SHUTDOWN = 6
    BAD_DATA = 7
