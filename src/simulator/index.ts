// The exchange simulator's front door: one Bun.serve on loopback routing /<venue> to each venue
// simulator in src/exchanges/simulators.ts, plus the control API (/control/fault, /control/book,
// /control/stats). startSimulator() is what tests, the demo and `alphapulse simulate` call.
import { SIMULATED_VENUES, type SimulatedVenueName } from "../exchanges/simulators.ts";
import { log } from "../log.ts";
import { FaultError, type FaultSpec } from "./faults.ts";
import { parseSymbol } from "./instruments.ts";
import {
  type MarketSettings,
  parseRequest,
  type SocketData,
  type TrueBook,
  type VenueSimulator,
  type VenueStats,
} from "./venue.ts";

type Venues = typeof SIMULATED_VENUES;

/** Every fault kind some venue can inject. */
export type FaultKind = Venues[SimulatedVenueName]["faults"][number];
const FAULT_KINDS: readonly FaultKind[] = [
  ...new Set(Object.values(SIMULATED_VENUES).flatMap((venue): readonly FaultKind[] => venue.faults)),
];

function isFaultKind(kind: unknown): kind is FaultKind {
  return typeof kind === "string" && (FAULT_KINDS as readonly string[]).includes(kind);
}

/** Every venue's demo symbols: what the simulator serves when told nothing else. */
export const DEFAULT_SYMBOLS: readonly string[] = [
  ...new Set(Object.values(SIMULATED_VENUES).flatMap((venue) => venue.demoSymbols)),
];

/** Options of one venue's own (Binance's ping period, Coinbase's trade side...), by venue. */
export type VenueOptions = {
  readonly [Name in SimulatedVenueName]?: Parameters<Venues[Name]["create"]>[1];
};

export interface SimulatorOptions extends VenueOptions {
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
}

/**
 * Where a collector points for each venue: `ws` is the endpoint it dials (Binance appends
 * /stream?streams=...), `rest` the base of the venue's REST paths (/api/v3/...).
 */
export type SimulatorUrls = Record<SimulatedVenueName, { readonly ws: string; readonly rest: string }>;

interface SimulatorStats {
  readonly uptimeMs: number;
  readonly venues: Record<SimulatedVenueName, VenueStats>;
}

export interface Simulator {
  readonly port: number;
  readonly urls: SimulatorUrls;
  /** The book clients should hold after the last frame sent; symbol normalized (BTC-USD) or venue form. */
  trueBook(venue: SimulatedVenueName, symbol: string, depth?: number): TrueBook;
  /** Injects a fault on a venue, for one symbol or all; throws FaultError if the venue cannot. */
  inject(venue: SimulatedVenueName, fault: FaultKind | FaultSpec<FaultKind>, symbol?: string): void;
  stats(): SimulatorStats;
  stop(): Promise<void>;
}

/** The venues' URLs on a simulator listening at `hostPort` ("127.0.0.1:9100"). */
export function simulatorUrls(hostPort: string): SimulatorUrls {
  const names = Object.keys(SIMULATED_VENUES) as SimulatedVenueName[];
  return Object.fromEntries(
    names.map((name) => [
      name,
      { ws: `ws://${hostPort}/${name}${SIMULATED_VENUES[name].wsPath}`, rest: `http://${hostPort}/${name}` },
    ]),
  ) as SimulatorUrls;
}

class SimulatorError extends Error {
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
  const names = Object.keys(SIMULATED_VENUES) as SimulatedVenueName[];
  const venues = new Map<string, VenueSimulator>(
    names.map((name) => [name, SIMULATED_VENUES[name].create(settings, options[name])]),
  );
  const started = Date.now();

  const venueOf = (name: string): VenueSimulator => {
    const venue = venues.get(name);
    if (venue === undefined) throw new SimulatorError(`unknown venue "${name}"; one of ${names.join(", ")}`);
    return venue;
  };

  const resolveSymbol = (venue: VenueSimulator, symbol: string): string => {
    if (venue.markets.has(symbol)) return symbol;
    const normalized = venue.symbolOf(symbol);
    if (normalized === undefined) throw new SimulatorError(`${venue.venue} does not serve "${symbol}"`);
    return normalized;
  };

