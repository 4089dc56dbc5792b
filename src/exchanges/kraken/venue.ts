// Kraken WebSocket v2 (docs/exchanges/kraken.md): symbols and precisions from the `instrument`
// channel, then `book` (checksum verified on every snapshot and update, book truncated to the
// subscribed depth) and `trade` (side is the taker's) on one connection.
import type { OrderBook } from "../../book/order-book.ts";
import { DecimalParseError, parseScaledAt } from "../../market/decimal.ts";
import { StatusReason, type SymbolSpec } from "../../shm/layout.ts";
import { arr, FrameError, isObject, type JsonObject, num, str } from "../json.ts";
import { rfc3339Into } from "../timestamps.ts";
import {
  type Endpoints,
  type StreamHandle,
  type StreamPlan,
  splitSymbol,
  TradeSide,
  UnknownSymbolError,
  type Venue,
  type VenueContext,
  type VenueDefinition,
} from "../venue.ts";
import { KrakenChecksum } from "./checksum.ts";
import { NumericFieldReader } from "./numeric-fields.ts";

/** Depths Kraken's book channel accepts. */
export const BOOK_DEPTHS = [10, 25, 100, 500, 1000] as const;
/** Kraken's reconnection guide: no message of any kind for about 5 s means reconnect. */
const WATCHDOG_MS = 5_000;
const INSTRUMENT_TIMEOUT_MS = 15_000;

/** The book depth to subscribe: the smallest Kraken offers that covers the ring's view. */
function krakenSubscribeDepth(viewDepth: number): number {
  return BOOK_DEPTHS.find((depth) => depth >= viewDepth) ?? 1000;
}

/** A pair from the instrument channel. */
export interface KrakenPair {
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  readonly pricePrecision: number;
  readonly qtyPrecision: number;
}

/** Reads the pairs of an instrument snapshot frame; null if the frame is something else. */
function parseInstrumentFrame(text: string): KrakenPair[] | null {
  const message: unknown = JSON.parse(text);
  if (!isObject(message) || message.channel !== "instrument" || !isObject(message.data)) return null;
  const pairs: KrakenPair[] = [];
  for (const pair of arr(message.data, "pairs") ?? []) {
    if (!isObject(pair)) continue;
    const symbol = str(pair, "symbol");
    const base = str(pair, "base");
    const quote = str(pair, "quote");
    const pricePrecision = num(pair, "price_precision");
    const qtyPrecision = num(pair, "qty_precision");
    if (symbol && base && quote && pricePrecision !== undefined && qtyPrecision !== undefined) {
      pairs.push({ symbol, base, quote, pricePrecision, qtyPrecision });
    }
  }
  return pairs;
}

/** Maps BASE-QUOTE symbols through Kraken's pairs; throws UnknownSymbolError naming a missing one. */
export function mapKrakenSymbols(symbols: readonly string[], pairs: readonly KrakenPair[]): SymbolSpec[] {
  return symbols.map((symbol) => {
    const { base, quote } = splitSymbol("kraken", symbol);
    const pair = pairs.find((p) => p.base === base && p.quote === quote);
    if (!pair) throw new UnknownSymbolError("kraken", symbol, "not among the instrument channel's pairs");
    return {
      venueSymbol: pair.symbol,
      symbol,
      priceDecimals: pair.pricePrecision,
      sizeDecimals: pair.qtyPrecision,
    };
  });
}

function fetchInstruments(wsUrl: string): Promise<KrakenPair[]> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`kraken: no instrument snapshot from ${wsUrl} within ${INSTRUMENT_TIMEOUT_MS} ms`));
    }, INSTRUMENT_TIMEOUT_MS);
    socket.onopen = () => {
      socket.send(JSON.stringify({ method: "subscribe", params: { channel: "instrument", snapshot: true } }));
    };
    socket.onmessage = (event) => {
      const pairs = typeof event.data === "string" ? parseInstrumentFrame(event.data) : null;
      if (pairs === null) return;
      clearTimeout(timer);
      socket.close();
      resolve(pairs);
    };
    socket.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`kraken: cannot fetch instruments from ${wsUrl}`));
    };
  });
}

