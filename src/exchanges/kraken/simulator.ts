// Kraken WebSocket v2 in the simulator, at /kraken/v2: status on connect, subscribe/unsubscribe
// acks, the instrument snapshot, depth-capped books with a CRC32 checksum on every snapshot and
// update (docs/exchanges/kraken.md), trades, heartbeats when idle and ping/pong. Prices and
// quantities are JSON numbers in the shortest form (exponent form under 0.0001, as the 2026
// capture shows).
import { formatScaled, formatScaledTrimmed } from "../../market/decimal.ts";
import type { Instrument } from "../../simulator/instruments.ts";
import type { LevelChange, Market, MarketEvent, MarketSide, Trade } from "../../simulator/market.ts";
import {
  type MarketSettings,
  parseRequest,
  type SimSocket,
  type SimulatedVenue,
  VenueSimulator,
} from "../../simulator/venue.ts";
import { rfc3339, rfc3339OfMs } from "../../simulator/wire-time.ts";
import { BOOK_DEPTHS } from "./venue.ts";

const CHECKSUM_LEVELS = 10;
const HEARTBEAT_MS = 1_000;
const FAULTS = ["drop-frame", "corrupt-checksum", "disconnect", "stall", "garbage"] as const;

export const krakenSimulator = {
  name: "kraken",
  wsPath: "/v2",
  demoSymbols: ["BTC-USD", "ETH-USD", "SOL-USD"],
  faults: FAULTS,
  // BTC/USD 1/8, ETH/USD 2/8, SOL/USD 2/8 decimals (instrument channel), DOGE 5.
  listing: (base, quote, start) => ({
    venueSymbol: `${base}/${quote}`,
    priceDecimals: start >= 10_000 ? 1 : start >= 1 ? 2 : 5,
    sizeDecimals: 8,
  }),
  create: (settings) => new KrakenSimulator(settings),
} satisfies SimulatedVenue;

type Level = [number, number];

/** The top `depth` levels a side as last sent to every subscriber of one (symbol, depth). */
class BookView {
  bids: Level[];
  asks: Level[];
  readonly subscribers = new Set<SimSocket>();

  constructor(
    readonly depth: number,
    market: Market,
  ) {
    this.bids = market.bids.top(depth);
    this.asks = market.asks.top(depth);
  }

  /**
   * The levels to send so that a client applying them and truncating to `depth` holds the new
   * top: changed or newly visible levels, and size 0 for visible levels that were deleted. A level
   * pushed out of view is not sent, exactly as Kraken does.
   */
  diff(book: MarketSide, changes: readonly LevelChange[]): Level[] {
    const old = book.side === "bid" ? this.bids : this.asks;
    const worst = old[old.length - 1];
    const touched = changes.some(
      (change) =>
        change.side === book.side &&
        (old.length < this.depth || worst === undefined || !book.better(worst[0], change.price)),
    );
    if (!touched) return [];
    const fresh = book.top(this.depth);
    if (book.side === "bid") this.bids = fresh;
    else this.asks = fresh;
    const before = new Map(old);
    const visible = new Set<number>();
    const deleted: Level[] = [];
    const changed: Level[] = [];
    for (const [price, size] of fresh) {
      visible.add(price);
      if (before.get(price) !== size) changed.push([price, size]);
    }
    for (const [price] of old) {
      if (!visible.has(price) && book.sizeOf(price) === 0) deleted.push([price, 0]);
    }
    return deleted.concat(changed);
  }
}

interface Connection {
  readonly books: Map<string, BookView>;
  readonly trades: Set<string>;
  instrument: boolean;
  lastSentMs: number;
}

class KrakenSimulator extends VenueSimulator {
  private readonly connections = new Map<SimSocket, Connection>();
  /** symbol -> depth -> view. */
  private readonly views = new Map<string, Map<number, BookView>>();
  private nextConnectionId = 1;

  constructor(settings: MarketSettings) {
    super(krakenSimulator, settings, 20);
  }

  acceptsSocket(path: string): boolean {
    return path === "/v2";
  }

  http(): Response | undefined {
    return undefined;
  }

  protected opened(ws: SimSocket): void {
    this.connections.set(ws, { books: new Map(), trades: new Set(), instrument: false, lastSentMs: 0 });
    const connectionId = 8_000_000_000_000_000 + this.nextConnectionId++ * 1_000_003;
    this.send(
      ws,
      `{"channel":"status","type":"update","data":[{"version":"2.0.10","system":"online","api_version":"v2","connection_id":${connectionId}}]}`,
    );
  }

  protected closed(ws: SimSocket): void {
    const connection = this.connections.get(ws);
    if (connection === undefined) return;
    for (const [symbol, view] of connection.books) this.leave(symbol, view, ws);
    this.connections.delete(ws);
  }

