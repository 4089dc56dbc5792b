// The broadcaster's REST answers, access checks and settings without a socket: routing and
// answers over a real ring hub reading a real ring, the token and Origin checks on real Request
// objects, the config refusals, and fan-out's publish decision.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Registry } from "prom-client";
import { ClientAccess } from "../src/broadcast/access.ts";
import { readBroadcastConfig } from "../src/broadcast/config.ts";
import { TopicFanout, type TopicPublisher, WildcardSubscriptions } from "../src/broadcast/fanout.ts";
import { BroadcastMetrics } from "../src/broadcast/metrics.ts";
import { restAnswer } from "../src/broadcast/rest.ts";
import { RingHub } from "../src/broadcast/ring-hub.ts";
import { Subscriptions } from "../src/broadcast/subscriptions.ts";
import { ConfigError } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { broadcasterEnv } from "./support/broadcaster.ts";

const DIR = `/dev/shm/ap-test-broadcast-rest-${process.pid}`;
const MID = 4_500_000;
let feed: TestFeed;
let hub: RingHub;

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "kraken", "kraken", [
    { venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  ]);
  feed.randomSnapshot(0, seededRandom(5), MID, 5, 30);
  for (let i = 1; i <= 7; i++) feed.trade(0, MID + i, 1000 + i, i % 2 === 0, 500 + i);
  const config = readBroadcastConfig(broadcasterEnv(DIR));
  const metrics = new BroadcastMetrics(new Registry(), {
    ringLag: () => [],
    rings: () => 0,
    ringWriters: () => [],
  });
  hub = new RingHub(config, new Logger("error", {}, () => {}), metrics);
  hub.scan();
});

afterAll(() => {
  hub.stop();
  feed.close();
  rmSync(DIR, { recursive: true, force: true });
});

async function get(path: string): Promise<{ status: number; text: string }> {
  const response = restAnswer(new URL(`http://host${path}`), hub);
  return { status: response.status, text: await response.text() };
}

describe("REST", () => {
  test("symbols: every ring and symbol with state and whole-millisecond ages", async () => {
    const { status, text } = await get("/api/v1/symbols");
    expect(status).toBe(200);
    const body = JSON.parse(text);
    expect(body.exchanges).toHaveLength(1);
    expect(body.exchanges[0]).toMatchObject({
      exchange: "kraken",
      ring: `${DIR}/kraken.ring`,
      generation: 1,
    });
    expect(body.exchanges[0].symbols).toMatchObject([{ symbol: "BTC-USD", book: "valid" }]);
    expect(text).toMatch(/"heartbeatAgeMs":\d+,/);
    expect(text).toMatch(/"lastUpdateAgeMs":\d+\}/);
  });

  test("book at a depth, trades up to a limit, oldest first", async () => {
    const book = JSON.parse((await get("/api/v1/book/kraken/BTC-USD?depth=3")).text);
    expect(book).toMatchObject({ type: "snapshot", topic: "book.kraken.BTC-USD", status: "valid" });
    expect([book.bids.length, book.asks.length]).toEqual([3, 3]);
    expect(JSON.parse((await get("/api/v1/book/kraken/BTC-USD")).text).bids).toHaveLength(10);
    const trades = JSON.parse((await get("/api/v1/trades/kraken/BTC-USD?limit=2")).text);
    expect(trades.exchange).toBe("kraken");
    expect(trades.trades.map((t: { id: string }) => t.id)).toEqual(["506", "507"]);
  });

  test("errors: JSON with the status, for unknown routes, symbols and bad parameters", async () => {
    const cases: Array<[string, number, string]> = [
      ["/api/v1/book/kraken/DOGE-USD", 404, "no kraken DOGE-USD here"],
      ["/api/v1/trades/binance/BTC-USD", 404, "no binance BTC-USD here"],
      ["/api/v1/book/kraken/BTC-USD?depth=0", 400, "depth must be a whole number from 1 to 5000"],
      ["/api/v1/book/kraken/BTC-USD?depth=5001", 400, "depth must be a whole number from 1 to 5000"],
      ["/api/v1/trades/kraken/BTC-USD?limit=-1", 400, "limit must be a whole number from 1 to 10000"],
      ["/api/v1/nothing", 404, "no route /api/v1/nothing"],
    ];
    for (const [path, status, error] of cases) {
      const answer = await get(path);
      expect(answer.status).toBe(status);
      expect(JSON.parse(answer.text)).toEqual({ error, status });
    }
  });
});

