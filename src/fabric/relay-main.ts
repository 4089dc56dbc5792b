// `alphapulse relay`: copies one venue's stream into a local ring (EXCHANGE, NATS_URL,
// SHARED_MEMORY_PATH, RING_NAME, RING_CAPACITY), so a broadcaster on this node serves the
// leader's records under the leader's sequences. Serves /health, /ready and /metrics on
// METRICS_PORT (ready while the copy is current).
import { readRingConfig } from "../collector/config.ts";
import { type Env, readCommonConfig, Settings } from "../config.ts";
import { EXCHANGE_NAMES } from "../exchanges/registry.ts";
import { newRegistry, startHealthServer } from "../health/server.ts";
import { onShutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { readFabricConfig } from "./config.ts";
import { connectFabric } from "./link.ts";
import { FabricStats, registerFabricMetrics } from "./metrics.ts";
import { venueNames } from "./names.ts";
import { Relay } from "./relay.ts";

export async function run(_args: string[], env: Env): Promise<void> {
  const settings = new Settings(env);
  const common = readCommonConfig(settings);
  const exchange = settings.oneOf("EXCHANGE", EXCHANGE_NAMES, "kraken");
  const ring = readRingConfig(settings, exchange);
  const metricsPort = settings.port("METRICS_PORT", 8090);
  const fabric = readFabricConfig(settings);
  const logger = log.child({ exchange, mode: "relay" });
  const stats = new FabricStats();
  const registry = newRegistry({ mode: "relay" });
  registerFabricMetrics(registry, exchange, stats);
  let relay: Relay | null = null;
  const health = startHealthServer({
    port: metricsPort,
    registry,
    mode: "relay",
    readiness: () => relay?.readiness() ?? { ready: false, reason: "connecting to NATS" },
    info: () => ({ exchange, ring: relay?.copy.writer?.path ?? null, generation: stats.generation }),
  });
  onShutdown("relay health server", () => health.stop());
  const link = await connectFabric(fabric, venueNames(exchange), logger, `alphapulse relay ${exchange}`);
  relay = new Relay({
    link,
    dir: common.sharedMemoryPath,
    ringName: ring.ringName,
    capacity: ring.ringCapacity,
    config: fabric,
    stats,
    log: logger,
  });
  onShutdown("relay", async () => {
    relay?.stop();
    await link.close();
  });
  await relay.start();
  logger.info("relaying", {
    stream: link.names.stream,
    dir: common.sharedMemoryPath,
    metricsPort: health.port,
  });
}
