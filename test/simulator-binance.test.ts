// The simulator's Binance endpoints seen by real clients: exchangeInfo, the official local-book
// procedure (REST snapshot + buffered diffs, U/u continuity on every event) ending equal to the
// true book, trades, raw streams and live SUBSCRIBE, server pings, the message-rate limit, and the
// Binance faults (skip-sequence, drop-frame, rate-limit, ban, server-shutdown) as a client sees them.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import WebSocketClient from "ws";
import { parseScaled } from "../src/market/decimal.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { RecordingClient, waitFor } from "./simulator-ws-client.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

const PORT = 19210;
const SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USD"];

interface DepthUpdate {
  e: string;
  s: string;
  U: number;
  u: number;
  b: [string, string][];
  a: [string, string][];
}

/** A client's Binance book, kept with the procedure of PROTOCOLS.md 2.3, counting gaps. */
class LocalBook {
  bids = new Map<string, string>();
  asks = new Map<string, string>();
  bookId = 0;
  synced = false;
  gaps: { expected: number; got: number }[] = [];
  applied = 0;
  readonly buffer: DepthUpdate[] = [];

  load(snapshot: { lastUpdateId: number; bids: [string, string][]; asks: [string, string][] }): void {
    this.bids = new Map(snapshot.bids);
    this.asks = new Map(snapshot.asks);
    this.bookId = snapshot.lastUpdateId;
    const pending = this.buffer.filter((event) => event.u > this.bookId);
    this.buffer.length = 0;
    const first = pending[0];
    if (first !== undefined && !(first.U <= this.bookId + 1 && this.bookId + 1 <= first.u)) {
      throw new Error(`first event ${first.U}..${first.u} does not cover ${this.bookId + 1}`);
    }
    this.synced = true;
    for (const event of pending) this.apply(event);
  }

  onEvent(event: DepthUpdate): void {
    if (!this.synced) this.buffer.push(event);
    else this.apply(event);
  }

  private apply(event: DepthUpdate): void {
    if (event.u < this.bookId) return;
    if (event.U !== this.bookId + 1) this.gaps.push({ expected: this.bookId + 1, got: event.U });
    for (const [levels, side] of [
      [event.b, this.bids],
      [event.a, this.asks],
    ] as const) {
      for (const [price, qty] of levels) {
        if (parseScaled(qty, 8) === 0) side.delete(price);
        else side.set(price, qty);
      }
    }
    this.bookId = event.u;
    this.applied++;
  }

  /** Levels best first, as [price, qty] decimal strings normalized to `decimals`. */
  levels(side: "bid" | "ask", priceDecimals: number, sizeDecimals: number): [string, string][] {
    const entries = [...(side === "bid" ? this.bids : this.asks)].map(
      ([p, q]) => [parseScaled(p, priceDecimals), parseScaled(q, sizeDecimals)] as const,
    );
    entries.sort((x, y) => (side === "bid" ? y[0] - x[0] : x[0] - y[0]));
    return entries.map(([p, q]) => [scaledText(p, priceDecimals), scaledText(q, sizeDecimals)]);
  }
}

