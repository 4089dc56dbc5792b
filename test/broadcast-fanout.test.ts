// Fan-out to 1,000 SDK clients in four load-generator processes, every message checked: each
// client's sequence chain has no hole, every client ends on the ring's final seq and book, and
// the clients together received exactly the deliveries the broadcaster counted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type { WorkerSpec } from "../bench/fanout-client.ts";
import { LoadGenerators } from "../bench/fanout-workers.ts";
import { formatScaledTrimmed } from "../src/market/decimal.ts";
import { RingReader } from "../src/shm/ring-reader.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster } from "./support/broadcaster.ts";

const DIR = `/dev/shm/ap-test-broadcast-fanout-${process.pid}`;
const CLIENTS = 1000;
const PROCESSES = 4;
const SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"].map((symbol) => ({
  venueSymbol: symbol.replace("-", "/"),
  symbol,
  priceDecimals: 2,
  sizeDecimals: 8,
}));
const MID = 1_000_000;

let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;
let generators: LoadGenerators | null = null;

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "kraken", "kraken", SYMBOLS, 10, 1 << 16);
  const random = seededRandom(31);
  SYMBOLS.forEach((_, id) => {
    feed.randomSnapshot(id, random, MID, 10);
  });
  broadcaster = startTestBroadcaster(DIR, {
    SHUTDOWN_GRACE_MS: "5000",
  });
});

afterAll(async () => {
  generators?.kill();
  await broadcaster?.stop();
  feed?.close();
  rmSync(DIR, { recursive: true, force: true });
});

async function deliveries(): Promise<number> {
  const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(/^alphapulse_broadcast_messages_sent_total\{[^}]*\} (\S+)$/gm))
    total += Number(match[1]);
  return total;
}

/** The digest a load generator computes for a client's book, from the ring's latest-book entry. */
function ringDigest(symbolId: number): string {
  const reader = RingReader.open(`${DIR}/kraken.ring`);
  try {
    const copy = reader.newBookCopy();
    expect(reader.readBook(symbolId, copy)).toBe(true);
    const level = (p: number, s: number) => [formatScaledTrimmed(p, 2), formatScaledTrimmed(s, 8)];
    const bids = Array.from({ length: copy.bidCount }, (_, i) =>
      level(copy.bidPrices[i]!, copy.bidSizes[i]!),
    );
    const asks = Array.from({ length: copy.askCount }, (_, i) =>
      level(copy.askPrices[i]!, copy.askSizes[i]!),
    );
    return `${copy.bookCount} ${Bun.hash(JSON.stringify([bids, asks])).toString(36)}`;
  } finally {
    reader.close();
  }
}

test("1,000 clients in four processes each get every message, in order, and end on the ring's book", async () => {
  const topicSets = SYMBOLS.map(({ symbol }) => [
    `book.kraken.${symbol}`,
    `trades.kraken.${symbol}`,
    `bbo.kraken.${symbol}`,
  ]);
  const specs: WorkerSpec[] = Array.from({ length: PROCESSES }, (_, i) => ({
    url: broadcaster.ws,
    clients: CLIENTS / PROCESSES,
    topicSets,
    firstClient: (i * CLIENTS) / PROCESSES,
    mode: "verify",
  }));
  generators = new LoadGenerators(specs);
  await generators.ready();
  expect(broadcaster.server.clientCount()).toBe(CLIENTS);
  const before = await deliveries();
  await generators.start();

  const random = seededRandom(32);
  const tradesWritten = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const id = i % SYMBOLS.length;
    feed.randomUpdate(id, random, MID, 10);
    if (i % 3 === 0) {
      feed.trade(id, MID + (i % 7), 1000 + i, i % 2 === 0, i + 1);
      tradesWritten.set(id, (tradesWritten.get(id) ?? 0) + 1);
    }
    if (i % 20 === 0) await Bun.sleep(5); // a feed's pace, not one burst
  }
  // Every client must reach the final seq of each of its topics.
  await Bun.sleep(50);
  const targets: Record<string, number> = {};
  for (const [name, topic] of broadcaster.hub.topics)
    if (!name.startsWith("status.")) targets[name] = topic.position;
  // A topic's seq counts its messages: the last trade's seq is the number of trades written.
  SYMBOLS.forEach(({ symbol }, id) => {
    expect(targets[`trades.kraken.${symbol}`]).toBe(tradesWritten.get(id)!);
    expect(targets[`book.kraken.${symbol}`]).toBe(feed.writer.counts(id).book);
  });
  const reports = await generators.stop(targets);
  generators = null;

  let received = 0;
  for (const report of reports) {
    expect(report.connected).toBe(CLIENTS / PROCESSES);
    expect(report.gaps).toBe(0);
    expect(report.closes).toEqual({});
    received += report.messages;
  }
  // Each topic: all clients of it in one state, the ring's.
  SYMBOLS.forEach(({ symbol }, id) => {
    const book: Record<string, number> = {};
    for (const report of reports) {
      for (const [state, count] of Object.entries(report.states[`book.kraken.${symbol}`] ?? {})) {
        book[state] = (book[state] ?? 0) + count;
      }
    }
    expect(book).toEqual({ [ringDigest(id)]: CLIENTS / SYMBOLS.length });
  });
  expect(received).toBe((await deliveries()) - before);
  expect(received).toBeGreaterThan(CLIENTS * 100); // about 100 book, 33 trade and some bbo messages each
}, 180_000);
