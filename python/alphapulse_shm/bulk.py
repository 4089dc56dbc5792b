"""Bulk reads into numpy structured arrays: the optional fast path for analysis (needs numpy;
nothing else in the package does).

Records are copied many slots at a time in three passes (every version word, then every slot,
then every version word again), so each slot still gets docs/shm-format.md's seqlock check:
version even, unchanged across the copy, and the sequence the reader expects. Slots that fail
it, and lapping, are left to Ring.poll, which reports gaps exactly as usual.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .records import Gap, Record
from .ring import Ring

RECORD_DTYPE = np.dtype(
    [
        ("version", "<i4"),
        ("type", "u1"),
        ("flags", "u1"),
        ("symbol_id", "<u2"),
        ("seq", "<i8"),
        ("price", "<i8"),
        ("size", "<i8"),
        ("exchange_sec", "<u4"),
        ("exchange_nsec", "<u4"),
        ("receive_sec", "<u4"),
        ("receive_nsec", "<u4"),
        ("publish_sec", "<u4"),
        ("publish_nsec", "<u4"),
        ("aux", "<i8"),
    ]
)
"""One 64-byte record slot; `price` and `size` are scaled by the symbol's decimals."""

RecordArray = npt.NDArray[np.void]


def poll_array(ring: Ring, max_records: int = 65536) -> list[RecordArray | Gap]:
    """Like Ring.poll, but records come as RECORD_DTYPE arrays (copies, in sequence), with a Gap
    wherever records were lost to lapping. Never waits."""
    out: list[RecordArray | Gap] = []
    remaining = max_records
    while remaining > 0:
        chunk = _copy_consistent(ring, remaining)
        if len(chunk) > 0:
            out.append(chunk)
            remaining -= len(chunk)
            continue
        # The slot at the reader's position is busy, torn, not yet written or lapped: the
        # one-record path decides, and reports a gap if there is one.
        events = ring.poll(1)
        if not events:
            break
        for event in events:
            if isinstance(event, Record):
                out.append(_record_array(event))
                remaining -= 1
            else:
                out.append(event)
    return out


def _copy_consistent(ring: Ring, limit: int) -> RecordArray:
    """Copies the committed records from the reader's position on, up to `limit`, and keeps the
    leading run that passes the seqlock check; advances the reader past them."""
    header = ring.header
    start = ring.position
    count = min(limit, ring.next_seq() - start, header.capacity)
    if count <= 0:
        return np.empty(0, RECORD_DTYPE)
    slots: RecordArray = np.frombuffer(ring.memory, RECORD_DTYPE, header.capacity, header.slots_offset)
    first = start & (header.capacity - 1)
    # At most two contiguous runs (the ring wraps once), each copied in three separate passes
    # so that per slot the loads happen in the seqlock's order: version, slot, version.
    runs = [(first, min(first + count, header.capacity))]
    if runs[0][1] - first < count:
        runs.append((0, count - (runs[0][1] - first)))
    versions: npt.NDArray[np.int32] = slots["version"]
    before = np.concatenate([np.array(versions[a:b]) for a, b in runs])
    copy = np.concatenate([np.array(slots[a:b]) for a, b in runs])
    after = np.concatenate([np.array(versions[a:b]) for a, b in runs])
    expected = np.arange(start, start + count, dtype=np.int64)
    good = ((before & 1) == 0) & (before == after) & (copy["version"] == before) & (copy["seq"] == expected)
    kept = count if bool(good.all()) else int(np.argmin(good))
    ring.seek(start + kept)
    return copy[:kept]


def _record_array(record: Record) -> RecordArray:
    r = record
    row = (0, r.type, r.flags, r.symbol_id, r.seq, r.price, r.size, r.exchange_sec, r.exchange_nsec,
           r.receive_sec, r.receive_nsec, r.publish_sec, r.publish_nsec, r.aux)  # fmt: skip
    return np.array([row], RECORD_DTYPE)
