// One frame through a venue into the ring: the single path the live runtime, `replay`, the
// tests and the bench share. A frame the venue cannot handle is counted and logged, and every
// book it had already touched is invalidated and resynced: bad input never leaves a wrong book.
import type { StreamHandle, Venue } from "../exchanges/venue.ts";
import { DecimalParseError } from "../market/decimal.ts";
import { StatusReason } from "../shm/layout.ts";
import type { CollectorCounters } from "./counters.ts";
import type { Publisher } from "./publisher.ts";

export class FrameIngest {
  constructor(
    private readonly venue: Venue,
    private readonly publisher: Publisher,
    private readonly counters: CollectorCounters,
    /** Frames longer than this are refused unread. */
    private readonly maxFrameBytes: number,
  ) {}

  /** Runs `run` (a REST snapshot arriving) as one batch received now, with the same safety net. */
  batch(run: () => void): void {
    this.publisher.beginFrameNow();
    try {
      run();
    } catch (error) {
      this.fail(error, "");
      return;
    }
    this.publisher.endFrame();
  }

  /** Handles one text frame received at (receiveSec, receiveNsec) on the shared clock. */
  frame(stream: StreamHandle, text: string, receiveSec: number, receiveNsec: number): void {
    if (text.length > this.maxFrameBytes) {
      this.counters.parseError("oversized", `${text.length} bytes`, text.slice(0, 200));
      return;
    }
    this.publisher.beginFrame(receiveSec, receiveNsec);
    try {
      this.venue.onFrame(stream, text);
    } catch (error) {
      this.fail(error, text);
      return;
    }
    this.publisher.endFrame();
  }

  private fail(error: unknown, text: string): void {
    const publisher = this.publisher;
    const kind = error instanceof DecimalParseError ? "bad_decimal" : "malformed";
    this.counters.parseError(kind, error instanceof Error ? error.message : String(error), text);
    const suspect = publisher.changedSymbols();
    for (const id of suspect) publisher.invalidate(id, StatusReason.BadData);
    publisher.endFrame();
    for (const id of suspect) this.venue.resync(id);
  }
}
