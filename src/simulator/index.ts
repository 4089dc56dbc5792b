// The exchange simulator's front door: one Bun.serve on loopback routing /kraken, /binance and
// /coinbase to their venue simulators, plus the control API (/control/fault, /control/book,
// /control/stats). startSimulator() is what tests, the demo and `alphapulse simulate` call.
import { log } from "../log.ts";
import { BINANCE_DEFAULTS, type BinanceOptions, BinanceSimulator } from "./binance.ts";
import { COINBASE_DEFAULTS, type CoinbaseOptions, CoinbaseSimulator } from "./coinbase.ts";
import { FaultError, type FaultKind, type FaultSpec, isFaultKind } from "./faults.ts";
import { DEFAULT_SYMBOLS, parseSymbol, VENUES, type Venue } from "./instruments.ts";
import { KrakenSimulator } from "./kraken.ts";
import {
  type MarketSettings,
  parseRequest,
  type SocketData,
  type TrueBook,
  type VenueSimulator,
  type VenueStats,
} from "./venue.ts";

export type { BinanceOptions } from "./binance.ts";
export type { CoinbaseOptions, CoinbaseTradeSide } from "./coinbase.ts";
export type { FaultKind, FaultSpec } from "./faults.ts";
export { FAULT_KINDS } from "./faults.ts";
export type { Venue } from "./instruments.ts";
export type { TrueBook, VenueStats } from "./venue.ts";

export interface SimulatorOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly hostname?: string;
  /** Normalized BASE-QUOTE symbols, served by every venue. */
  readonly symbols?: readonly string[];
  readonly seed?: number;
  /** Book updates per second per symbol and venue. */
  readonly updatesPerSecond?: number;
  /** Trades per second per symbol and venue. */
  readonly tradesPerSecond?: number;
  /** Levels per side in every book. */
  readonly bookLevels?: number;
  /** Ping period, connection lifetime, REST weight limit. */
  readonly binance?: Partial<BinanceOptions>;
  /** Meaning of market_trades side, subscribe deadline. */
  readonly coinbase?: Partial<CoinbaseOptions>;
}

export interface SimulatorUrls {
  readonly kraken: { readonly ws: string };
  /** ws: base for /stream?streams=... and /ws/<stream>; rest: base for /api/v3/... */
  readonly binance: { readonly ws: string; readonly rest: string };
  /** rest: base for /api/v3/brokerage/market/products/<id>. */
  readonly coinbase: { readonly ws: string; readonly rest: string };
}

export interface SimulatorStats {
  readonly uptimeMs: number;
  readonly venues: Record<Venue, VenueStats>;
}

export interface Simulator {
  readonly port: number;
  readonly urls: SimulatorUrls;
  /** The book clients should hold after the last frame sent; symbol normalized (BTC-USD) or venue form. */
  trueBook(venue: Venue, symbol: string, depth?: number): TrueBook;
  /** Injects a fault on a venue, for one symbol or all; throws FaultError if the venue cannot. */
  inject(venue: Venue, fault: FaultKind | FaultSpec, symbol?: string): void;
  stats(): SimulatorStats;
  stop(): Promise<void>;
}

export class SimulatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SimulatorError";
  }
}

