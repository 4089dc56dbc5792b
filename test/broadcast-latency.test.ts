// The broadcaster's latency histograms time live records only: what a ring held before the
// broadcaster started reading (catch-up) and what a subscriber gets to start from (snapshot,
// resume) are never observed; pick-up counts every live message, fan-out only those with
// subscribers. And every idle strategy wakes up for records after a pause; the default one
// also while it sleeps on its fine tick.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { IDLE_STRATEGIES } from "../src/broadcast/idle-strategy.ts";
import { realtimeInto } from "../src/shm/clock.ts";
import { TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster, tearDown } from "./support/broadcaster.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-latency-${process.pid}`;
const MID = 4_500_000;
let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  feed = new TestFeed(DIR, "kraken", "kraken", [
    { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
  ]);
  const side = (sign: number) =>
    Array.from({ length: 10 }, (_, i): [number, number] => [MID + sign * (i + 1) * 10, 100_000_000]);
  feed.snapshot(0, side(-1), side(1));
  // Records already in the ring when the broadcaster starts: catch-up, never timed.
  for (let n = 1; n <= 20; n++) feed.update(0, [{ ask: false, price: MID - 50, size: 1000 + n }]);
  feed.trade(0, MID, 1000, false, 1);
  broadcaster = startTestBroadcaster(DIR);
});

afterAll(() => tearDown(DIR, [broadcaster], [feed]));

/** Reads a broadcaster's /metrics once; the returned function gives one sample's value by name. */
async function scrape(metrics: string): Promise<(name: string) => number> {
  const text = await (await fetch(`${metrics}/metrics`)).text();
  return (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1]);
}

async function counts(): Promise<{ pickup: number; fanout: number; fanoutSum: number }> {
  const value = await scrape(broadcaster.metrics);
  return {
    pickup: value("alphapulse_broadcast_pickup_latency_seconds_count"),
    fanout: value("alphapulse_broadcast_fanout_latency_seconds_count"),
    fanoutSum: value("alphapulse_broadcast_fanout_latency_seconds_sum"),
  };
}

/** A WebSocket client on `topics`; resolves once its ack and starting messages are in. */
async function subscriber(topics: string[]): Promise<{ socket: WebSocket; messages: string[] }> {
  const socket = new WebSocket(broadcaster.ws);
  const messages: string[] = [];
  socket.onmessage = (event) => messages.push(String(event.data));
  await new Promise((resolve) => (socket.onopen = resolve));
  socket.send(JSON.stringify({ op: "subscribe", topics }));
  await waitFor("the snapshot", () => messages.some((m) => m.includes('"type":"snapshot"')));
  return { socket, messages };
}

test("live messages are timed once each; catch-up, snapshots and resumes are not", async () => {
  await waitFor("the book topic", () => broadcaster.hub.topics.has("book.kraken.BTC-USD"));
  const first = await subscriber(["book.kraken.BTC-USD"]);
  expect(await counts()).toEqual({ pickup: 0, fanout: 0, fanoutSum: 0 });

  // Five deltas below the best bid (no bbo message) to the subscriber, two trades to nobody.
  for (let n = 1; n <= 5; n++) feed.update(0, [{ ask: false, price: MID - 40, size: 2000 + n }]);
  feed.trade(0, MID, 1000, false, 2);
  feed.trade(0, MID, 1000, true, 3);
  await waitFor("five deltas", () => first.messages.filter((m) => m.includes('"type":"delta"')).length === 5);
  await waitFor("seven timed pick-ups", async () => (await counts()).pickup === 7);
  const live = await counts();
  expect(live.fanout).toBe(5);
  expect(live.fanoutSum).toBeGreaterThan(0);
  expect(live.fanoutSum / live.fanout).toBeLessThan(1);

  // A second subscriber starts from a snapshot, and a resume replays history: neither is timed.
  const second = await subscriber(["book.kraken.BTC-USD"]);
  const lastSeq = Number(/"seq":(\d+)/.exec(first.messages.at(-1)!)?.[1]);
  const resumed: string[] = [];
  second.socket.onmessage = (event) => resumed.push(String(event.data));
  second.socket.send(JSON.stringify({ op: "unsubscribe", topics: ["book.kraken.BTC-USD"] }));
  second.socket.send(
    JSON.stringify({
      op: "subscribe",
      topics: ["book.kraken.BTC-USD"],
      resume: { "book.kraken.BTC-USD": lastSeq - 3 },
    }),
  );
  await waitFor(
    "three resumed deltas",
    () => resumed.filter((m) => m.includes('"type":"delta"')).length === 3,
  );
  expect(await counts()).toEqual(live);
  first.socket.close();
  second.socket.close();
});

