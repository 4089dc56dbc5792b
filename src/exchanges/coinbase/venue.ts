// Coinbase Advanced Trade (docs/exchanges/coinbase.md): `level2` (channel l2_data, side
// "offer" is the ask side), `market_trades` and `heartbeats`. sequence_num is one counter per connection
// across every channel, so a gap cannot be pinned on one product: each product's book gets a
// connection of its own, and a gap there resubscribes that product alone (fresh snapshot).
// Trades for all products share one more connection. Precisions come from the products REST.
import { decimalsOfIncrement, parseScaled } from "../../market/decimal.ts";
import { StatusReason, type SymbolInfo, type SymbolSpec } from "../../shm/layout.ts";
import { arr, FrameError, isObject, type JsonObject, num, str } from "../json.ts";
import { rfc3339Into } from "../timestamps.ts";
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

/**
 * THE switch for market_trades' disputed `side` (docs/exchanges/coinbase.md). We read it as the MAKER's
 * side, so the aggressor is the opposite: Coinbase's REST trades and legacy `match` messages
 * document `side` as the maker side ("a buy side indicates a down-tick"), Advanced Trade
 * serves the same trade ids from the same engine, and NautilusTrader's current adapter reached
 * the same reading. Flip it to "taker" if a live comparison against l2_data says otherwise.
 */
export const COINBASE_TRADE_SIDE_IS: "maker" | "taker" = "maker";

/** Heartbeats arrive every second: five without any frame means the link is gone. */
const WATCHDOG_MS = 5_000;
const TRADES_STREAM = "coinbase-trades";
/**
 * A level2 snapshot is the whole book, often deeper than this: the best levels a side kept, far
 * below any view, so deletions near the top still pull real levels into it.
 */
const BOOK_LEVELS = 5_000;

function bookStreamName(symbol: SymbolInfo): string {
  return `coinbase-book-${symbol.venueSymbol}`;
}

/** The aggressor's side from market_trades' `side`, per the switch above. */
export function coinbaseAggressor(side: unknown): TradeSide {
  const buy = side === "BUY";
  if (!buy && side !== "SELL") return TradeSide.Unknown;
  const makerBought = COINBASE_TRADE_SIDE_IS === "maker" ? buy : !buy;
  return makerBought ? TradeSide.Sell : TradeSide.Buy;
}

/** Reads a products/{id} answer into a symbol spec. */
export function parseProduct(symbol: string, body: unknown): SymbolSpec {
  if (!isObject(body)) throw new UnknownSymbolError("coinbase", symbol, "product answer is not an object");
  const productId = str(body, "product_id");
  const quoteIncrement = str(body, "quote_increment") ?? str(body, "price_increment");
  const baseIncrement = str(body, "base_increment");
  if (!productId || !quoteIncrement || !baseIncrement) {
    throw new UnknownSymbolError("coinbase", symbol, "product answer lacks product_id or increments");
  }
  return {
    venueSymbol: productId,
    symbol,
    priceDecimals: decimalsOfIncrement(quoteIncrement),
    sizeDecimals: decimalsOfIncrement(baseIncrement),
  };
}

export const coinbase: VenueDefinition = {
  name: "coinbase",
  defaultWsUrl: "wss://advanced-trade-ws.coinbase.com",
  defaultRestUrl: "https://api.coinbase.com",
  defaultDepth: 100,
  bookLevels: (viewDepth) => Math.max(viewDepth, BOOK_LEVELS),
  // Other tools capture every product on one connection: the trades connection reads any
  // product's books too.
  replayStream: TRADES_STREAM,
  sequentialTradeIds: false,
  // 8 a second per IP (docs/exchanges/coinbase.md); one book connection per product adds up fast.
  connectionsPerSecond: 6,
  // Messages: half of the 8 a second an unauthenticated IP may send.
  requestBudget: { capacity: 8, perSecond: 4 },
  async resolveSymbols(symbols: readonly string[], endpoints: Endpoints, rest: RestClient) {
    const specs: SymbolSpec[] = [];
    for (const symbol of symbols) {
      const { base, quote } = splitSymbol("coinbase", symbol);
      const url = `${endpoints.restUrl}/api/v3/brokerage/market/products/${base}-${quote}`;
      try {
        specs.push(parseProduct(symbol, await rest.getJson(url)));
      } catch (error) {
        if (error instanceof HttpStatusError && (error.status === 404 || error.status === 400)) {
          throw new UnknownSymbolError("coinbase", symbol, `products answered HTTP ${error.status}`);
        }
        throw error;
      }
    }
    return specs;
  },
  create: (context) => new CoinbaseVenue(context),
};