function scaledText(value: number, decimals: number): string {
  const digits = String(value).padStart(decimals + 1, "0");
  return decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

let sim: Simulator;
const rest = () => sim.urls.binance.rest;

beforeAll(() => {
  sim = startSimulator({
    port: PORT,
    symbols: SYMBOLS,
    seed: 11,
    updatesPerSecond: 150,
    tradesPerSecond: 30,
    bookLevels: 300,
    binance: { pingIntervalMs: 300 },
  });
});

afterAll(async () => {
  await sim.stop();
});

/** Combined-stream client keeping one LocalBook per symbol, synced from REST after buffering. */
async function syncedClient(symbols: string[]) {
  const streams = symbols
    .flatMap((s) => [`${s.toLowerCase()}@depth@100ms`, `${s.toLowerCase()}@trade`])
    .join("/");
  const client = await RecordingClient.connect(`${sim.urls.binance.ws}/stream?streams=${streams}`);
  const books = new Map(symbols.map((s) => [s, new LocalBook()]));
  const trades: Record<string, unknown>[] = [];
  client.onFrame(({ text }) => {
    const message = JSON.parse(text) as { stream: string; data: Record<string, unknown> };
    if (message.data.e === "depthUpdate") books.get(message.data.s as string)!.onEvent(message.data as never);
    if (message.data.e === "trade") trades.push({ ...message.data, stream: message.stream });
  });
  for (const symbol of symbols) {
    const book = books.get(symbol)!;
    await waitFor(`a buffered ${symbol} event`, () => book.buffer.length > 0);
    const response = await fetch(`${rest()}/api/v3/depth?symbol=${symbol}&limit=1000`);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-mbx-used-weight-1m")).toMatch(/^\d+$/);
    book.load((await response.json()) as never);
  }
  return { client, books, trades };
}

describe("binance REST", () => {
  test("exchangeInfo by symbols=[...] and symbol=, with PRICE_FILTER and LOT_SIZE; unknown symbols refused", async () => {
    const info = (await (
      await fetch(`${rest()}/api/v3/exchangeInfo?symbols=["BTCUSDT","SOLUSD"]`)
    ).json()) as {
      symbols: { symbol: string; baseAsset: string; quoteAsset: string; filters: Record<string, string>[] }[];
    };
    expect(info.symbols.map((s) => [s.symbol, s.baseAsset, s.quoteAsset])).toEqual([
      ["BTCUSDT", "BTC", "USDT"],
      ["SOLUSD", "SOL", "USD"],
    ]);
    const btc = info.symbols[0]!;
    expect(btc.filters.find((f) => f.filterType === "PRICE_FILTER")!.tickSize).toBe("0.01000000");
    expect(btc.filters.find((f) => f.filterType === "LOT_SIZE")!.stepSize).toBe("0.00001000");
    const one = (await (await fetch(`${rest()}/api/v3/exchangeInfo?symbol=ETHUSDT`)).json()) as typeof info;
    expect(one.symbols[0]!.filters.find((f) => f.filterType === "LOT_SIZE")!.stepSize).toBe("0.00010000");
    const unknown = await fetch(`${rest()}/api/v3/exchangeInfo?symbol=NOPEUSDT`);
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { code: number }).code).toBe(-1121);
    const depthUnknown = await fetch(`${rest()}/api/v3/depth?symbol=NOPEUSDT`);
    expect(depthUnknown.status).toBe(400);
  });

  test("depth snapshot: strings with 8 decimals, limit respected, weight by limit", async () => {
    const before = Number((await fetch(`${rest()}/api/v3/ping`)).headers.get("x-mbx-used-weight-1m"));
    const response = await fetch(`${rest()}/api/v3/depth?symbol=BTCUSDT&limit=5`);
    const body = (await response.json()) as {
      lastUpdateId: number;
      bids: [string, string][];
      asks: [string, string][];
    };
    const after = Number(response.headers.get("x-mbx-used-weight-1m"));
    // Weight 5 for limit <= 100 (a minute boundary in between would reset it: then it is just 5).
    expect([before + 5, 5]).toContain(after);
    expect(body.bids.length).toBe(5);
    expect(body.asks.length).toBe(5);
    expect(body.bids[0]![0]).toMatch(/^\d+\.\d{8}$/);
    expect(body.asks[0]![1]).toMatch(/^\d+\.\d{8}$/);
    expect(Number.isInteger(body.lastUpdateId)).toBe(true);
  });
});

