// The simulator's Coinbase Advanced Trade endpoint seen by real clients: one sequence_num per
// connection from 0 across every channel, l2_data snapshot + updates rebuilt into a book equal to
// the true book, market_trades, heartbeats, the 5 s subscribe rule, product REST, the trade-side
// switch, and sequence faults (skip-sequence, drop-frame) plus HTTP-injected garbage and disconnect.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { formatScaled, parseScaled } from "../src/market/decimal.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { RecordingClient, waitForQuiet } from "./support/simulator-ws-client.ts";
import { waitFor } from "./support/wait.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

interface Envelope {
  channel: string;
  timestamp: string;
  sequence_num: number;
  events: Record<string, unknown>[];
}

interface L2Event {
  type: "snapshot" | "update";
  product_id: string;
  updates: { side: "bid" | "offer"; price_level: string; new_quantity: string; event_time: string }[];
}

/** A Coinbase client: checks sequence_num on every frame, keeps l2 books per product. */
class CoinbaseClient {
  readonly books = new Map<string, { bids: Map<number, number>; asks: Map<number, number> }>();
  readonly gaps: { expected: number; got: number }[] = [];
  readonly envelopes: Envelope[] = [];
  last = -1;

  constructor(
    readonly client: RecordingClient,
    readonly decimals: { price: number; size: number },
  ) {
    client.onFrame(({ text }) => {
      let message: Envelope;
      try {
        message = JSON.parse(text) as Envelope;
      } catch {
        return;
      }
      if (typeof message.sequence_num !== "number") return;
      if (message.sequence_num !== this.last + 1)
        this.gaps.push({ expected: this.last + 1, got: message.sequence_num });
      this.last = message.sequence_num;
      this.envelopes.push(message);
      if (message.channel === "l2_data")
        for (const event of message.events as unknown as L2Event[]) this.apply(event);
    });
  }

  static async open(sim: Simulator, decimals = { price: 2, size: 8 }): Promise<CoinbaseClient> {
    return new CoinbaseClient(await RecordingClient.connect(sim.urls.coinbase.ws), decimals);
  }

  private apply(event: L2Event): void {
    if (event.type === "snapshot") this.books.set(event.product_id, { bids: new Map(), asks: new Map() });
    const book = this.books.get(event.product_id)!;
    for (const update of event.updates) {
      const side = update.side === "bid" ? book.bids : book.asks;
      const price = parseScaled(update.price_level, this.decimals.price);
      const size = parseScaled(update.new_quantity, this.decimals.size);
      if (size === 0) side.delete(price);
      else side.set(price, size);
    }
  }

  levels(product: string, side: "bid" | "ask"): [string, string][] {
    const book = this.books.get(product)!;
    const entries = [...(side === "bid" ? book.bids : book.asks)];
    entries.sort((x, y) => (side === "bid" ? y[0] - x[0] : x[0] - y[0]));
    return entries.map(([p, q]) => [
      formatScaled(p, this.decimals.price),
      formatScaled(q, this.decimals.size),
    ]);
  }
}

let sim: Simulator;

beforeAll(() => {
  sim = startSimulator({
    symbols: ["BTC-USD", "ETH-USD"],
    seed: 5,
    updatesPerSecond: 150,
    tradesPerSecond: 30,
    bookLevels: 300,
    coinbase: { subscribeTimeoutMs: 500 },
  });
});

afterAll(async () => {
  await sim.stop();
});

