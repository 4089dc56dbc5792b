// Binance spot in the simulator, at /binance: combined streams (/stream?streams=a/b) and raw
// streams (/ws/<stream>) of <sym>@trade and <sym>@depth@100ms (U/u update-id ranges, absolute
// string quantities), live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS/SET_PROPERTY, server pings
// with a pong deadline, the 5 messages/s limit, the connection lifetime and serverShutdown; REST
// depth snapshots with request weight, 429 + Retry-After and 418 bans, and exchangeInfo with
// PRICE_FILTER and LOT_SIZE (docs/exchanges/binance.md).
import { formatScaled } from "../../market/decimal.ts";
import type { FaultKind } from "../../simulator/faults.ts";
import type { Instrument } from "../../simulator/instruments.ts";
import type { LevelChange, Market, MarketEvent, Trade } from "../../simulator/market.ts";
import {
  type MarketSettings,
  parseRequest,
  type SimSocket,
  type SimulatedVenue,
  VenueSimulator,
} from "../../simulator/venue.ts";
import { depthWeight, MAX_DEPTH_LIMIT } from "./venue.ts";

export interface BinanceOptions {
  /** Server ping period (Binance: 20 s); a connection without a pong for 60 s is dropped. */
  readonly pingIntervalMs: number;
  /** Connections are closed after this long (Binance: 24 h). */
  readonly connectionLifetimeMs: number;
  /** REST weight allowed per minute before 429 (Binance: 6000). */
  readonly weightPerMinute: number;
}

const DEFAULTS: BinanceOptions = {
  pingIntervalMs: 20_000,
  connectionLifetimeMs: 24 * 3_600_000,
  weightPerMinute: 6_000,
};

const FAULTS = [
  "drop-frame",
  "skip-sequence",
  "disconnect",
  "stall",
  "garbage",
  "rate-limit",
  "ban",
  "server-shutdown",
] as const;
const PONG_DEADLINE_MS = 60_000;
const MESSAGES_PER_SECOND = 5;
/** Binance writes every price and quantity with 8 decimals. */
const WIRE_DECIMALS = 8;

export const binanceSimulator = {
  name: "binance",
  wsPath: "",
  demoSymbols: ["BTC-USDT", "ETH-USDT"],
  faults: FAULTS,
  // tickSize 0.01 for the majors; stepSize 0.00001 BTC, 0.0001 ETH, 0.001 SOL.
  listing: (base, quote, start) => ({
    venueSymbol: `${base}${quote}`,
    priceDecimals: start >= 1 ? 2 : 5,
    sizeDecimals: start >= 10_000 ? 5 : start >= 1_000 ? 4 : start >= 10 ? 3 : 0,
  }),
  create: (settings, options) => new BinanceSimulator(settings, { ...DEFAULTS, ...options }),
} satisfies SimulatedVenue<BinanceOptions>;

interface Connection {
  readonly streams: Set<string>;
  combined: boolean;
  readonly openedMs: number;
  lastPingMs: number;
  lastPongMs: number;
  windowStartMs: number;
  windowMessages: number;
}

class BinanceSimulator extends VenueSimulator {
  private readonly connections = new Map<SimSocket, Connection>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private weightMinute = 0;
  private usedWeight = 0;
  /** After a 429: requests before this time are violations and earn a ban. */
  private retryAfterUntil = 0;
  private bannedUntil = 0;
  private readonly rest = { rateLimited: 0, banned: 0, retryAfterViolations: 0 };

  constructor(
    settings: MarketSettings,
    private readonly options: BinanceOptions,
  ) {
    super(binanceSimulator, settings, 100);
  }

  acceptsSocket(path: string): boolean {
    return path === "/stream" || path === "/ws" || /^\/ws\/[a-z0-9@!_]+$/.test(path);
  }

