// Every timestamp on the wire is a whole number: the simulator's Coinbase (exchange times with
// nanoseconds), a real collector process and a broadcaster, with a client that sees every message
// type and every REST answer. Checked on the raw text, before any JSON parser could hide a
// fraction: each timestamp field is an integer token, and no number token anywhere has a fraction
// or an exponent.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import type { Subprocess } from "bun";
import type { Broadcaster } from "../src/broadcast/main.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { startTestBroadcaster } from "./support/broadcaster.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-wire-timestamps-${process.pid}`;
const SYMBOLS = ["BTC-USD", "ETH-USD"];
/** The fields that hold times (epoch microseconds) or ages (milliseconds). */
const TIME_FIELDS = ["ts", "pt", "time", "heartbeatAgeMs", "lastUpdateAgeMs"];
const TIME_FIELD = new RegExp(`"(${TIME_FIELDS.join("|")})":([^,}\\]]*)`, "g");

let simulator: Simulator;
let collector: Subprocess;
let broadcaster: Broadcaster;

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  simulator = startSimulator({
    hostname: "127.0.0.1",
    symbols: SYMBOLS,
    seed: 12,
    updatesPerSecond: 40,
    tradesPerSecond: 20,
    bookLevels: 200,
  });
  collector = Bun.spawn(["bun", `${import.meta.dir}/../src/main.ts`, "collect"], {
    env: {
      ...process.env,
      EXCHANGE: "coinbase",
      SYMBOLS: SYMBOLS.join(","),
      BOOK_DEPTH: "10",
      EXCHANGE_WS_URL: simulator.urls.coinbase.ws,
      EXCHANGE_REST_URL: simulator.urls.coinbase.rest,
      SHARED_MEMORY_PATH: DIR,
      METRICS_PORT: "0",
      LOG_LEVEL: "error",
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  broadcaster = startTestBroadcaster(DIR, { LOG_LEVEL: "error" });
});

afterAll(async () => {
  await broadcaster?.stop();
  collector?.kill("SIGTERM");
  await collector?.exited;
  await simulator?.stop();
  rmSync(DIR, { recursive: true, force: true });
});

/** Every number token outside strings that is not a plain integer. */
function fractionalNumbers(text: string): string[] {
  const bare = text.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return (bare.match(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g) ?? []).filter((n) => !/^-?\d+$/.test(n));
}

/** The time fields of a raw text: name and raw value token. */
function timeFields(text: string): Array<[string, string]> {
  return [...text.matchAll(TIME_FIELD)].map((m) => [m[1]!, m[2]!]);
}

test("every timestamp of every message type and REST answer is an integer in the raw text", async () => {
  const base = `http://127.0.0.1:${broadcaster.server.port}`;
  await waitFor(
    "the messages awaited",
    async () => {
      const listing = await (await fetch(`${base}/api/v1/symbols`)).json();
      const coinbase = listing.exchanges.find((e: { exchange: string }) => e.exchange === "coinbase");
      return coinbase?.symbols.every((s: { book: string }) => s.book === "valid") ?? false;
    },
    { timeoutMs: 45_000 },
  );

  const texts: string[] = [];
  const socket = new WebSocket(`ws://127.0.0.1:${broadcaster.server.port}/ws`);
  socket.onmessage = (event) => texts.push(String(event.data));
  await new Promise((resolve) => {
    socket.onopen = resolve;
  });
  const send = (request: unknown) => socket.send(JSON.stringify(request));
  send({
    op: "subscribe",
    topics: ["book.coinbase.BTC-USD", "bbo.coinbase.BTC-USD", "trades.coinbase.BTC-USD", "status.coinbase"],
    id: 1,
  });
  // A resume from a seq no history holds: a gap notice, then the topic afresh.
  send({ op: "subscribe", topics: ["trades.coinbase.ETH-USD"], resume: { "trades.coinbase.ETH-USD": -5 } });
  send({ op: "ping", id: "p" });
  send({ op: "subscribe", topics: ["book.nowhere.BTC-USD"] });
  const parsed = () => texts.map((text) => JSON.parse(text) as Record<string, unknown>);
  const seen = (match: (m: Record<string, unknown>) => boolean) => parsed().some(match);
  await waitFor(
    "the messages awaited",
    () => seen((m) => m.type === "delta") && seen((m) => m.type === "trade") && seen((m) => m.type === "bbo"),
  );

  // A sequence gap on the venue: the book's status changes (a status with a publish time), then a fresh snapshot.
  simulator.inject("coinbase", "skip-sequence", "BTC-USD");
  await waitFor("the messages awaited", () =>
    seen((m) => m.type === "status" && m.topic === "book.coinbase.BTC-USD" && m.status !== "valid"),
  );
  await waitFor(
    "the messages awaited",
    () => parsed().filter((m) => m.type === "snapshot" && m.topic === "book.coinbase.BTC-USD").length >= 2,
  );
  // A lost venue connection: the venue's status topic says so.
  simulator.inject("coinbase", "disconnect");
  await waitFor("the messages awaited", () =>
    seen((m) => m.type === "status" && m.topic === "status.coinbase" && m.reason !== "current"),
  );
  socket.close();

  const rest = await Promise.all(
    [
      "/api/v1/symbols",
      "/api/v1/book/coinbase/BTC-USD?depth=5",
      "/api/v1/trades/coinbase/BTC-USD?limit=50",
    ].map(async (path) => (await fetch(`${base}${path}`)).text()),
  );
  const all = [...texts, ...rest];
  const types = new Set(
    parsed().map((m) => (m.type === "status" ? `status:${m.status === "gap" ? "gap" : "other"}` : m.type)),
  );
  expect([...types].sort()).toEqual(
    ["ack", "bbo", "delta", "error", "pong", "snapshot", "status:gap", "status:other", "trade"].sort(),
  );

  const fieldsSeen = new Set<string>();
  const bad: string[] = [];
  for (const text of all) {
    for (const [field, value] of timeFields(text)) {
      fieldsSeen.add(field);
      if (!/^\d+$/.test(value) && !(value === "null" && field.endsWith("AgeMs")))
        bad.push(`${field}=${value} in ${text.slice(0, 160)}`);
    }
    for (const number of fractionalNumbers(text)) bad.push(`${number} in ${text.slice(0, 160)}`);
  }
  expect(bad).toEqual([]);
  expect([...fieldsSeen].sort()).toEqual([...TIME_FIELDS].sort());

  // Coinbase's exchange times keep their microseconds (cut, not rounded to milliseconds).
  const exchangeTimes = parsed()
    .filter((m) => m.type === "delta" || m.type === "trade")
    .map((m) => m.ts as number);
  expect(exchangeTimes.length).toBeGreaterThan(0);
  expect(exchangeTimes.some((ts) => ts % 1000 !== 0)).toBe(true);
  expect(exchangeTimes.every((ts) => Math.abs(ts - Date.now() * 1000) < 120e6)).toBe(true);
}, 120_000);
