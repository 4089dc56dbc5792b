// `alphapulse broadcast`: serves every ring under SHARED_MEMORY_PATH to WebSocket and REST
// clients and the live page on WEBSOCKET_PORT, with /health, /ready and /metrics on METRICS_PORT.
import { ConfigError, type Env, readCommonConfig, Settings } from "../config.ts";
import { newRegistry, startHealthServer } from "../health/server.ts";
import { onShutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { BroadcastMetrics } from "./metrics.ts";
import { RingHub } from "./ring-hub.ts";
import { type BroadcastServer, startBroadcastServer } from "./server.ts";

export interface BroadcastConfig {
  readonly sharedMemoryPath: string;
  readonly websocketPort: number;
  readonly metricsPort: number;
  readonly hostname: string;
  readonly token: string | undefined;
  readonly allowedOrigins: string[];
  readonly maxTopicsPerClient: number;
  readonly maxFrameBytes: number;
  readonly opsPerSecond: number;
  readonly idleTimeoutSeconds: number;
  readonly slowWarnBytes: number;
  readonly slowCloseBytes: number;
  readonly sendBudgetBytes: number;
  readonly historyLimit: number;
  readonly spinMicros: number;
  readonly burstMicros: number;
  readonly compression: boolean;
  readonly staleMs: number;
  readonly graceMs: number;
}

export function readBroadcastConfig(env: Env): BroadcastConfig {
  const settings = new Settings(env);
  const common = readCommonConfig(settings);
  const slowWarnBytes = settings.int("BROADCAST_SLOW_WARN_BYTES", 1 << 20, 1024, 1 << 30);
  const slowCloseBytes = settings.int("BROADCAST_SLOW_CLOSE_BYTES", 8 << 20, 2048, 1 << 30);
  if (slowCloseBytes <= slowWarnBytes) {
    throw new ConfigError(
      "BROADCAST_SLOW_CLOSE_BYTES",
      `${slowCloseBytes} must be larger than BROADCAST_SLOW_WARN_BYTES`,
    );
  }
  const sendBudgetBytes = settings.int("BROADCAST_SEND_BUDGET_BYTES", 32 << 20, 4096, 2 ** 40);
  if (sendBudgetBytes < slowWarnBytes) {
    throw new ConfigError(
      "BROADCAST_SEND_BUDGET_BYTES",
      `${sendBudgetBytes} must be at least BROADCAST_SLOW_WARN_BYTES`,
    );
  }
  return {
    sharedMemoryPath: common.sharedMemoryPath,
    websocketPort: settings.port("WEBSOCKET_PORT", 8765),
    metricsPort: settings.port("METRICS_PORT", 8766),
    hostname: settings.string("BROADCAST_HOST", "0.0.0.0"),
    token: settings.optionalString("BROADCAST_TOKEN"),
    allowedOrigins: settings.list("BROADCAST_ALLOWED_ORIGINS", []),
    maxTopicsPerClient: settings.int("BROADCAST_MAX_TOPICS", 256, 1, 100_000),
    maxFrameBytes: settings.int("BROADCAST_MAX_FRAME_BYTES", 16_384, 256, 1 << 20),
    opsPerSecond: settings.int("BROADCAST_OPS_PER_SECOND", 20, 1, 100_000),
    idleTimeoutSeconds: settings.int("BROADCAST_IDLE_TIMEOUT_SECONDS", 120, 8, 960),
    slowWarnBytes,
    slowCloseBytes,
    sendBudgetBytes,
    historyLimit: settings.int("BROADCAST_HISTORY", 1024, 1, 1_000_000),
    spinMicros: settings.int("BROADCAST_SPIN_MICROS", 500, 0, 1_000_000),
    burstMicros: settings.int("BROADCAST_BURST_MICROS", 100, 0, 10_000),
    compression: settings.bool("BROADCAST_COMPRESSION", true),
    staleMs: settings.int("BROADCAST_STALE_MS", 5000, 100, 3_600_000),
    graceMs: settings.int("SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
  };
}

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
  });
  hub = new RingHub({
    dir: config.sharedMemoryPath,
    historyLimit: config.historyLimit,
    spinMicros: config.spinMicros,
    burstMicros: config.burstMicros,
    scanIntervalMs: 500,
    log: logger,
    metrics,
  });
  const ringHub = hub;
  const server = startBroadcastServer({
    port: config.websocketPort,
    hostname: config.hostname,
    token: config.token,
    allowedOrigins: config.allowedOrigins,
    maxTopicsPerClient: config.maxTopicsPerClient,
    maxFrameBytes: config.maxFrameBytes,
    opsPerSecond: config.opsPerSecond,
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    slowWarnBytes: config.slowWarnBytes,
    slowCloseBytes: config.slowCloseBytes,
    sendBudgetBytes: config.sendBudgetBytes,
    slowCheckMs: 50,
    compression: config.compression,
    log: logger,
    metrics,
    hub: ringHub,
  });
  const health = startHealthServer({
    port: config.metricsPort,
    hostname: config.hostname,
    registry,
    mode: "broadcast",
    readiness: () => ringHub.freshness(config.staleMs),
    info: () => ({ clients: server.clientCount(), rings: ringHub.followers.size }),
  });
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
