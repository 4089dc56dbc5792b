// The simulator's OKX endpoint seen by a real WebSocket client: REST instruments, subscribe acks,
// books whose seqId chain and (when on) checksums are checked here with the test's own reference,
// the 400-level view against the true book, trades, ping/pong, no-change messages, idle close,
// request limits, SIMULATOR_OKX_CHECKSUMS, and each OKX fault kind as a client observes it.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ConfigError } from "../src/config.ts";
import { formatScaled, parseScaled } from "../src/market/decimal.ts";
import { FaultError } from "../src/simulator/faults.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { readSimulatorOptions } from "../src/simulator/main.ts";
import { type Level, RawBook } from "./support/okx-raw-book.ts";
import { RecordingClient, waitForQuiet } from "./support/simulator-ws-client.ts";
import { waitFor } from "./support/wait.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

interface BooksData {
  asks: string[][];
  bids: string[][];
  ts: string;
  checksum: number;
  prevSeqId: number;
  seqId: number;
}

interface BooksResult {
  instId: string;
  action: string;
  prevSeqId: number;
  seqId: number;
  /** prevSeqId named the last seqId this client saw (-1 for a snapshot). */
  chained: boolean;
  /** null when the checksum was 0 (not sent). */
  checksumOk: boolean | null;
  levels: number;
}

/** A client holding OKX books from the raw strings, checking every message's chain and checksum. */
class OkxClient {
  readonly books = new Map<string, RawBook>();
  readonly results: BooksResult[] = [];
  private readonly lastSeq = new Map<string, number>();

  private constructor(readonly client: RecordingClient) {
    client.onFrame(({ text }) => {
      if (!text.startsWith('{"arg":{"channel":"books"')) return;
      const message = JSON.parse(text) as { arg: { instId: string }; action: string; data: BooksData[] };
      const instId = message.arg.instId;
      for (const data of message.data) {
        if (message.action === "snapshot") this.books.set(instId, new RawBook());
        const book = this.books.get(instId)!;
        book.apply(data);
        const expectedPrev = message.action === "snapshot" ? -1 : this.lastSeq.get(instId);
        this.lastSeq.set(instId, data.seqId);
        this.results.push({
          instId,
          action: message.action,
          prevSeqId: data.prevSeqId,
          seqId: data.seqId,
          chained: data.prevSeqId === expectedPrev,
          checksumOk: data.checksum === 0 ? null : book.checksum() === data.checksum,
          levels: data.asks.length + data.bids.length,
        });
      }
    });
  }

  static async connect(
    sim: Simulator,
    instIds: string[],
    channels = ["books", "trades"],
  ): Promise<OkxClient> {
    const client = new OkxClient(await RecordingClient.connect(sim.urls.okx.ws));
    const args = instIds.flatMap((instId) => channels.map((channel) => ({ channel, instId })));
    client.client.send({ op: "subscribe", args });
    return client;
  }

  updates(from = 0): BooksResult[] {
    return this.results.slice(from).filter((r) => r.action === "update");
  }

  close(): void {
    this.client.close();
  }
}

/** Decimal strings at fixed decimals, as the true book writes them. */
function exact(levels: Level[], priceDecimals: number, sizeDecimals: number): [string, string][] {
  return levels.map(([px, sz]) => [
    formatScaled(parseScaled(px, priceDecimals), priceDecimals),
    formatScaled(parseScaled(sz, sizeDecimals), sizeDecimals),
  ]);
}

let sim: Simulator;
let plain: Simulator;

beforeAll(() => {
  sim = startSimulator({
    port: 0,
    symbols: ["BTC-USDT", "ETH-USDT"],
    seed: 11,
    updatesPerSecond: 200,
    tradesPerSecond: 20,
    // Deeper than OKX's 400-level view: levels come into and leave the view.
    bookLevels: 500,
    okx: { checksums: true },
  });
  plain = startSimulator({
    port: 0,
    symbols: ["BTC-USDT"],
    seed: 12,
    updatesPerSecond: 100,
    bookLevels: 100,
  });
});

afterAll(async () => {
  await sim.stop();
  await plain.stop();
});