  override stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    super.stop();
  }

  protected override extraStats(): Record<string, number> {
    return { ...this.rest, usedWeight1m: this.usedWeight };
  }

  protected opened(ws: SimSocket): void {
    const now = Date.now();
    const url = ws.data.url;
    const streams = new Set<string>();
    const combined = url.pathname.endsWith("/stream");
    if (combined) {
      for (const stream of (url.searchParams.get("streams") ?? "").split("/"))
        if (stream !== "") streams.add(stream);
    } else {
      const raw = url.pathname.slice(url.pathname.indexOf("/ws") + 3).replace(/^\//, "");
      if (raw !== "") streams.add(raw);
    }
    this.connections.set(ws, {
      streams,
      combined,
      openedMs: now,
      lastPingMs: now,
      lastPongMs: now,
      windowStartMs: now,
      windowMessages: 0,
    });
  }

  protected closed(ws: SimSocket): void {
    this.connections.delete(ws);
  }

  protected subscribedTo(ws: SimSocket, symbol: string): boolean {
    const prefix = `${this.instrument(symbol)!.venueSymbol.toLowerCase()}@`;
    const connection = this.connections.get(ws);
    return connection !== undefined && [...connection.streams].some((stream) => stream.startsWith(prefix));
  }

  override pong(ws: SimSocket): void {
    const connection = this.connections.get(ws);
    if (connection !== undefined) connection.lastPongMs = Date.now();
  }

  message(ws: SimSocket, text: string): void {
    const connection = this.connections.get(ws)!;
    const now = Date.now();
    if (now - connection.windowStartMs >= 1_000) {
      connection.windowStartMs = now;
      connection.windowMessages = 0;
    }
    if (++connection.windowMessages > MESSAGES_PER_SECOND) {
      // Binance drops a connection that sends more than 5 messages a second.
      ws.close(1008, "Too many requests");
      return;
    }
    const request = parseRequest(text);
    if (request === undefined) {
      this.send(
        ws,
        JSON.stringify({ error: { code: 3, msg: "Invalid JSON: expected a JSON object" }, id: null }),
      );
      return;
    }
    const id = request.id ?? null;
    const params = Array.isArray(request.params) ? (request.params as unknown[]) : [];
    switch (request.method) {
      case "SUBSCRIBE":
      case "UNSUBSCRIBE":
        if (!params.every((p) => typeof p === "string")) {
          this.send(ws, JSON.stringify({ error: { code: 2, msg: "Invalid request: stream names" }, id }));
          return;
        }
        for (const stream of params as string[]) {
          if (request.method === "SUBSCRIBE") connection.streams.add(stream);
          else connection.streams.delete(stream);
        }
        this.send(ws, JSON.stringify({ result: null, id }));
        return;
      case "LIST_SUBSCRIPTIONS":
        this.send(ws, JSON.stringify({ result: [...connection.streams], id }));
        return;
      case "SET_PROPERTY":
        if (params[0] === "combined" && typeof params[1] === "boolean") {
          connection.combined = params[1];
          this.send(ws, JSON.stringify({ result: null, id }));
        } else {
          this.send(ws, JSON.stringify({ error: { code: 0, msg: "Unknown property" }, id }));
        }
        return;
      case "GET_PROPERTY":
        if (params[0] === "combined") this.send(ws, JSON.stringify({ result: connection.combined, id }));
        else this.send(ws, JSON.stringify({ error: { code: 0, msg: "Unknown property" }, id }));
        return;
      default:
        this.send(ws, JSON.stringify({ error: { code: 2, msg: "Invalid request: unknown method" }, id }));
    }
  }

  protected publish(market: Market, events: MarketEvent[]): void {
    const instrument = market.instrument;
    const lower = instrument.venueSymbol.toLowerCase();
    const tradeStream = `${lower}@trade`;
    const depthStream = `${lower}@depth@100ms`;
    const tradeTargets: [SimSocket, Connection][] = [];
    const depthTargets: [SimSocket, Connection][] = [];
    for (const entry of this.connections) {
      if (entry[1].streams.has(tradeStream)) tradeTargets.push(entry);
      if (entry[1].streams.has(depthStream)) depthTargets.push(entry);
    }
    const now = Date.now();
    if (tradeTargets.length > 0) {
      for (const event of events) {
        if (event.trade === undefined) continue;
        const data = tradeJson(instrument, event.trade, now);
        for (const [ws, connection] of tradeTargets) this.send(ws, wrap(connection, tradeStream, data));
      }
    }
    // One depthUpdate for the whole tick (100 ms): the last size of every level touched.
    const bids = new Map<number, number>();
    const asks = new Map<number, number>();
    for (const event of events) for (const change of event.changes) record(change, bids, asks);
    const first = events[0]!.updateId;
    const last = events[events.length - 1]!.updateId;
    if (bids.size + asks.size > 0) {
      if (this.faults.take("drop-frame", instrument.symbol)) {
        this.counters.framesDropped += depthTargets.length;
      } else {
        const data =
          `{"e":"depthUpdate","E":${now},"s":"${instrument.venueSymbol}","U":${first},"u":${last},` +
          `"b":${levelsJson(instrument, bids)},"a":${levelsJson(instrument, asks)}}`;
        for (const [ws, connection] of depthTargets) this.send(ws, wrap(connection, depthStream, data));
      }
    }
    // The next update id is consumed with no change: the next frame's U is this u + 2.
    if (this.faults.take("skip-sequence", instrument.symbol)) market.updateId++;
  }

  protected override afterTick(nowMs: number): void {
    for (const [ws, connection] of this.connections) {
      if (nowMs - connection.openedMs >= this.options.connectionLifetimeMs) {
        ws.close(1000, "connection lifetime reached");
      } else if (nowMs - connection.lastPongMs >= PONG_DEADLINE_MS + this.options.pingIntervalMs) {
        ws.close(1008, "no pong");
      } else if (
        nowMs - connection.lastPingMs >= this.options.pingIntervalMs &&
        !this.faults.venueStalled(nowMs)
      ) {
        connection.lastPingMs = nowMs;
        ws.ping(String(nowMs));
      }
    }
  }

  protected override injectNow(kind: FaultKind, symbol: string | undefined, durationMs: number): void {
    if (kind !== "server-shutdown") {
      super.injectNow(kind, symbol, durationMs);
      return;
    }
    this.faults.take(kind, symbol);
    const now = Date.now();
    const targets = [...this.connections].filter(
      ([ws]) => symbol === undefined || this.subscribedTo(ws, symbol),
    );
    for (const [ws, connection] of targets) {
      const event = `{"e":"serverShutdown","E":${now}}`;
      this.send(ws, connection.combined ? `{"stream":"!serverShutdown","data":${event}}` : event);
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      for (const [ws] of targets) ws.close(1001, "server shutdown");
    }, durationMs);
    this.timers.add(timer);
  }

  protected override defaultDuration(kind: FaultKind): number {
    return kind === "server-shutdown" ? 5_000 : super.defaultDuration(kind);
  }

  http(request: Request, path: string, url: URL): Response | undefined {
    if (request.method !== "GET") return undefined;
    switch (path) {
      case "/api/v3/depth":
        return this.depth(url);
      case "/api/v3/exchangeInfo":
        return this.exchangeInfo(url);
      case "/api/v3/ping":
        return this.weighted(1) ?? this.json({}, 200);
      case "/api/v3/time":
        return this.weighted(1) ?? this.json({ serverTime: Date.now() }, 200);
      default:
        return undefined;
    }
  }

  private depth(url: URL): Response {
    const venueSymbol = url.searchParams.get("symbol");
    if (venueSymbol === null || venueSymbol === "") {
      return this.json(
        { code: -1102, msg: "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed." },
        400,
      );
    }
    const limitText = url.searchParams.get("limit");
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) {
      return this.json({ code: -1100, msg: "Illegal characters found in parameter 'limit'." }, 400);
    }
    const blocked = this.weighted(depthWeight(Math.min(limit, MAX_DEPTH_LIMIT)));
    if (blocked !== undefined) return blocked;
    const symbol = this.symbolOf(venueSymbol);
    if (symbol === undefined) return this.json({ code: -1121, msg: "Invalid symbol." }, 400);
    if (this.faults.take("rate-limit", symbol)) return this.rateLimited(this.faultSeconds("rate-limit"));
    if (this.faults.take("ban", symbol)) return this.ban(this.faultSeconds("ban"));
    const market = this.markets.get(symbol)!;
    const n = Math.min(limit, MAX_DEPTH_LIMIT);
    const format = ([price, size]: [number, number]) => [
      wireDecimal(price, market.instrument.priceDecimals),
      wireDecimal(size, market.instrument.sizeDecimals),
    ];
    return this.json(
      {
        lastUpdateId: market.updateId,
        bids: market.bids.top(n).map(format),
        asks: market.asks.top(n).map(format),
      },
      200,
    );
  }

  private exchangeInfo(url: URL): Response {
    const blocked = this.weighted(20);
    if (blocked !== undefined) return blocked;
    let wanted: string[] | undefined;
    const one = url.searchParams.get("symbol");
    const many = url.searchParams.get("symbols");
    if (one !== null) wanted = [one];
    else if (many !== null) {
      try {
        const parsed = JSON.parse(many) as unknown;
        if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === "string"))
          throw new SyntaxError("symbols");
        wanted = parsed as string[];
      } catch {
        return this.json({ code: -1100, msg: "Illegal characters found in parameter 'symbols'." }, 400);
      }
    }
    const instruments: Instrument[] = [];
    if (wanted === undefined) for (const market of this.markets.values()) instruments.push(market.instrument);
    else {
      for (const venueSymbol of wanted) {
        const symbol = this.symbolOf(venueSymbol);
        if (symbol === undefined) return this.json({ code: -1121, msg: "Invalid symbol." }, 400);
        instruments.push(this.instrument(symbol)!);
      }
    }
    return this.json(
      {
        timezone: "UTC",
        serverTime: Date.now(),
        rateLimits: [
          {
            rateLimitType: "REQUEST_WEIGHT",
            interval: "MINUTE",
            intervalNum: 1,
            limit: this.options.weightPerMinute,
          },
        ],
        exchangeFilters: [],
        symbols: instruments.map(symbolInfo),
      },
      200,
    );
  }

  /** Charges request weight; a refusal (ban, Retry-After violation, weight exhausted) or undefined. */
  private weighted(weight: number): Response | undefined {
    this.counters.restRequests++;
    const now = Date.now();
    if (now < this.bannedUntil) return this.ban(Math.ceil((this.bannedUntil - now) / 1000), false);
    if (now < this.retryAfterUntil) {
      // Calling again inside Retry-After is what gets an IP banned.
      this.rest.retryAfterViolations++;
      return this.ban(Math.max(2, Math.ceil((this.retryAfterUntil - now) / 1000) * 2));
    }
    const minute = Math.floor(now / 60_000);
    if (minute !== this.weightMinute) {
      this.weightMinute = minute;
      this.usedWeight = 0;
    }
    this.usedWeight += weight;
    if (this.usedWeight > this.options.weightPerMinute) {
      return this.rateLimited(Math.ceil(((minute + 1) * 60_000 - now) / 1000));
    }
    return undefined;
  }

  private rateLimited(seconds: number): Response {
    this.rest.rateLimited++;
    this.retryAfterUntil = Date.now() + seconds * 1000;
    return this.json(
      { code: -1003, msg: "Too much request weight used; please use WebSocket Streams for live updates." },
      429,
      seconds,
    );
  }

  private ban(seconds: number, extend = true): Response {
    this.rest.banned++;
    if (extend) this.bannedUntil = Math.max(this.bannedUntil, Date.now() + seconds * 1000);
    const until = this.bannedUntil;
    return this.json(
      { code: -1003, msg: `Way too much request weight used; IP banned until ${until}.` },
      418,
      seconds,
    );
  }

  private faultSeconds(kind: FaultKind): number {
    return Math.max(1, Math.ceil(this.faults.lastDuration(kind) / 1000));
  }

  private json(body: unknown, status: number, retryAfterSeconds?: number): Response {
    const headers: Record<string, string> = {
      "content-type": "application/json;charset=UTF-8",
      "x-mbx-used-weight-1m": String(this.usedWeight),
    };
    if (retryAfterSeconds !== undefined) headers["retry-after"] = String(retryAfterSeconds);
    return new Response(JSON.stringify(body), { status, headers });
  }
}

