// `alphapulse collect`: one exchange's feed into its ring. Resolves the symbols from the venue's
// metadata, creates the ring, opens the venue's connections and serves /health, /ready and
// /metrics on METRICS_PORT. Returns once running; the connections and server keep it alive.
import { ConfigError, type Env, readCommonConfig, Settings } from "../config.ts";
import { VENUE_DEFINITIONS } from "../exchanges/registry.ts";
import { UnknownSymbolError } from "../exchanges/venue.ts";
import { newRegistry, type Readiness, startHealthServer } from "../health/server.ts";
import { onShutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { BookStatus } from "../shm/layout.ts";
import { RingWriter } from "../shm/ring-writer.ts";
import { TokenBucket } from "./budget.ts";
import { CaptureFile } from "./capture.ts";
import { readCollectorConfig } from "./config.ts";
import { ManagedConnection } from "./connection.ts";
import { wireVenue } from "./ingest.ts";
import { CollectorMetrics } from "./metrics.ts";
import { HttpRest } from "./rest.ts";

/** How long a book may wait for its snapshot before the collector asks again. */
const SNAPSHOT_TIMEOUT_MS = 10_000;

export async function run(_args: string[], env: Env): Promise<void> {
  const settings = new Settings(env);
  const common = readCommonConfig(settings);
  const config = readCollectorConfig(settings);
  log.setLevel(common.logLevel);
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
  const restCapture = capture("rest");
  const rest = new HttpRest(budget, restCapture);
  const endpoints = { wsUrl: config.wsUrl, restUrl: config.restUrl };
  let specs: Awaited<ReturnType<typeof definition.resolveSymbols>>;
  try {
    specs = await definition.resolveSymbols(config.symbols, endpoints, rest);
  } catch (error) {
    if (error instanceof UnknownSymbolError) throw new ConfigError("SYMBOLS", error.message);
    throw error;
  }
  logger.info("symbols resolved", { symbols: specs });
  const writer = RingWriter.create({
    dir: common.sharedMemoryPath,
    name: config.ringName,
    exchange: config.exchange,
    capacity: config.ringCapacity,
    bookDepth: config.depth,
    symbols: specs,
  });
  writer.startHeartbeat();
  const connections: ManagedConnection[] = [];
  const registry = newRegistry({ mode: "collect" });
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
  for (const plan of venue.streams) {
    connections.push(
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
  }
  metrics = new CollectorMetrics(registry, {
    exchange: config.exchange,
    symbols: writer.symbols,
    counters,
    publisher,
    connections,
    rest,
  });
  const readiness = (): Readiness => {
    const down = connections.filter((c) => !c.connected).map((c) => c.name);
    if (down.length > 0) return { ready: false, reason: `not connected: ${down.join(", ")}` };
    const invalid = writer.symbols.filter((s) => publisher.status[s.id] !== BookStatus.Valid);
    if (invalid.length > 0) {
      return {
        ready: false,
        reason: `${config.exchange} books not valid: ${invalid.map((s) => s.symbol).join(", ")}`,
        detail: invalid.map((s) => ({ symbol: s.symbol, status: BookStatus[publisher.status[s.id]!] })),
      };
    }
    return { ready: true };
  };
  const health = startHealthServer({
    port: config.metricsPort,
    registry,
    mode: "collect",
    readiness,
    info: () => ({ exchange: config.exchange, ring: writer.path, generation: writer.generation }),
  });
  for (const connection of connections) connection.start();
  const snapshotWatchdog = setInterval(() => {
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
  logger.info("collecting", {
    ring: writer.path,
    depth: config.depth,
    connections: connections.map((c) => c.name),
    metricsPort: health.port,
  });
  onShutdown("collector connections", async () => {
    clearInterval(snapshotWatchdog);
    connectBudget.stop();
    budget.stop();
    await Promise.all(connections.map((c) => c.stop()));
  });
  onShutdown("collector health server", () => health.stop());
  onShutdown("collector ring and captures", () => {
    writer.close();
    for (const file of captures) file.close();
  });
}
