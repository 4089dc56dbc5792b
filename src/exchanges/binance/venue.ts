// Binance spot (docs/exchanges/binance.md): one combined stream (`trade`, `depth@100ms`) plus a
// REST depth snapshot per symbol, synced by Binance's official procedure with continuity
// (U == previous u + 1) checked on every event; a gap resyncs that symbol alone. Symbols and
// precisions come from /api/v3/exchangeInfo. Trade side: `m` true means the buyer was the
// maker, so the aggressor sold.
import type { OrderBook } from "../../book/order-book.ts";
import { decimalsOfIncrement, parseScaled, parseScaledAt } from "../../market/decimal.ts";
import { StatusReason, type SymbolInfo, type SymbolSpec } from "../../shm/layout.ts";
import { arr, FrameError, isObject, type JsonObject, num, str } from "../json.ts";
import { epochMillisInto } from "../timestamps.ts";
import {
  type Endpoints,
  HttpStatusError,
  type RestClient,
  type StreamHandle,
  type StreamPlan,
  splitSymbol,
  TradeSide,
  UnknownSymbolError,
  type Venue,
  type VenueContext,
  type VenueDefinition,
} from "../venue.ts";

const STREAM_KEY = '{"stream":"';

/** Server pings come every 20 s and data far more often: a minute of silence is a dead link. */
const WATCHDOG_MS = 60_000;
/** Connections last 24 h: roll over well before. */
const MAX_LIFETIME_MS = 23.5 * 3600_000;

/** The deepest REST depth snapshot Binance serves. */
export const MAX_DEPTH_LIMIT = 5_000;

/** Request weight of a REST depth snapshot by its limit. */
export function depthWeight(limit: number): number {
  return limit <= 100 ? 5 : limit <= 500 ? 25 : limit <= 1_000 ? 50 : 250;
}

/** The REST depth limit to ask for: deep enough to refill the view. */
function binanceSnapshotLimit(viewDepth: number): { limit: number; weight: number } {
  const limit = viewDepth <= 100 ? 1_000 : MAX_DEPTH_LIMIT;
  return { limit, weight: depthWeight(limit) };
}

/** The hash the trade fast path computes over a trade stream's name ("btcusdt@trade"). */
function streamHash(symbol: string): number {
  let hash = 0;
  for (let i = 0; i < symbol.length; i++) hash = (hash * 31 + symbol.charCodeAt(i)) | 0;
  return hash;
}

/**
 * Reads the non-negative integer at `at` into out[0]; returns where it ends, or -1 if there is
 * none, it has more than 15 digits, or something other than "," or "}" follows it.
 */
function readInt(text: string, at: number, out: Float64Array): number {
  let value = 0;
  const start = at;
  for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at))
    value = value * 10 + (c - 48);
  const next = text.charCodeAt(at);
  if (at === start || at - start > 15 || (next !== 44 && next !== 125)) return -1;
  out[0] = value;
  return at;
}

interface DepthEvent {
  readonly first: number;
  readonly last: number;
  readonly bids: unknown[];
  readonly asks: unknown[];
}

/** Per-symbol sync state. */
class DepthSync {
  live = false;
  /** The book's last applied update id. */
  bookId = 0;
  /** Events held while the snapshot is on its way. */
  buffer: DepthEvent[] = [];
  snapshotRequested = false;
  /** The snapshot request waits in the request budget: not sent yet, so any attempt may use it. */
  snapshotQueued = false;
  /** Events a newer connection delivered ahead of the book during a rollover overlap. */
  ahead: DepthEvent[] = [];
  /** Bumped on every resync, so a late snapshot for an older attempt is dropped. */
  attempt = 0;
}

export interface BinanceSymbolInfo {
  readonly symbol: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly tickSize: string;
  readonly stepSize: string;
}

