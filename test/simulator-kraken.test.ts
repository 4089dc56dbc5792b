// The simulator's Kraken v2 endpoint seen by a real WebSocket client: protocol shapes, every book
// checksum recomputed here from the received levels (independently of the simulator's code), the
// true-book endpoint against the rebuilt book, and each Kraken fault kind as a client observes it.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { formatScaled, parseScaled } from "../src/market/decimal.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { fixtureText } from "./support/fixtures.ts";
import { KRAKEN_EXAMPLE_SNAPSHOT } from "./support/kraken-checksum-example.ts";
import { RecordingClient, waitForQuiet } from "./support/simulator-ws-client.ts";
import { waitFor } from "./support/wait.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

/** Kraken's checksum (docs/exchanges/kraken.md), written here from the spec, not imported. */
function krakenChecksum(
  asks: [number, number][],
  bids: [number, number][],
  priceDecimals: number,
  qtyDecimals: number,
): number {
  const digits = (value: number, decimals: number) =>
    formatScaled(value, decimals).replace(".", "").replace(/^0+/, "");
  let text = "";
  for (const [price, qty] of asks.slice(0, 10))
    text += digits(price, priceDecimals) + digits(qty, qtyDecimals);
  for (const [price, qty] of bids.slice(0, 10))
    text += digits(price, priceDecimals) + digits(qty, qtyDecimals);
  return Bun.hash.crc32(text) >>> 0;
}

/** Kraken v2 sends prices and quantities as JSON numbers: as strings before JSON.parse, no digit is lost. */
function parseExact(text: string): Record<string, unknown> {
  return JSON.parse(text.replace(/"(price|qty)":\s*(-?[0-9][0-9.eE+-]*)/g, '"$1":"$2"')) as Record<
    string,
    unknown
  >;
}

interface BookData {
  symbol: string;
  bids: { price: string; qty: string }[];
  asks: { price: string; qty: string }[];
  checksum: number;
}

interface Pair {
  priceDecimals: number;
  qtyDecimals: number;
}

/** A client-side Kraken book: absolute levels, truncated to the subscribed depth after each message. */
class ClientBook {
  bids = new Map<number, number>();
  asks = new Map<number, number>();
  checked = 0;
  mismatches = 0;
  constructor(
    readonly depth: number,
    readonly pair: Pair,
  ) {}

  apply(data: BookData): boolean {
    for (const [levels, side] of [
      [data.bids, this.bids],
      [data.asks, this.asks],
    ] as const) {
      for (const { price, qty } of levels) {
        const p = parseScaled(price, this.pair.priceDecimals);
        const q = parseScaled(qty, this.pair.qtyDecimals);
        if (q === 0) side.delete(p);
        else side.set(p, q);
      }
    }
    this.bids = new Map(this.sorted("bid").slice(0, this.depth));
    this.asks = new Map(this.sorted("ask").slice(0, this.depth));
    this.checked++;
    const sum = krakenChecksum(
      this.sorted("ask"),
      this.sorted("bid"),
      this.pair.priceDecimals,
      this.pair.qtyDecimals,
    );
    if (sum !== data.checksum) this.mismatches++;
    return sum === data.checksum;
  }

  sorted(side: "bid" | "ask"): [number, number][] {
    const entries = [...(side === "bid" ? this.bids : this.asks)];
    return entries.sort((a, b) => (side === "bid" ? b[0] - a[0] : a[0] - b[0]));
  }

  asStrings(side: "bid" | "ask"): [string, string][] {
    return this.sorted(side).map(([p, q]) => [
      formatScaled(p, this.pair.priceDecimals),
      formatScaled(q, this.pair.qtyDecimals),
    ]);
  }
}

/** Subscribes to instrument + books and keeps one ClientBook per symbol, checking every checksum. */
async function bookClient(sim: Simulator, symbols: string[], depth: number) {
  const client = await RecordingClient.connect(sim.urls.kraken.ws);
  const pairs = new Map<string, Pair>();
  const books = new Map<string, ClientBook>();
  const results: { symbol: string; ok: boolean; type: string }[] = [];
  client.onFrame(({ text }) => {
    let message: Record<string, unknown>;
    try {
      message = parseExact(text);
    } catch {
      return;
    }
    if (message.channel === "instrument") {
      const data = message.data as {
        pairs: { symbol: string; price_precision: number; qty_precision: number }[];
      };
      for (const pair of data.pairs) {
        pairs.set(pair.symbol, { priceDecimals: pair.price_precision, qtyDecimals: pair.qty_precision });
      }
    }
    if (message.channel === "book") {
      for (const item of message.data as BookData[]) {
        if (message.type === "snapshot")
          books.set(item.symbol, new ClientBook(depth, pairs.get(item.symbol)!));
        const ok = books.get(item.symbol)!.apply(item);
        results.push({ symbol: item.symbol, ok, type: String(message.type) });
      }
    }
  });
  client.send({ method: "subscribe", params: { channel: "instrument", snapshot: true }, req_id: 1 });
  client.send({ method: "subscribe", params: { channel: "book", symbol: symbols, depth }, req_id: 2 });
  return { client, books, results, pairs };
}

