// Protocol conformance of a real broadcaster on loopback, with a plain `ws` client and the SDK:
// acks, snapshots equal to the ring, deltas chained without holes, the SDK's book equal to the
// ring's latest-book entry after every update, trades, status, errors, REST and metrics.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import WebSocket from "ws";
import { AlphaPulseClient } from "../src/client/client.ts";
import { formatScaledTrimmed } from "../src/market/decimal.ts";
import type { Level } from "../src/protocol/messages.ts";
import { BookStatus, StatusReason } from "../src/shm/layout.ts";
import { type BookCopy, RingReader } from "../src/shm/ring-reader.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster } from "./support/broadcaster.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-proto-${process.pid}`;
const SYMBOLS = [
  { venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  { venueSymbol: "ETH/USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 8 },
];
const BTC_MID = 450_000_0; // 450000.0 at 1 decimal

let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;
let ring: RingReader;

/** A `ws` client that queues every parsed message and waits for the ones a test wants. */
class RawClient {
  readonly messages: Array<Record<string, unknown>> = [];
  private cursor = 0;
  readonly socket: WebSocket;
  closed: { code: number; reason: string } | null = null;

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.socket = new WebSocket(url, options);
    this.socket.on("message", (data) => this.messages.push(JSON.parse(String(data))));
    this.socket.on("close", (code, reason) => {
      this.closed = { code, reason: String(reason) };
    });
    this.socket.on("error", () => {});
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once("open", () => resolve());
      this.socket.once("error", reject);
      this.socket.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  send(value: unknown): void {
    this.socket.send(typeof value === "string" ? value : JSON.stringify(value));
  }

  /** The next message (after the last one taken) that matches. */
  async next(
    match: (m: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.messages.length) {
        const message = this.messages[this.cursor++]!;
        if (match(message)) return message;
      }
      if (Date.now() > deadline) throw new Error(`no matching message in ${timeoutMs} ms`);
      await Bun.sleep(2);
    }
  }

  close(): void {
    this.socket.close();
  }
}

/** The ring's latest-book entry as decimal-string levels. */
function ringBook(symbolId: number): { bids: Level[]; asks: Level[] } {
  const copy = ring.newBookCopy();
  expect(ring.readBook(symbolId, copy)).toBe(true);
  const { priceDecimals, sizeDecimals } = SYMBOLS[symbolId]!;
  const level = (p: number, s: number): Level => [
    formatScaledTrimmed(p, priceDecimals),
    formatScaledTrimmed(s, sizeDecimals),
  ];
  return {
    bids: Array.from({ length: copy.bidCount }, (_, i) => level(copy.bidPrices[i]!, copy.bidSizes[i]!)),
    asks: Array.from({ length: copy.askCount }, (_, i) => level(copy.askPrices[i]!, copy.askSizes[i]!)),
  };
}

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "kraken", "kraken", SYMBOLS, 10);
  const random = seededRandom(1);
  feed.randomSnapshot(0, random, BTC_MID, 5);
  feed.randomSnapshot(1, random, 300_000, 1);
  ring = RingReader.open(`${DIR}/kraken.ring`);
  broadcaster = startTestBroadcaster(DIR, {
    BROADCAST_OPS_PER_SECOND: "1000",
  });
});

afterAll(async () => {
  await broadcaster?.stop();
  ring?.close();
  feed?.close();
  rmSync(DIR, { recursive: true, force: true });
});

describe("plain ws client", () => {
  test("subscribe: ack with the position, a snapshot equal to the ring, then deltas seq + 1 each", async () => {
    const client = new RawClient(broadcaster.ws);
    await client.opened();
    client.send({ op: "subscribe", topics: ["book.kraken.BTC-USD"], id: 7 });
    const ack = await client.next((m) => m.type === "ack");
    expect(ack.id).toBe(7);
    expect(ack.topics).toEqual(["book.kraken.BTC-USD"]);
    const position = (ack.seqs as Record<string, number>)["book.kraken.BTC-USD"]!;
    // The position is the topic's message count, which the writer keeps in the entry.
    expect(position).toBe(ringEntry(0).bookCount);
    const snapshot = await client.next((m) => m.type === "snapshot");
    expect(snapshot.seq).toBe(position);
    expect(snapshot.decimals).toEqual([1, 8]);
    expect(snapshot.status).toBe("valid");
    expect({ bids: snapshot.bids, asks: snapshot.asks }).toEqual(ringBook(0));

    // Deltas: each one seq past the last, no holes; applying them gives the ring's book.
    const book = new Map<string, string>();
    const key = (ask: boolean, p: string) => `${ask ? "a" : "b"}${p}`;
    for (const [p, s] of snapshot.bids as string[][]) book.set(key(false, p!), s!);
    for (const [p, s] of snapshot.asks as string[][]) book.set(key(true, p!), s!);
    let last = position;
    const random = seededRandom(2);
    for (let i = 0; i < 50; i++) {
      const seq = feed.randomUpdate(0, random, BTC_MID, 5);
      if (seq === 0) continue;
      const delta = await client.next((m) => m.type === "delta");
      expect(delta.topic).toBe("book.kraken.BTC-USD");
      expect(delta.seq).toBe(last + 1);
      expect(delta.seq).toBe(ringEntry(0).bookCount);
      last = delta.seq as number;
      for (const [p, s] of delta.bids as string[][])
        s === "0" ? book.delete(key(false, p!)) : book.set(key(false, p!), s!);
      for (const [p, s] of delta.asks as string[][])
        s === "0" ? book.delete(key(true, p!)) : book.set(key(true, p!), s!);
      const expected = ringBook(0);
      const expectedMap = new Map<string, string>();
      for (const [p, s] of expected.bids) expectedMap.set(key(false, p!), s!);
      for (const [p, s] of expected.asks) expectedMap.set(key(true, p!), s!);
      expect(book).toEqual(expectedMap);
    }
    client.close();
  });

  test("trades on a wildcard topic, exact decimals and side", async () => {
    const client = new RawClient(broadcaster.ws);
    await client.opened();
    client.send({ op: "subscribe", topics: ["trades.*.BTC-USD"] });
    const ack = await client.next((m) => m.type === "ack");
    expect(ack.topics).toEqual(["trades.kraken.BTC-USD"]);
    feed.trade(0, 450_012_3, 12_345_678, true, 991);
    const trade = await client.next((m) => m.type === "trade");
    expect(trade).toMatchObject({
      topic: "trades.kraken.BTC-USD",
      seq: feed.writer.counts(0).trade,
      price: "450012.3",
      size: "0.12345678",
      side: "sell",
      id: "991",
    });
    expect(typeof trade.pt).toBe("number");
    feed.trade(0, 450_000_0, 100_000_000, false, 992);
    const next = await client.next((m) => m.type === "trade");
    expect(next).toMatchObject({
      seq: (trade.seq as number) + 1,
      price: "450000",
      size: "1",
      side: "buy",
    });
    client.close();
  });

  test("status: invalid, then a fresh snapshot after the resync; bbo follows the top", async () => {
    const client = new RawClient(broadcaster.ws);
    await client.opened();
    client.send({ op: "subscribe", topics: ["book.kraken.ETH-USD", "bbo.kraken.ETH-USD", "status.kraken"] });
    await client.next((m) => m.type === "ack");
    await client.next((m) => m.type === "snapshot");
    const bbo = await client.next((m) => m.type === "bbo");
    expect(bbo.bid).toEqual(ringBook(1).bids[0]);
    feed.invalidate(1, BookStatus.Invalid, StatusReason.ChecksumMismatch);
    const status = await client.next((m) => m.type === "status" && m.topic === "book.kraken.ETH-USD");
    expect(status).toMatchObject({ status: "invalid", reason: "checksum_mismatch" });
    feed.snapshot(1, [[299_990, 5]], [[300_010, 7]]);
    const snapshot = await client.next((m) => m.type === "snapshot");
    expect(snapshot).toMatchObject({
      seq: (status.seq as number) + 1,
      status: "valid",
      bids: [["2999.9", "0.00000005"]],
      asks: [["3000.1", "0.00000007"]],
    });
    const top = await client.next((m) => m.type === "bbo");
    expect(top).toMatchObject({
      seq: (bbo.seq as number) + 1,
      bid: ["2999.9", "0.00000005"],
      ask: ["3000.1", "0.00000007"],
    });
    client.close();
  });

  test("malformed and oversized input get error frames; the connection keeps working", async () => {
    const client = new RawClient(broadcaster.ws);
    await client.opened();
    const cases: Array<[unknown, string]> = [
      ["{not json", "bad_json"],
      ["[1,2]", "bad_request"],
      [{ op: "dance" }, "unknown_op"],
      [{ op: "subscribe", topics: "book.kraken.BTC-USD" }, "bad_request"],
      [{ op: "subscribe", topics: ["book.kraken"] }, "bad_topic"],
      [{ op: "subscribe", topics: ["book.nowhere.BTC-USD"] }, "bad_topic"],
      [{ op: "subscribe", topics: ["book.kraken.BTC-USD"], resume: [1] }, "bad_request"],
      [`{"op":"ping","pad":"${"x".repeat(20_000)}"}`, "frame_too_large"],
    ];
    for (const [frame, code] of cases) {
      client.send(frame);
      const error = await client.next((m) => m.type === "error");
      expect(error.code).toBe(code);
      expect(typeof error.message).toBe("string");
    }
    client.socket.send(Buffer.from([1, 2, 3]));
    expect((await client.next((m) => m.type === "error")).code).toBe("bad_request");
    client.send({ op: "ping", id: "p1" });
    expect(await client.next((m) => m.type === "pong")).toMatchObject({ id: "p1" });
    // Past the hard frame limit the WebSocket layer closes with 1009.
    client.send("x".repeat(2 * 1024 * 1024));
    await waitFor("the close", () => client.closed !== null);
    expect(client.closed!.code).toBe(1009);
  });
});

describe("SDK client", () => {
  test("the local book equals the ring's latest-book entry after every update", async () => {
    const client = new AlphaPulseClient({ urls: [broadcaster.ws] });
    await client.connect();
    await client.subscribe(["book.kraken.BTC-USD"]);
    await waitFor("the snapshot", () => client.book("book.kraken.BTC-USD")?.hasSnapshot === true);
    const random = seededRandom(3);
    let checked = 0;
    for (let i = 0; i < 300; i++) {
      const seq = feed.randomUpdate(0, random, BTC_MID, 5);
      if (seq === 0) continue;
      const want = feed.writer.counts(0).book;
      await waitFor(`book seq ${want}`, () => client.lastSeq("book.kraken.BTC-USD") === want);
      const book = client.book("book.kraken.BTC-USD")!;
      expect({ bids: book.bids(), asks: book.asks() }).toEqual(ringBook(0));
      checked++;
    }
    expect(checked).toBeGreaterThan(200);
    expect(client.gaps).toBe(0);
    client.close();
  });
});

describe("resume", () => {
  test("from a seq this broadcaster has not reached yet: held until it gets there, then only what follows", async () => {
    const TRADES = "trades.kraken.ETH-USD";
    const position = feed.writer.counts(1).trade;
    await waitFor(
      "the broadcaster to reach the last trade",
      () => broadcaster.hub.topics.get(TRADES)!.position === position,
    );
    // As if it came from a broadcaster three trades ahead of this one.
    const client = new RawClient(broadcaster.ws);
    await client.opened();
    client.send({ op: "subscribe", topics: [TRADES], resume: { [TRADES]: position + 3 } });
    const ack = await client.next((m) => m.type === "ack");
    expect(ack.resumed).toEqual([TRADES]);
    for (let i = 1; i <= 5; i++) feed.trade(1, 300_000 + i, 1_000, false, 7000 + i);
    const fourth = await client.next((m) => m.type === "trade");
    const fifth = await client.next((m) => m.type === "trade");
    expect([fourth.seq, fifth.seq]).toEqual([position + 4, position + 5]);
    expect([fourth.id, fifth.id]).toEqual(["7004", "7005"]);
    expect(client.messages.filter((m) => m.type === "status")).toEqual([]);

    // A seq it does not reach within the wait: a gap notice at its own position.
    const far = new RawClient(broadcaster.ws);
    await far.opened();
    far.send({ op: "subscribe", topics: [TRADES], resume: { [TRADES]: position + 1000 } });
    const gap = await far.next((m) => m.type === "status", 5_000);
    expect(gap).toMatchObject({ status: "gap", reason: "resume_unavailable", seq: position + 5 });
    feed.trade(1, 300_100, 1_000, true, 7006);
    expect((await far.next((m) => m.type === "trade")).seq).toBe(position + 6);
    client.close();
    far.close();
  });
});

describe("REST and metrics", () => {
  test("symbols, book and trades", async () => {
    const base = `${broadcaster.http}/api/v1`;
    const symbols = await (await fetch(`${base}/symbols`)).json();
    expect(symbols.exchanges[0].exchange).toBe("kraken");
    expect(symbols.exchanges[0].symbols.map((s: { symbol: string }) => s.symbol)).toEqual([
      "BTC-USD",
      "ETH-USD",
    ]);
    expect(symbols.exchanges[0].symbols[0].book).toBe("valid");
    const book = await (await fetch(`${base}/book/kraken/BTC-USD?depth=3`)).json();
    const expected = ringBook(0);
    expect(book.bids).toEqual(expected.bids.slice(0, 3));
    expect(book.asks).toEqual(expected.asks.slice(0, 3));
    const trades = await (await fetch(`${base}/trades/kraken/BTC-USD?limit=1`)).json();
    expect(trades.trades).toHaveLength(1);
    expect(trades.trades[0].id).toBe("992");
    const missing = await fetch(`${base}/book/kraken/DOGE-USD`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).status).toBe(404);
    expect((await fetch(`${base}/book/kraken/BTC-USD?depth=zero`)).status).toBe(400);
    expect((await fetch(`${broadcaster.http}/`)).status).toBe(200);
  });

  test("/metrics carries the broadcaster's metrics, /ready says the ring is fresh", async () => {
    const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
    for (const name of [
      "alphapulse_delta_compression_ratio",
      "alphapulse_broadcast_clients_connected",
      "alphapulse_broadcast_subscriptions",
      "alphapulse_broadcast_messages_sent_total",
      "alphapulse_broadcast_bytes_sent_total",
      "alphapulse_broadcast_slow_client_warnings_total",
      "alphapulse_broadcast_slow_client_disconnects_total",
      "alphapulse_broadcast_fanout_latency_seconds_bucket",
      "alphapulse_broadcast_ring_read_lag_records",
      "alphapulse_broadcast_ring_gaps_total",
    ]) {
      expect(text).toContain(name);
    }
    const ratio = Number(/alphapulse_delta_compression_ratio\{[^}]*\} (\S+)/.exec(text)?.[1]);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(1);
    const ready = await fetch(`${broadcaster.metrics}/ready`);
    expect(ready.status).toBe(200);
  });
});

/** A symbol's latest-book entry, as any reader of the ring sees it. */
function ringEntry(symbolId: number): BookCopy {
  const copy = ring.newBookCopy();
  expect(ring.readBook(symbolId, copy)).toBe(true);
  return copy;
}

describe("lapped by the writer", () => {
  test("subscribers get a gap status, then a fresh book from the latest-book entry", async () => {
    const client = new AlphaPulseClient({ urls: [broadcaster.ws] });
    const statuses: string[] = [];
    client.on("message", (message) => {
      if (message.type === "status") statuses.push(`${message.topic} ${message.status}`);
    });
    await client.connect();
    await client.subscribe(["book.kraken.BTC-USD", "trades.kraken.BTC-USD"]);
    await waitFor("the snapshot", () => client.book("book.kraken.BTC-USD")?.hasSnapshot === true);
    // The writer outruns the broadcaster (same thread: it cannot read meanwhile) by two rings' worth.
    const random = seededRandom(4);
    for (let i = 0; i < 2 * (1 << 14); i++) {
      if (i % 4 === 0) feed.randomUpdate(0, random, BTC_MID, 5);
      else feed.trade(0, BTC_MID, 1 + i, false, i);
    }
    await waitFor(
      "every trade",
      () => client.lastSeq("trades.kraken.BTC-USD") === feed.writer.counts(0).trade,
    );
    expect(statuses).toContain("book.kraken.BTC-USD gap");
    expect(statuses).toContain("trades.kraken.BTC-USD gap");
    if (feed.randomUpdate(0, random, BTC_MID, 5) === 0) {
      feed.update(0, [{ ask: false, price: BTC_MID - 1, size: 3 }]);
    }
    await waitFor(
      "every book message",
      () => client.lastSeq("book.kraken.BTC-USD") === feed.writer.counts(0).book,
    );
    const book = client.book("book.kraken.BTC-USD")!;
    expect({ bids: book.bids(), asks: book.asks() }).toEqual(ringBook(0));
    const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
    expect(
      Number(/alphapulse_broadcast_ring_gaps_total\{[^}]*\} (\S+)/.exec(text)?.[1]),
    ).toBeGreaterThanOrEqual(1);
    client.close();
  });

  test("permessage-deflate is used when the client asks for it", async () => {
    const client = new RawClient(broadcaster.ws, { perMessageDeflate: true });
    await client.opened();
    expect(client.socket.extensions).toContain("permessage-deflate");
    client.send({ op: "subscribe", topics: ["book.kraken.BTC-USD"] });
    expect((await client.next((m) => m.type === "snapshot")).bids).toEqual(ringBook(0).bids);
    client.close();
  });
});

describe("rings that appear later", () => {
  test("a wildcard subscriber gets the new ring's topics, from its first record", async () => {
    const client = new RawClient(broadcaster.ws);
    await client.opened();
    client.send({ op: "subscribe", topics: ["trades.*.BTC-USD"] });
    expect((await client.next((m) => m.type === "ack")).topics).toEqual(["trades.kraken.BTC-USD"]);
    const binance = new TestFeed(DIR, "binance", "binance", [
      { venueSymbol: "BTCUSD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
    ]);
    try {
      const ack = await client.next((m) => m.type === "ack");
      expect(ack.topics).toEqual(["trades.binance.BTC-USD"]);
      binance.trade(0, 4_500_012, 25_000_000, false, 5);
      const trade = await client.next((m) => m.type === "trade" && m.topic === "trades.binance.BTC-USD");
      expect(trade).toMatchObject({
        seq: 1,
        price: "45000.12",
        size: "0.25",
      });
    } finally {
      client.close();
      binance.close();
      rmSync(`${DIR}/binance.ring`, { force: true });
    }
  });
});