for (const strategy of IDLE_STRATEGIES) {
  test(`idle strategy ${strategy}: records after a pause longer than its spin and park still go out`, async () => {
    const dir = `${DIR}-${strategy}`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const quiet = new TestFeed(dir, "kraken", "kraken", [
      { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
    ]);
    quiet.snapshot(0, [[MID - 10, 100]], [[MID + 10, 100]]);
    const waiting = startTestBroadcaster(dir, {
      BROADCAST_IDLE_STRATEGY: strategy,
      BROADCAST_SPIN_MICROS: "200",
      BROADCAST_PARK_MILLIS: "5",
    });
    try {
      const trades = waiting.hub.topics;
      await waitFor("the trades topic", () => trades.has("trades.kraken.BTC-USD"));
      const topic = trades.get("trades.kraken.BTC-USD")!;
      for (let n = 1; n <= 3; n++) {
        await Bun.sleep(30); // past spin and park: the loop sleeps on its timer (or spins)
        quiet.trade(0, MID, 100, false, n);
        await waitFor(`trade ${n}`, () => topic.position === n);
      }
      expect(topic.recent(3).map((text) => JSON.parse(text).id)).toEqual(["1", "2", "3"]);
    } finally {
      await tearDown(dir, [waiting], [quiet]);
    }
  });
}

test("sleeping: records that come while the hub sleeps on its fine tick go out, and stopping closes its timer", async () => {
  const dir = `${DIR}-fine-tick`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const quiet = new TestFeed(dir, "kraken", "kraken", [
    { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
  ]);
  quiet.snapshot(0, [[MID - 10, 100]], [[MID + 10, 100]]);
  const timers = timerFds();
  // A park far longer than the test: every wait between these records is on the fine tick alone.
  const waiting = startTestBroadcaster(dir, { BROADCAST_SPIN_MICROS: "0", BROADCAST_PARK_MILLIS: "60000" });
  try {
    const trades = waiting.hub.topics;
    await waitFor("the trades topic", () => trades.has("trades.kraken.BTC-USD"));
    const topic = trades.get("trades.kraken.BTC-USD")!;
    for (let n = 1; n <= 5; n++) {
      await Bun.sleep(n * 3);
      quiet.trade(0, MID, 100, false, n);
      await waitFor(`trade ${n}`, () => topic.position === n, { timeoutMs: 2000, intervalMs: 1 });
    }
    expect(topic.recent(5).map((text) => JSON.parse(text).id)).toEqual(["1", "2", "3", "4", "5"]);
    expect(timerFds()).toBeGreaterThan(timers);
  } finally {
    await tearDown(dir, [waiting], [quiet]);
  }
  // Bun reads the timer through a descriptor of its own, which it closes once the read is cancelled.
  await waitFor("the fine tick's timer closed", () => timerFds() === timers, { timeoutMs: 2000 });
});

test("fan-out is timed when the poll turn ends, when uWS writes: a burst read-ahead counts", async () => {
  const dir = `${DIR}-burst`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const burst = new TestFeed(dir, "kraken", "kraken", [
    { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
  ]);
  burst.snapshot(0, [[MID - 10, 100]], [[MID + 10, 100]]);
  // After a record the hub reads on for 10 ms more before the turn ends and uWS writes.
  const holding = startTestBroadcaster(dir, { BROADCAST_BURST_MICROS: "10000" });
  try {
    await waitFor("the trades topic", () => holding.hub.topics.has("trades.kraken.BTC-USD"));
    const socket = new WebSocket(holding.ws);
    const received: Array<{ text: string; atMicros: number }> = [];
    const clock = new Uint32Array(2);
    socket.onmessage = (event) => {
      realtimeInto(clock, 0);
      received.push({ text: String(event.data), atMicros: clock[0]! * 1e6 + clock[1]! / 1e3 });
    };
    await new Promise((resolve) => (socket.onopen = resolve));
    socket.send(JSON.stringify({ op: "subscribe", topics: ["trades.kraken.BTC-USD"] }));
    await waitFor("the ack", () => received.length > 0);
    burst.trade(0, MID, 100, false, 1);
    const trade = await waitFor("the trade", () => received.find((m) => m.text.includes('"type":"trade"')));
    const value = await scrape(holding.metrics);
    expect(value("alphapulse_broadcast_fanout_latency_seconds_count")).toBe(1);
    expect(value("alphapulse_broadcast_fanout_latency_seconds_sum")).toBeGreaterThanOrEqual(0.01);
    // The client got it no sooner: uWS wrote it only once the turn ended.
    expect(trade.atMicros - JSON.parse(trade.text).pt).toBeGreaterThanOrEqual(10_000);
    socket.close();
  } finally {
    await tearDown(dir, [holding], [burst]);
  }
});

/** The timerfds this process holds open. */
function timerFds(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[timerfd]";
    } catch {
      return false; // the directory's own descriptor, gone by now
    }
  }).length;
}