let sim: Simulator;

beforeAll(() => {
  sim = startSimulator({
    symbols: ["BTC-USD", "ETH-USD", "DOGE-USDT"],
    seed: 7,
    updatesPerSecond: 200,
    tradesPerSecond: 20,
    bookLevels: 300,
  });
});

afterAll(async () => {
  await sim.stop();
});

describe("kraken checksum reference", () => {
  test("the test's own checksum reproduces Kraken's documented example (3310070434)", async () => {
    const snapshot = parseExact(KRAKEN_EXAMPLE_SNAPSHOT);
    const data = (snapshot.data as BookData[])[0]!;
    const book = new ClientBook(10, { priceDecimals: 1, qtyDecimals: 8 });
    expect(book.apply(data)).toBe(true);
    expect(data.checksum).toBe(3310070434);
  });

  test("the test's own checksum verifies every checksum in ccxt's recorded 2026 Kraken v2 frames", async () => {
    // Parsed exactly, so exponent tokens such as 5.1e-05 stay exact text.
    const cases = parseExact(await fixtureText("ccxt/kraken.json")) as {
      methods: { watchOrderBook: { messages: { channel?: string; type?: string; data?: BookData[] }[] }[] };
    };
    const precision: Record<string, Pair> = {
      "BTC/USD": { priceDecimals: 1, qtyDecimals: 8 },
      "DOGE/USDT": { priceDecimals: 5, qtyDecimals: 8 },
    };
    let verified = 0;
    for (const { messages } of cases.methods.watchOrderBook) {
      let book: ClientBook | undefined;
      for (const message of messages) {
        if (message.channel !== "book") continue;
        const data = message.data![0]!;
        if (message.type === "snapshot") book = new ClientBook(10, precision[data.symbol]!);
        const ok = book!.apply(data);
        if (data.checksum === undefined) continue;
        expect(ok).toBe(true);
        verified++;
      }
    }
    expect(verified).toBe(14);
  });
});