  protected subscribedTo(ws: SimSocket, symbol: string): boolean {
    const connection = this.connections.get(ws);
    return connection !== undefined && (connection.books.has(symbol) || connection.trades.has(symbol));
  }

  message(ws: SimSocket, text: string): void {
    const timeIn = rfc3339(6);
    const request = parseRequest(text);
    if (request === undefined) {
      this.reply(ws, { error: "EGeneral:Invalid arguments", success: false, time_in: timeIn });
      return;
    }
    const { method, params, req_id: reqId } = request;
    const base = reqId === undefined ? { method } : { method, req_id: reqId };
    if (method === "ping") {
      this.reply(ws, { method: "pong", ...(reqId === undefined ? {} : { req_id: reqId }), time_in: timeIn });
      return;
    }
    if (method !== "subscribe" && method !== "unsubscribe") {
      this.reply(ws, { error: "Method not found", ...base, success: false, time_in: timeIn });
      return;
    }
    const p = (typeof params === "object" && params !== null ? params : {}) as Record<string, unknown>;
    const channel = p.channel;
    if (channel === "instrument") {
      this.instrumentRequest(ws, method, base, timeIn, p.snapshot !== false);
      return;
    }
    if (channel !== "book" && channel !== "trade") {
      const error =
        channel === undefined ? "EGeneral:Invalid arguments:Missing channel" : "Channel not supported";
      this.reply(ws, { error, ...base, success: false, time_in: timeIn });
      return;
    }
    const symbols = p.symbol;
    if (!Array.isArray(symbols) || symbols.length === 0 || !symbols.every((s) => typeof s === "string")) {
      this.reply(ws, {
        error: "EGeneral:Invalid arguments:symbol",
        ...base,
        success: false,
        time_in: timeIn,
      });
      return;
    }
    let depth = 10;
    if (channel === "book" && p.depth !== undefined) {
      if (!(BOOK_DEPTHS as readonly unknown[]).includes(p.depth)) {
        this.reply(ws, {
          error: "EGeneral:Invalid arguments:depth",
          ...base,
          success: false,
          time_in: timeIn,
        });
        return;
      }
      depth = p.depth as number;
    }
    const snapshot = p.snapshot === undefined ? channel === "book" : p.snapshot === true;
    for (const venueSymbol of symbols as string[]) {
      const symbol = this.symbolOf(venueSymbol);
      if (symbol === undefined) {
        this.reply(ws, {
          error: `Currency pair not supported ${venueSymbol}`,
          ...base,
          success: false,
          symbol: venueSymbol,
          time_in: timeIn,
        });
        continue;
      }
      if (channel === "book")
        this.bookRequest(ws, method, base, timeIn, symbol, venueSymbol, depth, snapshot);
      else this.tradeRequest(ws, method, base, timeIn, symbol, venueSymbol, snapshot);
    }
  }

  private bookRequest(
    ws: SimSocket,
    method: "subscribe" | "unsubscribe",
    base: Record<string, unknown>,
    timeIn: string,
    symbol: string,
    venueSymbol: string,
    depth: number,
    snapshot: boolean,
  ): void {
    const connection = this.connections.get(ws)!;
    const current = connection.books.get(symbol);
    if (method === "unsubscribe") {
      if (current === undefined) {
        this.reply(ws, {
          error: "Subscription Not Found",
          ...base,
          success: false,
          symbol: venueSymbol,
          time_in: timeIn,
        });
        return;
      }
      this.leave(symbol, current, ws);
      connection.books.delete(symbol);
      const result = { channel: "book", depth: current.depth, symbol: venueSymbol };
      this.reply(ws, { ...base, result, success: true, time_in: timeIn });
      return;
    }
    if (current !== undefined) {
      this.reply(ws, {
        error: "Already subscribed",
        ...base,
        success: false,
        symbol: venueSymbol,
        time_in: timeIn,
      });
      return;
    }
    const view = this.join(symbol, depth, ws);
    connection.books.set(symbol, view);
    this.reply(ws, {
      ...base,
      result: { channel: "book", depth, snapshot, symbol: venueSymbol },
      success: true,
      time_in: timeIn,
    });
    if (snapshot) {
      const instrument = this.instrument(symbol)!;
      this.send(ws, this.bookFrame("snapshot", instrument, view.bids, view.asks, checksum(instrument, view)));
      connection.lastSentMs = Date.now();
    }
  }

