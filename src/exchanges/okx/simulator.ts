// OKX v5 public on the exchange simulator, at /okx/ws/v5/public: `books` (the venue's 400-level
// view: a snapshot on subscribe, then one update per 100 ms tick with the levels that changed in
// view and size "0" for those that left it), whose seqIds step by however many market events the
// tick held (never a fixed 1), with prevSeqId naming the last one sent; a no-change message
// (seqId == prevSeqId) for a book quiet for a while; real checksums as an option
// (SIMULATOR_OKX_CHECKSUMS; otherwise 0, as the live venue sends since 2026); `trades` (side is
// the taker's); the text ping answered by pong; a connection sent nothing for 30 s is closed; 480
// (un)subscribe requests an hour per connection. REST: /okx/api/v5/public/instruments?instType=SPOT.
// docs/exchanges/okx.md.
import type { Settings } from "../../config.ts";
import { formatScaledTrimmed } from "../../market/decimal.ts";
import { FaultError, type FaultKind, type FaultSpec } from "../../simulator/faults.ts";
import type { Instrument } from "../../simulator/instruments.ts";
import type { Market, MarketEvent, Trade } from "../../simulator/market.ts";
import {
  type MarketSettings,
  parseRequest,
  type SimSocket,
  type SimulatedVenue,
  type TrueBook,
  VenueSimulator,
} from "../../simulator/venue.ts";
import { OKX_BOOK_LEVELS } from "./venue.ts";

export interface OkxOptions {
  /** Real checksums in books messages; false sends 0, as the live venue does since 2026. */
  readonly checksums: boolean;
  /** A connection that was sent nothing for this long is closed (OKX: 30 s). */
  readonly idleCloseMs: number;
  /** A book unchanged for this long gets a no-change message, seqId == prevSeqId (OKX: about a minute). */
  readonly quietBookMs: number;
}

const DEFAULTS: OkxOptions = { checksums: false, idleCloseMs: 30_000, quietBookMs: 60_000 };

const FAULTS = [
  "drop-frame",
  "skip-sequence",
  "sequence-reset",
  // Only with checksums on: otherwise there is no checksum to corrupt.
  "corrupt-checksum",
  "disconnect",
  "stall",
  "garbage",
  "rate-limit",
  "server-shutdown",
] as const;

export const okxSimulator = {
  name: "okx",
  wsPath: "/ws/v5/public",
  demoSymbols: ["BTC-USDT", "ETH-USDT"],
  faults: FAULTS,
  // tickSz 0.1 BTC-USDT, 0.01 ETH-USDT and SOL-USDT; lotSz 0.00000001 BTC, 0.000001 ETH and SOL.
  listing: (base, quote, start) => ({
    venueSymbol: `${base}-${quote}`,
    priceDecimals: start >= 10_000 ? 1 : start >= 1 ? 2 : 5,
    sizeDecimals: start >= 10_000 ? 8 : 6,
  }),
  readSettings: (settings: Settings) => ({
    checksums: settings.bool("SIMULATOR_OKX_CHECKSUMS", DEFAULTS.checksums),
  }),
  create: (settings, options) => new OkxSimulator(settings, { ...DEFAULTS, ...options }),
} satisfies SimulatedVenue<OkxOptions>;

const CHECKSUM_LEVELS = 25;
const REQUESTS_PER_HOUR = 480;
const CHANNELS = ["books", "trades"] as const;

type Level = [number, number];

/** One instrument's book as the venue last published it, and its place in the seqId chain. */
class BookView {
  bids: Level[] = [];
  asks: Level[] = [];
  /** The bids and asks are the market's top levels (not while nobody subscribes). */
  current = false;
  /** seqId of the last books message: the chain goes on whether anyone subscribes or not. */
  seqId: number;
  /** seqId is the market's update id minus this; a sequence reset moves it. */
  offset = 0;
  lastSentMs = 0;

  constructor(market: Market) {
    this.seqId = market.updateId;
  }

  refresh(market: Market): void {
    this.bids = market.bids.top(OKX_BOOK_LEVELS);
    this.asks = market.asks.top(OKX_BOOK_LEVELS);
    this.current = true;
  }
}

interface Connection {
  readonly connId: string;
  readonly books: Set<string>;
  readonly trades: Set<string>;
  lastSentMs: number;
  hourStartMs: number;
  requests: number;
}

class OkxSimulator extends VenueSimulator {
  private readonly connections = new Map<SimSocket, Connection>();
  private readonly views = new Map<string, BookView>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly details = { requestsRefused: 0, idleClosed: 0, noChangeMessages: 0 };
  private nextConnection = 1;

