// `alphapulse broadcast`: serves every ring under SHARED_MEMORY_PATH to WebSocket and REST
// clients and the live page on WEBSOCKET_PORT, with /health, /ready and /metrics on METRICS_PORT.
import type { Env } from "../config.ts";
import { type HealthServer, newRegistry, startHealthServer } from "../health/server.ts";
import { onShutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { type BroadcastConfig, readBroadcastConfig } from "./config.ts";
import { BroadcastMetrics } from "./metrics.ts";
import { RingHub } from "./ring-hub.ts";
import { type BroadcastServer, startBroadcastServer } from "./server.ts";

/** A running broadcaster (the mode, or a test that starts one in-process). */
export interface Broadcaster {
  readonly hub: RingHub;
  readonly server: BroadcastServer;
  readonly metricsPort: number;
  stop(): Promise<void>;
}

export function startBroadcaster(config: BroadcastConfig): Broadcaster {
  const logger = log.child({ mode: "broadcast" });
  const registry = newRegistry({ service: "alphapulse", mode: "broadcast" });
  let hub: RingHub | null = null;
  const metrics = new BroadcastMetrics(registry, {
    ringLag: () => hub?.ringLag() ?? [],
    rings: () => hub?.followers.size ?? 0,
    ringWriters: () => hub?.ringWriters() ?? [],
  });
  hub = new RingHub(config, logger, metrics);
  const ringHub = hub;
  const server = startBroadcastServer(config, ringHub, metrics, logger);
  let health: HealthServer;
  try {
    health = startHealthServer({
      port: config.metricsPort,
      hostname: config.hostname,
      registry,
      mode: "broadcast",
      readiness: () => ringHub.freshness(),
      info: () => ({ clients: server.clientCount(), rings: ringHub.followers.size }),
    });
  } catch (error) {
    server.stop();
    throw error;
  }
  logger.info("broadcasting", {
    dir: config.sharedMemoryPath,
    websocketPort: server.port,
    metricsPort: health.port,
    auth: config.token !== undefined,
  });
  return {
    hub: ringHub,
    server,
    metricsPort: health.port,
    async stop() {
      await server.drain(config.graceMs);
      await health.stop();
    },
  };
}

export async function run(_args: string[], env: Env): Promise<void> {
  const broadcaster = startBroadcaster(readBroadcastConfig(env));
  // Leave time for the other steps: clients get 1001 and reconnect to another broadcaster.
  onShutdown("broadcast: close clients (1001) and drain", () => broadcaster.stop());
}