/** Reads exchangeInfo's symbols with their PRICE_FILTER tickSize and LOT_SIZE stepSize. */
export function parseExchangeInfo(body: unknown): BinanceSymbolInfo[] {
  if (!isObject(body)) throw new FrameError("exchangeInfo is not an object");
  const out: BinanceSymbolInfo[] = [];
  for (const entry of arr(body, "symbols") ?? []) {
    if (!isObject(entry)) continue;
    let tickSize: string | undefined;
    let stepSize: string | undefined;
    for (const filter of arr(entry, "filters") ?? []) {
      if (!isObject(filter)) continue;
      if (filter.filterType === "PRICE_FILTER") tickSize = str(filter, "tickSize");
      if (filter.filterType === "LOT_SIZE") stepSize = str(filter, "stepSize");
    }
    const symbol = str(entry, "symbol");
    const baseAsset = str(entry, "baseAsset");
    const quoteAsset = str(entry, "quoteAsset");
    if (symbol && baseAsset && quoteAsset && tickSize && stepSize) {
      out.push({ symbol, baseAsset, quoteAsset, tickSize, stepSize });
    }
  }
  return out;
}

async function exchangeInfo(rest: RestClient, restUrl: string, venueSymbols: string[]) {
  const query = encodeURIComponent(JSON.stringify(venueSymbols));
  return parseExchangeInfo(await rest.getJson(`${restUrl}/api/v3/exchangeInfo?symbols=${query}`));
}

export const binance: VenueDefinition = {
  name: "binance",
  defaultWsUrl: "wss://data-stream.binance.vision",
  defaultRestUrl: "https://data-api.binance.vision",
  defaultDepth: 100,
  // Snapshots go as deep as Binance serves; diffs may add levels below, which fall off.
  bookLevels: (viewDepth) => Math.max(viewDepth, MAX_DEPTH_LIMIT),
  replayStream: "binance",
  sequentialTradeIds: true,
  // 300 connection attempts per 5 minutes per IP.
  connectionsPerSecond: 1,
  // Request weight: a 2,500 burst (50 symbols at weight 50) then 2,400 a minute, so even the
  // first minute stays under the IP limit of 6,000.
  requestBudget: { capacity: 2500, perSecond: 40 },
  async resolveSymbols(symbols: readonly string[], endpoints: Endpoints, rest: RestClient) {
    const wanted = symbols.map((symbol) => ({ symbol, ...splitSymbol("binance", symbol) }));
    let infos: BinanceSymbolInfo[];
    try {
      infos = await exchangeInfo(
        rest,
        endpoints.restUrl,
        wanted.map((w) => w.base + w.quote),
      );
    } catch (error) {
      if (!(error instanceof HttpStatusError) || error.status !== 400) throw error;
      // Binance refuses the whole list for one bad symbol: ask one by one to name it.
      for (const w of wanted) {
        await exchangeInfo(rest, endpoints.restUrl, [w.base + w.quote]).catch((inner: unknown) => {
          if (inner instanceof HttpStatusError && inner.status === 400) {
            throw new UnknownSymbolError("binance", w.symbol, inner.body.slice(0, 200));
          }
          throw inner;
        });
      }
      throw error;
    }
    return wanted.map((w): SymbolSpec => {
      const info = infos.find((i) => i.baseAsset === w.base && i.quoteAsset === w.quote);
      if (!info) throw new UnknownSymbolError("binance", w.symbol, "not in exchangeInfo");
      return {
        venueSymbol: info.symbol,
        symbol: w.symbol,
        priceDecimals: decimalsOfIncrement(info.tickSize),
        sizeDecimals: decimalsOfIncrement(info.stepSize),
      };
    });
  },
  create: (context) => new BinanceVenue(context),
};

class BinanceVenue implements Venue {
  readonly streams: readonly StreamPlan[];
  private readonly ids = new Map<string, number>();
  /** Symbol id by streamHash of its trade stream, for the trade fast path (collisions left out). */
  private readonly byHash = new Map<number, number>();
  /**
   * Per symbol, the fixed text of its trade frames: everything before E's value, and between
   * E's and t's values. One comparison each checks stream, event type and symbol at once.
   */
  private readonly tradeHeads: string[];
  private readonly tradeSymbolFields: string[];
  /** Symbol id of the last trade frame read in place. */
  private lastTradeSymbol = 0;
  private readonly sync: DepthSync[];
  private readonly snapshot: { limit: number; weight: number };
  private readonly time = new Uint32Array(2);
  /** Scratch for integers read in place. */
  private readonly fields = new Float64Array(1);
  /** Open connections, newest last; two during a make-before-break rollover. */
  private readonly open: StreamHandle[] = [];