describe("binance streams", () => {
  test("diffs chain with U/u onto the REST snapshot for every event, and end equal to the true book", async () => {
    const { client, books, trades } = await syncedClient(["BTCUSDT", "ETHUSDT"]);
    try {
      await waitFor("15 applied events per symbol", () => [...books.values()].every((b) => b.applied >= 15));
      // Only BTCUSDT freezes (ETHUSDT keeps flowing): wait until its events stop for 400 ms.
      sim.inject("binance", { kind: "stall", durationMs: 5_000 }, "BTC-USDT");
      const book = books.get("BTCUSDT")!;
      let applied = book.applied;
      let changedAt = performance.now();
      await waitFor("BTCUSDT events to stop", () => {
        if (book.applied !== applied) {
          applied = book.applied;
          changedAt = performance.now();
        }
        return performance.now() - changedAt >= 400;
      });
      const truth = sim.trueBook("binance", "BTC-USDT");
      expect(book.bookId).toBe(truth.venueSeq);
      expect(book.levels("bid", 2, 5)).toEqual(truth.bids);
      expect(book.levels("ask", 2, 5)).toEqual(truth.asks);
      for (const b of books.values()) expect(b.gaps).toEqual([]);
      // Trades: sequential t per symbol, m boolean, strings with 8 decimals, combined-stream names.
      const btcTrades = trades.filter((t) => t.s === "BTCUSDT");
      expect(btcTrades.length).toBeGreaterThan(3);
      for (let i = 1; i < btcTrades.length; i++)
        expect(btcTrades[i]!.t).toBe((btcTrades[i - 1]!.t as number) + 1);
      for (const trade of btcTrades) {
        expect(trade.stream).toBe("btcusdt@trade");
        expect(typeof trade.m).toBe("boolean");
        expect(trade.p).toMatch(/^\d+\.\d{8}$/);
        expect(trade.q).toMatch(/^\d+\.\d{8}$/);
      }
    } finally {
      client.close();
    }
  });

  test("raw /ws/<stream>, live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS, and a bad request", async () => {
    const raw = await RecordingClient.connect(`${sim.urls.binance.ws}/ws/ethusdt@trade`);
    const live = await RecordingClient.connect(`${sim.urls.binance.ws}/ws`);
    try {
      await waitFor("a raw trade", () => raw.json().some((m) => m.e === "trade"));
      expect(raw.json()[0]).toMatchObject({ e: "trade", s: "ETHUSDT" });
      live.send({ method: "SUBSCRIBE", params: ["solusd@depth@100ms"], id: 1 });
      await waitFor("a live depth event", () => live.json().some((m) => m.e === "depthUpdate"));
      live.send({ method: "LIST_SUBSCRIPTIONS", id: "list-2" });
      live.send({ method: "UNSUBSCRIBE", params: ["solusd@depth@100ms"], id: 3 });
      live.send({ method: "FROBNICATE", id: 4 });
      await waitFor("four replies", () => live.json().filter((m) => "id" in m).length >= 4);
      const replies = live.json().filter((m) => "id" in m);
      expect(replies[0]).toEqual({ result: null, id: 1 });
      expect(replies[1]).toEqual({ result: ["solusd@depth@100ms"], id: "list-2" });
      expect(replies[2]).toEqual({ result: null, id: 3 });
      expect(replies[3]).toMatchObject({ error: { code: 2 }, id: 4 });
    } finally {
      raw.close();
      live.close();
    }
  });

  test("the server pings; more than 5 messages a second closes the connection", async () => {
    const client = new WebSocketClient(`${sim.urls.binance.ws}/ws/btcusdt@trade`);
    let pings = 0;
    client.on("ping", () => pings++);
    await new Promise((resolve) => client.once("open", resolve));
    await waitFor("two server pings", () => pings >= 2);
    client.close();
    const flooder = await RecordingClient.connect(`${sim.urls.binance.ws}/ws`);
    for (let id = 1; id <= 7; id++) flooder.send({ method: "LIST_SUBSCRIPTIONS", id });
    await waitFor("the flooding connection to close", () => flooder.closed);
    expect(flooder.json().filter((m) => "id" in m).length).toBe(5);
  });
});

