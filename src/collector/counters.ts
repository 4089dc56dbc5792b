// Plain in-process counts the venue and runtime bump on hot paths; metrics.ts turns them into
// Prometheus series at scrape time, so a frame never pays for label lookups.

import type { VenueCounters } from "../exchanges/venue.ts";
import type { Logger } from "../log.ts";

export class CollectorCounters implements VenueCounters {
  readonly messages = new Map<string, number>();
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

  constructor(
    symbolCount: number,
    private readonly log: Logger,
  ) {
    this.sequenceGaps = new Float64Array(symbolCount);
    this.checksumMismatches = new Float64Array(symbolCount);
    this.resyncs = new Float64Array(symbolCount);
  }

  message(type: string): void {
    this.messages.set(type, (this.messages.get(type) ?? 0) + 1);
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