  constructor(private readonly context: VenueContext) {
    for (const symbol of context.symbols) this.ids.set(symbol.venueSymbol, symbol.id);
    const tradeStreams = context.symbols.map((symbol) => `${symbol.venueSymbol.toLowerCase()}@trade`);
    this.tradeHeads = tradeStreams.map((stream) => `{"stream":"${stream}","data":{"e":"trade","E":`);
    this.tradeSymbolFields = context.symbols.map((symbol) => `,"s":"${symbol.venueSymbol}","t":`);
    const hashes = tradeStreams.map(streamHash);
    context.symbols.forEach((symbol, i) => {
      if (hashes.indexOf(hashes[i]!) === hashes.lastIndexOf(hashes[i]!))
        this.byHash.set(hashes[i]!, symbol.id);
    });
    this.sync = context.symbols.map((symbol) => {
      context.counters.guardedBy(symbol.id, "sequence", true);
      return new DepthSync();
    });
    this.snapshot = binanceSnapshotLimit(context.depth);
    const streams = context.symbols.flatMap((s) => {
      const name = s.venueSymbol.toLowerCase();
      return [`${name}@trade`, `${name}@depth@100ms`];
    });
    this.streams = [
      {
        name: "binance",
        url: `${context.wsUrl}/stream?streams=${streams.join("/")}`,
        watchdogMs: WATCHDOG_MS,
        maxLifetimeMs: MAX_LIFETIME_MS,
      },
    ];
  }

  onOpen(stream: StreamHandle): void {
    // Streams are in the URL: nothing to send. Books (re)sync from the first events.
    this.open.push(stream);
  }

  onClose(stream: StreamHandle, replaced: boolean): void {
    const at = this.open.indexOf(stream);
    if (at >= 0) this.open.splice(at, 1);
    if (replaced) {
      // The newer connection carries the events on: apply what it delivered ahead.
      for (const symbol of this.context.symbols) {
        const sync = this.sync[symbol.id]!;
        const ahead = sync.ahead;
        sync.ahead = [];
        if (!sync.live) continue;
        for (const event of ahead) this.applyEvent(symbol, sync, event);
      }
      return;
    }
    for (const symbol of this.context.symbols) {
      this.context.sink.invalidate(symbol.id, StatusReason.Disconnected);
      this.restart(symbol.id);
    }
  }

  resync(symbolId: number): void {
    this.context.counters.resync(symbolId);
    this.restart(symbolId);
  }

  onFrame(stream: StreamHandle, text: string): void {
    if (this.fastTrade(text)) return;
    const message: unknown = JSON.parse(text);
    if (!isObject(message)) throw new FrameError("not a JSON object");
    const data = isObject(message.data) ? message.data : message;
    const type = data.e;
    const counters = this.context.counters;
    switch (type) {
      case "trade":
      case "aggTrade":
        counters.message("trade");
        this.onTrade(data, type === "trade" ? "t" : "a");
        return;
      case "depthUpdate":
        counters.message("depth");
        this.onDepth(data);
        return;
      case "serverShutdown":
        counters.message("serverShutdown");
        stream.rollover("serverShutdown");
        return;
    }
    if ("result" in message && "id" in message) {
      counters.message("response");
      return;
    }
    if (typeof type === "string" || typeof message.stream === "string") {
      counters.message(typeof type === "string" ? type : "other"); // bookTicker, kline...: not ours
      return;
    }
    counters.parseError("unknown_type", "no event type", text);
  }

