// The fabric's settings, from the environment through the validated config: the NATS servers,
// the lease, the publisher's window and buffer, the stream's limits, the relay's staleness and
// watchdog. Every one is refused with its name when wrong.
import { ConfigError, type Settings } from "../config.ts";

export interface FabricConfig {
  /** NATS server URLs (NATS_URL, comma-separated). */
  readonly servers: string[];
  /** The lease's time to live; the holder renews it every fifth of that. */
  readonly leaseTtlMs: number;
  /** Messages published and not yet acknowledged, at most. */
  readonly publishWindow: number;
  /** Bytes the publisher holds (sent or waiting) before it drops batches and leaves a gap. */
  readonly bufferBytes: number;
  /** An acknowledgement later than this makes the publisher ask the stream where it stands. */
  readonly ackTimeoutMs: number;
  /** How often the leader publishes every latest-book entry (the late joiners' starting point). */
  readonly booksIntervalMs: number;
  /** Stream limits: the oldest message kept, and bytes kept. */
  readonly maxAgeSeconds: number;
  readonly maxBytes: number;
  /** Stream and lease replicas; 0 = 3 on a cluster, else 1. */
  readonly replicas: number;
  /** A relay's ring is stale once its copy has not been current for this long. */
  readonly staleMs: number;
  /** A relay reopens a consumer that delivered nothing this long while the stream had more. */
  readonly relayIdleMs: number;
}

export function readFabricConfig(settings: Settings): FabricConfig {
  const raw = settings.list("NATS_URL", []);
  if (raw.length === 0)
    throw new ConfigError("NATS_URL", "give one or more NATS servers, e.g. nats://127.0.0.1:4222");
  const servers = raw.map((entry) => natsServer(entry));
  const leaseTtlMs = settings.int("FABRIC_LEASE_TTL_MS", 15_000, 1_000, 600_000);
  const config: FabricConfig = {
    servers,
    leaseTtlMs,
    publishWindow: settings.int("FABRIC_PUBLISH_WINDOW", 1024, 1, 65_536),
    bufferBytes: settings.int("FABRIC_BUFFER_BYTES", 256 << 20, 1 << 20, 2 ** 40),
    ackTimeoutMs: settings.int("FABRIC_ACK_TIMEOUT_MS", 2_000, 100, 60_000),
    booksIntervalMs: settings.int("FABRIC_BOOKS_INTERVAL_MS", 2_000, 50, 600_000),
    maxAgeSeconds: settings.int("FABRIC_MAX_AGE_SECONDS", 3_600, 10, 365 * 86_400),
    maxBytes: settings.int("FABRIC_MAX_BYTES", 1 << 30, 1 << 20, 2 ** 50),
    replicas: settings.int("FABRIC_REPLICAS", 0, 0, 5),
    staleMs: settings.int("FABRIC_STALE_MS", 2_000, 300, 600_000),
    relayIdleMs: settings.int("FABRIC_RELAY_IDLE_MS", 3_000, 500, 600_000),
  };
  if (config.booksIntervalMs * 2 > config.maxAgeSeconds * 1000) {
    throw new ConfigError(
      "FABRIC_BOOKS_INTERVAL_MS",
      `${config.booksIntervalMs} ms is more than half of FABRIC_MAX_AGE_SECONDS: the starting point would age out`,
    );
  }
  return config;
}

/** One NATS_URL entry as the client takes it: [nats|tls]://[user:pass@]host:port, port 4222 if none. */
function natsServer(entry: string): string {
  const text = /^[a-z]+:\/\//i.test(entry) ? entry : `nats://${entry}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError("NATS_URL", `"${entry}" is not a server URL (nats://host:port)`);
  }
  if (!["nats:", "tls:"].includes(url.protocol)) {
    throw new ConfigError("NATS_URL", `"${entry}": use nats:// or tls://, not ${url.protocol}//`);
  }
  if (url.hostname === "" || url.pathname.replace(/\/+$/, "") !== "" || url.search !== "") {
    throw new ConfigError("NATS_URL", `"${entry}" must be scheme://host[:port] and nothing else`);
  }
  const credentials =
    url.username === "" ? "" : `${url.username}${url.password === "" ? "" : `:${url.password}`}@`;
  return `${url.protocol}//${credentials}${url.host}${url.port === "" ? ":4222" : ""}`;
}
