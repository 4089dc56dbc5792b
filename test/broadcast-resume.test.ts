// Rollout without loss, with real broadcaster processes on the same rings: a client on one that
// gets SIGTERM (1001) resumes on the other with zero missed messages, then on a freshly started
// one; a writer restart reaches it as a "restarted" status and a fresh book, seqs still one
// apart: the new writer carries each topic's count over.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { AlphaPulseClient } from "../src/client/client.ts";
import { formatScaledTrimmed } from "../src/market/decimal.ts";
import type { DataMessage, Level } from "../src/protocol/messages.ts";
import { type BookCopy, RingReader } from "../src/shm/ring-reader.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { broadcasterEnv } from "./support/broadcaster.ts";
import { type BroadcasterProcess, startBroadcasterProcess } from "./support/mode-process.ts";
import { leasePorts } from "./support/ports.ts";
import { httpStatus, waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-resume-${process.pid}`;
const SYMBOLS = [{ venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }];
const MID = 450_000_0;
const BOOK = "book.kraken.BTC-USD";
const TRADES = "trades.kraken.BTC-USD";

const running: BroadcasterProcess[] = [];
let feed: TestFeed;

/** A broadcaster process, ready; on a WebSocket port of its choosing unless given one. */
async function startBroadcaster(websocketPort?: number): Promise<BroadcasterProcess> {
  const settings: Record<string, string> = { BROADCAST_HISTORY: "100000", SHUTDOWN_GRACE_MS: "5000" };
  if (websocketPort !== undefined) settings.WEBSOCKET_PORT = String(websocketPort);
  const started = await startBroadcasterProcess(broadcasterEnv(DIR, settings));
  running.push(started);
  await waitFor(
    `broadcaster ${started.ws} ready`,
    async () => (await httpStatus(`${started.metrics}/ready`)) === 200,
    {
      intervalMs: 20,
    },
  );
  return started;
}

function ringBook(): { bids: Level[]; asks: Level[] } {
  const reader = RingReader.open(`${DIR}/kraken.ring`);
  try {
    const copy = reader.newBookCopy();
    expect(reader.readBook(0, copy)).toBe(true);
    const level = (p: number, s: number): Level => [formatScaledTrimmed(p, 1), formatScaledTrimmed(s, 8)];
    return {
      bids: Array.from({ length: copy.bidCount }, (_, i) => level(copy.bidPrices[i]!, copy.bidSizes[i]!)),
      asks: Array.from({ length: copy.askCount }, (_, i) => level(copy.askPrices[i]!, copy.askSizes[i]!)),
    };
  } finally {
    reader.close();
  }
}

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "kraken", "kraken", SYMBOLS, 10, 1 << 16);
  feed.randomSnapshot(0, seededRandom(11), MID, 5);
});

afterAll(async () => {
  await Promise.all(running.map((b) => b.process.stop("SIGKILL")));
  feed?.close();
  rmSync(DIR, { recursive: true, force: true });
});

test("a client resumes across broadcaster restarts with zero missed messages", async () => {
  const [a, b] = await Promise.all([startBroadcaster(), startBroadcaster()]);
  // The third starts later on a port the client knows from the start, as behind a fixed address.
  const third = leasePorts(1);
  const client = new AlphaPulseClient({
    urls: [a.ws, b.ws, `ws://127.0.0.1:${third.ports[0]}/ws`],
    reconnectDelayMs: 20,
  });
  const received: DataMessage[] = [];
  const closes: number[] = [];
  client.on("message", (message) => received.push(message));
  client.on("close", (code) => closes.push(code));
  await client.connect();
  await client.subscribe([BOOK, TRADES]);

  // The writer runs on a timer throughout, like a collector.
  const random = seededRandom(12);
  let tradesWritten = 0;
  const writer = setInterval(() => {
    for (let i = 0; i < 5; i++) feed.randomUpdate(0, random, MID, 5);
    feed.trade(
      0,
      MID + Math.floor(random() * 100),
      1 + Math.floor(random() * 1e6),
      random() < 0.5,
      1 + tradesWritten++,
    );
  }, 2);
  const tradesSeen = () => received.filter((m) => m.type === "trade").length;
  try {
    await waitFor("100 trades", () => tradesSeen() >= 100);
    expect(await a.process.stop()).toBe(0); // A closes its clients with 1001; the client moves to B
    await waitFor("the client on B", () => client.connections === 2 && tradesSeen() >= tradesWritten - 5);
    third.release();
    await startBroadcaster(third.ports[0]); // a fresh process: it rebuilds the same seqs from the ring
    await waitFor("300 trades", () => tradesSeen() >= 300);
    expect(await b.process.stop()).toBe(0);
    await waitFor("the client on C", () => client.connections === 3 && tradesSeen() >= tradesWritten - 5);
    await waitFor("500 trades", () => tradesSeen() >= 500);
  } finally {
    clearInterval(writer);
    third.release();
  }
  // A topic's seq is its message count: the last trade's seq is the number of trades written.
  await waitFor("the last trade", () => client.lastSeq(TRADES) === tradesWritten);
  await waitFor("the last book message", () => client.lastSeq(BOOK) === ringEntry().bookCount);

  expect(closes.slice(0, 2)).toEqual([1001, 1001]);
  expect(client.gaps).toBe(0);
  // Every trade the writer wrote arrived exactly once, in order, across three broadcasters.
  const trades = received.filter((m) => m.type === "trade").map((m) => m.seq);
  const firstTrade = trades[0]!;
  expect(trades).toEqual(Array.from({ length: tradesWritten - firstTrade + 1 }, (_, i) => firstTrade + i));
  const bookSeqs = received.filter((m) => m.topic === BOOK).map((m) => m.seq);
  expect(bookSeqs).toEqual(Array.from({ length: bookSeqs.length }, (_, i) => bookSeqs[0]! + i));
  // Resumed, not restarted: the only snapshot is the one from the first subscribe.
  expect(received.filter((m) => m.type === "snapshot")).toHaveLength(1);
  const book = client.book(BOOK)!;
  expect({ bids: book.bids(), asks: book.asks() }).toEqual(ringBook());

  // A writer restart: a new generation reaches the client as "restarted", then the new book.
  const before = { book: client.lastSeq(BOOK)!, trades: client.lastSeq(TRADES)! };
  feed.close();
  feed = new TestFeed(DIR, "kraken", "kraken", SYMBOLS, 10, 1 << 16);
  feed.snapshot(0, [[MID - 5, 7]], [[MID + 5, 9]]);
  await waitFor(
    "the new generation's book",
    () => client.book(BOOK)?.hasSnapshot === true && client.book(BOOK)?.bids()[0]?.[1] === "0.00000007",
  );
  const restarted = received.filter((m) => m.type === "status" && m.status === "restarted");
  expect(restarted.map((m) => [m.topic, m.seq])).toEqual([
    [BOOK, before.book + 1],
    [TRADES, before.trades + 1],
  ]);
  const fresh = received.find((m) => m.type === "snapshot" && m.seq > before.book);
  expect(fresh?.seq).toBe(before.book + 2);
  expect(client.book(BOOK)!.asks()).toEqual([["450000.5", "0.00000009"]]);
  expect(client.gaps).toBe(0);
  client.close();
}, 120_000);

function ringEntry(): BookCopy {
  const reader = RingReader.open(`${DIR}/kraken.ring`);
  try {
    const copy = reader.newBookCopy();
    expect(reader.readBook(0, copy)).toBe(true);
    return copy;
  } finally {
    reader.close();
  }
}