  /**
   * Trades are most of the traffic, and JSON.parse alone costs more than the rest of the path:
   * a combined-stream trade frame in Binance's exact layout is read in place, token by token.
   * Anything else (other order, spaces, unknown symbol, odd value) returns false and takes the
   * JSON.parse path, which decides.
   */
  private fastTrade(text: string): boolean {
    // The stream's name picks the symbol whose fixed texts must then match exactly; the last
    // trade's symbol is tried first (trades come in runs), which skips hashing the name.
    let id = this.lastTradeSymbol;
    let head = this.tradeHeads[id];
    if (head === undefined || !text.startsWith(head)) {
      let streamEnd = STREAM_KEY.length;
      let hash = 0;
      for (
        let c = text.charCodeAt(streamEnd);
        c !== 34 && streamEnd < text.length;
        c = text.charCodeAt(++streamEnd)
      ) {
        hash = (hash * 31 + c) | 0;
      }
      const hashed = this.byHash.get(hash);
      if (hashed === undefined) return false;
      id = hashed;
      head = this.tradeHeads[id]!;
      if (!text.startsWith(head)) return false;
      this.lastTradeSymbol = id;
    }
    const fields = this.fields;
    let at = readInt(text, head.length, fields);
    const symbolFields = this.tradeSymbolFields[id]!;
    if (at < 0 || !text.startsWith(symbolFields, at)) return false;
    at = readInt(text, at + symbolFields.length, fields);
    const tradeId = fields[0]!;
    if (at < 0 || !text.startsWith(',"p":"', at)) return false;
    const priceEnd = text.indexOf('"', at + 6);
    const priceAt = at + 6;
    if (!text.startsWith(',"q":"', priceEnd + 1)) return false;
    const sizeAt = priceEnd + 7;
    const sizeEnd = text.indexOf('"', sizeAt);
    if (!text.startsWith(',"T":', sizeEnd + 1)) return false;
    at = readInt(text, sizeEnd + 6, fields);
    const tradeTime = fields[0]!;
    if (at < 0 || !text.startsWith(',"m":', at)) return false;
    const m = text.charCodeAt(at + 5);
    if (m !== 116 /* t */ && m !== 102 /* f */) return false;
    if (text.charCodeAt(text.length - 1) !== 125 || text.charCodeAt(text.length - 2) !== 125) return false;
    const symbol = this.context.symbols[id]!;
    const price = parseScaledAt(text, priceAt, priceEnd, symbol.priceDecimals);
    const size = parseScaledAt(text, sizeAt, sizeEnd, symbol.sizeDecimals);
    this.context.counters.message("trade");
    epochMillisInto(tradeTime, this.time);
    const sink = this.context.sink;
    sink.exchangeTime(this.time[0]!, this.time[1]!);
    sink.trade(id, price, size, m === 116 ? TradeSide.Sell : TradeSide.Buy, tradeId);
    return true;
  }

  private symbolOf(data: JsonObject): SymbolInfo | undefined {
    const id = this.ids.get(str(data, "s") ?? "");
    return id === undefined ? undefined : this.context.symbols[id];
  }

  private onTrade(data: JsonObject, idKey: string): void {
    const symbol = this.symbolOf(data);
    if (!symbol) return;
    const priceText = str(data, "p");
    const sizeText = str(data, "q");
    if (priceText === undefined || sizeText === undefined) throw new FrameError("trade without p/q");
    const time = num(data, "T") ?? num(data, "E");
    if (time !== undefined) {
      epochMillisInto(time, this.time);
      this.context.sink.exchangeTime(this.time[0]!, this.time[1]!);
    }
    const tradeId = num(data, idKey) ?? 0;
    const side = data.m === true ? TradeSide.Sell : data.m === false ? TradeSide.Buy : TradeSide.Unknown;
    this.context.sink.trade(
      symbol.id,
      parseScaled(priceText, symbol.priceDecimals),
      parseScaled(sizeText, symbol.sizeDecimals),
      side,
      Math.max(tradeId, 0),
    );
  }

  private onDepth(data: JsonObject): void {
    const symbol = this.symbolOf(data);
    if (!symbol) return;
    const first = num(data, "U");
    const last = num(data, "u");
    const bids = arr(data, "b");
    const asks = arr(data, "a");
    if (first === undefined || last === undefined || !bids || !asks || first > last) {
      throw new FrameError("depthUpdate without U/u/b/a");
    }
    const time = num(data, "E");
    if (time !== undefined) {
      epochMillisInto(time, this.time);
      this.context.sink.exchangeTime(this.time[0]!, this.time[1]!);
    }
    const event: DepthEvent = { first, last, bids, asks };
    const sync = this.sync[symbol.id]!;
    if (!sync.live) {
      sync.buffer.push(event);
      if (!sync.snapshotRequested) this.requestSnapshot(symbol);
      return;
    }
    this.applyEvent(symbol, sync, event);
  }