describe("coinbase protocol", () => {
  test("sequence_num from 0, contiguous across l2_data, market_trades, heartbeats and acks", async () => {
    const cb = await CoinbaseClient.open(sim);
    try {
      cb.client.send({ type: "subscribe", product_ids: ["BTC-USD", "ETH-USD"], channel: "level2" });
      cb.client.send({ type: "subscribe", product_ids: ["BTC-USD"], channel: "market_trades" });
      cb.client.send({ type: "subscribe", channel: "heartbeats" });
      await waitFor(
        "heartbeats and 50 frames",
        () => cb.envelopes.some((e) => e.channel === "heartbeats") && cb.envelopes.length > 50,
      );
      expect(cb.envelopes[0]!.sequence_num).toBe(0);
      expect(cb.gaps).toEqual([]);
      const channels = new Set(cb.envelopes.map((e) => e.channel));
      expect([...channels].sort()).toEqual(["heartbeats", "l2_data", "market_trades", "subscriptions"]);
      // Snapshots come first for each product, then the ack.
      expect(cb.envelopes[0]).toMatchObject({
        channel: "l2_data",
        events: [{ type: "snapshot", product_id: "BTC-USD" }],
      });
      expect(cb.envelopes[1]).toMatchObject({
        channel: "l2_data",
        events: [{ type: "snapshot", product_id: "ETH-USD" }],
      });
      expect(cb.envelopes[2]).toMatchObject({
        channel: "subscriptions",
        events: [{ subscriptions: { level2: ["BTC-USD", "ETH-USD"] } }],
      });
      expect(cb.envelopes[0]!.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      // Timestamps follow the wall clock: they advance and stay near now.
      const times = cb.envelopes.map((e) => Date.parse(e.timestamp));
      for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
      expect(times[times.length - 1]!).toBeGreaterThan(times[0]!);
      expect(Math.abs(Date.now() - times[times.length - 1]!)).toBeLessThan(60_000);
      const heartbeat = cb.envelopes.find((e) => e.channel === "heartbeats")!;
      expect(typeof heartbeat.events[0]!.heartbeat_counter).toBe("number");
      const sides = new Set(
        cb.envelopes
          .filter((e) => e.channel === "l2_data")
          .flatMap((e) => (e.events as unknown as L2Event[]).flatMap((ev) => ev.updates.map((u) => u.side))),
      );
      expect([...sides].sort()).toEqual(["bid", "offer"]);
      const trades = cb.envelopes
        .filter((e) => e.channel === "market_trades")
        .flatMap((e) => e.events.flatMap((ev) => ev.trades as Record<string, string>[]));
      for (const trade of trades) {
        expect(trade).toMatchObject({ product_id: "BTC-USD" });
        expect(["BUY", "SELL"]).toContain(trade.side!);
        expect(trade.trade_id).toMatch(/^\d+$/);
        expect(trade.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      }
    } finally {
      cb.client.close();
    }
  });

  test("a book rebuilt from l2_data equals the true book once the symbol is stalled", async () => {
    const cb = await CoinbaseClient.open(sim);
    try {
      cb.client.send({ type: "subscribe", product_ids: ["ETH-USD"], channel: "level2" });
      await waitFor("20 frames", () => cb.envelopes.length >= 20);
      // ETH-USD freezes; this connection carries nothing else, so once it is quiet it holds the truth.
      sim.inject("coinbase", { kind: "stall", durationMs: 5_000 }, "ETH-USD");
      await waitForQuiet(cb.client);
      const truth = (await (
        await fetch(`http://127.0.0.1:${sim.port}/control/book/coinbase/ETH-USD`)
      ).json()) as {
        bids: [string, string][];
        asks: [string, string][];
      };
      expect(cb.levels("ETH-USD", "bid")).toEqual(truth.bids);
      expect(cb.levels("ETH-USD", "ask")).toEqual(truth.asks);
      expect(cb.gaps).toEqual([]);
      expect(truth.bids.length).toBeGreaterThan(100);
    } finally {
      cb.client.close();
    }
  });

  test("a connection that does not subscribe within the deadline is closed; bad requests get errors", async () => {
    const idle = await RecordingClient.connect(sim.urls.coinbase.ws);
    const bad = await RecordingClient.connect(sim.urls.coinbase.ws);
    try {
      bad.send({ type: "subscribe", product_ids: ["BTC-USD"], channels: ["level2"] });
      bad.send({ type: "subscribe", product_ids: ["NOPE-USD"], channel: "level2" });
      bad.send("{");
      await waitFor("three errors", () => bad.json().filter((m) => m.type === "error").length === 3);
      await waitFor("the idle connection to close", () => idle.closed);
      expect(idle.json().some((m) => m.type === "error")).toBe(true);
    } finally {
      idle.close();
      bad.close();
    }
  });

  test("products REST: increments, currency ids, status; unknown product 404", async () => {
    const response = await fetch(`${sim.urls.coinbase.rest}/api/v3/brokerage/market/products/BTC-USD`);
    expect(await response.json()).toMatchObject({
      product_id: "BTC-USD",
      base_currency_id: "BTC",
      quote_currency_id: "USD",
      quote_increment: "0.01",
      base_increment: "0.00000001",
      status: "online",
    });
    expect((await fetch(`${sim.urls.coinbase.rest}/api/v3/brokerage/market/products/NOPE-USD`)).status).toBe(
      404,
    );
  });

  test("same seed, same trades; the side switch flips BUY/SELL between maker and taker meanings", async () => {
    const options = {
      symbols: ["BTC-USD"],
      seed: 99,
      updatesPerSecond: 50,
      tradesPerSecond: 50,
      bookLevels: 100,
    };
    const maker = startSimulator({ ...options, coinbase: { tradeSide: "maker" } });
    const taker = startSimulator({ ...options, coinbase: { tradeSide: "taker" } });
    const collect = async (s: Simulator) => {
      const cb = await CoinbaseClient.open(s);
      cb.client.send({ type: "subscribe", product_ids: ["BTC-USD"], channel: "market_trades" });
      return cb;
    };
    const [a, b] = [await collect(maker), await collect(taker)];
    const trades = (cb: CoinbaseClient) =>
      cb.envelopes
        .filter((e) => e.channel === "market_trades" && e.events[0]!.type === "update")
        .flatMap((e) => (e.events[0]!.trades as Record<string, string>[]).toReversed());
    try {
      await waitFor("20 trades on both", () => trades(a).length >= 20 && trades(b).length >= 20);
      const byId = new Map(trades(b).map((t) => [t.trade_id, t]));
      let compared = 0;
      for (const trade of trades(a)) {
        const twin = byId.get(trade.trade_id!);
        if (twin === undefined) continue;
        compared++;
        expect([twin.price, twin.size]).toEqual([trade.price, trade.size]);
        expect(twin.side).toBe(trade.side === "BUY" ? "SELL" : "BUY");
      }
      expect(compared).toBeGreaterThan(10);
    } finally {
      a.client.close();
      b.client.close();
      await maker.stop();
      await taker.stop();
    }
  });
});

describe("coinbase faults", () => {
  const subscribed = async () => {
    const cb = await CoinbaseClient.open(sim);
    cb.client.send({ type: "subscribe", product_ids: ["BTC-USD"], channel: "level2" });
    await waitFor("10 frames", () => cb.envelopes.length >= 10);
    return cb;
  };

  test("skip-sequence: sequence_num jumps by exactly one", async () => {
    const cb = await subscribed();
    try {
      sim.inject("coinbase", "skip-sequence", "BTC-USD");
      await waitFor("a gap", () => cb.gaps.length > 0);
      expect(cb.gaps[0]!.got).toBe(cb.gaps[0]!.expected + 1);
    } finally {
      cb.client.close();
    }
  });

  test("drop-frame: an l2_data frame is missing and its sequence_num with it", async () => {
    const cb = await subscribed();
    try {
      const before = cb.levels("BTC-USD", "bid").length;
      expect(before).toBeGreaterThan(0);
      sim.inject("coinbase", "drop-frame", "BTC-USD");
      await waitFor("a gap", () => cb.gaps.length > 0);
      expect(cb.gaps[0]!.got).toBe(cb.gaps[0]!.expected + 1);
    } finally {
      cb.client.close();
    }
  });

  test("garbage and disconnect injected over HTTP POST /control/fault", async () => {
    const cb = await subscribed();
    try {
      const post = (body: unknown) =>
        fetch(`http://127.0.0.1:${sim.port}/control/fault`, { method: "POST", body: JSON.stringify(body) });
      expect((await post({ venue: "coinbase", kind: "garbage" })).status).toBe(200);
      await waitFor("a non-JSON frame", () => cb.client.frames.length > cb.client.json().length);
      expect((await post({ venue: "coinbase", kind: "disconnect", symbol: "BTC-USD" })).status).toBe(200);
      await waitFor("the close", () => cb.client.closed);
      const stats = sim.stats().venues.coinbase;
      expect(stats.faultsApplied.garbage).toBeGreaterThanOrEqual(1);
      expect(stats.faultsApplied.disconnect).toBeGreaterThanOrEqual(1);
    } finally {
      cb.client.close();
    }
  });
});
