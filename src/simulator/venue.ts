// What every simulated venue shares: its markets (one per symbol, seeded), the timer that runs
// them at the configured rates, the fault book, frame accounting, and the socket plumbing that
// index.ts routes to; and SimulatedVenue, what a venue folder's simulator.ts exports. Each
// venue subclass owns its wire protocol.
import type { ServerWebSocket } from "bun";
import type { Settings } from "../config.ts";
import { formatScaled } from "../market/decimal.ts";
import { FaultBook, FaultError, type FaultKind, type FaultSpec } from "./faults.ts";
import { type Instrument, instrumentFor, type ListingRule } from "./instruments.ts";
import { Market, type MarketEvent } from "./market.ts";
import { Random } from "./random.ts";

/** A venue as the simulator runs it; listed in src/exchanges/simulators.ts. */
export interface SimulatedVenue<Options = unknown> {
  /** The exchange name: the simulator serves the venue under /<name>. */
  readonly name: string;
  /** The WebSocket endpoint a collector dials, below /<name> ("/v2" for Kraken, "" when none). */
  readonly wsPath: string;
  /** Symbols the demo collects from this venue; the simulator serves every venue's by default. */
  readonly demoSymbols: readonly string[];
  /** Fault kinds it can inject. */
  readonly faults: readonly FaultKind[];
  /** Its spelling and precisions of a pair. */
  readonly listing: ListingRule;
  /** Its own SIMULATOR_* settings, when it has any. */
  readSettings?(settings: Settings): Partial<Options>;
  /** Its protocol over markets of `settings`; `options` override its defaults. */
  create(settings: MarketSettings, options?: Partial<Options>): VenueSimulator;
}

export interface SocketData {
  readonly venue: string;
  /** The upgrade request's URL (Binance reads its streams from it). */
  readonly url: URL;
}
export type SimSocket = ServerWebSocket<SocketData>;

export interface MarketSettings {
  readonly symbols: readonly string[];
  readonly seed: number;
  /** Book updates per second per symbol. */
  readonly updatesPerSecond: number;
  /** Trades per second per symbol. */
  readonly tradesPerSecond: number;
  /** Levels per side each book keeps. */
  readonly bookLevels: number;
}

/** The book a venue's clients should hold after the last frame sent, as exact decimal strings. */
export interface TrueBook {
  readonly venue: string;
  readonly symbol: string;
  readonly venueSymbol: string;
  readonly bids: [string, string][];
  readonly asks: [string, string][];
  /** The venue's update id of the last change sent (Binance lastUpdateId; a change counter elsewhere). */
  readonly venueSeq: number;
}

export interface VenueStats {
  connections: number;
  connectionsTotal: number;
  /** Upgrades refused while the venue was down after a disconnect fault with a duration. */
  connectionsRefused: number;
  framesSent: number;
  bytesSent: number;
  /** Frames not sent because of a drop-frame fault (per recipient). */
  framesDropped: number;
  /** Frames held back by a venue-wide stall and sent when it ended. */
  framesHeld: number;
  marketEvents: number;
  trades: number;
  restRequests: number;
  faultsInjected: Record<string, number>;
  faultsApplied: Record<string, number>;
  /** Venue-specific counts (Binance REST refusals, Retry-After violations...). */
  details: Record<string, number>;
}

/** Most operations one symbol runs per tick, so a paused event loop does not cause a flood. */
const MAX_EVENTS_PER_TICK = 2_000;

export abstract class VenueSimulator {
  readonly markets = new Map<string, Market>();
  readonly faults = new FaultBook();
  protected readonly sockets = new Set<SimSocket>();
  protected readonly counters = {
    connectionsTotal: 0,
    connectionsRefused: 0,
    framesSent: 0,
    bytesSent: 0,
    framesDropped: 0,
    framesHeld: 0,
    marketEvents: 0,
    trades: 0,
    restRequests: 0,
  };
  private readonly budgets = new Map<string, number>();
  /** Frames held back during a venue-wide stall, per socket. */
  private readonly held = new Map<SimSocket, string[]>();
  /** Until then (after a venue-wide disconnect with a duration) new connections are refused. */
  private downUntil = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastTick = 0;
  private readonly totalRate: number;