export function startSimulator(options: SimulatorOptions = {}): Simulator {
  const settings: MarketSettings = {
    symbols: options.symbols ?? DEFAULT_SYMBOLS,
    seed: options.seed ?? 1,
    updatesPerSecond: options.updatesPerSecond ?? 20,
    tradesPerSecond: options.tradesPerSecond ?? 2,
    bookLevels: options.bookLevels ?? 1_000,
  };
  for (const symbol of settings.symbols) parseSymbol(symbol);
  const venues: Record<Venue, VenueSimulator> = {
    kraken: new KrakenSimulator(settings),
    binance: new BinanceSimulator(settings, { ...BINANCE_DEFAULTS, ...options.binance }),
    coinbase: new CoinbaseSimulator(settings, { ...COINBASE_DEFAULTS, ...options.coinbase }),
  };
  const started = Date.now();

  const venueOf = (name: string): VenueSimulator => {
    if (!(VENUES as readonly string[]).includes(name)) {
      throw new SimulatorError(`unknown venue "${name}"; one of ${VENUES.join(", ")}`);
    }
    return venues[name as Venue];
  };

  const resolveSymbol = (venue: VenueSimulator, symbol: string): string => {
    if (venue.markets.has(symbol)) return symbol;
    const normalized = venue.symbolOf(symbol);
    if (normalized === undefined) throw new SimulatorError(`${venue.venue} does not serve "${symbol}"`);
    return normalized;
  };

  const trueBook = (venueName: Venue, symbol: string, depth?: number): TrueBook => {
    const venue = venueOf(venueName);
    return venue.trueBook(resolveSymbol(venue, symbol), depth)!;
  };

  const inject = (venueName: Venue, fault: FaultKind | FaultSpec, symbol?: string): void => {
    const venue = venueOf(venueName);
    const spec = typeof fault === "string" ? { kind: fault } : fault;
    if (!isFaultKind(spec.kind)) throw new FaultError(`unknown fault kind "${String(spec.kind)}"`);
    venue.inject(spec, symbol === undefined ? undefined : resolveSymbol(venue, symbol));
  };

  const stats = (): SimulatorStats => {
    return {
      uptimeMs: Date.now() - started,
      venues: {
        kraken: venues.kraken.stats(),
        binance: venues.binance.stats(),
        coinbase: venues.coinbase.stats(),
      },
    };
  };

  const control = async (request: Request, path: string, url: URL): Promise<Response> => {
    try {
      if (path === "/control/fault" && request.method === "POST") {
        const body = parseRequest(await request.text());
        if (body === undefined)
          throw new FaultError("the body must be a JSON object {venue, kind, symbol?, durationMs?}");
        const kind = body.kind;
        if (!isFaultKind(kind)) throw new FaultError(`unknown fault kind "${String(kind)}"`);
        const durationMs = body.durationMs;
        if (durationMs !== undefined && (typeof durationMs !== "number" || !(durationMs >= 0))) {
          throw new FaultError("durationMs must be a number of milliseconds");
        }
        const symbol = body.symbol;
        if (symbol !== undefined && typeof symbol !== "string")
          throw new FaultError("symbol must be a string");
        inject(
          String(body.venue) as Venue,
          durationMs === undefined ? { kind } : { kind, durationMs },
          symbol,
        );
        return Response.json({ ok: true, venue: body.venue, kind, symbol: symbol ?? null });
      }
      const book = /^\/control\/book\/([a-z]+)\/([^/]+)$/.exec(path);
      if (book && request.method === "GET") {
        const depthText = url.searchParams.get("depth");
        const depth = depthText === null ? undefined : Number(depthText);
        if (depth !== undefined && !(Number.isInteger(depth) && depth > 0)) {
          throw new SimulatorError("depth must be a positive whole number");
        }
        return Response.json(trueBook(book[1] as Venue, decodeURIComponent(book[2]!), depth));
      }
      if (path === "/control/stats" && request.method === "GET") return Response.json(stats());
      return Response.json({ error: `no route ${request.method} ${path}` }, { status: 404 });
    } catch (error) {
      if (error instanceof SimulatorError || error instanceof FaultError) {
        return Response.json({ error: error.message }, { status: 400 });
      }
      log.error("simulator control request failed", { path, error });
      return Response.json({ error: String(error) }, { status: 500 });
    }
  };

  const server = Bun.serve<SocketData>({
    port: options.port ?? 0,
    hostname: options.hostname ?? "127.0.0.1",
    fetch(request, server) {
      const url = new URL(request.url);
      const path = url.pathname;
      if (path.startsWith("/control/")) return control(request, path, url);
      const slash = path.indexOf("/", 1);
      const name = slash < 0 ? path.slice(1) : path.slice(1, slash);
      const rest = slash < 0 ? "" : path.slice(slash);
      const venue = (VENUES as readonly string[]).includes(name) ? venues[name as Venue] : undefined;
      if (venue === undefined) return Response.json({ error: `no route ${path}` }, { status: 404 });
      if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (!venue.acceptsSocket(rest))
          return Response.json({ error: `no stream at ${path}` }, { status: 404 });
        if (venue.refuseConnection())
          return Response.json({ error: `${venue.venue} is down` }, { status: 503 });
        const data: SocketData = { venue: venue.venue, url };
        if (server.upgrade(request, { data })) return undefined;
        return Response.json({ error: "websocket upgrade failed" }, { status: 400 });
      }
      return venue.http(request, rest, url) ?? Response.json({ error: `no route ${path}` }, { status: 404 });
    },
    websocket: {
      // Venues send their own keepalives (Binance pings): no automatic pings, no idle timeout.
      idleTimeout: 0,
      sendPings: false,
      maxPayloadLength: 1 << 20,
      // A client that falls 16 MiB behind is cut off, as exchanges do with slow consumers, rather
      // than having frames silently dropped.
      backpressureLimit: 16 << 20,
      closeOnBackpressureLimit: true,
      open(ws) {
        venues[ws.data.venue].open(ws);
      },
      message(ws, message) {
        venues[ws.data.venue].message(ws, typeof message === "string" ? message : message.toString());
      },
      close(ws) {
        venues[ws.data.venue].close(ws);
      },
      pong(ws) {
        venues[ws.data.venue].pong(ws);
      },
    },
  });
  for (const venue of Object.values(venues)) venue.start();

  const port = server.port ?? 0;
  const host = options.hostname ?? "127.0.0.1";
  const http = `http://${host}:${port}`;
  const ws = `ws://${host}:${port}`;
  return {
    port,
    urls: {
      kraken: { ws: `${ws}/kraken/v2` },
      binance: { ws: `${ws}/binance`, rest: `${http}/binance` },
      coinbase: { ws: `${ws}/coinbase`, rest: `${http}/coinbase` },
    },
    trueBook,
    inject,
    stats,
    async stop() {
      for (const venue of Object.values(venues)) venue.stop();
      await server.stop(true);
    },
  };
}
