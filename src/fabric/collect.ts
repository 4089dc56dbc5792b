// `alphapulse collect` with NATS_URL: one of several collectors of a venue, of which only the
// one holding the venue's lease connects to the exchange. A standby opens no exchange
// connection: it copies the stream into its local ring as a relay does. Once it holds the
// lease it claims the stream (the fence that shuts the old leader out), lets its copy reach the
// claim, and starts a new generation of its ring from that copy, so every topic count goes on
// from the old leader's as a restarted ring's does; then it publishes every batch. Losing the
// lease or being fenced out ends the process (exit 3): it comes back as a standby.

import { readCollectorConfig } from "../collector/config.ts";
import { type CollectorRuntime, prepareCollector, ringOptions } from "../collector/main.ts";
import type { Env } from "../config.ts";
import { readCommonConfig, Settings } from "../config.ts";
import { newRegistry, startHealthServer } from "../health/server.ts";
import { onShutdown, shutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { RingLock, RingWriter } from "../shm/ring-writer.ts";
import { readFabricConfig } from "./config.ts";
import { holderId, Lease } from "./lease.ts";
import { connectFabric } from "./link.ts";
import { FabricStats, registerFabricMetrics } from "./metrics.ts";
import { venueNames } from "./names.ts";
import { claimStream, FabricPublisher } from "./publisher.ts";
import { Relay } from "./relay.ts";

/** Exit code of a collector that lost its lease or was fenced out. */
const DEPOSED = 3;
/** How long a new leader waits for its copy to reach the claim before it starts anyway. */
const CATCH_UP_MS = 15_000;
/** How long a stopping leader waits for the stream to take its last batches. */
const DRAIN_MS = 3_000;

export async function run(_args: string[], env: Env): Promise<void> {
  const settings = new Settings(env);
  const common = readCommonConfig(settings);
  const config = readCollectorConfig(settings);
  const fabric = readFabricConfig(settings);
  const logger = log.child({ exchange: config.exchange });
  const names = venueNames(config.exchange);
  const holder = holderId();
  const stats = new FabricStats();
  const registry = newRegistry({ mode: "collect" });
  registerFabricMetrics(registry, config.exchange, stats);
  let collector: CollectorRuntime | null = null;
  let relay: Relay | null = null;
  let publisher: FabricPublisher | null = null;
  let lease: Lease | null = null;
  const health = startHealthServer({
    port: config.metricsPort,
    registry,
    mode: "collect",
    readiness: () =>
      collector?.readiness() ?? relay?.readiness() ?? { ready: false, reason: "connecting to NATS" },
    info: () => ({ ...collector?.info(), fabric: collector === null ? "standby" : "leader", holder }),
  });
  const link = await connectFabric(fabric, names, logger, `alphapulse collect ${holder}`);
  onShutdown("fabric collector", async () => {
    if (collector !== null) {
      await collector.stopConnections();
      // The last batches (the connections' own disconnected status) before the lease goes.
      await Bun.sleep(50);
      if (!(await publisher?.drain(DRAIN_MS))) logger.warn("stopping before the stream took every batch");
      publisher?.stop();
    }
    await lease?.release();
    stats.leader = 0;
    relay?.stop();
    collector?.close();
    await link.close();
  });
  onShutdown("collector health server", () => health.stop());
  relay = new Relay({
    link,
    dir: common.sharedMemoryPath,
    ringName: config.ringName,
    capacity: config.ringCapacity,
    config: fabric,
    stats,
    log: logger,
  });
  await relay.start();
  lease = new Lease({
    kv: await link.leases(fabric.leaseTtlMs),
    key: config.exchange,
    holder,
    ttlMs: fabric.leaseTtlMs,
    log: logger,
    onLost: (reason) => void shutdown(`lease lost: ${reason}`, DEPOSED),
  });
  if (!(await lease.acquire())) return;
  stats.leader = 1;
  const claim = await claimStream(link, holder, logger);
  if (!(await relay.appliedThrough(claim.seq, CATCH_UP_MS))) {
    logger.warn("the copy did not reach the claim in time: topic counts may not continue exactly");
  }
  relay.stop();
  relay = null;
  // The ring is this process's again only once the copy let go of it: take it before the
  // exchange sees a request, as a plain collector does.
  const lock = RingLock.acquire(common.sharedMemoryPath, config.ringName);
  collector = await prepareCollector(config, registry, (specs) =>
    RingWriter.create(ringOptions(common, config, specs), lock),
  );
  stats.generation = claim.generation;
  publisher = new FabricPublisher({
    link,
    writer: collector.writer,
    claim,
    config: fabric,
    stats,
    log: logger,
    onFenced: (reason) => void shutdown(`fenced out: ${reason}`, DEPOSED),
  });
  publisher.begin();
  collector.start();
  logger.info("leading", {
    generation: claim.generation,
    ring: collector.writer.path,
    metricsPort: health.port,
  });
}
