// Coinbase Advanced Trade in the simulator, at /coinbase: subscribe within 5 s, one channel per
// message; level2 answered on l2_data (snapshot then updates, side bid/offer), market_trades
// (snapshot then updates), heartbeats, and the subscriptions ack, all under ONE sequence_num per
// connection starting at 0. REST product metadata at /coinbase/api/v3/brokerage/market/products/<id>.
import type { Settings } from "../../config.ts";
import { formatScaledTrimmed } from "../../market/decimal.ts";
import type { Instrument } from "../../simulator/instruments.ts";
import type { Market, MarketEvent, Trade } from "../../simulator/market.ts";
import {
  type MarketSettings,
  parseRequest,
  type SimSocket,
  type SimulatedVenue,
  VenueSimulator,
} from "../../simulator/venue.ts";
import { rfc3339, rfc3339OfMs } from "../../simulator/wire-time.ts";

/**
 * What market_trades `side` means, which the docs leave open (docs/exchanges/coinbase.md):
 * "maker" (the default, as NautilusTrader's current docs and the legacy feed say) or "taker".
 */
export type CoinbaseTradeSide = "maker" | "taker";

export interface CoinbaseOptions {
  readonly tradeSide: CoinbaseTradeSide;
  /** A connection that has not subscribed by then is closed (Coinbase: 5 s). */
  readonly subscribeTimeoutMs: number;
}

const DEFAULTS: CoinbaseOptions = { tradeSide: "maker", subscribeTimeoutMs: 5_000 };

const FAULTS = ["drop-frame", "skip-sequence", "disconnect", "stall", "garbage"] as const;

export const coinbaseSimulator = {
  name: "coinbase",
  wsPath: "",
  demoSymbols: ["BTC-USD", "ETH-USD", "SOL-USD"],
  faults: FAULTS,
  // quote_increment 0.01, base_increment 0.00000001 for the majors.
  listing: (base, quote, start) => ({
    venueSymbol: `${base}-${quote}`,
    priceDecimals: start >= 1 ? 2 : 5,
    sizeDecimals: 8,
  }),
  readSettings: (settings: Settings) => ({
    tradeSide: settings.oneOf<CoinbaseTradeSide>(
      "SIMULATOR_COINBASE_TRADE_SIDE",
      ["maker", "taker"],
      DEFAULTS.tradeSide,
    ),
  }),
  create: (settings, options) => new CoinbaseSimulator(settings, { ...DEFAULTS, ...options }),
} satisfies SimulatedVenue<CoinbaseOptions>;

const HEARTBEAT_MS = 1_000;
const CHANNELS = ["level2", "market_trades", "heartbeats"] as const;
type Channel = (typeof CHANNELS)[number];

interface Connection {
  /** The next sequence_num. */
  sequence: number;
  readonly level2: Set<string>;
  readonly trades: Set<string>;
  heartbeats: boolean;
  heartbeatCounter: number;
  lastHeartbeatMs: number;
  subscribed: boolean;
  readonly openedMs: number;
}

class CoinbaseSimulator extends VenueSimulator {
  private readonly connections = new Map<SimSocket, Connection>();

  constructor(
    settings: MarketSettings,
    private readonly options: CoinbaseOptions,
  ) {
    super(coinbaseSimulator, settings, 50);
  }

  acceptsSocket(path: string): boolean {
    return path === "" || path === "/";
  }

  protected opened(ws: SimSocket): void {
    this.connections.set(ws, {
      sequence: 0,
      level2: new Set(),
      trades: new Set(),
      heartbeats: false,
      heartbeatCounter: 0,
      lastHeartbeatMs: 0,
      subscribed: false,
      openedMs: Date.now(),
    });
  }

  protected closed(ws: SimSocket): void {
    this.connections.delete(ws);
  }

  protected subscribedTo(ws: SimSocket, symbol: string): boolean {
    const connection = this.connections.get(ws);
    return connection !== undefined && (connection.level2.has(symbol) || connection.trades.has(symbol));
  }