  private tradeRequest(
    ws: SimSocket,
    method: "subscribe" | "unsubscribe",
    base: Record<string, unknown>,
    timeIn: string,
    symbol: string,
    venueSymbol: string,
    snapshot: boolean,
  ): void {
    const connection = this.connections.get(ws)!;
    const subscribed = connection.trades.has(symbol);
    if (method === "unsubscribe" ? !subscribed : subscribed) {
      const error = subscribed ? "Already subscribed" : "Subscription Not Found";
      this.reply(ws, { error, ...base, success: false, symbol: venueSymbol, time_in: timeIn });
      return;
    }
    if (method === "unsubscribe") {
      connection.trades.delete(symbol);
      this.reply(ws, {
        ...base,
        result: { channel: "trade", symbol: venueSymbol },
        success: true,
        time_in: timeIn,
      });
      return;
    }
    connection.trades.add(symbol);
    const result = { channel: "trade", snapshot, symbol: venueSymbol };
    this.reply(ws, { ...base, result, success: true, time_in: timeIn });
    if (snapshot) {
      const market = this.markets.get(symbol)!;
      this.send(ws, this.tradeFrame("snapshot", market.instrument, market.recentTrades));
    }
  }

  private instrumentRequest(
    ws: SimSocket,
    method: "subscribe" | "unsubscribe",
    base: Record<string, unknown>,
    timeIn: string,
    snapshot: boolean,
  ): void {
    const connection = this.connections.get(ws)!;
    connection.instrument = method === "subscribe";
    this.reply(ws, { ...base, result: { channel: "instrument", snapshot }, success: true, time_in: timeIn });
    if (method === "subscribe" && snapshot) this.send(ws, this.instrumentFrame());
  }

  /** The instrument snapshot: every served pair with its precisions and increments. */
  private instrumentFrame(): string {
    const assets = new Map<string, string>();
    const pairs: string[] = [];
    for (const market of this.markets.values()) {
      const i = market.instrument;
      for (const asset of [i.base, i.quote]) {
        assets.set(
          asset,
          `{"id":"${asset}","status":"enabled","precision":10,"precision_display":5,"borrowable":false,"collateral_value":0,"margin_rate":0}`,
        );
      }
      const priceIncrement = krakenNumber(1, i.priceDecimals);
      const qtyIncrement = krakenNumber(1, i.sizeDecimals);
      pairs.push(
        `{"symbol":"${i.venueSymbol}","base":"${i.base}","quote":"${i.quote}","status":"online",` +
          `"qty_precision":${i.sizeDecimals},"qty_increment":${qtyIncrement},` +
          `"price_precision":${i.priceDecimals},"cost_precision":5,"marginable":false,"has_index":true,` +
          `"cost_min":0.5,"tick_size":${priceIncrement},"price_increment":${priceIncrement},` +
          `"qty_min":${krakenNumber(10 ** Math.max(0, i.sizeDecimals - 4), i.sizeDecimals)}}`,
      );
    }
    return `{"channel":"instrument","type":"snapshot","data":{"assets":[${[...assets.values()].join(",")}],"pairs":[${pairs.join(",")}]}}`;
  }

  private join(symbol: string, depth: number, ws: SimSocket): BookView {
    let byDepth = this.views.get(symbol);
    if (byDepth === undefined) {
      byDepth = new Map();
      this.views.set(symbol, byDepth);
    }
    let view = byDepth.get(depth);
    if (view === undefined) {
      view = new BookView(depth, this.markets.get(symbol)!);
      byDepth.set(depth, view);
    }
    view.subscribers.add(ws);
    return view;
  }

  private leave(symbol: string, view: BookView, ws: SimSocket): void {
    view.subscribers.delete(ws);
    if (view.subscribers.size === 0) this.views.get(symbol)?.delete(view.depth);
  }

  /**
   * Trades one message each, then one book message per (symbol, depth) for the whole tick (20 ms):
   * the levels that changed in the subscribers' view, with the checksum of the resulting view.
   */
  protected publish(market: Market, events: MarketEvent[]): void {
    const symbol = market.instrument.symbol;
    const instrument = market.instrument;
    const now = Date.now();
    const tradeSubscribers = [...this.connections].filter(([, c]) => c.trades.has(symbol));
    for (const event of events) {
      if (event.trade === undefined || tradeSubscribers.length === 0) continue;
      const frame = this.tradeFrame("update", instrument, [event.trade]);
      for (const [ws, connection] of tradeSubscribers) {
        this.send(ws, frame);
        connection.lastSentMs = now;
      }
    }
    const views = this.views.get(symbol);
    if (views === undefined || views.size === 0) return;
    const changes = events.flatMap((event) => event.changes);
    const frames: { view: BookView; bids: Level[]; asks: Level[]; sum: number; top10Changed: boolean }[] = [];
    for (const view of views.values()) {
      const before = checksum(instrument, view);
      const bids = view.diff(market.bids, changes);
      const asks = view.diff(market.asks, changes);
      if (bids.length === 0 && asks.length === 0) continue;
      const sum = checksum(instrument, view);
      frames.push({ view, bids, asks, sum, top10Changed: sum !== before });
    }
    if (frames.length === 0) return;
    // A dropped frame must hide a top-10 change, or no client could ever notice it.
    const drop = frames.some((f) => f.top10Changed) && this.faults.take("drop-frame", symbol);
    const corrupt = !drop && this.faults.take("corrupt-checksum", symbol);
    for (const { view, bids, asks, sum } of frames) {
      if (drop) {
        this.counters.framesDropped += view.subscribers.size;
        continue;
      }
      const frame = this.bookFrame(
        "update",
        instrument,
        bids,
        asks,
        corrupt ? (sum ^ 0x5a5a5a5a) >>> 0 : sum,
      );
      for (const ws of view.subscribers) {
        this.send(ws, frame);
        this.connections.get(ws)!.lastSentMs = now;
      }
    }
  }