function record(change: LevelChange, bids: Map<number, number>, asks: Map<number, number>): void {
  (change.side === "bid" ? bids : asks).set(change.price, change.size);
}

function wrap(connection: Connection, stream: string, data: string): string {
  return connection.combined ? `{"stream":"${stream}","data":${data}}` : data;
}

/** A scaled integer with Binance's 8 decimals ("0.35130000"). */
function wireDecimal(value: number, decimals: number): string {
  return formatScaled(value, decimals) + "0".repeat(WIRE_DECIMALS - decimals);
}

function levelsJson(instrument: Instrument, levels: Map<number, number>): string {
  const out: string[] = [];
  for (const [price, size] of levels) {
    out.push(
      `["${wireDecimal(price, instrument.priceDecimals)}","${wireDecimal(size, instrument.sizeDecimals)}"]`,
    );
  }
  return `[${out.join(",")}]`;
}

/** `m` is "buyer is the maker": true when the aggressor sold. */
function tradeJson(instrument: Instrument, trade: Trade, nowMs: number): string {
  return (
    `{"e":"trade","E":${nowMs},"s":"${instrument.venueSymbol}","t":${trade.id},` +
    `"p":"${wireDecimal(trade.price, instrument.priceDecimals)}","q":"${wireDecimal(trade.size, instrument.sizeDecimals)}",` +
    `"T":${trade.timeMs},"m":${trade.taker === "sell"},"M":true}`
  );
}

function symbolInfo(instrument: Instrument): Record<string, unknown> {
  const tick = wireDecimal(1, instrument.priceDecimals);
  const step = wireDecimal(1, instrument.sizeDecimals);
  return {
    symbol: instrument.venueSymbol,
    status: "TRADING",
    baseAsset: instrument.base,
    baseAssetPrecision: 8,
    quoteAsset: instrument.quote,
    quotePrecision: 8,
    quoteAssetPrecision: 8,
    orderTypes: ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
    isSpotTradingAllowed: true,
    isMarginTradingAllowed: false,
    filters: [
      { filterType: "PRICE_FILTER", minPrice: tick, maxPrice: "1000000.00000000", tickSize: tick },
      { filterType: "LOT_SIZE", minQty: step, maxQty: "9000.00000000", stepSize: step },
    ],
    permissions: [],
    permissionSets: [["SPOT"]],
  };
}
