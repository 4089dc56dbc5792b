// Kraken WebSocket v2 (PROTOCOLS.md section 1): symbols and precisions from the `instrument`
// channel, then `book` (checksum verified on every snapshot and update, book truncated to the
// subscribed depth) and `trade` (side is the taker's) on one connection.
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
const BOOK_DEPTHS = [10, 25, 100, 500, 1000] as const;
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
export function parseInstrumentFrame(text: string): KrakenPair[] | null {
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

export class KrakenVenue implements Venue {
  readonly streams: readonly StreamPlan[];
  private readonly ids = new Map<string, number>();
  private readonly fields = new NumericFieldReader();
  private readonly checksums: KrakenChecksum[];
  private readonly subscribeDepth: number;
  private stream: StreamHandle | null = null;
  private requestId = 0;
  private readonly time = new Uint32Array(2);

  constructor(private readonly context: VenueContext) {
    for (const symbol of context.symbols) this.ids.set(symbol.venueSymbol, symbol.id);
    this.checksums = context.symbols.map(() => new KrakenChecksum());
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
    book.truncate(this.subscribeDepth);
    const timestamp = str(entry, "timestamp");
    if (timestamp !== undefined && rfc3339Into(timestamp, this.time)) {
      sink.exchangeTime(this.time[0]!, this.time[1]!);
    }
    const expected = num(entry, "checksum");
    if (expected !== undefined && this.checksums[symbol.id]!.of(book) !== expected) {
      this.context.counters.checksumMismatch(symbol.id);
      this.invalidate(symbol.id, StatusReason.ChecksumMismatch);
      this.resync(symbol.id);
      return;
    }
    sink.changed(symbol.id, 0);
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