  constructor(
    settings: MarketSettings,
    private readonly options: OkxOptions,
  ) {
    super(okxSimulator, settings, 100);
    for (const [symbol, market] of this.markets) this.views.set(symbol, new BookView(market));
  }

  override inject(spec: FaultSpec, symbol: string | undefined): void {
    if (spec.kind === "corrupt-checksum" && !this.options.checksums) {
      throw new FaultError(
        "okx cannot inject corrupt-checksum while it sends checksum 0 (turn checksums on: SIMULATOR_OKX_CHECKSUMS=true)",
      );
    }
    super.inject(spec, symbol);
  }

  acceptsSocket(path: string): boolean {
    return path === "/ws/v5/public";
  }

  override stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    super.stop();
  }

  override trueBook(symbol: string, depth: number | undefined): TrueBook | undefined {
    const truth = super.trueBook(symbol, depth);
    const view = this.views.get(symbol);
    return truth === undefined || view === undefined ? truth : { ...truth, venueSeq: view.seqId };
  }

  protected override extraStats(): Record<string, number> {
    return { ...this.details };
  }

  protected opened(ws: SimSocket): void {
    const now = Date.now();
    const connId = (0x10000000 + this.nextConnection++ * 7_919).toString(16);
    this.connections.set(ws, {
      connId,
      books: new Set(),
      trades: new Set(),
      lastSentMs: now,
      hourStartMs: now,
      requests: 0,
    });
  }

  protected closed(ws: SimSocket): void {
    this.connections.delete(ws);
  }

  protected subscribedTo(ws: SimSocket, symbol: string): boolean {
    const connection = this.connections.get(ws);
    return connection !== undefined && (connection.books.has(symbol) || connection.trades.has(symbol));
  }

  /** Every frame goes through here: a connection's idle time counts from its last one. */
  protected override send(ws: SimSocket, text: string): void {
    const connection = this.connections.get(ws);
    if (connection !== undefined) connection.lastSentMs = Date.now();
    super.send(ws, text);
  }

  message(ws: SimSocket, text: string): void {
    const connection = this.connections.get(ws)!;
    if (text === "ping") {
      this.send(ws, "pong");
      return;
    }
    const request = parseRequest(text);
    const op = request?.op;
    const args = request?.args;
    if ((op !== "subscribe" && op !== "unsubscribe") || !Array.isArray(args) || args.length === 0) {
      this.error(ws, connection, "60012", `Invalid request: ${text.slice(0, 200)}`);
      return;
    }
    if (this.refuseRequest(connection, args)) {
      this.details.requestsRefused++;
      this.error(ws, connection, "60014", "Requests too frequent.");
      return;
    }
    for (const arg of args) {
      const channel =
        typeof arg === "object" && arg !== null ? (arg as Record<string, unknown>).channel : undefined;
      const instId =
        typeof arg === "object" && arg !== null ? (arg as Record<string, unknown>).instId : undefined;
      const symbol = typeof instId === "string" ? this.symbolOf(instId) : undefined;
      if (!(CHANNELS as readonly unknown[]).includes(channel) || symbol === undefined) {
        this.error(
          ws,
          connection,
          "60018",
          `Wrong URL or channel:${String(channel)},instId:${String(instId)} doesn't exist. Please use the correct URL, channel and parameters referring to API document.`,
        );
        continue;
      }
      const subscriptions = channel === "books" ? connection.books : connection.trades;
      if (op === "subscribe") subscriptions.add(symbol);
      else subscriptions.delete(symbol);
      this.send(ws, JSON.stringify({ event: op, arg: { channel, instId }, connId: connection.connId }));
      if (op === "subscribe" && channel === "books") this.sendSnapshot(ws, symbol);
    }
  }

  /** OKX's limit of 480 (un)subscribe requests an hour per connection, and the rate-limit fault. */
  private refuseRequest(connection: Connection, args: unknown[]): boolean {
    const now = Date.now();
    if (now - connection.hourStartMs >= 3_600_000) {
      connection.hourStartMs = now;
      connection.requests = 0;
    }
    if (++connection.requests > REQUESTS_PER_HOUR) return true;
    const first = args[0];
    const instId =
      typeof first === "object" && first !== null ? (first as Record<string, unknown>).instId : undefined;
    const symbol = typeof instId === "string" ? this.symbolOf(instId) : undefined;
    return this.faults.take("rate-limit", symbol);
  }

  private sendSnapshot(ws: SimSocket, symbol: string): void {
    const market = this.markets.get(symbol)!;
    const view = this.views.get(symbol)!;
    if (!view.current) view.refresh(market);
    const frame = this.booksFrame("snapshot", market.instrument, view.asks, view.bids, {
      checksum: this.checksumOf(market.instrument, view),
      prevSeqId: -1,
      seqId: view.seqId,
    });
    this.send(ws, frame);
  }

  private error(ws: SimSocket, connection: Connection, code: string, msg: string): void {
    this.send(ws, JSON.stringify({ event: "error", code, msg, connId: connection.connId }));
  }

  /** Trades one message each; then one books update for the tick with what changed in view. */
  protected publish(market: Market, events: MarketEvent[]): void {
    const instrument = market.instrument;
    const symbol = instrument.symbol;
    const now = Date.now();
    const tradeTargets: SimSocket[] = [];
    const bookTargets: SimSocket[] = [];
    for (const [ws, connection] of this.connections) {
      if (connection.trades.has(symbol)) tradeTargets.push(ws);
      if (connection.books.has(symbol)) bookTargets.push(ws);
    }
    if (tradeTargets.length > 0) {
      for (const event of events) {
        if (event.trade === undefined) continue;
        const frame = tradeFrame(instrument, event.trade);
        for (const ws of tradeTargets) this.send(ws, frame);
      }
    }
    const view = this.views.get(symbol)!;
    let seqId = market.updateId - view.offset;
    if (bookTargets.length === 0 || !view.current) {
      // Nobody holds this book: its chain goes on unseen, and the view is rebuilt on subscribe.
      view.current = false;
      view.seqId = seqId;
      return;
    }
    const bids = diffSide(view.bids, market.bids.top(OKX_BOOK_LEVELS));
    const asks = diffSide(view.asks, market.asks.top(OKX_BOOK_LEVELS));
    view.bids = bids.fresh;
    view.asks = asks.fresh;
    if (bids.changes.length === 0 && asks.changes.length === 0) return;
    let prevSeqId = view.seqId;
    if (this.faults.take("skip-sequence", symbol)) {
      // An id the venue never sent: the chain is broken, the levels are right.
      prevSeqId++;
      view.offset--;
      seqId++;
    }
    if (this.faults.take("sequence-reset", symbol)) {
      // The venue restarts its sequence well below where it was; the book goes on.
      seqId = 1 + (market.updateId % 97);
      view.offset = market.updateId - seqId;
    }
    let checksum = this.checksumOf(instrument, view);
    if (checksum !== 0 && this.faults.take("corrupt-checksum", symbol))
      checksum = (checksum ^ 0x5a5a5a5a) | 0;
    view.seqId = seqId;
    view.lastSentMs = now;
    if (this.faults.take("drop-frame", symbol)) {
      this.counters.framesDropped += bookTargets.length;
      return;
    }
    const frame = this.booksFrame("update", instrument, asks.changes, bids.changes, {
      checksum,
      prevSeqId,
      seqId,
    });
    for (const ws of bookTargets) this.send(ws, frame);
  }

  /** No-change messages for quiet books; connections sent nothing for idleCloseMs are closed. */
  protected override afterTick(nowMs: number): void {
    // A stalled venue says nothing at all, and closes nothing.
    if (this.faults.venueStalled(nowMs)) return;
    for (const [symbol, view] of this.views) {
      if (!view.current || nowMs - view.lastSentMs < this.options.quietBookMs) continue;
      if (this.faults.stalled(symbol, nowMs)) continue;
      view.lastSentMs = nowMs;
      const instrument = this.markets.get(symbol)!.instrument;
      const frame = this.booksFrame("update", instrument, [], [], {
        checksum: this.checksumOf(instrument, view),
        prevSeqId: view.seqId,
        seqId: view.seqId,
      });
      for (const [ws, connection] of this.connections) {
        if (!connection.books.has(symbol)) continue;
        this.details.noChangeMessages++;
        this.send(ws, frame);
      }
    }
    for (const [ws, connection] of this.connections) {
      if (nowMs - connection.lastSentMs < this.options.idleCloseMs) continue;
      this.details.idleClosed++;
      this.connections.delete(ws);
      ws.close(4004, "no data sent for 30 seconds");
    }
  }

  /** server-shutdown: OKX's service-upgrade notice, then the close after durationMs. */
  protected override injectNow(kind: FaultKind, symbol: string | undefined, durationMs: number): void {
    if (kind !== "server-shutdown") {
      super.injectNow(kind, symbol, durationMs);
      return;
    }
    this.faults.take(kind, symbol);
    const targets = [...this.connections].filter(
      ([ws]) => symbol === undefined || this.subscribedTo(ws, symbol),
    );
    for (const [ws, connection] of targets) {
      const msg = "The connection will soon be closed for a service upgrade. Please reconnect.";
      this.send(ws, JSON.stringify({ event: "notice", code: "64008", msg, connId: connection.connId }));
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      for (const [ws] of targets) ws.close(1001, "service upgrade");
    }, durationMs);
    this.timers.add(timer);
  }

  protected override defaultDuration(kind: FaultKind): number {
    return kind === "server-shutdown" ? 5_000 : super.defaultDuration(kind);
  }

  http(request: Request, path: string, url: URL): Response | undefined {
    if (request.method !== "GET" || path !== "/api/v5/public/instruments") return undefined;
    this.counters.restRequests++;
    const instType = url.searchParams.get("instType");
    if (instType === null || instType === "") {
      return Response.json(
        { code: "50014", msg: "Parameter instType can not be empty.", data: [] },
        { status: 400 },
      );
    }
    // Only spot instruments are served.
    const instruments =
      instType === "SPOT" ? [...this.markets.values()].map((m) => instrumentJson(m.instrument)) : [];
    return Response.json({ code: "0", msg: "", data: instruments });
  }

  /** The checksum of the view's top 25 interleaved, or 0 when checksums are off. */
  private checksumOf(instrument: Instrument, view: BookView): number {
    if (!this.options.checksums) return 0;
    const parts: string[] = [];
    for (let i = 0; i < CHECKSUM_LEVELS; i++) {
      for (const levels of [view.bids, view.asks]) {
        const level = levels[i];
        if (level !== undefined) parts.push(levelText(instrument, level));
      }
    }
    return Bun.hash.crc32(parts.join(":")) | 0;
  }

  private booksFrame(
    action: "snapshot" | "update",
    instrument: Instrument,
    asks: Level[],
    bids: Level[],
    ids: { checksum: number; prevSeqId: number; seqId: number },
  ): string {
    return (
      `{"arg":{"channel":"books","instId":"${instrument.venueSymbol}"},"action":"${action}","data":[{` +
      `"asks":${levelsJson(instrument, asks)},"bids":${levelsJson(instrument, bids)},"ts":"${Date.now()}",` +
      `"checksum":${ids.checksum},"prevSeqId":${ids.prevSeqId},"seqId":${ids.seqId}}]}`
    );
  }
}

