// The one small interface every exchange implements: resolve symbols from the venue's
// metadata, say which connections it needs, subscribe, and turn each raw frame into
// normalized events on a FeedSink (the collector's books and ring). Every fact about a venue
// (limits, depth caps, its connections) lives in its folder behind this interface; the folder
// is listed once in registry.ts (docs/adding-a-venue.md).
import type { OrderBook } from "../book/order-book.ts";
import type { Logger } from "../log.ts";
import type { BookCheck, StatusReason, SymbolInfo, SymbolSpec } from "../shm/layout.ts";

export enum TradeSide {
  Buy = 0,
  Sell = 1,
  Unknown = 2,
}

/** Where a venue's normalized events go; implemented by src/collector/publisher.ts. */
export interface FeedSink {
  /** Exchange time of the frame being handled (receive time is set by the runtime). */
  exchangeTime(sec: number, nsec: number): void;
  /** One trade; `side` is the aggressor's; tradeId a positive integer, or 0 if the venue has none. */
  trade(symbolId: number, price: number, size: number, side: TradeSide, tradeId: number): void;
  /** The symbol's live book to change in place, or null while it waits for a snapshot. */
  book(symbolId: number): OrderBook | null;
  /** Empties the symbol's book for a snapshot; at frame end it is published whole and made valid. */
  snapshot(symbolId: number): OrderBook;
  /** The frame changed this book; `venueSeq` is the venue's update id after it (0 if none). */
  changed(symbolId: number, venueSeq: number): void;
  /** Marks the book invalid until its next snapshot, visible to readers, and counts why. */
  invalidate(symbolId: number, reason: StatusReason): void;
  /** True when the symbol's book is valid now. */
  isValid(symbolId: number): boolean;
}

/** Counters a venue reports into (the runtime owns the metric names). */
export interface VenueCounters {
  message(type: string): void;
  /**
   * Whether `check` guards the symbol's book now. A venue reports each check it applies (once is
   * enough), and reports a checksum off when the venue stops sending one.
   */
  guardedBy(symbolId: number, check: BookCheck, on: boolean): void;
  /** A frame the venue could not understand: kind is malformed, unknown_type or oversized. */
  parseError(kind: string, detail: string, frame: string): void;
  sequenceGap(symbolId: number): void;
  checksumMismatch(symbolId: number): void;
  resync(symbolId: number): void;
}

/** One live connection as a venue sees it. */
export interface StreamHandle {
  readonly name: string;
  send(text: string): void;
  /** Closes and reconnects this connection (the runtime applies backoff). */
  reconnect(reason: string): void;
  /** Opens a replacement first and closes this one once the new one delivers (make-before-break). */
  rollover(reason: string): void;
}

/** A connection the venue needs; the runtime opens it, watches it and reopens it. */
export interface StreamPlan {
  /** Stable name, used in metrics, logs and capture file names. */
  readonly name: string;
  readonly url: string;
  /** No frame for this long: reconnect. */
  readonly watchdogMs: number;
  /** Reconnect before the venue's connection lifetime runs out (0: never). */
  readonly maxLifetimeMs: number;
  /**
   * For venues that close a quiet connection unless the client speaks: the runtime sends `text`
   * once no frame has arrived for `idleMs`, and again every `idleMs` while it stays quiet. The
   * answer is an ordinary frame for the venue's onFrame; the watchdog still decides when the
   * link is dead.
   */
  readonly keepalive?: { readonly idleMs: number; readonly text: string };
}

/** An HTTP GET the venue may use (snapshots, metadata); honours 429 Retry-After and 418. */
export interface RestClient {
  getJson(url: string): Promise<unknown>;
}

/** A REST answer other than 200. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`GET ${url}: HTTP ${status} ${body.slice(0, 200)}`);
    this.name = "HttpStatusError";
  }
}

/** Spaces out snapshot requests and resubscribes so resyncs never trip a venue's rate limits. */
export interface RequestBudget {
  /** Runs `run` once `weight` units are available (at once if they are). */
  schedule(weight: number, run: () => void): void;
}

export interface VenueContext {
  readonly symbols: readonly SymbolInfo[];
  /** Levels per side in the ring's view. */
  readonly depth: number;
  readonly wsUrl: string;
  readonly restUrl: string;
  readonly sink: FeedSink;
  readonly counters: VenueCounters;
  readonly rest: RestClient;
  readonly budget: RequestBudget;
  /** Runs `run` as one ring batch outside any frame (a REST snapshot arriving). */
  readonly batch: (run: () => void) => void;
  readonly log: Logger;
}

export interface Venue {
  readonly streams: readonly StreamPlan[];
  /** A connection opened: subscribe. */
  onOpen(stream: StreamHandle): void;
  /** One text frame from a connection. Book changes must go through the sink. */
  onFrame(stream: StreamHandle, text: string): void;
  /**
   * A connection closed: its books cannot be trusted until a new snapshot. `replaced` is true
   * when a newer connection for the same plan already runs (make-before-break). Runs as one
   * ring batch, so book changes through the sink are allowed here.
   */
  onClose(stream: StreamHandle, replaced: boolean): void;
  /** Fetches a fresh snapshot for one symbol whose book was invalidated outside the venue. */
  resync(symbolId: number): void;
}

export interface Endpoints {
  readonly wsUrl: string;
  readonly restUrl: string;
}

export interface VenueDefinition {
  readonly name: string;
  readonly defaultWsUrl: string;
  readonly defaultRestUrl: string;
  readonly defaultDepth: number;
  /**
   * Levels per side each exact book keeps for a view `viewDepth` deep: room for everything the
   * venue may send before levels fall out of view (a deep REST snapshot, one frame's inserts
   * before its deletes). The worst levels beyond it are dropped.
   */
  bookLevels(viewDepth: number): number;
  /**
   * The connection (a StreamPlan name) that `replay` hands a capture's frames to when the file
   * name does not say which connection recorded them (captures made by other tools).
   */
  readonly replayStream: string;
  /** Trade ids that go up by one per trade, so a jump is a gap worth counting. */
  readonly sequentialTradeIds: boolean;
  /** New connections a second the venue allows from one IP: the runtime spaces them out. */
  readonly connectionsPerSecond: number;
  /** Snapshot/resubscribe budget, in the venue's own units (Binance: request weight). */
  readonly requestBudget: { readonly capacity: number; readonly perSecond: number };
  /** Maps BASE-QUOTE symbols to venue symbols and precisions; throws UnknownSymbolError. */
  resolveSymbols(symbols: readonly string[], endpoints: Endpoints, rest: RestClient): Promise<SymbolSpec[]>;
  /**
   * For venues whose metadata comes over the WebSocket (not REST): resolves symbols from
   * captured frames, for `replay`. Returns null when the frames hold no metadata.
   */
  resolveFromFrames?(symbols: readonly string[], frames: readonly string[]): SymbolSpec[] | null;
  create(context: VenueContext): Venue;
}

export class UnknownSymbolError extends Error {
  constructor(
    readonly exchange: string,
    readonly symbol: string,
    detail: string,
  ) {
    super(`${exchange}: unknown symbol ${symbol}: ${detail}`);
    this.name = "UnknownSymbolError";
  }
}

/** Splits "BTC-USD" into its parts, or throws naming the symbol. */
export function splitSymbol(exchange: string, symbol: string): { base: string; quote: string } {
  const match = /^([A-Z0-9]+)-([A-Z0-9]+)$/.exec(symbol);
  if (!match) throw new UnknownSymbolError(exchange, symbol, "expected BASE-QUOTE, e.g. BTC-USD");
  return { base: match[1]!, quote: match[2]! };
}
