// The broadcaster's guards on a real server: token auth and the Origin allowlist at the upgrade,
// topics per client, ops per second, and a slow consumer that is warned then closed with 4008
// while a fast client on the same topic gets every message.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import WebSocket from "ws";
import { AlphaPulseClient } from "../src/client/client.ts";
import { TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster, tearDown } from "./support/broadcaster.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-limits-${process.pid}`;
const TOKEN = "s3cret-token";
const GOOD_ORIGIN = "http://good.example";
const SYMBOLS = [
  { venueSymbol: "XBTUSDT", symbol: "BTC-USDT", priceDecimals: 2, sizeDecimals: 8 },
  { venueSymbol: "ETHUSDT", symbol: "ETH-USDT", priceDecimals: 2, sizeDecimals: 8 },
];

let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;

function url(query = `?token=${TOKEN}`): string {
  return `${broadcaster.ws}${query}`;
}

/** Opens a `ws` client; resolves with it, or rejects with the HTTP status that refused it. */
function open(address: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(address, options);
    socket.once("open", () => resolve(socket));
    socket.once("unexpected-response", (_request, response) =>
      reject(new Error(`HTTP ${response.statusCode}`)),
    );
    socket.once("error", reject);
  });
}

function collect(socket: WebSocket): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  return messages;
}

function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once("close", (code) => resolve(code)));
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "binance", "binance", SYMBOLS, 10, 1 << 18);
  feed.snapshot(0, [[100_00, 1]], [[101_00, 1]]);
  feed.snapshot(1, [[10_00, 1]], [[11_00, 1]]);
  broadcaster = startTestBroadcaster(DIR, {
    BROADCAST_TOKEN: TOKEN,
    BROADCAST_ALLOWED_ORIGINS: `${GOOD_ORIGIN},http:, //other.example`,
    BROADCAST_MAX_TOPICS: "3",
    BROADCAST_OPS_PER_SECOND: "5",
    BROADCAST_SLOW_WARN_BYTES: String(64 * 1024),
    BROADCAST_SLOW_CLOSE_BYTES: String(512 * 1024),
    BROADCAST_COMPRESSION: "false",
  });
});

afterAll(() => tearDown(DIR, [broadcaster], [feed]));

describe("auth and origin", () => {
  test("without the token, or with a wrong one, the upgrade is refused with 401", async () => {
    await expect(open(url(""))).rejects.toThrow("HTTP 401");
    await expect(open(url("?token=wrong"))).rejects.toThrow("HTTP 401");
    const byQuery = await open(url());
    byQuery.close();
    const byHeader = await open(url(""), { headers: { authorization: `Bearer ${TOKEN}` } });
    byHeader.close();
    expect((await fetch(`${broadcaster.http}/api/v1/symbols`)).status).toBe(401);
    const rest = await fetch(`${broadcaster.http}/api/v1/symbols`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(rest.status).toBe(200);
  });

  test("a browser Origin outside the allowlist is refused with 403", async () => {
    await expect(open(url(), { origin: "http://evil.example" })).rejects.toThrow("HTTP 403");
    const good = await open(url(), { origin: GOOD_ORIGIN });
    good.close();
  });
});

describe("limits", () => {
  test("topics per client", async () => {
    const socket = await open(url());
    const messages = collect(socket);
    socket.send(JSON.stringify({ op: "subscribe", topics: ["trades.binance.*", "book.binance.BTC-USDT"] }));
    await waitFor("an answer", () => messages.some((m) => m.type === "error" || m.type === "ack"));
    expect(messages[0]).toMatchObject({ type: "error", code: "too_many_topics" });
    socket.close();
  });

  test("ops per second: errors past the burst, then a close with 4029 for a client that keeps on", async () => {
    const socket = await open(url());
    const messages = collect(socket);
    const code = closed(socket);
    for (let i = 0; i < 15; i++) socket.send(JSON.stringify({ op: "ping" }));
    await waitFor("15 answers", () => messages.length === 15);
    expect(messages.filter((m) => m.type === "pong").length).toBeGreaterThanOrEqual(10);
    expect(
      messages.filter((m) => m.type === "error" && m.code === "rate_limited").length,
    ).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 40; i++) socket.send(JSON.stringify({ op: "ping" }));
    expect(await code).toBe(4029);
  });
});

test("a slow consumer is warned, then closed with 4008; a fast one on the same topic misses nothing", async () => {
  const fast = new AlphaPulseClient({ urls: [url()], books: false, reconnect: false });
  let fastTrades = 0;
  fast.on("message", (message) => {
    if (message.type === "trade") fastTrades++;
  });
  await fast.connect();
  await fast.subscribe(["trades.binance.BTC-USDT"]);

  const slow = await open(url());
  const slowMessages = collect(slow);
  const slowClosed = closed(slow);
  slow.send(JSON.stringify({ op: "subscribe", topics: ["trades.binance.BTC-USDT"] }));
  await waitFor("the slow client's ack", () => slowMessages.some((m) => m.type === "ack"));
  slow.pause(); // stops reading its socket: the server's send buffer for it grows

  const warningsBefore = await metric("alphapulse_broadcast_slow_client_warnings_total");
  const disconnectsBefore = await metric("alphapulse_broadcast_slow_client_disconnects_total");
  const total = 100_000;
  for (let i = 1; i <= total; i++) {
    feed.trade(0, 100_00 + (i % 100), 1 + i, i % 2 === 0, i);
    // Pauses let the broadcaster and the fast client (both on this process's one event loop)
    // keep up, as a real feed's would; with fewer of them the fast client's reads fall behind.
    if (i % 1000 === 0) await Bun.sleep(1);
  }
  await waitFor(
    "the slow client's disconnect",
    async () => (await metric("alphapulse_broadcast_slow_client_disconnects_total")) > disconnectsBefore,
  );
  expect(await metric("alphapulse_broadcast_slow_client_warnings_total")).toBeGreaterThan(warningsBefore);

  // The fast client got every trade, in order, while the slow one was stuck.
  await waitFor(
    "every trade at the fast client",
    () => fast.lastSeq("trades.binance.BTC-USDT") === feed.writer.counts(0).trade,
  );
  expect(fastTrades).toBe(total);
  expect(fast.gaps).toBe(0);
  fast.close();

  // Reading again, the slow client finds the warning and then the close code.
  slow.resume();
  expect(await slowClosed).toBe(4008);
  expect(slowMessages.some((m) => m.type === "warning" && m.code === "slow_consumer")).toBe(true);
}, 120_000);