export const kraken: VenueDefinition = {
  name: "kraken",
  defaultWsUrl: "wss://ws.kraken.com/v2",
  defaultRestUrl: "",
  defaultDepth: 100,
  // Books are cut to the subscribed depth after every message; a message inserts at most that
  // many levels a side before its deletes.
  bookLevels: (viewDepth) => 2 * krakenSubscribeDepth(viewDepth),
  replayStream: "kraken",
  sequentialTradeIds: true,
  // Cloudflare's limit is about 150 connection attempts per 10 minutes.
  connectionsPerSecond: 0.25,
  // Resubscribes: well under Kraken's dynamic message-rate limit.
  requestBudget: { capacity: 10, perSecond: 2 },
  async resolveSymbols(symbols: readonly string[], endpoints: Endpoints): Promise<SymbolSpec[]> {
    return mapKrakenSymbols(symbols, await fetchInstruments(endpoints.wsUrl));
  },
  resolveFromFrames(symbols: readonly string[], frames: readonly string[]): SymbolSpec[] | null {
    for (const frame of frames) {
      if (!frame.includes('"instrument"')) continue;
      const pairs = parseInstrumentFrame(frame);
      if (pairs !== null) return mapKrakenSymbols(symbols, pairs);
    }
    return null;
  },
  create: (context) => new KrakenVenue(context),
};

class KrakenVenue implements Venue {
  readonly streams: readonly StreamPlan[];
  private readonly ids = new Map<string, number>();
  private readonly fields = new NumericFieldReader();
  private readonly staged = new StagedLevels();
  private readonly checksums: KrakenChecksum[];
  private readonly subscribeDepth: number;
  private stream: StreamHandle | null = null;
  private requestId = 0;
  private readonly time = new Uint32Array(2);

  constructor(private readonly context: VenueContext) {
    for (const symbol of context.symbols) this.ids.set(symbol.venueSymbol, symbol.id);
    this.checksums = context.symbols.map((symbol) => {
      context.counters.guardedBy(symbol.id, "checksum", true);
      return new KrakenChecksum();
    });
    this.subscribeDepth = krakenSubscribeDepth(context.depth);
    this.streams = [{ name: "kraken", url: context.wsUrl, watchdogMs: WATCHDOG_MS, maxLifetimeMs: 0 }];
  }

  onOpen(stream: StreamHandle): void {
    this.stream = stream;
    const symbols = this.context.symbols.map((s) => s.venueSymbol);
    this.subscribeBook(symbols);
    this.send({ method: "subscribe", params: { channel: "trade", symbol: symbols, snapshot: true } });
    // The instrument snapshot puts the precisions into every capture, so `replay` needs nothing else.
    this.send({ method: "subscribe", params: { channel: "instrument", snapshot: true } });
  }

  onClose(stream: StreamHandle): void {
    if (this.stream !== stream) return;
    this.stream = null;
    for (const symbol of this.context.symbols) this.invalidate(symbol.id, StatusReason.Disconnected);
  }

  resync(symbolId: number): void {
    const symbol = this.context.symbols[symbolId];
    if (!symbol) return;
    this.context.counters.resync(symbolId);
    this.context.budget.schedule(1, () => {
      if (this.stream === null || this.context.sink.isValid(symbolId)) return;
      const params = { channel: "book", symbol: [symbol.venueSymbol], depth: this.subscribeDepth };
      this.send({ method: "unsubscribe", params });
      this.subscribeBook([symbol.venueSymbol]);
    });
  }

  onFrame(_stream: StreamHandle, text: string): void {
    if (this.fastBook(text)) return;
    const message: unknown = JSON.parse(text);
    if (!isObject(message)) throw new FrameError("not a JSON object");
    const channel = message.channel;
    const counters = this.context.counters;
    switch (channel) {
      case "book":
        counters.message("book");
        this.onBook(message, text);
        return;
      case "trade":
        counters.message("trade");
        this.onTrade(message, text);
        return;
      case "heartbeat":
      case "status":
      case "instrument":
        counters.message(channel);
        return;
      case undefined:
        if (typeof message.method === "string") {
          counters.message(message.method);
          if (message.success === false) {
            this.context.log.throttled("warn", `kraken-${message.method}`, "kraken refused a request", {
              method: message.method,
              error: message.error,
            });
          }
          return;
        }
    }
    counters.parseError("unknown_type", `channel ${String(channel)}`, text);
  }

