// `alphapulse collect`: one exchange's feed into its ring. Takes the ring's one-writer lock and
// its METRICS_PORT first (what can refuse a start fails before the exchange sees a connection or
// a ring appears), then resolves the symbols from the venue's metadata, creates the ring, opens
// the venue's connections and serves /health, /ready and /metrics. Returns once running; the
// connections and server keep it alive. prepareCollector is the same runtime for a caller that
// creates the ring its own way (the fabric's leader, which starts it only once it holds the
// venue's lease).
import type { Registry } from "prom-client";
import { type CommonConfig, ConfigError, type Env, readCommonConfig, Settings } from "../config.ts";
import { VENUE_DEFINITIONS } from "../exchanges/registry.ts";
import {
  type Endpoints,
  type RestClient,
  UnknownSymbolError,
  type VenueDefinition,
} from "../exchanges/venue.ts";
import { newRegistry, type Readiness, startHealthServer } from "../health/server.ts";
import { onShutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { BookStatus, type SymbolSpec } from "../shm/layout.ts";
import { RingLock, RingWriter, type RingWriterOptions } from "../shm/ring-writer.ts";
import { TokenBucket } from "./budget.ts";
import { CaptureFile } from "./capture.ts";
import { type CollectorConfig, readCollectorConfig } from "./config.ts";
import { ManagedConnection } from "./connection.ts";
import { wireVenue } from "./ingest.ts";
import { CollectorMetrics } from "./metrics.ts";
import type { Publisher } from "./publisher.ts";
import { HttpRest } from "./rest.ts";

/** How long a book may wait for its snapshot before the collector asks again. */
const SNAPSHOT_TIMEOUT_MS = 10_000;

export async function run(_args: string[], env: Env): Promise<void> {
  const settings = new Settings(env);
  const common = readCommonConfig(settings);
  const config = readCollectorConfig(settings);
  const lock = RingLock.acquire(common.sharedMemoryPath, config.ringName);
  const registry = newRegistry({ mode: "collect" });
  let collector: CollectorRuntime | null = null;
  const health = startHealthServer({
    port: config.metricsPort,
    registry,
    mode: "collect",
    readiness: () => collector?.readiness() ?? { ready: false, reason: "starting: resolving symbols" },
    info: () => collector?.info() ?? { exchange: config.exchange },
  });
  collector = await prepareCollector(config, registry, (specs) =>
    RingWriter.create(ringOptions(common, config, specs), lock),
  );
  collector.start();
  log.info("collecting", {
    exchange: config.exchange,
    ring: collector.writer.path,
    metricsPort: health.port,
  });
  const running = collector;
  onShutdown("collector connections", () => running.stopConnections());
  onShutdown("collector health server", () => health.stop());
  onShutdown("collector ring and captures", () => running.close());
}

/** The ring a collector writes: its folder, name and shape. */
export function ringOptions(
  common: CommonConfig,
  config: CollectorConfig,
  symbols: SymbolSpec[],
): RingWriterOptions {
  return {
    dir: common.sharedMemoryPath,
    name: config.ringName,
    exchange: config.exchange,
    capacity: config.ringCapacity,
    bookDepth: config.depth,
    symbols,
  };
}

/** A collector with its ring and connections, not yet connected. */
export interface CollectorRuntime {
  readonly writer: RingWriter;
  readiness(): Readiness;
  info(): Record<string, unknown>;
  /** Opens the venue's connections. */
  start(): void;
  /** Closes the connections; each writes its disconnected status to the ring, which stays open. */
  stopConnections(): Promise<void>;
  /** Closes the ring and the capture files. */
  close(): void;
}

/**
 * Resolves the symbols (the venue's REST metadata), creates the ring through `createRing`, and
 * builds the venue's connections and metrics on `registry`; start() connects. The caller holds
 * the ring's lock and its metrics port already: nothing here can be refused after the exchange
 * has seen a request.
 */
export async function prepareCollector(
  config: CollectorConfig,
  registry: Registry,
  createRing: (symbols: SymbolSpec[]) => RingWriter,
): Promise<CollectorRuntime> {
  const definition = VENUE_DEFINITIONS[config.exchange];
  const logger = log.child({ exchange: config.exchange });
  const budget = new TokenBucket(definition.requestBudget.capacity, definition.requestBudget.perSecond);
  // Every (re)connect goes through this, at the venue's connection rate: Coinbase opens one
  // connection per product plus one for trades, and they must not all dial at once.
  const connectBudget = new TokenBucket(1, definition.connectionsPerSecond);
  const captures: CaptureFile[] = [];
  const capture = (stem: string): CaptureFile | null => {
    if (config.capturePath === undefined) return null;
    const file = new CaptureFile(config.capturePath, `${config.exchange}-${stem}`, config.captureMaxBytes);
    captures.push(file);
    return file;
  };
  const rest = new HttpRest(budget, capture("rest"));
  const endpoints = { wsUrl: config.wsUrl, restUrl: config.restUrl };
  const specs = await resolveSymbols(definition, config.symbols, endpoints, rest);
  logger.info("symbols resolved", { symbols: specs });
  const writer = createRing(specs);
  writer.startHeartbeat();
  let metrics: CollectorMetrics | null = null;
  const { counters, publisher, venue, ingest } = wireVenue({
    definition,
    writer,
    depth: config.depth,
    wsUrl: config.wsUrl,
    restUrl: config.restUrl,
    rest,
    budget,
    maxFrameBytes: config.maxFrameBytes,
    log: logger,
    onPublished: (ns) => metrics?.published(ns),
  });
  const connections = venue.streams.map(
    (plan) =>
      new ManagedConnection({
        plan,
        venue,
        ingest,
        publisher,
        log: logger,
        capture: capture(plan.name),
        connectBudget,
      }),
  );
  metrics = new CollectorMetrics(registry, {
    exchange: config.exchange,
    symbols: writer.symbols,
    counters,
    publisher,
    connections,
    rest,
  });
  let snapshotWatchdog: ReturnType<typeof setInterval> | null = null;
  return {
    writer,
    readiness: () => readiness(config.exchange, connections, writer, publisher),
    info: () => ({ exchange: config.exchange, ring: writer.path, generation: writer.generation }),
    start() {
      for (const connection of connections) connection.start();
      snapshotWatchdog = setInterval(() => {
        // A book still waiting for its snapshot after SNAPSHOT_TIMEOUT_MS asks again: a lost
        // snapshot or subscribe answer must not leave it invalid for good.
        const now = Date.now();
        if (connections.some((c) => !c.connected)) return;
        for (const symbol of writer.symbols) {
          if (publisher.status[symbol.id] === BookStatus.Valid) continue;
          if (now - publisher.statusSince[symbol.id]! < SNAPSHOT_TIMEOUT_MS) continue;
          publisher.statusSince[symbol.id] = now;
          logger.warn("book still not valid: resyncing", { symbol: symbol.symbol });
          venue.resync(symbol.id);
        }
      }, 1_000);
      logger.info("connecting", {
        ring: writer.path,
        depth: config.depth,
        connections: connections.map((c) => c.name),
      });
    },
    async stopConnections() {
      if (snapshotWatchdog) clearInterval(snapshotWatchdog);
      connectBudget.stop();
      budget.stop();
      await Promise.all(connections.map((c) => c.stop()));
    },
    close() {
      writer.close();
      for (const file of captures) file.close();
    },
  };
}

/** Ready when every connection is up and every book valid; otherwise which are not. */
function readiness(
  exchange: string,
  connections: readonly ManagedConnection[],
  writer: RingWriter,
  publisher: Publisher,
): Readiness {
  const down = connections.filter((c) => !c.connected).map((c) => c.name);
  if (down.length > 0) return { ready: false, reason: `not connected: ${down.join(", ")}` };
  const invalid = writer.symbols.filter((s) => publisher.status[s.id] !== BookStatus.Valid);
  if (invalid.length > 0) {
    return {
      ready: false,
      reason: `${exchange} books not valid: ${invalid.map((s) => s.symbol).join(", ")}`,
      detail: invalid.map((s) => ({ symbol: s.symbol, status: BookStatus[publisher.status[s.id]!] })),
    };
  }
  return { ready: true };
}

/** The venue's specs of the symbols; a symbol it does not list is a bad SYMBOLS setting. */
async function resolveSymbols(
  definition: VenueDefinition,
  symbols: readonly string[],
  endpoints: Endpoints,
  rest: RestClient,
): Promise<SymbolSpec[]> {
  try {
    return await definition.resolveSymbols(symbols, endpoints, rest);
  } catch (error) {
    if (error instanceof UnknownSymbolError) throw new ConfigError("SYMBOLS", error.message);
    throw error;
  }
}