/** What one connection carries, and where its sequence stands. */
interface Connection {
  readonly symbol: SymbolInfo | null; // null: the trades connection
  handle: StreamHandle | null;
  lastSeq: number;
}

class CoinbaseVenue implements Venue {
  readonly streams: readonly StreamPlan[];
  private readonly ids = new Map<string, number>();
  private readonly connections = new Map<string, Connection>();
  private readonly time = new Uint32Array(2);

  constructor(private readonly context: VenueContext) {
    const plans: StreamPlan[] = [];
    for (const symbol of context.symbols) {
      this.ids.set(symbol.venueSymbol, symbol.id);
      context.counters.guardedBy(symbol.id, "sequence", true);
      const name = bookStreamName(symbol);
      this.connections.set(name, { symbol, handle: null, lastSeq: -1 });
      plans.push({ name, url: context.wsUrl, watchdogMs: WATCHDOG_MS, maxLifetimeMs: 0 });
    }
    this.connections.set(TRADES_STREAM, { symbol: null, handle: null, lastSeq: -1 });
    plans.push({ name: TRADES_STREAM, url: context.wsUrl, watchdogMs: WATCHDOG_MS, maxLifetimeMs: 0 });
    this.streams = plans;
  }

  onOpen(stream: StreamHandle): void {
    const connection = this.connections.get(stream.name);
    if (!connection) return;
    connection.handle = stream;
    connection.lastSeq = -1;
    // Coinbase closes a connection that has not subscribed within 5 s: subscribe at once.
    if (connection.symbol) {
      this.subscribe(stream, "level2", [connection.symbol.venueSymbol]);
    } else {
      this.subscribe(
        stream,
        "market_trades",
        this.context.symbols.map((s) => s.venueSymbol),
      );
    }
    stream.send(JSON.stringify({ type: "subscribe", channel: "heartbeats" }));
  }

  onClose(stream: StreamHandle): void {
    const connection = this.connections.get(stream.name);
    if (!connection || connection.handle !== stream) return;
    connection.handle = null;
    if (connection.symbol) this.context.sink.invalidate(connection.symbol.id, StatusReason.Disconnected);
  }

  resync(symbolId: number): void {
    const symbol = this.context.symbols[symbolId];
    if (!symbol) return;
    this.context.counters.resync(symbolId);
    this.context.budget.schedule(2, () => {
      const handle = this.connections.get(bookStreamName(symbol))?.handle;
      if (!handle || this.context.sink.isValid(symbolId)) return;
      this.subscribe(handle, "level2", [symbol.venueSymbol], "unsubscribe");
      this.subscribe(handle, "level2", [symbol.venueSymbol]);
    });
  }

  onFrame(stream: StreamHandle, text: string): void {
    const message: unknown = JSON.parse(text);
    if (!isObject(message)) throw new FrameError("not a JSON object");
    const connection = this.connections.get(stream.name);
    if (!connection) return;
    const counters = this.context.counters;
    const channel = str(message, "channel");
    if (channel === undefined) {
      if (message.type === "error") {
        counters.message("error");
        this.context.log.throttled("warn", "coinbase-error", "coinbase sent an error", {
          stream: stream.name,
          message: message.message,
        });
        return;
      }
      counters.parseError("unknown_type", "no channel", text);
      return;
    }
    const seq = num(message, "sequence_num");
    if (seq !== undefined) {
      const expected = connection.lastSeq + 1;
      connection.lastSeq = seq;
      if (expected > 0 && seq !== expected) this.onGap(connection, stream);
    }
    const timestamp = str(message, "timestamp");
    if (timestamp !== undefined && rfc3339Into(timestamp, this.time)) {
      this.context.sink.exchangeTime(this.time[0]!, this.time[1]!);
    }
    switch (channel) {
      case "l2_data":
        counters.message("l2_data");
        this.onBook(message, seq ?? 0);
        return;
      case "market_trades":
        counters.message("market_trades");
        this.onTrades(message);
        return;
      case "heartbeats":
      case "subscriptions":
        counters.message(channel);
        return;
    }
    counters.parseError("unknown_type", `channel ${channel}`, text);
  }

