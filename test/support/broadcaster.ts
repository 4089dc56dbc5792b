// For the broadcaster's tests and benchmark: the settings of a broadcaster on loopback
// (WebSocket on `port`, metrics on `port + 1`) over the rings in `dir`, one started in-process,
// its teardown, and the polling wait they use.
import { rmSync } from "node:fs";
import { readBroadcastConfig } from "../../src/broadcast/config.ts";
import { type Broadcaster, startBroadcaster } from "../../src/broadcast/main.ts";
import type { TestFeed } from "../broadcast-feed.ts";

/** A loopback broadcaster's environment; `settings` add to it or override it. */
export function broadcasterEnv(
  dir: string,
  port: number,
  settings: Record<string, string> = {},
): Record<string, string> {
  return {
    SHARED_MEMORY_PATH: dir,
    WEBSOCKET_PORT: String(port),
    METRICS_PORT: String(port + 1),
    BROADCAST_HOST: "127.0.0.1",
    SHUTDOWN_GRACE_MS: "2000",
    ...settings,
  };
}

export function startTestBroadcaster(
  dir: string,
  port: number,
  settings: Record<string, string> = {},
): Broadcaster {
  return startBroadcaster(readBroadcastConfig(broadcasterEnv(dir, port, settings)));
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

/** Polls `condition` every few milliseconds until it holds; throws after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(3);
  }
}
