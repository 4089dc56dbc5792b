// Test support: one venue wired to a real Publisher and a real ring in /dev/shm, fed frame by
// frame through the same FrameIngest the collector uses. The stream handle records what the
// venue sends, since these tests replay captured frames instead of a live connection.
import { spyOn } from "bun:test";
import { rmSync } from "node:fs";
import { TokenBucket } from "../../src/collector/budget.ts";
import type { CollectorCounters } from "../../src/collector/counters.ts";
import { type FrameIngest, wireVenue } from "../../src/collector/ingest.ts";
import type { Publisher } from "../../src/collector/publisher.ts";
import type {
  RequestBudget,
  RestClient,
  StreamHandle,
  Venue,
  VenueDefinition,
} from "../../src/exchanges/venue.ts";
import { Logger } from "../../src/log.ts";
import type { SymbolSpec } from "../../src/shm/layout.ts";
import { RingWriter } from "../../src/shm/ring-writer.ts";

let harnessCount = 0;

/**
 * How many times `run` called JSON.parse: 0 shows that a venue read its frames in place (its
 * fast path), more that they went through the JSON path.
 */
export function jsonParseCalls(run: () => void): number {
  const spy = spyOn(JSON, "parse");
  try {
    run();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

/** A stand-in connection: it records what the venue sends and asks. */
export class RecordingStream implements StreamHandle {
  readonly sent: string[] = [];
  readonly reconnects: string[] = [];
  readonly rollovers: string[] = [];
  constructor(readonly name: string) {}
  send(text: string): void {
    this.sent.push(text);
  }
  reconnect(reason: string): void {
    this.reconnects.push(reason);
  }
  rollover(reason: string): void {
    this.rollovers.push(reason);
  }
}

export class VenueHarness implements StreamHandle {
  readonly name: string;
  readonly sent: string[] = [];
  readonly reconnects: string[] = [];
  readonly rollovers: string[] = [];
  readonly dir: string;
  readonly writer: RingWriter;
  readonly publisher: Publisher;
  readonly counters: CollectorCounters;
  readonly venue: Venue;
  readonly ingest: FrameIngest;

  constructor(
    definition: VenueDefinition,
    specs: SymbolSpec[],
    options: { depth?: number; rest?: RestClient; budget?: RequestBudget } = {},
  ) {
    this.name = definition.name;
    const depth = options.depth ?? 10;
    this.dir = `/dev/shm/ap-test-collector-${process.pid}-${++harnessCount}`;
    this.writer = RingWriter.create({
      dir: this.dir,
      name: definition.name,
      exchange: definition.name,
      capacity: 1 << 16,
      bookDepth: depth,
      symbols: specs,
    });
    const pipeline = wireVenue({
      definition,
      writer: this.writer,
      depth,
      wsUrl: "ws://127.0.0.1:1/unused",
      restUrl: "http://127.0.0.1:1/unused",
      rest: options.rest ?? { getJson: () => Promise.reject(new Error("no REST in this test")) },
      budget: options.budget ?? new TokenBucket(1e9, 1e9),
      maxFrameBytes: 16 << 20,
      log: new Logger("error", {}, () => {}),
    });
    this.counters = pipeline.counters;
    this.publisher = pipeline.publisher;
    this.venue = pipeline.venue;
    this.ingest = pipeline.ingest;
  }

  send(text: string): void {
    this.sent.push(text);
  }

  reconnect(reason: string): void {
    this.reconnects.push(reason);
  }

  rollover(reason: string): void {
    this.rollovers.push(reason);
  }

  open(stream: StreamHandle = this): void {
    this.venue.onOpen(stream);
  }

  feed(text: string, receiveSec = 1, receiveNsec = 0, stream: StreamHandle = this): void {
    this.ingest.frame(stream, text, receiveSec, receiveNsec);
  }

  /** The symbol's top levels as [price, size] pairs, best first. */
  top(symbolId: number, isAsk: boolean, n: number): [number, number][] {
    const side = this.publisher.books[symbolId]!.side(isAsk);
    const out: [number, number][] = [];
    for (let i = 0; i < Math.min(n, side.count); i++) out.push([side.priceAt(i), side.sizeAt(i)]);
    return out;
  }

  close(): void {
    this.writer.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
