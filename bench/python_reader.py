"""The Python side of bench/python.ts: decode cost and writer-to-reader hop latency.

    python3 bench/python_reader.py decode PATH
    python3 bench/python_reader.py hop PATH WARMUP_RECORDS

Prints one JSON object. `hop` waits for PATH, follows it from the latest record, spinning (one
process spins; the writer runs on the other core), and measures for every record
CLOCK_REALTIME now minus the record's publish time, until the writer closes the ring.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from alphapulse_shm import Gap, Record, Ring, RingState  # noqa: E402


def decode(path: str) -> dict[str, object]:
    """ns per record to poll and decode (raw scaled ints), and to poll, decode and format exact
    decimal text, polling in chunks of 1024 as a consumer that keeps up does."""
    with Ring.open(path, 1) as ring:
        best_raw = best_exact = float("inf")
        count = 0
        for _ in range(3):  # best of three: the least disturbed run
            ring.seek(1)
            count = 0
            started = time.perf_counter_ns()
            while events := ring.poll(1024):
                count += len(events)
            best_raw = min(best_raw, (time.perf_counter_ns() - started) / count)
            ring.seek(1)
            started = time.perf_counter_ns()
            while events := ring.poll(1024):
                for event in events:
                    if isinstance(event, Record):
                        _ = (event.price_text, event.size_text)
            best_exact = min(best_exact, (time.perf_counter_ns() - started) / count)
        best_bulk = _bulk_ns_per_record(ring)
    return {
        "records": count,
        "pollNsPerRecord": round(best_raw),
        "withExactTextNsPerRecord": round(best_exact),
        "bulkNsPerRecord": best_bulk,
    }


def _bulk_ns_per_record(ring: Ring) -> int | None:
    """ns per record through alphapulse_shm.bulk (numpy), chunks of 65536; None without numpy."""
    try:
        from alphapulse_shm.bulk import poll_array
    except ImportError:
        return None
    best = float("inf")
    for _ in range(3):
        ring.seek(1)
        count = 0
        started = time.perf_counter_ns()
        while chunks := poll_array(ring, 65536):
            count += sum(len(chunk) for chunk in chunks if not isinstance(chunk, Gap))
        best = min(best, (time.perf_counter_ns() - started) / count)
    return round(best)


def hop(path: str, warmup: int) -> dict[str, object]:
    """Writer publish -> Python delivery latency on the shared clock, per record."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} never appeared")
        time.sleep(0.001)
    now_ns = time.clock_gettime_ns
    realtime = time.CLOCK_REALTIME
    samples: list[int] = []
    gaps = 0
    last_publish = 0
    stalls = 0
    with Ring.open(path, 1) as ring:
        seen = 0
        while True:
            events = ring.poll()
            now = now_ns(realtime)
            if not events:
                if ring.state() == RingState.CLOSED and ring.position == ring.next_seq():
                    break
                if ring.heartbeat_age_ms() > 10_000:
                    raise SystemExit(f"{path}: the writer stopped without closing the ring")
                continue
            for event in events:
                if not isinstance(event, Record):
                    gaps += 1
                    continue
                seen += 1
                published = event.publish_time_ns
                if published <= last_publish:
                    stalls += 1  # the writer's clock did not advance: its timestamps are wrong
                last_publish = published
                if seen > warmup:
                    samples.append(now - published)
    samples.sort()

    def pct(p: float) -> int:
        return samples[min(len(samples) - 1, int(p * len(samples)))] if samples else -1

    return {
        "samples": len(samples),
        "p50Ns": pct(0.5),
        "p90Ns": pct(0.9),
        "p99Ns": pct(0.99),
        "p999Ns": pct(0.999),
        "maxNs": samples[-1] if samples else -1,
        "gaps": gaps,
        "clockStalls": stalls,
    }


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "decode":
        print(json.dumps(decode(argv[1])))
    elif len(argv) >= 3 and argv[0] == "hop":
        print(json.dumps(hop(argv[1], int(argv[2]))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
