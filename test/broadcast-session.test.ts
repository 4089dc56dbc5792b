// The broadcaster's per-client parts without a socket: client sessions (subscribe, unsubscribe,
// ping, limits), subscriptions and their gauge, resume (backlog, gap, held), the shared starting
// texts and wildcard extension, over a real ring hub reading real rings in /dev/shm, with
// recording clients in place of WebSockets.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Registry } from "prom-client";
import { ClientSessions } from "../src/broadcast/client-session.ts";
import { readBroadcastConfig } from "../src/broadcast/config.ts";
import { WildcardSubscriptions } from "../src/broadcast/fanout.ts";
import { BroadcastMetrics } from "../src/broadcast/metrics.ts";
import { admitRequest, MAX_STRIKES } from "../src/broadcast/rate-limit.ts";
import { RESUME_AHEAD_WAIT_MS, Resumes } from "../src/broadcast/resume.ts";
import { RingHub } from "../src/broadcast/ring-hub.ts";
import { StartingTexts } from "../src/broadcast/starting-texts.ts";
import { newClientState, Subscriptions } from "../src/broadcast/subscriptions.ts";
import { Logger } from "../src/log.ts";
import { CloseCode } from "../src/protocol/messages.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { broadcasterEnv } from "./support/broadcaster.ts";
import { RecordingClient } from "./support/recording-client.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-session-${process.pid}`;
const BOOK = "book.kraken.BTC-USD";
const BBO = "bbo.kraken.BTC-USD";
const TRADES = "trades.kraken.BTC-USD";
const MID = 4_500_000;

let feeds: TestFeed[];
let hub: RingHub;
let metrics: BroadcastMetrics;
let subscriptions: Subscriptions;
let resumes: Resumes;
let wildcards: WildcardSubscriptions;
let sessions: ClientSessions<RecordingClient>;
const random = seededRandom(11);

function start(settings: Record<string, string> = {}): void {
  const config = readBroadcastConfig(broadcasterEnv(DIR, settings));
  const log = new Logger("error", {}, () => {});
  metrics = new BroadcastMetrics(new Registry(), {
    ringLag: () => [],
    rings: () => 0,
    ringWriters: () => [],
  });
  hub = new RingHub(config, log, metrics);
  hub.scan();
  subscriptions = new Subscriptions(hub, metrics);
  resumes = new Resumes(new StartingTexts(hub), subscriptions, hub);
  wildcards = new WildcardSubscriptions(hub, subscriptions, config);
  sessions = new ClientSessions(config, hub, subscriptions, resumes, wildcards, metrics);
}