  /** Applies one live event by the official rules; a gap invalidates and resyncs the symbol. */
  private applyEvent(symbol: SymbolInfo, sync: DepthSync, event: DepthEvent): void {
    if (event.last <= sync.bookId) return; // already applied (or from the older connection)
    if (event.first > sync.bookId + 1) {
      if (this.open.length > 1) {
        sync.ahead.push(event); // overlap: the older connection has not caught up yet
        return;
      }
      this.context.counters.sequenceGap(symbol.id);
      this.context.sink.invalidate(symbol.id, StatusReason.SequenceGap);
      this.resync(symbol.id);
      return;
    }
    const book = this.context.sink.book(symbol.id);
    if (book === null) return;
    applyLevels(book, event.bids, false, symbol);
    applyLevels(book, event.asks, true, symbol);
    sync.bookId = event.last;
    this.context.sink.changed(symbol.id, event.last);
  }

  /** Back to buffering; the next event requests a fresh snapshot. */
  private restart(symbolId: number): void {
    const sync = this.sync[symbolId]!;
    sync.live = false;
    sync.buffer = [];
    sync.ahead = [];
    // A request still waiting in the budget serves the new attempt. Queueing another behind it
    // would spend the budget twice; and as the collector resyncs a book that stays invalid for
    // some seconds, books waiting their turn would only ever queue stale requests: none went out.
    sync.snapshotRequested = sync.snapshotQueued;
    sync.attempt++;
  }

  private requestSnapshot(symbol: SymbolInfo): void {
    const sync = this.sync[symbol.id]!;
    sync.snapshotRequested = true;
    sync.snapshotQueued = true;
    const { limit, weight } = this.snapshot;
    const url = `${this.context.restUrl}/api/v3/depth?symbol=${symbol.venueSymbol}&limit=${limit}`;
    this.context.budget.schedule(weight, () => {
      sync.snapshotQueued = false;
      // The request is for the attempt current when it goes out (a resync may have come since).
      const attempt = sync.attempt;
      this.context.rest.getJson(url).then(
        (body) => {
          if (sync.attempt === attempt) this.context.batch(() => this.onSnapshot(symbol, sync, body));
        },
        (error: unknown) => {
          if (sync.attempt !== attempt) return;
          this.context.log.throttled("warn", `binance-snapshot-${symbol.symbol}`, "depth snapshot failed", {
            symbol: symbol.symbol,
            error,
          });
          sync.snapshotRequested = false; // the next event asks again, through the budget
        },
      );
    });
  }

  private onSnapshot(symbol: SymbolInfo, sync: DepthSync, body: unknown): void {
    if (!isObject(body)) throw new FrameError("depth snapshot is not an object");
    const lastUpdateId = num(body, "lastUpdateId");
    const bids = arr(body, "bids");
    const asks = arr(body, "asks");
    if (lastUpdateId === undefined || !bids || !asks) throw new FrameError("depth snapshot without fields");
    const firstBuffered = sync.buffer[0];
    if (firstBuffered !== undefined && lastUpdateId + 1 < firstBuffered.first) {
      // Older than what we hold, so events between are missing: fetch again (step 3).
      this.requestSnapshot(symbol);
      return;
    }
    const book = this.context.sink.snapshot(symbol.id);
    applyLevels(book, bids, false, symbol);
    applyLevels(book, asks, true, symbol);
    sync.bookId = lastUpdateId;
    sync.live = true;
    const buffered = sync.buffer;
    sync.buffer = [];
    this.context.sink.changed(symbol.id, lastUpdateId);
    for (const event of buffered) {
      if (!sync.live) break;
      this.applyEvent(symbol, sync, event);
    }
  }
}

function applyLevels(book: OrderBook, levels: unknown[], isAsk: boolean, symbol: SymbolInfo): void {
  const side = book.side(isAsk);
  for (const level of levels) {
    if (!Array.isArray(level) || typeof level[0] !== "string" || typeof level[1] !== "string") {
      throw new FrameError("depth level is not [price, qty]");
    }
    side.set(parseScaled(level[0], symbol.priceDecimals), parseScaled(level[1], symbol.sizeDecimals));
  }
}
