// What keeps the broadcaster's memory flat when thousands of clients (re)connect at once:
// subscribers between two ring polls share one starting snapshot, and it is never stale: a
// client that subscribes after an update gets the updated book.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import WebSocket from "ws";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster, tearDown } from "./support/broadcaster.ts";

const DIR = `/dev/shm/ap-test-broadcast-memory-${process.pid}`;
const TOPIC = "book.kraken.BTC-USD";
const MID = 4_500_000;

let feed: TestFeed;
let broadcaster: LoopbackBroadcaster;

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(
    DIR,
    "kraken",
    "kraken",
    [{ venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }],
    10,
  );
  feed.randomSnapshot(0, seededRandom(7), MID, 5, 20);
  broadcaster = startTestBroadcaster(DIR);
});

afterAll(() => tearDown(DIR, [broadcaster], [feed]));

/** Opens a client, subscribes to TOPIC and resolves with the raw text of its snapshot. */
function subscribeForSnapshot(): Promise<{ socket: WebSocket; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(broadcaster.ws);
    socket.on("error", reject);
    socket.on("open", () => socket.send(JSON.stringify({ op: "subscribe", topics: [TOPIC] })));
    socket.on("message", (data) => {
      const text = String(data);
      if ((JSON.parse(text) as { type: string }).type === "snapshot") resolve({ socket, text });
    });
  });
}

/** The book levels of a snapshot text, as a comparable value. */
function levels(text: string): unknown {
  const message = JSON.parse(text) as { seq: number; bids: unknown; asks: unknown };
  return { bids: message.bids, asks: message.asks };
}

test("a burst of subscribers gets one snapshot; a subscriber after an update gets the new book", async () => {
  const burst = await Promise.all(Array.from({ length: 50 }, () => subscribeForSnapshot()));
  const first = burst[0]!.text;
  for (const { text } of burst) expect(levels(text)).toEqual(levels(first));
  const before = JSON.parse(first) as { seq: number; bids: [string, string][] };
  expect(before.bids).toHaveLength(10); // the ring carries the top 10

  // An update: a new best bid. Wait until a subscriber has its delta, then subscribe anew.
  const newBid = MID - 1;
  const delta = new Promise<{ seq: number }>((resolve) => {
    burst[0]!.socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string; seq: number };
      if (message.type === "delta") resolve(message);
    });
  });
  feed.update(0, [{ ask: false, price: newBid, size: 12_345 }]);
  const { seq } = await delta;
  const late = await subscribeForSnapshot();
  const after = JSON.parse(late.text) as { seq: number; bids: [string, string][] };
  expect(after.seq).toBe(seq);
  expect(after.bids[0]).toEqual(["449999.9", "0.00012345"]);
  expect(after.bids.slice(1)).toEqual(before.bids.slice(0, 9));
  for (const { socket } of [...burst, late]) socket.close();
});