beforeEach(() => {
  rmSync(DIR, { recursive: true, force: true });
  const kraken = new TestFeed(DIR, "kraken", "kraken", [
    { venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
    { venueSymbol: "ETH/USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 8 },
  ]);
  kraken.randomSnapshot(0, random, MID, 5, 10);
  kraken.randomSnapshot(1, random, 300_000, 1, 10);
  for (let i = 1; i <= 5; i++) kraken.trade(0, MID + i, 100 + i, i % 2 === 0, i);
  feeds = [kraken];
  start();
});

afterEach(() => {
  resumes.stop();
  hub.stop();
  for (const feed of feeds) feed.close();
  rmSync(DIR, { recursive: true, force: true });
});

function connect(): RecordingClient {
  const client = new RecordingClient(sessions.newState());
  sessions.opened(client);
  return client;
}

function request(client: RecordingClient, frame: unknown): Array<Record<string, unknown>> {
  const before = client.sent.length;
  sessions.onFrame(client, JSON.stringify(frame));
  return client.messages(before);
}

async function gauge(channel: string): Promise<number> {
  return (await metrics.subscriptions.get()).values.find((v) => v.labels.channel === channel)?.value ?? 0;
}

const position = (name: string) => hub.topics.get(name)!.position;

describe("subscribe", () => {
  test("an ack with each topic's position, then its starting text; joined and counted", async () => {
    const client = connect();
    const sent = request(client, { op: "subscribe", topics: [BOOK, BBO, "status.kraken", TRADES], id: 3 });
    expect(sent[0]).toEqual({
      type: "ack",
      op: "subscribe",
      topics: [BOOK, BBO, "status.kraken", TRADES],
      seqs: {
        [BOOK]: position(BOOK),
        [BBO]: position(BBO),
        "status.kraken": position("status.kraken"),
        [TRADES]: 5,
      },
      resumed: [],
      id: 3,
    });
    expect(sent.slice(1).map((m) => `${m.type} ${m.topic} ${m.seq}`)).toEqual([
      `snapshot ${BOOK} ${position(BOOK)}`,
      `bbo ${BBO} ${position(BBO)}`,
      `status status.kraken ${position("status.kraken")}`,
    ]);
    expect([...client.joined]).toEqual([BOOK, BBO, "status.kraken", TRADES]);
    expect([await gauge("book"), await gauge("bbo"), await gauge("status"), await gauge("trades")]).toEqual([
      1, 1, 1, 1,
    ]);
    // Subscribing again adds nothing.
    expect(request(client, { op: "subscribe", topics: [BOOK] })).toEqual([
      { type: "ack", op: "subscribe", topics: [], seqs: {}, resumed: [] },
    ]);
    expect(await gauge("book")).toBe(1);
  });

  test("subscribers in one poll round share one snapshot text; after an update, a new one", () => {
    const [a, b] = [connect(), connect()];
    request(a, { op: "subscribe", topics: [BOOK] });
    request(b, { op: "subscribe", topics: [BOOK] });
    expect(a.sent[1]).toBe(b.sent[1]!);
    feeds[0]!.randomUpdate(0, random, MID, 5) ||
      feeds[0]!.update(0, [{ ask: false, price: MID - 1, size: 9 }]);
    hub.drain();
    const c = connect();
    const [, snapshot] = request(c, { op: "subscribe", topics: [BOOK] });
    expect(snapshot!.seq).toBe(position(BOOK));
    expect(c.sent[1]).not.toBe(a.sent[1]!);
  });

  test("an unknown topic or too many topics: an error with the id, nothing subscribed", async () => {
    resumes.stop();
    hub.stop();
    start({ BROADCAST_MAX_TOPICS: "3" });
    const client = connect();
    expect(request(client, { op: "subscribe", topics: [BOOK, "book.nowhere.BTC-USD"], id: "q" })).toEqual([
      {
        type: "error",
        code: "bad_topic",
        message: "no such topic: book.nowhere.BTC-USD (GET /api/v1/symbols lists them)",
        id: "q",
      },
    ]);
    request(client, { op: "subscribe", topics: [BOOK, BBO] });
    // Two topics held: one pattern that matches nothing new is a third, one more a fourth.
    expect(request(client, { op: "subscribe", topics: ["trades.*.BTC-USD", "status.kraken"] })).toMatchObject(
      [{ type: "error", code: "too_many_topics" }],
    );
    expect(client.data.topics.size).toBe(2);
    expect(await gauge("trades")).toBe(0);
    const errors = (await metrics.clientErrors.get()).values;
    expect(errors.map((v) => [v.labels.code, v.value])).toEqual([
      ["bad_topic", 1],
      ["too_many_topics", 1],
    ]);
  });

  test("ping: a pong with the id and whole-microsecond server time", () => {
    const [pong] = request(connect(), { op: "ping", id: 9 });
    expect(pong).toMatchObject({ type: "pong", id: 9 });
    expect(Number.isInteger(pong!.time)).toBe(true);
    expect(Math.abs((pong!.time as number) - Date.now() * 1000)).toBeLessThan(5e6);
  });
});

describe("resume", () => {
  test("from a seq the history holds: listed as resumed, then exactly the missed messages", () => {
    const client = connect();
    const sent = request(client, { op: "subscribe", topics: [TRADES], resume: { [TRADES]: 2 } });
    expect(sent[0]).toMatchObject({ topics: [TRADES], seqs: {}, resumed: [TRADES] });
    expect(sent.slice(1).map((m) => [m.type, m.seq])).toEqual([
      ["trade", 3],
      ["trade", 4],
      ["trade", 5],
    ]);
    expect(client.joined.has(TRADES)).toBe(true);
  });

  test("from a seq it cannot account for, or not a seq: a gap notice at the position, then a fresh start", () => {
    const client = connect();
    const sent = request(client, {
      op: "subscribe",
      topics: [BOOK, TRADES],
      resume: { [BOOK]: -5, [TRADES]: "x" },
    });
    expect(sent[0]).toMatchObject({ seqs: { [BOOK]: position(BOOK), [TRADES]: 5 }, resumed: [] });
    expect(sent.slice(1).map((m) => `${m.type} ${m.status ?? ""} ${m.topic} ${m.seq}`)).toEqual([
      `status gap ${BOOK} ${position(BOOK)}`,
      `snapshot valid ${BOOK} ${position(BOOK)}`,
      `status gap ${TRADES} 5`,
    ]);
  });

  test("bbo: nothing when at the position, else the current value", () => {
    const client = connect();
    const at = request(client, { op: "subscribe", topics: [BBO], resume: { [BBO]: position(BBO) } });
    expect(at).toHaveLength(1);
    request(client, { op: "unsubscribe", topics: [BBO] });
    const behind = request(client, { op: "subscribe", topics: [BBO], resume: { [BBO]: position(BBO) - 1 } });
    expect(behind.map((m) => [m.type, m.seq])).toEqual([
      ["ack", undefined],
      ["bbo", position(BBO)],
    ]);
  });

  test("from a seq not read yet: held (subscribed, not joined) until the topic gets there, then only what follows", async () => {
    const client = connect();
    const sent = request(client, { op: "subscribe", topics: [TRADES], resume: { [TRADES]: 7 } });
    expect(sent).toMatchObject([{ type: "ack", resumed: [TRADES] }]);
    expect(client.data.topics.has(TRADES)).toBe(true);
    expect(client.joined.has(TRADES)).toBe(false);
    for (let i = 6; i <= 8; i++) feeds[0]!.trade(0, MID, 100, false, i);
    hub.drain();
    await waitFor("the held resume to join", () => client.joined.has(TRADES), { timeoutMs: 2_000 });
    expect(client.messages(1).map((m) => [m.type, m.seq])).toEqual([["trade", 8]]);
  });

  test("from a seq not reached within the wait: a gap notice at the position; a client gone meanwhile gets nothing", async () => {
    const client = connect();
    const gone = connect();
    request(client, { op: "subscribe", topics: [TRADES], resume: { [TRADES]: 50 } });
    request(gone, { op: "subscribe", topics: [TRADES], resume: { [TRADES]: 50 } });
    sessions.closed(gone);
    const started = Date.now();
    await waitFor("the held resume to join", () => client.joined.has(TRADES), {
      timeoutMs: RESUME_AHEAD_WAIT_MS + 2_000,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(RESUME_AHEAD_WAIT_MS - 50);
    expect(client.messages(1)).toMatchObject([
      { type: "status", status: "gap", reason: "resume_unavailable", seq: 5 },
    ]);
    expect(gone.sent).toHaveLength(1);
    expect(gone.joined.size).toBe(0);
  });
});

describe("unsubscribe, wildcards and close", () => {
  test("unsubscribe: concrete topics and a pattern's topics leave, the gauge follows", async () => {
    const client = connect();
    request(client, { op: "subscribe", topics: [BOOK, "trades.kraken.*"] });
    expect(await gauge("trades")).toBe(2);
    expect(request(client, { op: "unsubscribe", topics: ["trades.*.*", BBO], id: 1 })).toEqual([
      { type: "ack", op: "unsubscribe", topics: ["trades.kraken.BTC-USD", "trades.kraken.ETH-USD"], id: 1 },
    ]);
    expect(await gauge("trades")).toBe(0);
    // The pattern it was subscribed with is still held: unsubscribing that one drops it.
    expect(client.data.patterns).toHaveLength(1);
    request(client, { op: "unsubscribe", topics: ["trades.kraken.*"] });
    expect(client.data.patterns).toHaveLength(0);
    expect([...client.joined]).toEqual([BOOK]);
  });

  test("a pattern brings in topics that appear later, each with its own ack, until it is dropped", () => {
    const client = connect();
    const [ack] = request(client, { op: "subscribe", topics: ["trades.*.BTC-USD"] });
    expect(ack!.topics).toEqual([TRADES]);
    const binance = new TestFeed(DIR, "binance", "binance", [
      { venueSymbol: "BTCUSD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
    ]);
    feeds.push(binance);
    binance.trade(0, 4_500_012, 25_000_000, false, 5);
    hub.scan();
    const before = client.sent.length;
    wildcards.extend();
    expect(client.messages(before)).toEqual([
      {
        type: "ack",
        op: "subscribe",
        topics: ["trades.binance.BTC-USD"],
        seqs: { "trades.binance.BTC-USD": 1 },
        resumed: [],
      },
    ]);
    expect(client.joined.has("trades.binance.BTC-USD")).toBe(true);
    request(client, { op: "unsubscribe", topics: ["trades.*.BTC-USD"] });
    const coinbase = new TestFeed(DIR, "coinbase", "coinbase", [
      { venueSymbol: "BTC-USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
    ]);
    feeds.push(coinbase);
    hub.scan();
    const after = client.sent.length;
    wildcards.extend();
    expect(client.sent.length).toBe(after);
  });

  test("close: the client's subscriptions are dropped and uncounted", async () => {
    const client = connect();
    request(client, { op: "subscribe", topics: [BOOK, BBO, "trades.*.*"] });
    expect(sessions.clients.size).toBe(1);
    sessions.closed(client);
    expect(sessions.clients.size).toBe(0);
    expect(client.data.topics.size).toBe(0);
    expect([await gauge("book"), await gauge("bbo"), await gauge("trades")]).toEqual([0, 0, 0]);
    expect((await metrics.clients.get()).values[0]!.value).toBe(0);
  });
});

describe("request rate", () => {
  test("the bucket: a burst of twice the rate, refilled at the rate; past MAX_STRIKES refusals, close", () => {
    const state = newClientState(1, 10);
    const t0 = state.refilledAt;
    for (let i = 0; i < 20; i++) expect(admitRequest(state, t0, 10)).toBe("allowed");
    expect(admitRequest(state, t0, 10)).toBe("refused");
    expect(admitRequest(state, t0 + 100, 10)).toBe("allowed"); // 100 ms at 10/s: one token
    for (let i = 1; i < MAX_STRIKES; i++) expect(admitRequest(state, t0 + 100, 10)).toBe("refused");
    expect(admitRequest(state, t0 + 100, 10)).toBe("close");
    // A full bucket forgives the strikes.
    const rested = newClientState(2, 10);
    rested.strikes = 5;
    admitRequest(rested, rested.refilledAt + 10_000, 10);
    expect(rested.strikes).toBe(0);
  });

  test("a client that keeps sending: rate_limited errors, then closed with 4029", () => {
    const client = connect();
    for (let i = 0; i < 40 + MAX_STRIKES + 1; i++) sessions.onFrame(client, '{"op":"ping"}');
    const types = client.messages().map((m) => m.code ?? m.type);
    expect(types.filter((t) => t === "pong").length).toBeGreaterThanOrEqual(40);
    expect(types.filter((t) => t === "rate_limited").length).toBeGreaterThanOrEqual(MAX_STRIKES - 1);
    expect(client.closed).toEqual({ code: CloseCode.RateLimited, reason: "too many requests" });
  });
});
