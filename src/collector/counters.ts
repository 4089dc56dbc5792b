// Plain in-process counts the venue and runtime bump on hot paths; metrics.ts turns them into
// Prometheus series at scrape time, so a frame never pays for label lookups.

import type { VenueCounters } from "../exchanges/venue.ts";
import type { Logger } from "../log.ts";
import { type BookCheck, BookIntegrity } from "../shm/layout.ts";
import type { RingWriter } from "../shm/ring-writer.ts";

/** One message type's count, bumped in place. */
interface MessageCount {
  n: number;
}

export class CollectorCounters implements VenueCounters {
  private readonly messageCounts = new Map<string, MessageCount>();
  /** The type counted last: a feed is mostly one type, so most frames skip the Map lookup. */
  private lastType = "";
  private lastCount: MessageCount = { n: 0 };
  /** By kind; every kind starts at 0 so its series exists before the first error. */
  readonly parseErrors = new Map<string, number>([
    ["malformed", 0],
    ["unknown_type", 0],
    ["oversized", 0],
    ["bad_decimal", 0],
  ]);
  readonly sequenceGaps: Float64Array;
  readonly checksumMismatches: Float64Array;
  readonly resyncs: Float64Array;
  /** Per symbol, the BookIntegrity bits of the checks that guard its book now. */
  readonly integrity: Uint8Array;

  constructor(
    symbolCount: number,
    private readonly log: Logger,
    /** Its latest-book entries carry each book's integrity to readers, the same bits as the metric. */
    private readonly ring: Pick<RingWriter, "setIntegrity">,
  ) {
    this.sequenceGaps = new Float64Array(symbolCount);
    this.checksumMismatches = new Float64Array(symbolCount);
    this.resyncs = new Float64Array(symbolCount);
    this.integrity = new Uint8Array(symbolCount);
  }

  guardedBy(symbolId: number, check: BookCheck, on: boolean): void {
    const before = this.integrity[symbolId]!;
    const after = on ? before | BookIntegrity[check] : before & ~BookIntegrity[check];
    if (after === before) return;
    this.integrity[symbolId] = after;
    this.ring.setIntegrity(symbolId, after);
  }

  message(type: string): void {
    if (type !== this.lastType) {
      let count = this.messageCounts.get(type);
      if (count === undefined) {
        count = { n: 0 };
        this.messageCounts.set(type, count);
      }
      this.lastType = type;
      this.lastCount = count;
    }
    this.lastCount.n++;
  }

  /** Frames so far by message type (built on each call: for scrapes and tests). */
  get messages(): Map<string, number> {
    return new Map([...this.messageCounts].map(([type, count]) => [type, count.n]));
  }

  parseError(kind: string, detail: string, frame: string): void {
    this.parseErrors.set(kind, (this.parseErrors.get(kind) ?? 0) + 1);
    this.log.throttled("warn", `parse-${kind}`, "frame not understood", {
      kind,
      detail,
      frame: frame.length > 200 ? `${frame.slice(0, 200)}...` : frame,
    });
  }

  sequenceGap(symbolId: number): void {
    this.sequenceGaps[symbolId]!++;
  }

  checksumMismatch(symbolId: number): void {
    this.checksumMismatches[symbolId]!++;
  }

  resync(symbolId: number): void {
    this.resyncs[symbolId]!++;
  }

  totalParseErrors(): number {
    let sum = 0;
    for (const value of this.parseErrors.values()) sum += value;
    return sum;
  }

  total(counts: Float64Array): number {
    let sum = 0;
    for (const value of counts) sum += value;
    return sum;
  }
}
