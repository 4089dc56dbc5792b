// `alphapulse broadcast`: serves every ring under SHARED_MEMORY_PATH to WebSocket and REST
// clients and the live page on WEBSOCKET_PORT, with /health, /ready and /metrics on METRICS_PORT.
// One thread does it all (BROADCAST_WORKERS=1), or this thread keeps the health server and runs
// that many fan-out workers (workers.ts), each a ring hub and server of its own.
import type { Registry } from "prom-client";
import type { Env } from "../config.ts";
import { type HealthServer, newRegistry, startHealthServer } from "../health/server.ts";
import { onShutdown } from "../lifecycle.ts";
import { type Logger, log } from "../log.ts";
import { type BroadcastConfig, readBroadcastConfig } from "./config.ts";
import { BROADCAST_LABELS, BroadcastMetrics } from "./metrics.ts";
import { RingHub } from "./ring-hub.ts";
import { type BroadcastServer, startBroadcastServer } from "./server.ts";
import { startWorkers } from "./workers.ts";

/** The rings read into topics and the server that fans them out: a broadcaster without its health server. */
export interface Fanout {
  readonly hub: RingHub;
  readonly server: BroadcastServer;
}

/** A running broadcaster (the mode, or a test that starts one in-process). */
export interface Broadcaster extends Fanout {
  readonly metricsPort: number;
  stop(): Promise<void>;
}

/** A ring hub and its server, metrics in `registry`; `worker` numbers a fan-out worker (server.ts). */
export function startFanout(
  config: BroadcastConfig,
  registry: Registry,
  logger: Logger,
  worker?: number,
): Fanout {
  let hub: RingHub | null = null;
  const metrics = new BroadcastMetrics(registry, {
    ringLag: () => hub?.ringLag() ?? [],
    rings: () => hub?.followers.size ?? 0,
    ringWriters: () => hub?.ringWriters() ?? [],
  });
  hub = new RingHub(config, logger, metrics);
  return { hub, server: startBroadcastServer(config, hub, metrics, logger, worker) };
}

/** The single-threaded broadcaster: fan-out and health server in this thread. */
export function startBroadcaster(config: BroadcastConfig): Broadcaster {
  const logger = log.child({ mode: "broadcast" });
  const registry = newRegistry(BROADCAST_LABELS);
  const { hub, server } = startFanout(config, registry, logger);
  let health: HealthServer;
  try {
    health = startHealthServer({
      port: config.metricsPort,
      hostname: config.hostname,
      registry,
      mode: "broadcast",
      readiness: () => hub.freshness(),
      info: () => ({ clients: server.clientCount(), rings: hub.followers.size }),
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
    hub,
    server,
    metricsPort: health.port,
    async stop() {
      await server.drain(config.graceMs);
      await health.stop();
    },
  };
}

export async function run(_args: string[], env: Env): Promise<void> {
  const config = readBroadcastConfig(env);
  const broadcaster = config.workers === 1 ? startBroadcaster(config) : await startWorkers(config);
  // Leave time for the other steps: clients get 1001 and reconnect to another broadcaster.
  onShutdown("broadcast: close clients (1001) and drain", () => broadcaster.stop());
}