  readonly venue: string;
  /** Kinds this venue can inject. */
  private readonly supportedFaults: readonly FaultKind[];

  constructor(
    definition: SimulatedVenue,
    protected readonly settings: MarketSettings,
    private readonly tickMs: number,
  ) {
    this.venue = definition.name;
    this.supportedFaults = definition.faults;
    this.totalRate = settings.updatesPerSecond + settings.tradesPerSecond;
    const tradeShare = this.totalRate === 0 ? 0 : settings.tradesPerSecond / this.totalRate;
    for (const symbol of settings.symbols) {
      const instrument = instrumentFor(definition, symbol);
      const random = new Random(settings.seed, `${this.venue}:${symbol}`);
      const market = new Market(instrument, random, {
        levels: settings.bookLevels,
        tradeShare,
        firstUpdateId: 1_000_000 + random.int(0, 1_000_000),
        firstTradeId: 10_000_000 + random.int(0, 1_000_000),
        openedMs: Date.now(),
      });
      this.markets.set(symbol, market);
      this.budgets.set(symbol, 0);
    }
  }

  start(): void {
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
  }

  /** Normalized symbol for a venue symbol, or undefined. */
  symbolOf(venueSymbol: string): string | undefined {
    for (const [symbol, market] of this.markets) {
      if (market.instrument.venueSymbol === venueSymbol) return symbol;
    }
    return undefined;
  }

  instrument(symbol: string): Instrument | undefined {
    return this.markets.get(symbol)?.instrument;
  }

  inject(spec: FaultSpec, symbol: string | undefined): void {
    if (!this.supportedFaults.includes(spec.kind)) {
      throw new FaultError(
        `${this.venue} cannot inject ${spec.kind} (it supports ${this.supportedFaults.join(", ")})`,
      );
    }
    if (symbol !== undefined && !this.markets.has(symbol)) {
      throw new FaultError(`${this.venue} does not serve ${symbol}`);
    }
    const durationMs = spec.durationMs ?? this.defaultDuration(spec.kind);
    this.faults.add(spec.kind, symbol, durationMs, Date.now());
    this.injectNow(spec.kind, symbol, durationMs);
  }

  stats(): VenueStats {
    return {
      connections: this.sockets.size,
      ...this.counters,
      faultsInjected: { ...this.faults.injected },
      faultsApplied: { ...this.faults.applied },
      details: this.extraStats(),
    };
  }

  protected extraStats(): Record<string, number> {
    return {};
  }

  /** The true book, top `depth` levels a side (all when undefined). */
  trueBook(symbol: string, depth: number | undefined): TrueBook | undefined {
    const market = this.markets.get(symbol);
    if (market === undefined) return undefined;
    const { priceDecimals, sizeDecimals, venueSymbol } = market.instrument;
    const format = ([price, size]: [number, number]): [string, string] => [
      formatScaled(price, priceDecimals),
      formatScaled(size, sizeDecimals),
    ];
    const n = depth ?? Number.MAX_SAFE_INTEGER;
    return {
      venue: this.venue,
      symbol,
      venueSymbol,
      bids: market.bids.top(n).map(format),
      asks: market.asks.top(n).map(format),
      venueSeq: market.updateId,
    };
  }

  /** Whether a new connection must be refused now (counted). */
  refuseConnection(): boolean {
    if (Date.now() >= this.downUntil) return false;
    this.counters.connectionsRefused++;
    return true;
  }

  // Socket plumbing, called by index.ts.
  open(ws: SimSocket): void {
    this.sockets.add(ws);
    this.counters.connectionsTotal++;
    this.opened(ws);
  }

  close(ws: SimSocket): void {
    this.sockets.delete(ws);
    this.held.delete(ws);
    this.closed(ws);
  }