describe("okx simulator protocol", () => {
  test("REST instruments: spot ones with tickSz, lotSz and state; instType is required", async () => {
    const answer = (await (
      await fetch(`${sim.urls.okx.rest}/api/v5/public/instruments?instType=SPOT`)
    ).json()) as {
      code: string;
      data: Record<string, string>[];
    };
    expect(answer.code).toBe("0");
    expect(answer.data.find((i) => i.instId === "BTC-USDT")).toMatchObject({
      instType: "SPOT",
      baseCcy: "BTC",
      quoteCcy: "USDT",
      tickSz: "0.1",
      lotSz: "0.00000001",
      state: "live",
    });
    expect(answer.data.find((i) => i.instId === "ETH-USDT")).toMatchObject({
      tickSz: "0.01",
      lotSz: "0.000001",
    });
    const missing = await fetch(`${sim.urls.okx.rest}/api/v5/public/instruments`);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { code: string }).code).toBe("50014");
    const swaps = (await (
      await fetch(`${sim.urls.okx.rest}/api/v5/public/instruments?instType=SWAP`)
    ).json()) as {
      data: unknown[];
    };
    expect(swaps.data).toEqual([]);
  });

  test("acks, a 400-level snapshot, then updates chained by seqId with varying steps and verified checksums", async () => {
    const okx = await OkxClient.connect(sim, ["BTC-USDT", "ETH-USDT"]);
    try {
      await waitFor("60 books messages", () => okx.results.length >= 60);
      const acks = okx.client.json().filter((m) => m.event === "subscribe");
      expect(acks.length).toBe(4);
      expect(acks[0]).toMatchObject({ arg: { channel: "books", instId: "BTC-USDT" } });
      expect(typeof acks[0]!.connId).toBe("string");
      const snapshots = okx.results.filter((r) => r.action === "snapshot");
      expect(snapshots.map((r) => [r.instId, r.prevSeqId])).toEqual([
        ["BTC-USDT", -1],
        ["ETH-USDT", -1],
      ]);
      expect(snapshots.every((r) => r.levels === 800)).toBe(true);
      // A step is however many market events one message carries, so the sizes vary with how
      // the simulator's ticks fall: wait until the chain has shown more than one.
      const stepSizes = () => new Set(okx.updates().map((r) => r.seqId - r.prevSeqId));
      await waitFor("seqId steps of more than one size", () => stepSizes().size > 1);
      const steps = stepSizes();
      expect(steps.size).toBeGreaterThan(1);
      expect([...steps].every((step) => step > 0)).toBe(true);
      expect(okx.results.filter((r) => !r.chained)).toEqual([]);
      expect(okx.results.filter((r) => r.checksumOk !== true)).toEqual([]);
      const update = okx.client.frames.find((f) => f.text.includes('"action":"update"'))!.text;
      expect(update).toMatch(
        /^\{"arg":\{"channel":"books","instId":"[A-Z]+-USDT"\},"action":"update","data":\[\{"asks":\[/,
      );
      expect(update).toMatch(/"ts":"\d{13}","checksum":-?\d+,"prevSeqId":\d+,"seqId":\d+\}\]\}$/);
      expect(update).toMatch(/\["\d+(\.\d*[1-9])?","\d+(\.\d*[1-9])?","0","\d+"\]/);
    } finally {
      okx.close();
    }
  });

  test("a client that keeps every level it is sent holds the true 400-level view", async () => {
    const okx = await OkxClient.connect(sim, ["ETH-USDT"], ["books"]);
    try {
      await waitFor("40 books messages", () => okx.results.length >= 40);
      sim.inject("okx", { kind: "stall", durationMs: 5_000 }, "ETH-USDT");
      await waitForQuiet(okx.client);
      const truth = sim.trueBook("okx", "ETH-USDT", 400);
      const book = okx.books.get("ETH-USDT")!;
      expect(exact(book.sorted(false), 2, 6)).toEqual(truth.bids);
      expect(exact(book.sorted(true), 2, 6)).toEqual(truth.asks);
      expect(truth.bids.length).toBe(400);
      expect(truth.venueSeq).toBe(okx.results.at(-1)!.seqId);
      expect(okx.results.filter((r) => !r.chained || r.checksumOk !== true)).toEqual([]);
    } finally {
      okx.close();
    }
  });

  test("trades: one per message, taker side, tradeId per instrument, plain decimals, ms time", async () => {
    const okx = await OkxClient.connect(sim, ["BTC-USDT"], ["trades"]);
    try {
      const trades = () =>
        okx.client
          .json()
          .filter((m) => (m.arg as { channel?: string } | undefined)?.channel === "trades" && m.data)
          .flatMap((m) => m.data as Record<string, string>[]);
      await waitFor("20 trades", () => trades().length >= 20);
      const list = trades();
      for (let i = 1; i < list.length; i++)
        expect(Number(list[i]!.tradeId)).toBe(Number(list[i - 1]!.tradeId) + 1);
      for (const trade of list) {
        expect(trade.instId).toBe("BTC-USDT");
        expect(["buy", "sell"]).toContain(trade.side!);
        expect(trade.px).toMatch(/^\d+(\.\d*[1-9])?$/);
        expect(trade.ts).toMatch(/^\d{13}$/);
      }
    } finally {
      okx.close();
    }
  });

  test("SIMULATOR_OKX_CHECKSUMS turns real checksums on; anything but true or false is refused by name", () => {
    expect(readSimulatorOptions({}).okx).toEqual({ checksums: false });
    expect(readSimulatorOptions({ SIMULATOR_OKX_CHECKSUMS: "true" }).okx).toEqual({ checksums: true });
    expect(() => readSimulatorOptions({ SIMULATOR_OKX_CHECKSUMS: "sometimes" })).toThrow(ConfigError);
    expect(() => readSimulatorOptions({ SIMULATOR_OKX_CHECKSUMS: "sometimes" })).toThrow(
      /SIMULATOR_OKX_CHECKSUMS/,
    );
  });

  test("checksums are 0 by default, as the live venue sends them, and corrupt-checksum is refused then", async () => {
    const okx = await OkxClient.connect(plain, ["BTC-USDT"], ["books"]);
    try {
      await waitFor("20 books messages", () => okx.results.length >= 20);
      expect(okx.results.every((r) => r.checksumOk === null && r.chained)).toBe(true);
      expect(() => plain.inject("okx", "corrupt-checksum", "BTC-USDT")).toThrow(FaultError);
    } finally {
      okx.close();
    }
  });

  test("ping gets pong; a quiet book gets no-change messages; a connection sent nothing is closed", async () => {
    const quiet = startSimulator({
      port: 0,
      symbols: ["BTC-USDT"],
      updatesPerSecond: 0,
      tradesPerSecond: 0,
      okx: { idleCloseMs: 1_500, quietBookMs: 300 },
    });
    const books = await OkxClient.connect(quiet, ["BTC-USDT"], ["books"]);
    const pinging = await RecordingClient.connect(quiet.urls.okx.ws);
    const silent = await RecordingClient.connect(quiet.urls.okx.ws);
    const pinger = setInterval(() => pinging.send("ping"), 400);
    try {
      pinging.send({ op: "subscribe", args: [{ channel: "trades", instId: "BTC-USDT" }] });
      await waitFor("the silent connection to be closed", () => silent.closed);
      expect(silent.closeCode).toBe(4004);
      await Bun.sleep(1_000);
      expect(pinging.closed).toBe(false);
      expect(pinging.frames.filter((f) => f.text === "pong").length).toBeGreaterThan(3);
      expect(books.client.closed).toBe(false);
      const [snapshot, ...rest] = books.results;
      expect(rest.length).toBeGreaterThan(3);
      for (const r of rest)
        expect([r.prevSeqId, r.seqId, r.levels, r.chained]).toEqual([
          snapshot!.seqId,
          snapshot!.seqId,
          0,
          true,
        ]);
      expect(quiet.stats().venues.okx.details).toMatchObject({ idleClosed: 1 });
    } finally {
      clearInterval(pinger);
      books.close();
      pinging.close();
      silent.close();
      await quiet.stop();
    }
  });

  test("refusals: an unknown instrument, a request that is not one, and the 481st request within the hour", async () => {
    const client = await RecordingClient.connect(plain.urls.okx.ws);
    try {
      const errors = () => client.json().filter((m) => m.event === "error");
      client.send({ op: "subscribe", args: [{ channel: "books", instId: "FOO-BAR" }] });
      client.send("not json");
      await waitFor("two errors", () => errors().length >= 2);
      expect(errors().map((e) => e.code)).toEqual(["60018", "60012"]);
      for (let i = 0; i < 480; i++)
        client.send({ op: "unsubscribe", args: [{ channel: "trades", instId: "BTC-USDT" }] });
      await waitFor("the 481st request refused", () => errors().length >= 3);
      expect(errors()[2]).toMatchObject({ code: "60014" });
      expect(client.json().filter((m) => m.event === "unsubscribe").length).toBe(479);
    } finally {
      client.close();
    }
  });
});