  private onBook(message: JsonObject, text: string): void {
    const data = arr(message, "data");
    if (!data) throw new FrameError("book frame without data");
    const isSnapshot = message.type === "snapshot";
    if (!isSnapshot && message.type !== "update") throw new FrameError(`book type ${String(message.type)}`);
    const fields = this.fields;
    fields.reset(text);
    for (let i = 0; i < data.length; i++) {
      const entry = data[i];
      if (!isObject(entry)) throw new FrameError("book entry is not an object");
      const id = this.ids.get(str(entry, "symbol") ?? "");
      try {
        this.applyBookEntry(entry, id, isSnapshot);
      } catch (error) {
        // The text cursor can no longer be trusted: this and every later entry's book is suspect.
        for (let j = i; j < data.length; j++) {
          const rest = data[j];
          const restId = isObject(rest) ? this.ids.get(str(rest, "symbol") ?? "") : undefined;
          if (restId === undefined) continue;
          this.invalidate(restId, StatusReason.BadData);
          this.resync(restId);
        }
        throw error;
      }
    }
  }

  private applyBookEntry(entry: JsonObject, id: number | undefined, isSnapshot: boolean): void {
    const bids = arr(entry, "bids") ?? [];
    const asks = arr(entry, "asks") ?? [];
    const fields = this.fields;
    // Levels are read from the text in the order the two arrays appear there (which only
    // matters, and is only looked up, when both have levels).
    const bidsFirst = asks.length === 0 || (bids.length > 0 && fields.peek('"bids"') < fields.peek('"asks"'));
    const sink = this.context.sink;
    const symbol = id === undefined ? undefined : this.context.symbols[id];
    const book = symbol === undefined ? null : isSnapshot ? sink.snapshot(symbol.id) : sink.book(symbol.id);
    const priceDecimals = symbol?.priceDecimals ?? 0;
    const sizeDecimals = symbol?.sizeDecimals ?? 0;
    for (let pass = 0; pass < 2; pass++) {
      const isAsk = (pass === 0) !== bidsFirst;
      const levels = isAsk ? asks : bids;
      if (levels.length === 0) continue;
      fields.seek(isAsk ? '"asks"' : '"bids"');
      for (const level of levels) {
        if (!isObject(level)) throw new FrameError("book level is not an object");
        if (book === null) {
          fields.seek('"qty"');
          continue;
        }
        const price = fields.next('"price"', priceDecimals);
        const size = fields.next('"qty"', sizeDecimals);
        checkAligned(level, price, size, priceDecimals, sizeDecimals);
        book.side(isAsk).set(price, size);
      }
    }
    if (book === null || symbol === undefined) return;
    const timestamp = str(entry, "timestamp");
    if (timestamp !== undefined && rfc3339Into(timestamp, this.time)) {
      sink.exchangeTime(this.time[0]!, this.time[1]!);
    }
    this.completeBook(symbol.id, book, num(entry, "checksum"));
  }

  /** After a book entry's levels: truncate to the subscribed depth and verify the checksum. */
  private completeBook(symbolId: number, book: OrderBook, expected: number | undefined): void {
    book.truncate(this.subscribeDepth);
    if (expected !== undefined && this.checksums[symbolId]!.of(book) !== expected) {
      this.context.counters.checksumMismatch(symbolId);
      this.invalidate(symbolId, StatusReason.ChecksumMismatch);
      this.resync(symbolId);
      return;
    }
    this.context.sink.changed(symbolId, 0);
  }

