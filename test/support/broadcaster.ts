// For the broadcaster's tests and benchmark: the settings of a broadcaster on loopback over the
// rings in `dir`, on ports it picks itself (0), one started in-process with the URLs it serves,
// and its teardown.
import { rmSync } from "node:fs";
import { readBroadcastConfig } from "../../src/broadcast/config.ts";
import { type Broadcaster, startBroadcaster } from "../../src/broadcast/main.ts";
import type { TestFeed } from "./broadcast-feed.ts";

/** A loopback broadcaster's environment on ports of its choosing; `settings` add to it or override it. */
export function broadcasterEnv(dir: string, settings: Record<string, string> = {}): Record<string, string> {
  return {
    SHARED_MEMORY_PATH: dir,
    WEBSOCKET_PORT: "0",
    METRICS_PORT: "0",
    BROADCAST_HOST: "127.0.0.1",
    SHUTDOWN_GRACE_MS: "2000",
    ...settings,
  };
}

export interface LoopbackBroadcaster extends Broadcaster {
  /** ws://127.0.0.1:port/ws */
  readonly ws: string;
  /** http://127.0.0.1:port, the REST API and the live page. */
  readonly http: string;
  /** http://127.0.0.1:metricsPort, for /health, /ready and /metrics. */
  readonly metrics: string;
}

export function startTestBroadcaster(
  dir: string,
  settings: Record<string, string> = {},
): LoopbackBroadcaster {
  const broadcaster = startBroadcaster(readBroadcastConfig(broadcasterEnv(dir, settings)));
  const port = broadcaster.server.port;
  return Object.assign(broadcaster, {
    ws: `ws://127.0.0.1:${port}/ws`,
    http: `http://127.0.0.1:${port}`,
    metrics: `http://127.0.0.1:${broadcaster.metricsPort}`,
  });
}

/** Stops the broadcasters, closes the feeds' rings and removes their directory. */
export async function tearDown(
  dir: string,
  broadcasters: ReadonlyArray<Broadcaster | undefined>,
  feeds: ReadonlyArray<TestFeed | undefined>,
): Promise<void> {
  await Promise.all(broadcasters.map((b) => b?.stop()));
  for (const feed of feeds) feed?.close();
  rmSync(dir, { recursive: true, force: true });
}