describe("kraken protocol", () => {
  test("status, acks, instrument, snapshot and updates whose checksums all recompute", async () => {
    const { client, books, results, pairs } = await bookClient(sim, ["BTC/USD", "ETH/USD", "DOGE/USDT"], 10);
    try {
      await waitFor("150 checked book messages", () => results.length >= 150);
      const messages = client.json();
      expect(messages[0]).toMatchObject({ channel: "status", type: "update" });
      const acks = messages.filter((m) => m.method === "subscribe");
      expect(acks.length).toBe(4);
      for (const ack of acks) {
        expect(ack).toMatchObject({ success: true });
        expect(typeof ack.time_in).toBe("string");
        expect(typeof ack.time_out).toBe("string");
      }
      expect(acks[1]).toMatchObject({
        req_id: 2,
        result: { channel: "book", depth: 10, snapshot: true, symbol: "BTC/USD" },
      });
      expect(pairs.get("BTC/USD")).toEqual({ priceDecimals: 1, qtyDecimals: 8 });
      expect(pairs.get("DOGE/USDT")).toEqual({ priceDecimals: 5, qtyDecimals: 8 });
      expect(results.filter((r) => r.type === "snapshot").length).toBe(3);
      expect(results.filter((r) => !r.ok)).toEqual([]);
      for (const book of books.values()) {
        expect(book.bids.size).toBe(10);
        expect(book.asks.size).toBe(10);
      }
      // Numbers are JSON numbers, never strings, and updates carry an RFC3339 timestamp.
      const update = client.frames.find(
        (f) => f.text.includes('"type":"update"') && f.text.includes('"price":'),
      )!;
      expect(update.text).toMatch(/"price":\d/);
      expect(update.text).toMatch(/"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"/);
      const stamps = client.frames
        .map((f) => /"timestamp":"([^"]+)"/.exec(f.text)?.[1])
        .filter((t) => t !== undefined)
        .map((t) => Date.parse(t));
      expect(stamps[stamps.length - 1]!).toBeGreaterThan(stamps[0]!);
      expect(Math.abs(Date.now() - stamps[stamps.length - 1]!)).toBeLessThan(60_000);
    } finally {
      client.close();
    }
  });

  test("depth 25 books stay within depth and their checksums recompute; the true book matches", async () => {
    const { client, books, results } = await bookClient(sim, ["ETH/USD"], 25);
    try {
      await waitFor("100 checked book messages", () => results.length >= 100);
      // The market of ETH-USD is frozen while stalled: once frames stop, the client must hold the truth.
      sim.inject("kraken", { kind: "stall", durationMs: 5_000 }, "ETH-USD");
      await waitForQuiet(client);
      const truth = (await (
        await fetch(`http://127.0.0.1:${sim.port}/control/book/kraken/ETH-USD?depth=25`)
      ).json()) as {
        bids: [string, string][];
        asks: [string, string][];
      };
      const book = books.get("ETH/USD")!;
      expect(book.asStrings("bid")).toEqual(truth.bids);
      expect(book.asStrings("ask")).toEqual(truth.asks);
      expect(truth.bids.length).toBe(25);
      expect(results.filter((r) => !r.ok)).toEqual([]);
    } finally {
      client.close();
    }
  });

  test("depth 10 and depth 100 subscribers of one symbol each hold the true book at their depth", async () => {
    const shallow = await bookClient(sim, ["DOGE/USDT"], 10);
    const deep = await bookClient(sim, ["DOGE/USDT"], 100);
    try {
      await waitFor(
        "40 checked messages each",
        () => shallow.results.length >= 40 && deep.results.length >= 40,
      );
      sim.inject("kraken", { kind: "stall", durationMs: 5_000 }, "DOGE-USDT");
      await waitForQuiet(shallow.client);
      await waitForQuiet(deep.client);
      for (const [depth, { books, results }] of [
        [10, shallow],
        [100, deep],
      ] as const) {
        const truth = sim.trueBook("kraken", "DOGE-USDT", depth);
        const book = books.get("DOGE/USDT")!;
        expect(book.asStrings("bid")).toEqual(truth.bids);
        expect(book.asStrings("ask")).toEqual(truth.asks);
        expect(truth.bids.length).toBe(depth);
        expect(results.filter((r) => !r.ok)).toEqual([]);
      }
    } finally {
      shallow.client.close();
      deep.client.close();
    }
  });

  test("trade snapshot and updates: taker side, sequential trade_id, ord_type, RFC3339 time", async () => {
    const client = await RecordingClient.connect(sim.urls.kraken.ws);
    try {
      client.send({
        method: "subscribe",
        params: { channel: "trade", symbol: ["BTC/USD"], snapshot: true },
        req_id: 9,
      });
      const trades = () =>
        client
          .json()
          .filter((m) => m.channel === "trade")
          .flatMap((m) => m.data as Record<string, unknown>[]);
      await waitFor("30 trades", () => trades().length >= 30);
      const list = trades();
      for (let i = 1; i < list.length; i++)
        expect(list[i]!.trade_id).toBe((list[i - 1]!.trade_id as number) + 1);
      for (const trade of list) {
        expect(["buy", "sell"]).toContain(trade.side as string);
        expect(["limit", "market"]).toContain(trade.ord_type as string);
        expect(typeof trade.price).toBe("number");
        expect(trade.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      }
      expect(client.json().find((m) => m.channel === "trade")).toMatchObject({ type: "snapshot" });
    } finally {
      client.close();
    }
  });

  test("ping/pong, heartbeat when idle, unknown pair and bad depth are refused, unsubscribe", async () => {
    const quiet = startSimulator({
      symbols: ["BTC-USD"],
      updatesPerSecond: 0,
      tradesPerSecond: 0,
    });
    const client = await RecordingClient.connect(quiet.urls.kraken.ws);
    try {
      client.send({ method: "ping", req_id: 101 });
      client.send({ method: "subscribe", params: { channel: "book", symbol: ["XBT/EUR"] }, req_id: 3 });
      client.send({
        method: "subscribe",
        params: { channel: "book", symbol: ["BTC/USD"], depth: 7 },
        req_id: 4,
      });
      client.send({ method: "subscribe", params: { channel: "trade", symbol: ["BTC/USD"] }, req_id: 5 });
      client.send("not json");
      await waitFor(
        "two heartbeats",
        () => client.json().filter((m) => m.channel === "heartbeat").length >= 2,
      );
      client.send({ method: "unsubscribe", params: { channel: "trade", symbol: ["BTC/USD"] }, req_id: 6 });
      await waitFor("unsubscribe ack", () => client.json().some((m) => m.req_id === 6));
      const messages = client.json();
      expect(messages.find((m) => m.method === "pong")).toMatchObject({ req_id: 101 });
      expect(messages.find((m) => m.req_id === 3)).toMatchObject({ success: false, symbol: "XBT/EUR" });
      expect(messages.find((m) => m.req_id === 4)).toMatchObject({ success: false });
      expect(messages.find((m) => m.req_id === 5)).toMatchObject({ success: true });
      expect(messages.find((m) => m.req_id === 6)).toMatchObject({ method: "unsubscribe", success: true });
      expect(messages.some((m) => m.success === false && m.req_id === undefined)).toBe(true);
    } finally {
      client.close();
      await quiet.stop();
    }
  });
});

