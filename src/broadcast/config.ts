// The broadcaster's settings: read from the environment once, validated, and handed whole to every
// part (server, client sessions, slow-client policy, ring hub).
import { ConfigError, type Env, readCommonConfig, Settings } from "../config.ts";
import { IDLE_STRATEGIES, type IdleStrategyName } from "./idle-strategy.ts";

export interface BroadcastConfig {
  readonly sharedMemoryPath: string;
  readonly websocketPort: number;
  readonly metricsPort: number;
  readonly hostname: string;
  /** Clients must present it (?token= or Authorization: Bearer) when set. */
  readonly token: string | undefined;
  /** Browser Origins allowed to open /ws; empty allows any. Clients that send no Origin pass. */
  readonly allowedOrigins: readonly string[];
  readonly maxTopicsPerClient: number;
  readonly maxFrameBytes: number;
  readonly opsPerSecond: number;
  readonly idleTimeoutSeconds: number;
  /** A client whose unsent bytes pass this is warned... */
  readonly slowWarnBytes: number;
  /** ...and closed with 4008 past this. */
  readonly slowCloseBytes: number;
  /** All clients' unsent bytes together: past it, the clients furthest behind are closed with 4008. */
  readonly sendBudgetBytes: number;
  /** Messages per topic kept for resume and REST. */
  readonly historyLimit: number;
  /** How the ring hub waits between polls (idle-strategy.ts), and its spin and park spans. */
  readonly idleStrategy: IdleStrategyName;
  readonly spinMicros: number;
  readonly parkMillis: number;
  readonly burstMicros: number;
  readonly compression: boolean;
  /** A ring whose heartbeat is older than this makes the broadcaster unready. */
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
    idleStrategy: settings.oneOf("BROADCAST_IDLE_STRATEGY", IDLE_STRATEGIES, "sleeping"),
    spinMicros: settings.int("BROADCAST_SPIN_MICROS", 500, 0, 1_000_000),
    parkMillis: settings.int("BROADCAST_PARK_MILLIS", 100, 0, 60_000),
    burstMicros: settings.int("BROADCAST_BURST_MICROS", 100, 0, 10_000),
    compression: settings.bool("BROADCAST_COMPRESSION", true),
    staleMs: settings.int("BROADCAST_STALE_MS", 5000, 100, 3_600_000),
    graceMs: settings.int("SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
  };
}