  const trueBook = (venueName: string, symbol: string, depth?: number): TrueBook => {
    const venue = venueOf(venueName);
    return venue.trueBook(resolveSymbol(venue, symbol), depth)!;
  };

  const inject = (venueName: string, fault: FaultKind | FaultSpec, symbol?: string): void => {
    const venue = venueOf(venueName);
    const spec = typeof fault === "string" ? { kind: fault } : fault;
    if (!isFaultKind(spec.kind)) throw new FaultError(`unknown fault kind "${String(spec.kind)}"`);
    venue.inject(spec, symbol === undefined ? undefined : resolveSymbol(venue, symbol));
  };

  const stats = (): SimulatorStats => {
    const stats = names.map((name) => [name, venueOf(name).stats()] as const);
    return {
      uptimeMs: Date.now() - started,
      venues: Object.fromEntries(stats) as Record<SimulatedVenueName, VenueStats>,
    };
  };

  const server = Bun.serve<SocketData>({
    port: options.port ?? 0,
    hostname: options.hostname ?? "127.0.0.1",
    fetch(request, server) {
      const url = new URL(request.url);
      const path = url.pathname;
      if (path.startsWith("/control/")) return control({ inject, trueBook, stats }, request, path, url);
      const slash = path.indexOf("/", 1);
      const name = slash < 0 ? path.slice(1) : path.slice(1, slash);
      const rest = slash < 0 ? "" : path.slice(slash);
      const venue = venues.get(name);
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
        venueOf(ws.data.venue).open(ws);
      },
      message(ws, message) {
        venueOf(ws.data.venue).message(ws, typeof message === "string" ? message : message.toString());
      },
      close(ws) {
        venueOf(ws.data.venue).close(ws);
      },
      pong(ws) {
        venueOf(ws.data.venue).pong(ws);
      },
    },
  });
  for (const venue of venues.values()) venue.start();

  const port = server.port ?? 0;
  return {
    port,
    urls: simulatorUrls(`${options.hostname ?? "127.0.0.1"}:${port}`),
    trueBook,
    inject,
    stats,
    async stop() {
      for (const venue of venues.values()) venue.stop();
      await server.stop(true);
    },
  };
}

/** What the control API reaches of a running simulator. */
interface ControlTarget {
  inject(venue: string, fault: FaultSpec, symbol?: string): void;
  trueBook(venue: string, symbol: string, depth?: number): TrueBook;
  stats(): SimulatorStats;
}

/** The control API: POST /control/fault, GET /control/book/<venue>/<symbol>, GET /control/stats. */
async function control(target: ControlTarget, request: Request, path: string, url: URL): Promise<Response> {
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
      if (symbol !== undefined && typeof symbol !== "string") throw new FaultError("symbol must be a string");
      target.inject(String(body.venue), durationMs === undefined ? { kind } : { kind, durationMs }, symbol);
      return Response.json({ ok: true, venue: body.venue, kind, symbol: symbol ?? null });
    }
    const book = /^\/control\/book\/([a-z]+)\/([^/]+)$/.exec(path);
    if (book && request.method === "GET") {
      const depthText = url.searchParams.get("depth");
      const depth = depthText === null ? undefined : Number(depthText);
      if (depth !== undefined && !(Number.isInteger(depth) && depth > 0)) {
        throw new SimulatorError("depth must be a positive whole number");
      }
      return Response.json(target.trueBook(book[1]!, decodeURIComponent(book[2]!), depth));
    }
    if (path === "/control/stats" && request.method === "GET") return Response.json(target.stats());
    return Response.json({ error: `no route ${request.method} ${path}` }, { status: 404 });
  } catch (error) {
    if (error instanceof SimulatorError || error instanceof FaultError) {
      return Response.json({ error: error.message }, { status: 400 });
    }
    log.error("simulator control request failed", { path, error });
    return Response.json({ error: String(error) }, { status: 500 });
  }
}