  abstract message(ws: SimSocket, text: string): void;
  /** A REST request under /<venue>/, or undefined when the path is not this venue's. */
  abstract http(request: Request, path: string, url: URL): Response | undefined;
  /** Whether the path (under /<venue>) is one of this venue's WebSocket endpoints. */
  abstract acceptsSocket(path: string): boolean;
  pong(_ws: SimSocket): void {}

  protected abstract opened(ws: SimSocket): void;
  protected abstract closed(ws: SimSocket): void;
  /** Turns one tick's market events of one symbol into frames. */
  protected abstract publish(market: Market, events: MarketEvent[]): void;
  /** Runs once a tick after every market has published (heartbeats, pings). */
  protected afterTick(_nowMs: number): void {}

  /** Faults that act at once rather than on the next frame (disconnect, garbage). */
  protected injectNow(kind: FaultKind, symbol: string | undefined, durationMs: number): void {
    if (kind === "disconnect" && symbol === undefined) this.downUntil = Date.now() + durationMs;
    if (kind === "disconnect" || kind === "garbage") {
      const targets = [...this.sockets].filter((ws) => symbol === undefined || this.subscribedTo(ws, symbol));
      this.faults.take(kind, symbol);
      for (const ws of targets) {
        if (kind === "garbage") this.sendRaw(ws, GARBAGE);
        else ws.terminate();
      }
    }
  }

  /** Stall 3 s; disconnect 0 (no downtime); Retry-After 1 s. */
  protected defaultDuration(kind: FaultKind): number {
    return kind === "stall" ? 3_000 : kind === "disconnect" ? 0 : 1_000;
  }

  /** Whether the socket carries anything of this symbol (for per-symbol faults). */
  protected abstract subscribedTo(ws: SimSocket, symbol: string): boolean;

  /**
   * Sends a frame; while the whole venue is stalled, holds it instead, so replies and snapshots
   * asked for during a stall arrive, in order, when it ends (a stall delays, it never loses).
   */
  protected send(ws: SimSocket, text: string): void {
    let held = this.held.get(ws);
    if (this.faults.venueStalled(Date.now())) {
      if (held === undefined) {
        held = [];
        this.held.set(ws, held);
      }
      held.push(text);
      this.counters.framesHeld++;
      return;
    }
    if (held !== undefined) this.release(ws, held);
    this.sendRaw(ws, text);
  }

  private release(ws: SimSocket, held: string[]): void {
    this.held.delete(ws);
    for (const text of held) this.sendRaw(ws, text);
  }

  protected sendRaw(ws: SimSocket, text: string): void {
    ws.send(text);
    this.counters.framesSent++;
    this.counters.bytesSent += text.length;
  }

  private tick(): void {
    const now = performance.now();
    const elapsedMs = now - this.lastTick;
    this.lastTick = now;
    const wallMs = Date.now();
    if (this.held.size > 0 && !this.faults.venueStalled(wallMs)) {
      for (const [ws, held] of this.held) this.release(ws, held);
    }
    for (const [symbol, market] of this.markets) {
      if (this.faults.stalled(symbol, wallMs)) continue;
      const budget = (this.budgets.get(symbol) ?? 0) + (elapsedMs * this.totalRate) / 1000;
      const count = Math.min(MAX_EVENTS_PER_TICK, Math.floor(budget));
      this.budgets.set(symbol, Math.min(budget - count, MAX_EVENTS_PER_TICK));
      if (count === 0) continue;
      const events: MarketEvent[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const event = market.next(wallMs);
        events[i] = event;
        if (event.trade !== undefined) this.counters.trades++;
      }
      this.counters.marketEvents += count;
      this.publish(market, events);
    }
    this.afterTick(wallMs);
  }
}

/** A client's JSON request as an object, or undefined when the text is not a JSON object. */
export function parseRequest(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** What a garbage fault sends: not JSON, not UTF-8 sane, not a known message. */
const GARBAGE = '\u0000\u00ff{"channel":garbage]]\u0007not json';
