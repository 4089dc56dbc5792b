// The send budget bounds the broadcaster's memory for all slow clients together: two clients
// that stop reading, each far below the per-client limit, are closed with 4008 once their
// unsent bytes together pass the budget, while a client that reads misses nothing.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import WebSocket from "ws";
import { AlphaPulseClient } from "../src/client/client.ts";
import { TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster, tearDown } from "./support/broadcaster.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-budget-${process.pid}`;
const TOPIC = "trades.binance.BTC-USDT";
const BUDGET = 1 << 20;

let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

/** A client that subscribes, then stops reading its socket. */
async function stalledClient(): Promise<{
  socket: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
}> {
  const socket = new WebSocket(broadcaster.ws);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const acked = new Promise((resolve) => socket.once("message", resolve));
  socket.send(JSON.stringify({ op: "subscribe", topics: [TOPIC] }));
  await acked;
  socket.pause();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.once("close", (code, reason) => resolve({ code, reason: String(reason) }));
  });
  return { socket, closed };
}

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "binance", "binance", [
    { venueSymbol: "BTCUSDT", symbol: "BTC-USDT", priceDecimals: 2, sizeDecimals: 8 },
  ]);
  broadcaster = startTestBroadcaster(DIR, {
    BROADCAST_SLOW_WARN_BYTES: String(64 * 1024),
    BROADCAST_SLOW_CLOSE_BYTES: String(256 << 20), // never reached here: only the budget closes
    BROADCAST_SEND_BUDGET_BYTES: String(BUDGET),
    BROADCAST_COMPRESSION: "false",
    SHUTDOWN_GRACE_MS: "1000",
  });
});

afterAll(() => tearDown(DIR, [broadcaster], [feed]));

test("slow clients past the send budget together are closed with 4008; a fast one misses nothing", async () => {
  const fast = new AlphaPulseClient({ urls: [broadcaster.ws], books: false, reconnect: false });
  let fastTrades = 0;
  fast.on("message", (message) => {
    if (message.type === "trade") fastTrades++;
  });
  await fast.connect();
  await fast.subscribe([TOPIC]);
  const stalled = [await stalledClient(), await stalledClient()];

  let written = 0;
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < 2000; i++) feed.trade(0, 100_00 + (i % 100), 1 + i, i % 2 === 0, ++written);
    await Bun.sleep(2); // a feed's pace: the broadcaster reads and sends meanwhile
    if (round % 10 === 9 && (await metric("alphapulse_broadcast_slow_client_disconnects_total")) >= 2) break;
  }
  // Reading again, each stalled client finds the close the budget gave it.
  for (const { socket } of stalled) socket.resume();
  for (const { closed } of stalled) {
    expect(await closed).toEqual({ code: 4008, reason: "slow consumer: the server's send budget is spent" });
  }
  expect(await metric("alphapulse_broadcast_slow_client_disconnects_total")).toBe(2);
  await waitFor("every trade at the fast client", () => fast.lastSeq(TOPIC) === written);
  expect(fastTrades).toBe(written);
  expect(fast.gaps).toBe(0);
  // With the stalled clients gone nothing is left queued.
  await waitFor(
    "the queues to drain",
    async () => (await metric("alphapulse_broadcast_unsent_bytes")) < 64 * 1024,
  );
  fast.close();
}, 120_000);