  /** Heartbeats for subscribed connections that got nothing for a second. */
  protected override afterTick(nowMs: number): void {
    // A stalled venue says nothing at all, heartbeats included.
    if (this.faults.venueStalled(nowMs)) return;
    for (const [ws, connection] of this.connections) {
      const subscribed = connection.books.size > 0 || connection.trades.size > 0 || connection.instrument;
      if (subscribed && nowMs - connection.lastSentMs >= HEARTBEAT_MS) {
        this.send(ws, '{"channel":"heartbeat"}');
        connection.lastSentMs = nowMs;
      }
    }
  }

  private reply(ws: SimSocket, body: Record<string, unknown>): void {
    this.send(ws, JSON.stringify({ ...body, time_out: rfc3339(6) }));
  }

  private bookFrame(
    type: "snapshot" | "update",
    instrument: Instrument,
    bids: Level[],
    asks: Level[],
    sum: number,
  ): string {
    return (
      `{"channel":"book","type":"${type}","data":[{"symbol":"${instrument.venueSymbol}",` +
      `"bids":${levelsJson(instrument, bids)},"asks":${levelsJson(instrument, asks)},` +
      `"checksum":${sum},"timestamp":"${rfc3339(6)}"}]}`
    );
  }

  private tradeFrame(type: "snapshot" | "update", instrument: Instrument, trades: readonly Trade[]): string {
    const items = trades.map(
      (t) =>
        `{"symbol":"${instrument.venueSymbol}","side":"${t.taker}","price":${krakenNumber(t.price, instrument.priceDecimals)},` +
        `"qty":${krakenNumber(t.size, instrument.sizeDecimals)},"ord_type":"${t.id % 5 === 0 ? "limit" : "market"}",` +
        `"trade_id":${t.id},"timestamp":"${rfc3339OfMs(t.timeMs)}"}`,
    );
    return `{"channel":"trade","type":"${type}","data":[${items.join(",")}]}`;
  }
}

function levelsJson(instrument: Instrument, levels: Level[]): string {
  let out = "[";
  for (let i = 0; i < levels.length; i++) {
    const [price, size] = levels[i]!;
    if (i > 0) out += ",";
    out += `{"price":${krakenNumber(price, instrument.priceDecimals)},"qty":${krakenNumber(size, instrument.sizeDecimals)}}`;
  }
  return `${out}]`;
}

/**
 * A scaled integer as Kraken writes the JSON number: shortest decimal ("45283.5", "0"), and
 * exponent form below 0.0001 ("5.1e-05"), as in the recorded 2026 frames.
 */
export function krakenNumber(value: number, decimals: number): string {
  if (value === 0 || value >= 10 ** Math.max(0, decimals - 4)) return formatScaledTrimmed(value, decimals);
  const digits = String(value).replace(/0+$/, "");
  const exponent = String(value).length - 1 - decimals;
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${mantissa}e-${String(-exponent).padStart(2, "0")}`;
}

/** CRC32 of the top 10 asks then top 10 bids, digits at the instrument's precision (docs/exchanges/kraken.md). */
function checksum(instrument: Instrument, view: BookView): number {
  let text = "";
  for (const levels of [view.asks, view.bids]) {
    const n = Math.min(CHECKSUM_LEVELS, levels.length);
    for (let i = 0; i < n; i++) {
      const [price, size] = levels[i]!;
      text += checksumDigits(formatScaled(price, instrument.priceDecimals));
      text += checksumDigits(formatScaled(size, instrument.sizeDecimals));
    }
  }
  return Bun.hash.crc32(text) >>> 0;
}

function checksumDigits(text: string): string {
  return text.replace(".", "").replace(/^0+/, "");
}