  /**
   * Book frames are most of the traffic, and JSON.parse cost more than the rest of the path: a
   * single-symbol book frame in Kraken's exact compact layout is read in place. Every level is
   * read and checked before the book is touched; anything else (spaces, other key order,
   * several symbols, an odd number, an unknown symbol) returns false and takes the JSON.parse
   * path, which decides. The checksum is verified exactly as there.
   */
  private fastBook(text: string): boolean {
    if (!text.startsWith(BOOK_PREFIX)) return false;
    let at = BOOK_PREFIX.length;
    let isSnapshot: boolean;
    if (text.startsWith(UPDATE_HEAD, at)) {
      isSnapshot = false;
      at += UPDATE_HEAD.length;
    } else if (text.startsWith(SNAPSHOT_HEAD, at)) {
      isSnapshot = true;
      at += SNAPSHOT_HEAD.length;
    } else {
      return false;
    }
    const symbolEnd = text.indexOf('"', at);
    const id = symbolEnd < 0 ? undefined : this.ids.get(text.slice(at, symbolEnd));
    if (id === undefined || !text.startsWith('","bids":[', symbolEnd)) return false;
    const symbol = this.context.symbols[id]!;
    const levels = this.staged;
    at = levels.readBoth(text, symbolEnd + 10, symbol.priceDecimals, symbol.sizeDecimals);
    if (at < 0 || !text.startsWith(',"checksum":', at)) return false;
    let expected = 0;
    const checksumAt = at + 12;
    at = checksumAt;
    for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at)) {
      expected = expected * 10 + (c - 48);
    }
    if (at === checksumAt || at - checksumAt > 10 || !text.startsWith(',"timestamp":"', at)) return false;
    const timeAt = at + 14;
    const timeEnd = text.length - 4;
    if (!text.startsWith('"}]}', timeEnd) || !rfc3339Into(text, this.time, timeAt, timeEnd)) return false;
    // The frame is sound: from here on it is applied exactly as the JSON.parse path would.
    const sink = this.context.sink;
    this.context.counters.message("book");
    const book = isSnapshot ? sink.snapshot(id) : sink.book(id);
    if (book === null) return true;
    levels.applyTo(book);
    sink.exchangeTime(this.time[0]!, this.time[1]!);
    this.completeBook(id, book, expected);
    return true;
  }

  private onTrade(message: JsonObject, text: string): void {
    const data = arr(message, "data");
    if (!data) throw new FrameError("trade frame without data");
    const fields = this.fields;
    fields.reset(text);
    const sink = this.context.sink;
    for (const trade of data) {
      if (!isObject(trade)) throw new FrameError("trade is not an object");
      const id = this.ids.get(str(trade, "symbol") ?? "");
      const symbol = id === undefined ? undefined : this.context.symbols[id];
      if (symbol === undefined) {
        fields.seek('"qty"');
        continue;
      }
      const price = fields.next('"price"', symbol.priceDecimals);
      const size = fields.next('"qty"', symbol.sizeDecimals);
      checkAligned(trade, price, size, symbol.priceDecimals, symbol.sizeDecimals);
      const side =
        trade.side === "buy" ? TradeSide.Buy : trade.side === "sell" ? TradeSide.Sell : TradeSide.Unknown;
      const timestamp = str(trade, "timestamp");
      if (timestamp !== undefined && rfc3339Into(timestamp, this.time)) {
        sink.exchangeTime(this.time[0]!, this.time[1]!);
      }
      const tradeId = num(trade, "trade_id");
      sink.trade(symbol.id, price, size, side, tradeId !== undefined && tradeId > 0 ? tradeId : 0);
    }
  }

  private invalidate(symbolId: number, reason: StatusReason): void {
    this.context.sink.invalidate(symbolId, reason);
  }

  private subscribeBook(symbols: string[]): void {
    this.send({
      method: "subscribe",
      params: { channel: "book", symbol: symbols, depth: this.subscribeDepth, snapshot: true },
    });
  }

  private send(request: Record<string, unknown>): void {
    this.stream?.send(JSON.stringify({ ...request, req_id: ++this.requestId }));
  }
}

const BOOK_PREFIX = '{"channel":"book","type":"';
const UPDATE_HEAD = 'update","data":[{"symbol":"';
const SNAPSHOT_HEAD = 'snapshot","data":[{"symbol":"';
const LEVEL_HEAD = '{"price":';
/** Levels a fast-path frame may hold (two full 1000-deep sides); more take the JSON.parse path. */
const MAX_STAGED_LEVELS = 2048;

/** One book frame's levels read from the text, held until the whole frame has been read. */
class StagedLevels {
  count = 0;
  readonly prices = new Float64Array(MAX_STAGED_LEVELS);
  readonly sizes = new Float64Array(MAX_STAGED_LEVELS);
  readonly asks = new Uint8Array(MAX_STAGED_LEVELS);