describe("okx simulator faults", () => {
  test("skip-sequence: exactly one update names an id never sent; the levels stay right", async () => {
    const okx = await OkxClient.connect(sim, ["BTC-USDT"], ["books"]);
    try {
      await waitFor("10 books messages", () => okx.results.length >= 10);
      sim.inject("okx", "skip-sequence", "BTC-USDT");
      const from = okx.results.length;
      await waitFor("25 more", () => okx.results.length >= from + 25);
      const broken = okx.updates(from).filter((r) => !r.chained);
      expect(broken.length).toBe(1);
      expect(okx.results.slice(from).every((r) => r.checksumOk === true)).toBe(true);
    } finally {
      okx.close();
    }
  });

  test("sequence-reset: one update restarts the seqIds below the last one, then the chain goes on from there", async () => {
    const okx = await OkxClient.connect(sim, ["BTC-USDT"], ["books"]);
    try {
      await waitFor("10 books messages", () => okx.results.length >= 10);
      sim.inject("okx", "sequence-reset", "BTC-USDT");
      const from = okx.results.length;
      await waitFor("25 more", () => okx.results.length >= from + 25);
      const resets = okx.updates(from).filter((r) => r.seqId < r.prevSeqId);
      expect(resets.length).toBe(1);
      expect(resets[0]!.chained).toBe(true);
      expect(resets[0]!.seqId).toBeLessThan(100);
      expect(okx.results.slice(from).every((r) => r.chained && r.checksumOk === true)).toBe(true);
    } finally {
      okx.close();
    }
  });

  test("drop-frame breaks the chain at the next update; corrupt-checksum fails exactly one checksum", async () => {
    const okx = await OkxClient.connect(sim, ["ETH-USDT"], ["books"]);
    try {
      await waitFor("10 books messages", () => okx.results.length >= 10);
      sim.inject("okx", "corrupt-checksum", "ETH-USDT");
      let from = okx.results.length;
      await waitFor("25 more", () => okx.results.length >= from + 25);
      expect(okx.results.slice(from).filter((r) => r.checksumOk === false).length).toBe(1);
      expect(okx.results.slice(from).every((r) => r.chained)).toBe(true);
      sim.inject("okx", "drop-frame", "ETH-USDT");
      from = okx.results.length;
      await waitFor("an update that does not chain", () => okx.updates(from).some((r) => !r.chained));
    } finally {
      okx.close();
    }
  });

  test("rate-limit refuses the next subscribe with 60014; server-shutdown sends the 64008 notice, then closes", async () => {
    const client = await RecordingClient.connect(sim.urls.okx.ws);
    try {
      sim.inject("okx", "rate-limit", "BTC-USDT");
      client.send({ op: "subscribe", args: [{ channel: "trades", instId: "BTC-USDT" }] });
      client.send({ op: "subscribe", args: [{ channel: "trades", instId: "BTC-USDT" }] });
      await waitFor("an error and an ack", () => client.json().some((m) => m.event === "subscribe"));
      expect(
        client
          .json()
          .map((m) => m.event ?? "data")
          .filter((e) => e !== "data"),
      ).toEqual(["error", "subscribe"]);
      expect(client.json()[0]).toMatchObject({ code: "60014" });
      sim.inject("okx", { kind: "server-shutdown", durationMs: 300 }, "BTC-USDT");
      await waitFor("the close", () => client.closed);
      expect(client.json().find((m) => m.event === "notice")).toMatchObject({ code: "64008" });
    } finally {
      client.close();
    }
  });

  test("garbage, a stalled instrument and disconnect reach the client", async () => {
    const okx = await OkxClient.connect(sim, ["BTC-USDT", "ETH-USDT"], ["books"]);
    try {
      await waitFor("a few messages", () => okx.results.length >= 10);
      sim.inject("okx", "garbage");
      await waitFor("a non-JSON frame", () =>
        okx.client.frames.some((f) => {
          try {
            JSON.parse(f.text);
            return false;
          } catch {
            return true;
          }
        }),
      );
      sim.inject("okx", { kind: "stall", durationMs: 1_000 }, "BTC-USDT");
      const stalledAt = performance.now();
      await Bun.sleep(1_300);
      const btc = okx.client.frames.filter(
        (f) => f.text.includes('"instId":"BTC-USDT"') && f.atMs > stalledAt,
      );
      const gaps = btc.map((f, i) => f.atMs - (i === 0 ? stalledAt : btc[i - 1]!.atMs));
      expect(Math.max(...gaps, 0)).toBeGreaterThan(800);
      expect(okx.results.every((r) => r.chained)).toBe(true);
      sim.inject("okx", "disconnect", "ETH-USDT");
      await waitFor("the connection to close", () => okx.client.closed);
    } finally {
      okx.close();
    }
  });
});