/** The levels to send so a client holds `fresh`: changed or newly visible ones, size 0 for those gone. */
function diffSide(old: Level[], fresh: Level[]): { fresh: Level[]; changes: Level[] } {
  const before = new Map(old);
  const visible = new Set<number>();
  const changes: Level[] = [];
  for (const [price, size] of fresh) {
    visible.add(price);
    if (before.get(price) !== size) changes.push([price, size]);
  }
  for (const [price] of old) if (!visible.has(price)) changes.push([price, 0]);
  return { fresh, changes };
}

/** "price:size" as OKX writes them: plain decimals. */
function levelText(instrument: Instrument, [price, size]: Level): string {
  return `${formatScaledTrimmed(price, instrument.priceDecimals)}:${formatScaledTrimmed(size, instrument.sizeDecimals)}`;
}

/** Levels as [px, sz, liquidated orders, orders], all strings. */
function levelsJson(instrument: Instrument, levels: Level[]): string {
  let out = "[";
  for (let i = 0; i < levels.length; i++) {
    const [price, size] = levels[i]!;
    if (i > 0) out += ",";
    // A made-up but steady order count: 0 for a deleted level.
    const orders = size === 0 ? 0 : 1 + (size % 9);
    out += `["${formatScaledTrimmed(price, instrument.priceDecimals)}","${formatScaledTrimmed(size, instrument.sizeDecimals)}","0","${orders}"]`;
  }
  return `${out}]`;
}

function tradeFrame(instrument: Instrument, trade: Trade): string {
  const id = instrument.venueSymbol;
  return (
    `{"arg":{"channel":"trades","instId":"${id}"},"data":[{"instId":"${id}","tradeId":"${trade.id}",` +
    `"px":"${formatScaledTrimmed(trade.price, instrument.priceDecimals)}","sz":"${formatScaledTrimmed(trade.size, instrument.sizeDecimals)}",` +
    `"side":"${trade.taker}","ts":"${trade.timeMs}","count":"1"}]}`
  );
}

function instrumentJson(instrument: Instrument): Record<string, string> {
  const lotSz = formatScaledTrimmed(1, instrument.sizeDecimals);
  return {
    instType: "SPOT",
    instId: instrument.venueSymbol,
    baseCcy: instrument.base,
    quoteCcy: instrument.quote,
    tickSz: formatScaledTrimmed(1, instrument.priceDecimals),
    lotSz,
    minSz: lotSz,
    state: "live",
    ctVal: "",
    ctMult: "",
    listTime: "1548133413000",
  };
}
