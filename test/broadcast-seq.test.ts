// Topic seqs count messages without holes and are the same on every broadcaster: one that was
// there from the ring's first record and one that attached after the ring wrapped (starting
// from the latest-book entries) send the very same messages under the same seqs.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import WebSocket from "ws";
import { ConnectionState, StatusReason } from "../src/shm/layout.ts";
import { RingReader } from "../src/shm/ring-reader.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster, tearDown } from "./support/broadcaster.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-seq-${process.pid}`;
const SYMBOLS = [
  { venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  { venueSymbol: "ETH/USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 8 },
];
const MIDS = [450_000_0, 300_000];
const TOPICS = SYMBOLS.flatMap(({ symbol }) => [
  `book.kraken.${symbol}`,
  `trades.kraken.${symbol}`,
  `bbo.kraken.${symbol}`,
]).concat("status.kraken");

let feed: TestFeed;
const broadcasters: LoopbackBroadcaster[] = [];

function start(): LoopbackBroadcaster {
  const broadcaster = startTestBroadcaster(DIR);
  broadcasters.push(broadcaster);
  return broadcaster;
}

/** Subscribes every topic; resolves with the ack and the list every later message lands in. */
async function subscribe(broadcaster: LoopbackBroadcaster): Promise<{
  socket: WebSocket;
  ack: { seqs: Record<string, number> };
  messages: Array<{ text: string; topic: string; seq: number; type: string; status?: string }>;
}> {
  const socket = new WebSocket(broadcaster.ws);
  const messages: Array<{ text: string; topic: string; seq: number; type: string; status?: string }> = [];
  let ack: { seqs: Record<string, number> } | null = null;
  socket.on("message", (data) => {
    const text = String(data);
    const message = JSON.parse(text);
    if (message.type === "ack") ack = message;
    else messages.push({ text, ...message });
  });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ op: "subscribe", topics: TOPICS }));
  await waitFor("the ack", () => ack !== null);
  return { socket, ack: ack!, messages };
}

/** A stretch of market: book changes, trades, now and then a lost book and its resync. */
async function market(random: () => number, batches: number): Promise<void> {
  for (let i = 0; i < batches; i++) {
    const id = i % SYMBOLS.length;
    const mid = MIDS[id]!;
    feed.randomUpdate(id, random, mid, 5);
    if (random() < 0.4) feed.trade(id, mid + 5, 1 + Math.floor(random() * 1e6), random() < 0.5, i + 1);
    if (i % 997 === 500) {
      feed.invalidate(id, 2, StatusReason.SequenceGap);
      feed.snapshot(id, [[mid - 5, 1 + i]], [[mid + 5, 2 + i]]);
    }
    if (i % 1500 === 700) feed.connection(ConnectionState.Reconnecting, StatusReason.Stale);
    if (i % 1500 === 701) feed.connection(ConnectionState.Connected, StatusReason.None);
    if (i % 100 === 99) await Bun.sleep(1); // the in-process broadcasters read meanwhile
  }
}

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "kraken", "kraken", SYMBOLS, 10, 1024);
  feed.connection(ConnectionState.Connected, StatusReason.None);
  SYMBOLS.forEach((_, id) => {
    const mid = MIDS[id]!;
    const levels = (sign: number) =>
      Array.from({ length: 20 }, (_, i): [number, number] => [mid + sign * (i + 1) * 5, 1000 + i]);
    feed.snapshot(id, levels(-1), levels(1));
  });
});

afterAll(() => tearDown(DIR, broadcasters, [feed]));

test("a broadcaster that attached after the ring wrapped numbers every topic as one there from the start", async () => {
  const random = seededRandom(41);
  const early = await subscribe(start());
  await market(random, 6000); // ~8,000 records: the 1,024-slot ring wraps many times
  const ring = RingReader.open(`${DIR}/kraken.ring`);
  expect(ring.oldestSeq()).toBeGreaterThan(1);
  ring.close();

  const late = await subscribe(start());
  // Both stand at the same position on every topic: the writer's counts.
  const lastSeqs = (list: typeof early.messages) =>
    Object.fromEntries(TOPICS.map((topic) => [topic, list.filter((m) => m.topic === topic).at(-1)?.seq]));
  await waitFor("the first to stand where the late one started", () =>
    Bun.deepEquals(lastSeqs(early.messages), late.ack.seqs),
  );

  await market(random, 3000);
  await waitFor("both at the same seqs", () =>
    Bun.deepEquals(lastSeqs(early.messages), lastSeqs(late.messages)),
  );

  // After that position both sent the very same texts: same seqs, same content.
  const sentAfterAck = (list: typeof early.messages) =>
    list.filter((m) => m.seq > late.ack.seqs[m.topic]!).map((m) => m.text);
  expect(sentAfterAck(late.messages)).toEqual(sentAfterAck(early.messages));
  expect(sentAfterAck(late.messages).length).toBeGreaterThan(3000);

  // And on each topic every message is the last one's seq + 1, across the whole run.
  for (const topic of TOPICS) {
    const seqs = early.messages.filter((m) => m.topic === topic).map((m) => m.seq);
    // A subscriber's first message restates the position (seq == ack position) or follows it.
    const start = early.ack.seqs[topic]!;
    const expected = Array.from({ length: seqs.length }, (_, i) =>
      seqs[0] === start ? start + i : start + 1 + i,
    );
    expect({ topic, seqs }).toEqual({ topic, seqs: expected });
  }
  early.socket.close();
  late.socket.close();
}, 60_000);
