// A stalled client among many that read: the slow-client check reads only a share of the clients
// per tick (and those known to be behind), so this shows that a client that stops reading, and
// that nothing else flags (uWS sends no drain event for it), is still reached, warned and closed
// with 4008 before uWS's own per-client limit would cut it off without a word.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import WebSocket from "ws";
import { AlphaPulseClient } from "../src/client/client.ts";
import { TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster, tearDown } from "./support/broadcaster.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-slow-sweep-${process.pid}`;
const HEAVY = "trades.binance.BTC-USDT";
const QUIET = "trades.binance.ETH-USDT";
/** More than a check sweeps at once (256), so reaching every client takes several checks. */
const READERS = 1500;

let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;
const readers: WebSocket[] = [];

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

/** A client subscribed to `topic`; resolves once the subscription is acknowledged. */
async function subscribed(
  topic: string,
): Promise<{ socket: WebSocket; messages: Array<Record<string, unknown>> }> {
  const socket = new WebSocket(broadcaster.ws);
  const messages: Array<Record<string, unknown>> = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ op: "subscribe", topics: [topic] }));
  await waitFor(`the ack for ${topic}`, () => messages.some((m) => m.type === "ack"));
  return { socket, messages };
}

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "binance", "binance", [
    { venueSymbol: "BTCUSDT", symbol: "BTC-USDT", priceDecimals: 2, sizeDecimals: 8 },
    { venueSymbol: "ETHUSDT", symbol: "ETH-USDT", priceDecimals: 2, sizeDecimals: 8 },
  ]);
  broadcaster = startTestBroadcaster(DIR, {
    BROADCAST_SLOW_WARN_BYTES: String(64 * 1024),
    BROADCAST_SLOW_CLOSE_BYTES: String(512 * 1024),
    BROADCAST_COMPRESSION: "false",
    BROADCAST_OPS_PER_SECOND: "1000",
    SHUTDOWN_GRACE_MS: "1000",
  });
});

afterAll(async () => {
  for (const socket of readers) socket.terminate();
  await tearDown(DIR, [broadcaster], [feed]);
});

test("a stalled client among 1,500 that read is warned, then closed with 4008", async () => {
  const fast = new AlphaPulseClient({ urls: [broadcaster.ws], books: false, reconnect: false });
  let fastTrades = 0;
  fast.on("message", (message) => {
    if (message.type === "trade") fastTrades++;
  });
  await fast.connect();
  await fast.subscribe([HEAVY]);
  // The stalled client sits in the middle of the clients' order, not in the first sweep share.
  const opening: Array<Promise<{ socket: WebSocket }>> = [];
  for (let i = 0; i < READERS / 2; i++) opening.push(subscribed(QUIET));
  for (const { socket } of await Promise.all(opening.splice(0))) readers.push(socket);
  const stalled = await subscribed(HEAVY);
  const stalledClose = new Promise<{ code: number; reason: string }>((resolve) => {
    stalled.socket.once("close", (code, reason) => resolve({ code, reason: String(reason) }));
  });
  stalled.socket.pause(); // stops reading: the server's send buffer for it grows
  for (let i = 0; i < READERS / 2; i++) opening.push(subscribed(QUIET));
  for (const { socket } of await Promise.all(opening)) readers.push(socket);
  const readerCloses: number[] = [];
  for (const socket of readers) socket.once("close", (code) => readerCloses.push(code));

  const warningsBefore = await metric("alphapulse_broadcast_slow_client_warnings_total");
  const disconnectsBefore = await metric("alphapulse_broadcast_slow_client_disconnects_total");
  let written = 0;
  for (let round = 0; round < 400; round++) {
    for (let i = 0; i < 500; i++) feed.trade(0, 100_00 + (i % 100), 1 + i, i % 2 === 0, ++written);
    feed.trade(1, 10_00, 1, true, round + 1); // a trickle to the readers
    await Bun.sleep(2);
    if (round % 10 !== 9) continue;
    if ((await metric("alphapulse_broadcast_slow_client_disconnects_total")) > disconnectsBefore) break;
  }
  expect(await metric("alphapulse_broadcast_slow_client_disconnects_total")).toBe(disconnectsBefore + 1);
  expect(await metric("alphapulse_broadcast_slow_client_warnings_total")).toBe(warningsBefore + 1);

  // Reading again, the stalled client finds the warning and then the policy's close.
  stalled.socket.resume();
  expect(await stalledClose).toEqual({ code: 4008, reason: "slow consumer: could not keep up" });
  expect(stalled.messages.some((m) => m.type === "warning" && m.code === "slow_consumer")).toBe(true);
  await waitFor("every trade at the fast client", () => fast.lastSeq(HEAVY) === written);
  expect(fastTrades).toBe(written);
  expect(readerCloses).toEqual([]);
  fast.close();
}, 120_000);