  private onGap(connection: Connection, stream: StreamHandle): void {
    const symbol = connection.symbol;
    if (symbol === null) {
      // Trades: resubscribe for the recent-trades snapshot; the id window drops repeats.
      this.context.counters.message("trades_sequence_gap");
      this.subscribe(
        stream,
        "market_trades",
        this.context.symbols.map((s) => s.venueSymbol),
      );
      return;
    }
    this.context.counters.sequenceGap(symbol.id);
    this.context.sink.invalidate(symbol.id, StatusReason.SequenceGap);
    this.resync(symbol.id);
  }

  private onBook(message: JsonObject, seq: number): void {
    const sink = this.context.sink;
    for (const event of arr(message, "events") ?? []) {
      if (!isObject(event)) throw new FrameError("l2_data event is not an object");
      const symbol = this.symbolOf(str(event, "product_id"));
      if (!symbol) continue;
      const updates = arr(event, "updates");
      if (!updates) throw new FrameError("l2_data event without updates");
      const type = event.type;
      const book =
        type === "snapshot" ? sink.snapshot(symbol.id) : type === "update" ? sink.book(symbol.id) : null;
      if (type !== "snapshot" && type !== "update") throw new FrameError(`l2_data type ${String(type)}`);
      if (book === null) continue; // waiting for the snapshot after a resync
      for (const update of updates) {
        if (!isObject(update)) throw new FrameError("l2_data update is not an object");
        const side = update.side;
        const isAsk = side === "offer" || side === "ask";
        if (!isAsk && side !== "bid") throw new FrameError(`l2_data side ${String(side)}`);
        const price = str(update, "price_level");
        const size = str(update, "new_quantity");
        if (price === undefined || size === undefined)
          throw new FrameError("l2_data update without price/qty");
        book
          .side(isAsk)
          .set(parseScaled(price, symbol.priceDecimals), parseScaled(size, symbol.sizeDecimals));
      }
      sink.changed(symbol.id, seq);
    }
  }

  private onTrades(message: JsonObject): void {
    const sink = this.context.sink;
    for (const event of arr(message, "events") ?? []) {
      if (!isObject(event)) throw new FrameError("market_trades event is not an object");
      for (const trade of arr(event, "trades") ?? []) {
        if (!isObject(trade)) throw new FrameError("trade is not an object");
        const symbol = this.symbolOf(str(trade, "product_id"));
        if (!symbol) continue;
        const price = str(trade, "price");
        const size = str(trade, "size");
        if (price === undefined || size === undefined) throw new FrameError("trade without price/size");
        const idText = str(trade, "trade_id") ?? "";
        const tradeId = /^\d{1,15}$/.test(idText) ? Number(idText) : 0;
        sink.trade(
          symbol.id,
          parseScaled(price, symbol.priceDecimals),
          parseScaled(size, symbol.sizeDecimals),
          coinbaseAggressor(trade.side),
          tradeId,
        );
      }
    }
  }

  private symbolOf(productId: string | undefined): SymbolInfo | undefined {
    const id = productId === undefined ? undefined : this.ids.get(productId);
    return id === undefined ? undefined : this.context.symbols[id];
  }

  private subscribe(stream: StreamHandle, channel: string, productIds: string[], type = "subscribe"): void {
    stream.send(JSON.stringify({ type, product_ids: productIds, channel }));
  }
}
