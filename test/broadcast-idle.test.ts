// The idle timeout: a client that stops answering the server's pings is closed after
// BROADCAST_IDLE_TIMEOUT_SECONDS, while one that answers them (as every WebSocket library does)
// stays connected through the same quiet period.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import WebSocket from "ws";
import { TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster } from "./support/broadcaster.ts";

const DIR = `/dev/shm/ap-test-broadcast-idle-${process.pid}`;
const IDLE_SECONDS = 8; // the smallest the setting accepts
let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "kraken", "kraken", [
    { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  ]);
  feed.snapshot(0, [[100_0, 1]], [[101_0, 1]]);
  broadcaster = startTestBroadcaster(DIR, {
    BROADCAST_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS),
  });
});

afterAll(async () => {
  await broadcaster.stop();
  feed.writer.close();
  rmSync(DIR, { recursive: true, force: true });
});

function connect(autoPong: boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(broadcaster.ws, { autoPong });
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
  });
}

test("a silent client that ignores pings is closed after the idle timeout; a live one is kept", async () => {
  const silent = await connect(false);
  const live = await connect(true);
  const opened = Date.now();
  let pings = 0;
  silent.on("ping", () => pings++);
  const closedAfterMs = await new Promise<number>((resolve) =>
    silent.once("close", () => resolve(Date.now() - opened)),
  );
  expect(pings).toBeGreaterThan(0); // the server asked before giving up
  expect(closedAfterMs).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 * 0.9);
  expect(closedAfterMs).toBeLessThan(IDLE_SECONDS * 1000 * 4);
  // The client that answers pings outlives a second quiet period too.
  await Bun.sleep(IDLE_SECONDS * 1500);
  expect(live.readyState).toBe(WebSocket.OPEN);
  live.close();
}, 60_000);