  message(ws: SimSocket, text: string): void {
    const connection = this.connections.get(ws)!;
    const request = parseRequest(text);
    if (request === undefined) {
      this.error(ws, "malformed JSON: expected an object");
      return;
    }
    if (request.type !== "subscribe" && request.type !== "unsubscribe") {
      this.error(ws, `unknown message type ${JSON.stringify(request.type)}`);
      return;
    }
    if (request.channels !== undefined) {
      this.error(ws, 'one channel per message: use "channel", not "channels"');
      return;
    }
    const channel = request.channel;
    if (!(CHANNELS as readonly unknown[]).includes(channel)) {
      this.error(ws, `unknown channel ${JSON.stringify(channel)}`);
      return;
    }
    const ids = request.product_ids ?? [];
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) {
      this.error(ws, "product_ids must be a list of product ids");
      return;
    }
    const symbols: string[] = [];
    for (const id of ids as string[]) {
      const symbol = this.symbolOf(id);
      if (symbol === undefined) {
        this.error(ws, `failure to subscribe: unknown product_id ${id}`);
        return;
      }
      symbols.push(symbol);
    }
    if (channel !== "heartbeats" && symbols.length === 0) {
      this.error(ws, "product_ids is required for this channel");
      return;
    }
    const subscribe = request.type === "subscribe";
    connection.subscribed ||= subscribe;
    switch (channel as Channel) {
      case "heartbeats":
        connection.heartbeats = subscribe;
        break;
      case "level2":
        for (const symbol of symbols) {
          if (!subscribe) connection.level2.delete(symbol);
          else if (!connection.level2.has(symbol)) {
            connection.level2.add(symbol);
            this.sendL2Snapshot(ws, connection, this.markets.get(symbol)!);
          }
        }
        break;
      case "market_trades":
        for (const symbol of symbols) {
          if (!subscribe) connection.trades.delete(symbol);
          else if (!connection.trades.has(symbol)) {
            connection.trades.add(symbol);
            const market = this.markets.get(symbol)!;
            const trades = [...market.recentTrades].reverse();
            this.envelope(
              ws,
              connection,
              "market_trades",
              `[{"type":"snapshot","trades":${this.tradesJson(market.instrument, trades)}}]`,
            );
          }
        }
        break;
    }
    // The ack follows the snapshots, as in the recorded frames, and takes its own sequence_num.
    const venueIds = (set: Set<string>) => [...set].map((symbol) => this.instrument(symbol)!.venueSymbol);
    const subscriptions: Record<string, string[]> = {};
    if (connection.level2.size > 0) subscriptions.level2 = venueIds(connection.level2);
    if (connection.trades.size > 0) subscriptions.market_trades = venueIds(connection.trades);
    if (connection.heartbeats) subscriptions.heartbeats = [];
    this.envelope(ws, connection, "subscriptions", JSON.stringify([{ subscriptions }]));
  }

  protected publish(market: Market, events: MarketEvent[]): void {
    const instrument = market.instrument;
    const symbol = instrument.symbol;
    // A tick's changes in order: a level touched twice appears twice, as Coinbase batches do.
    const eventTime = rfc3339(6);
    const updates: string[] = [];
    const trades: Trade[] = [];
    for (const event of events) {
      for (const change of event.changes) {
        updates.push(
          `{"side":"${change.side === "bid" ? "bid" : "offer"}","event_time":"${eventTime}",` +
            `"price_level":"${formatScaledTrimmed(change.price, instrument.priceDecimals)}",` +
            `"new_quantity":"${formatScaledTrimmed(change.size, instrument.sizeDecimals)}"}`,
        );
      }
      if (event.trade !== undefined) trades.push(event.trade);
    }
    const l2Targets = [...this.connections].filter(([, c]) => c.level2.has(symbol));
    const skip = this.faults.take("skip-sequence", symbol);
    if (skip) {
      for (const [, connection] of this.connections) {
        if (connection.level2.has(symbol) || connection.trades.has(symbol)) connection.sequence++;
      }
    }
    if (updates.length > 0) {
      const drop = l2Targets.length > 0 && this.faults.take("drop-frame", symbol);
      const events = `[{"type":"update","product_id":"${instrument.venueSymbol}","updates":[${updates.join(",")}]}]`;
      for (const [ws, connection] of l2Targets) {
        if (drop) {
          // The frame is lost but its sequence_num was used: the gap is visible.
          connection.sequence++;
          this.counters.framesDropped++;
        } else {
          this.envelope(ws, connection, "l2_data", events);
        }
      }
    }
    if (trades.length > 0) {
      const events = `[{"type":"update","trades":${this.tradesJson(instrument, trades.reverse())}}]`;
      for (const [ws, connection] of this.connections) {
        if (connection.trades.has(symbol)) this.envelope(ws, connection, "market_trades", events);
      }
    }
  }

  protected override afterTick(nowMs: number): void {
    for (const [ws, connection] of this.connections) {
      if (!connection.subscribed && nowMs - connection.openedMs >= this.options.subscribeTimeoutMs) {
        this.error(ws, "subscribe timeout: no subscription within 5 seconds");
        ws.close(1000, "subscribe timeout");
        continue;
      }
      // A stalled venue says nothing, and uses no sequence_num, until the stall ends.
      if (this.faults.venueStalled(nowMs)) continue;
      if (connection.heartbeats && nowMs - connection.lastHeartbeatMs >= HEARTBEAT_MS) {
        connection.lastHeartbeatMs = nowMs;
        connection.heartbeatCounter++;
        this.envelope(
          ws,
          connection,
          "heartbeats",
          `[{"current_time":"${spacedTime()}","heartbeat_counter":${connection.heartbeatCounter}}]`,
        );
      }
    }
  }

  http(request: Request, path: string): Response | undefined {
    const match = /^\/api\/v3\/brokerage\/(?:market\/)?products\/([A-Z0-9-]+)$/.exec(path);
    if (request.method !== "GET" || !match) return undefined;
    this.counters.restRequests++;
    const symbol = this.symbolOf(match[1]!);
    if (symbol === undefined) {
      return Response.json(
        { error: "NOT_FOUND", message: "ProductID is invalid", error_details: "" },
        { status: 404 },
      );
    }
    const market = this.markets.get(symbol)!;
    const i = market.instrument;
    const mid = market.bids.priceAt(0) ?? i.startPrice;
    return Response.json({
      product_id: i.venueSymbol,
      price: formatScaledTrimmed(mid, i.priceDecimals),
      base_increment: formatScaledTrimmed(1, i.sizeDecimals),
      quote_increment: formatScaledTrimmed(1, i.priceDecimals),
      base_min_size: formatScaledTrimmed(1, i.sizeDecimals),
      quote_min_size: "1",
      base_max_size: "3400",
      quote_max_size: "150000000",
      base_name: i.base,
      quote_name: i.quote,
      status: "online",
      trading_disabled: false,
      is_disabled: false,
      cancel_only: false,
      limit_only: false,
      post_only: false,
      auction_mode: false,
      product_type: "SPOT",
      quote_currency_id: i.quote,
      base_currency_id: i.base,
      base_display_symbol: i.base,
      quote_display_symbol: i.quote,
      price_increment: formatScaledTrimmed(1, i.priceDecimals),
      display_name: `${i.base}/${i.quote}`,
    });
  }

  private sendL2Snapshot(ws: SimSocket, connection: Connection, market: Market): void {
    const i = market.instrument;
    const parts: string[] = [];
    for (const book of [market.bids, market.asks]) {
      const side = book.side === "bid" ? "bid" : "offer";
      for (const [price, size] of book.top(book.count)) {
        parts.push(
          `{"side":"${side}","event_time":"1970-01-01T00:00:00Z","price_level":"${formatScaledTrimmed(price, i.priceDecimals)}",` +
            `"new_quantity":"${formatScaledTrimmed(size, i.sizeDecimals)}"}`,
        );
      }
    }
    this.envelope(
      ws,
      connection,
      "l2_data",
      `[{"type":"snapshot","product_id":"${i.venueSymbol}","updates":[${parts.join(",")}]}]`,
    );
  }

  /** Trades newest first, as Coinbase lists them; `side` per the configured meaning. */
  private tradesJson(instrument: Instrument, trades: readonly Trade[]): string {
    const items = trades.map((t) => {
      const buy = this.options.tradeSide === "taker" ? t.taker === "buy" : t.taker === "sell";
      return (
        `{"product_id":"${instrument.venueSymbol}","trade_id":"${t.id}",` +
        `"price":"${formatScaledTrimmed(t.price, instrument.priceDecimals)}",` +
        `"size":"${formatScaledTrimmed(t.size, instrument.sizeDecimals)}",` +
        `"time":"${rfc3339OfMs(t.timeMs)}","side":"${buy ? "BUY" : "SELL"}"}`
      );
    });
    return `[${items.join(",")}]`;
  }

  /** Sends one message under the connection's next sequence_num (production omits client_id). */
  private envelope(ws: SimSocket, connection: Connection, channel: string, events: string): void {
    const sequence = connection.sequence++;
    this.send(
      ws,
      `{"channel":"${channel}","timestamp":"${rfc3339(9)}","sequence_num":${sequence},"events":${events}}`,
    );
  }

  private error(ws: SimSocket, message: string): void {
    this.send(ws, JSON.stringify({ type: "error", message }));
  }
}

/** The heartbeat's current_time, e.g. "2026-04-07 14:30:10.000000000+00:00". */
function spacedTime(): string {
  const text = rfc3339(9);
  return `${text.slice(0, 10)} ${text.slice(11, -1)}+00:00`;
}