  /**
   * Reads both sides, `[...],"asks":[...]` from just after the bids' "["; returns where they
   * end, or -1 if the text is not exactly that or a number is not exact at its precision (the
   * JSON.parse path then reports it, with the book invalidated).
   */
  readBoth(text: string, at: number, priceDecimals: number, sizeDecimals: number): number {
    this.count = 0;
    try {
      const bidsEnd = this.read(text, at, false, priceDecimals, sizeDecimals);
      if (bidsEnd < 0 || !text.startsWith(',"asks":[', bidsEnd)) return -1;
      return this.read(text, bidsEnd + 9, true, priceDecimals, sizeDecimals);
    } catch (error) {
      if (error instanceof DecimalParseError) return -1;
      throw error;
    }
  }

  /**
   * Reads `{"price":N,"qty":N},...]` at `at` (just after the "["); returns where it ends, or -1
   * if the text is not exactly that. A number that is not exact at the precision throws.
   */
  private read(
    text: string,
    at: number,
    isAsk: boolean,
    priceDecimals: number,
    sizeDecimals: number,
  ): number {
    if (text.charCodeAt(at) === 93 /* ] */) return at + 1;
    for (;;) {
      if (this.count === MAX_STAGED_LEVELS || !text.startsWith(LEVEL_HEAD, at)) return -1;
      const priceAt = at + LEVEL_HEAD.length;
      const priceEnd = jsonNumberEnd(text, priceAt);
      if (priceEnd < 0 || !text.startsWith(',"qty":', priceEnd)) return -1;
      const sizeEnd = jsonNumberEnd(text, priceEnd + 7);
      if (sizeEnd < 0 || text.charCodeAt(sizeEnd) !== 125 /* } */) return -1;
      const i = this.count++;
      this.prices[i] = parseScaledAt(text, priceAt, priceEnd, priceDecimals);
      this.sizes[i] = parseScaledAt(text, priceEnd + 7, sizeEnd, sizeDecimals);
      this.asks[i] = isAsk ? 1 : 0;
      const next = text.charCodeAt(sizeEnd + 1);
      if (next === 93 /* ] */) return sizeEnd + 2;
      if (next !== 44 /* , */) return -1;
      at = sizeEnd + 2;
    }
  }

  /** Applies the levels in the frame's order. */
  applyTo(book: OrderBook): void {
    for (let i = 0; i < this.count; i++) book.side(this.asks[i] === 1).set(this.prices[i]!, this.sizes[i]!);
  }
}

/** End of the JSON number at `at` (-?int frac? exp?), or -1 if there is none. */
function jsonNumberEnd(text: string, at: number): number {
  let c = text.charCodeAt(at);
  if (c === 45 /* - */) c = text.charCodeAt(++at);
  const intAt = at;
  while (c >= 48 && c <= 57) c = text.charCodeAt(++at);
  if (at === intAt || (text.charCodeAt(intAt) === 48 && at - intAt > 1)) return -1;
  if (c === 46 /* . */) {
    const fracAt = ++at;
    for (c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at));
    if (at === fracAt) return -1;
  }
  if (c === 101 || c === 69 /* e E */) {
    c = text.charCodeAt(++at);
    if (c === 43 || c === 45) c = text.charCodeAt(++at);
    const expAt = at;
    while (c >= 48 && c <= 57) c = text.charCodeAt(++at);
    if (at === expAt) return -1;
  }
  return at;
}

/**
 * The text reader and JSON.parse must agree on each value, up to the double's rounding:
 * proof that the raw tokens line up with the parsed levels (a reordered key would not).
 */
function checkAligned(level: JsonObject, price: number, size: number, pd: number, sd: number): void {
  const parsedPrice = level.price;
  const parsedSize = level.qty;
  if (
    typeof parsedPrice !== "number" ||
    typeof parsedSize !== "number" ||
    !close(parsedPrice, price / 10 ** pd) ||
    !close(parsedSize, size / 10 ** sd)
  ) {
    throw new FrameError("price/qty fields out of order");
  }
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a));
}