describe("access", () => {
  const request = (url: string, headers: Record<string, string> = {}) => new Request(url, { headers });
  const check = (access: ClientAccess, url: string, headers?: Record<string, string>) => [
    access.upgradeRefusal(request(url, headers), new URL(url))?.status ?? 200,
    access.restRefusal(request(url, headers), new URL(url))?.status ?? 200,
  ];

  test("no token set: everyone passes; with one: the right token as a parameter or a Bearer header", () => {
    expect(check(new ClientAccess({ token: undefined, allowedOrigins: [] }), "http://h/ws")).toEqual([
      200, 200,
    ]);
    const access = new ClientAccess({ token: "s3cret", allowedOrigins: [] });
    expect(check(access, "http://h/ws")).toEqual([401, 401]);
    expect(check(access, "http://h/ws?token=s3cret")).toEqual([200, 200]);
    expect(check(access, "http://h/ws?token=s3cre")).toEqual([401, 401]);
    expect(check(access, "http://h/ws", { authorization: "Bearer s3cret" })).toEqual([200, 200]);
    expect(check(access, "http://h/ws", { authorization: "Basic s3cret" })).toEqual([401, 401]);
  });

  test("an Origin allowlist: listed or absent Origins pass /ws, others get 403; REST ignores it", () => {
    const access = new ClientAccess({ token: undefined, allowedOrigins: ["https://ok.example"] });
    expect(check(access, "http://h/ws", { origin: "https://ok.example" })).toEqual([200, 200]);
    expect(check(access, "http://h/ws")).toEqual([200, 200]);
    expect(check(access, "http://h/ws", { origin: "https://evil.example" })).toEqual([403, 200]);
    expect(
      access.upgradeRefusal(
        request("http://h/ws", { origin: "https://evil.example" }),
        new URL("http://h/ws"),
      ),
    ).toEqual({
      status: 403,
      message: "origin https://evil.example is not allowed",
    });
  });
});

describe("config", () => {
  test("defaults, and refusals that name the setting", () => {
    const config = readBroadcastConfig({});
    expect(config).toMatchObject({
      websocketPort: 8765,
      metricsPort: 8766,
      compression: true,
      allowedOrigins: [],
      idleStrategy: "sleeping",
    });
    expect(readBroadcastConfig({ BROADCAST_IDLE_STRATEGY: "Backoff" }).idleStrategy).toBe("backoff");
    const refused = (env: Record<string, string>) => {
      try {
        readBroadcastConfig(env);
      } catch (error) {
        return error instanceof ConfigError ? error.setting : String(error);
      }
      return null;
    };
    expect(refused({ WEBSOCKET_PORT: "http" })).toBe("WEBSOCKET_PORT");
    expect(refused({ BROADCAST_SLOW_WARN_BYTES: "4096", BROADCAST_SLOW_CLOSE_BYTES: "4096" })).toBe(
      "BROADCAST_SLOW_CLOSE_BYTES",
    );
    expect(refused({ BROADCAST_SEND_BUDGET_BYTES: "8192" })).toBe("BROADCAST_SEND_BUDGET_BYTES");
    expect(refused({ BROADCAST_COMPRESSION: "maybe" })).toBe("BROADCAST_COMPRESSION");
    expect(refused({ BROADCAST_IDLE_STRATEGY: "timer" })).toBe("BROADCAST_IDLE_STRATEGY");
    expect(refused({ BROADCAST_PARK_MILLIS: "-1" })).toBe("BROADCAST_PARK_MILLIS");
    expect(refused({ SHUTDOWN_GRACE_MS: "abc" })).toBe("SHUTDOWN_GRACE_MS");
  });
});

describe("fan-out", () => {
  test("one publish per topic with subscribers, compressed only when large and compression is on", () => {
    const published: Array<[string, number, boolean | undefined]> = [];
    const publisher: TopicPublisher = {
      subscriberCount: (topic) => (topic === "book.kraken.BTC-USD" ? 3 : 0),
      publish: (topic, text, compress) => published.push([topic, text.length, compress]),
    };
    const metrics = new BroadcastMetrics(new Registry(), {
      ringLag: () => [],
      rings: () => 0,
      ringWriters: () => [],
    });
    const wildcards = new WildcardSubscriptions(hub, new Subscriptions(hub, metrics), {
      maxTopicsPerClient: 10,
    });
    const book = hub.topics.get("book.kraken.BTC-USD")!;
    const trades = hub.topics.get("trades.kraken.BTC-USD")!;
    const on = new TopicFanout(publisher, wildcards, true);
    expect(on.send(book, "x".repeat(100))).toBe(3);
    expect(on.send(book, "x".repeat(600))).toBe(3);
    expect(on.send(trades, "x".repeat(600))).toBe(0);
    new TopicFanout(publisher, wildcards, false).send(book, "x".repeat(600));
    expect(published).toEqual([
      ["book.kraken.BTC-USD", 100, false],
      ["book.kraken.BTC-USD", 600, true],
      ["book.kraken.BTC-USD", 600, false],
    ]);
  });
});