describe("kraken faults", () => {
  test("corrupt-checksum: exactly one update fails its checksum, the book stays right", async () => {
    const { client, results } = await bookClient(sim, ["BTC/USD"], 10);
    try {
      await waitFor("20 book messages", () => results.length >= 20);
      sim.inject("kraken", "corrupt-checksum", "BTC-USD");
      const from = results.length;
      await waitFor("40 more book messages", () => results.length >= from + 40);
      expect(results.filter((r) => !r.ok).length).toBe(1);
    } finally {
      client.close();
    }
  });

  test("drop-frame: a later checksum no longer matches the client's book", async () => {
    const { client, results } = await bookClient(sim, ["BTC/USD"], 10);
    try {
      await waitFor("20 book messages", () => results.length >= 20);
      const before = sim.stats().venues.kraken.faultsApplied["drop-frame"] ?? 0;
      // Updates carry absolute sizes: later frames that happen to set every level the dropped one
      // changed heal the client's book before any checksum shows it (rare). Then drop another.
      let injected = 0;
      while (!results.some((r) => !r.ok) && injected < 5) {
        sim.inject("kraken", "drop-frame", "BTC-USD");
        injected++;
        await waitFor(
          "the drop",
          () => sim.stats().venues.kraken.faultsApplied["drop-frame"] === before + injected,
        );
        const from = results.length;
        await waitFor(
          "a mismatch, or 20 frames matching after the drop",
          () => results.some((r) => !r.ok) || results.length >= from + 20,
        );
      }
      expect(results.some((r) => !r.ok)).toBe(true);
      expect(sim.stats().venues.kraken.faultsApplied["drop-frame"]).toBe(before + injected);
    } finally {
      client.close();
    }
  });

  test("garbage and disconnect reach the client", async () => {
    const { client, results } = await bookClient(sim, ["ETH/USD"], 10);
    try {
      await waitFor("a snapshot", () => results.length >= 1);
      sim.inject("kraken", "garbage");
      await waitFor("a non-JSON frame", () =>
        client.frames.some((f) => {
          try {
            JSON.parse(f.text);
            return false;
          } catch {
            return true;
          }
        }),
      );
      sim.inject("kraken", "disconnect", "ETH-USD");
      await waitFor("the connection to close", () => client.closed);
      expect(sim.stats().venues.kraken.faultsInjected).toMatchObject({ garbage: 1, disconnect: 1 });
    } finally {
      client.close();
    }
  });

  test("stall of the whole venue: no frame at all for its duration, then frames again", async () => {
    const { client, results } = await bookClient(sim, ["BTC/USD"], 10);
    try {
      await waitFor("20 book messages", () => results.length >= 20);
      const injectedAt = performance.now();
      sim.inject("kraken", { kind: "stall", durationMs: 1_200 });
      // A client that subscribes during the stall gets its acks and snapshot when it ends.
      const late = await bookClient(sim, ["ETH/USD"], 10);
      const count = client.frames.length;
      await waitFor("frames after the stall", () => client.frames.length > count + 5);
      await waitFor("the late client's snapshot and updates", () => late.results.length >= 5);
      expect(late.client.frames[0]!.atMs - injectedAt).toBeGreaterThan(1_000);
      expect(late.client.json()[0]).toMatchObject({ channel: "status" });
      expect(late.results.filter((r) => !r.ok)).toEqual([]);
      late.client.close();
      // Frames already in flight may still land just after the injection: look for the silence.
      const times = [injectedAt, ...client.frames.filter((f) => f.atMs > injectedAt).map((f) => f.atMs)];
      let longestGap = 0;
      for (let i = 1; i < times.length; i++) longestGap = Math.max(longestGap, times[i]! - times[i - 1]!);
      expect(longestGap).toBeGreaterThan(1_000);
      expect(results.filter((r) => !r.ok)).toEqual([]);
    } finally {
      client.close();
    }
  });
});
