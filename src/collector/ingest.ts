// One frame through a venue into the ring: the single path the live runtime, `replay`, the
// tests and the bench share. A frame the venue cannot handle is counted and logged, and every
// book it had already touched is invalidated and resynced: bad input never leaves a wrong book.
import type { RequestBudget, RestClient, StreamHandle, Venue, VenueDefinition } from "../exchanges/venue.ts";
import type { Logger } from "../log.ts";
import { DecimalParseError } from "../market/decimal.ts";
import { StatusReason } from "../shm/layout.ts";
import type { RingWriter } from "../shm/ring-writer.ts";
import { CollectorCounters } from "./counters.ts";
import { Publisher } from "./publisher.ts";

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

export interface VenuePipelineOptions {
  readonly definition: VenueDefinition;
  /** The ring; its symbol table is the venue's symbols. */
  readonly writer: RingWriter;
  readonly depth: number;
  readonly wsUrl: string;
  readonly restUrl: string;
  readonly rest: RestClient;
  readonly budget: RequestBudget;
  readonly maxFrameBytes: number;
  readonly log: Logger;
  readonly onPublished?: (latencyNs: number) => void;
}

export interface VenuePipeline {
  readonly counters: CollectorCounters;
  readonly publisher: Publisher;
  readonly venue: Venue;
  readonly ingest: FrameIngest;
}

/** One venue wired into a ring: the same chain for `collect`, `replay`, the tests and the bench. */
export function wireVenue(options: VenuePipelineOptions): VenuePipeline {
  const { writer, depth } = options;
  const counters = new CollectorCounters(writer.symbols.length, options.log, writer);
  const publisher = new Publisher({
    writer,
    symbols: writer.symbols,
    depth,
    maxLevels: options.definition.bookLevels(depth),
    onPublished: options.onPublished,
  });
  // The venue runs REST snapshots as batches through the ingest, which needs the venue first.
  let ingest: FrameIngest | null = null;
  const venue = options.definition.create({
    symbols: writer.symbols,
    depth,
    wsUrl: options.wsUrl,
    restUrl: options.restUrl,
    sink: publisher,
    counters,
    rest: options.rest,
    budget: options.budget,
    batch: (run) => ingest?.batch(run),
    log: options.log,
  });
  ingest = new FrameIngest(venue, publisher, counters, options.maxFrameBytes);
  return { counters, publisher, venue, ingest };
}