describe("binance connection limits", () => {
  test("a connection is closed when its lifetime (24 h on Binance) runs out", async () => {
    const short = startSimulator({
      port: PORT + 3,
      symbols: ["BTC-USDT"],
      binance: { connectionLifetimeMs: 400 },
    });
    const client = await RecordingClient.connect(`${short.urls.binance.ws}/ws/btcusdt@trade`);
    try {
      await waitFor("the lifetime close", () => client.closed);
      expect(client.closeCode).toBe(1000);
    } finally {
      client.close();
      await short.stop();
    }
  });
});

describe("binance faults", () => {
  test("skip-sequence: the next event starts at previous u + 2", async () => {
    const { client, books } = await syncedClient(["ETHUSDT"]);
    try {
      const book = books.get("ETHUSDT")!;
      await waitFor("5 applied events", () => book.applied >= 5);
      sim.inject("binance", "skip-sequence", "ETH-USDT");
      await waitFor("a gap", () => book.gaps.length > 0);
      expect(book.gaps[0]!.got).toBe(book.gaps[0]!.expected + 1);
    } finally {
      client.close();
    }
  });

  test("drop-frame: a whole depthUpdate is missing, so U jumps", async () => {
    const { client, books } = await syncedClient(["ETHUSDT"]);
    try {
      const book = books.get("ETHUSDT")!;
      await waitFor("5 applied events", () => book.applied >= 5);
      sim.inject("binance", "drop-frame", "ETH-USDT");
      await waitFor("a gap", () => book.gaps.length > 0);
      expect(book.gaps[0]!.got).toBeGreaterThan(book.gaps[0]!.expected);
    } finally {
      client.close();
    }
  });

  test("server-shutdown: the combined stream gets !serverShutdown, then the server closes", async () => {
    const client = await RecordingClient.connect(`${sim.urls.binance.ws}/stream?streams=solusd@trade`);
    try {
      sim.inject("binance", { kind: "server-shutdown", durationMs: 300 });
      await waitFor("the close", () => client.closed);
      const event = client.json().find((m) => m.stream === "!serverShutdown");
      expect(event).toMatchObject({ data: { e: "serverShutdown" } });
    } finally {
      client.close();
    }
  });

  test("rate-limit then ban: 429 with Retry-After, an early retry earns 418, both counted", async () => {
    const own = startSimulator({ port: PORT + 1, symbols: ["BTC-USDT"], updatesPerSecond: 10 });
    try {
      const url = `${own.urls.binance.rest}/api/v3/depth?symbol=BTCUSDT&limit=10`;
      own.inject("binance", { kind: "rate-limit", durationMs: 2_000 });
      const limited = await fetch(url);
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toBe("2");
      const early = await fetch(url);
      expect(early.status).toBe(418);
      expect(Number(early.headers.get("retry-after"))).toBeGreaterThan(0);
      const stats = own.stats().venues.binance;
      expect(stats.details).toMatchObject({ rateLimited: 1, retryAfterViolations: 1 });
      expect(stats.faultsApplied["rate-limit"]).toBe(1);

      const fresh = startSimulator({ port: PORT + 2, symbols: ["BTC-USDT"], updatesPerSecond: 10 });
      try {
        fresh.inject("binance", { kind: "ban", durationMs: 1_000 }, "BTC-USDT");
        const banned = await fetch(`${fresh.urls.binance.rest}/api/v3/depth?symbol=BTCUSDT`);
        expect(banned.status).toBe(418);
        expect(banned.headers.get("retry-after")).toBe("1");
        await Bun.sleep(1_100);
        expect((await fetch(`${fresh.urls.binance.rest}/api/v3/depth?symbol=BTCUSDT`)).status).toBe(200);
      } finally {
        await fresh.stop();
      }
    } finally {
      await own.stop();
    }
  });
});
