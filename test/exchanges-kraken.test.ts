// Kraken: the checksum and book engine against real captured frames (ccxt's v2 cases, Kraken's
// documented checksum example, and every update checksum of cryptofeed's v1 depth-1000
// capture), and the v2 adapter end to end into a real ring.
import { afterEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { OrderBook } from "../src/book/order-book.ts";
import { KrakenChecksum } from "../src/exchanges/kraken/checksum.ts";
import { kraken, mapKrakenSymbols } from "../src/exchanges/kraken/venue.ts";
import { UnknownSymbolError } from "../src/exchanges/venue.ts";
import { formatScaled } from "../src/market/decimal.ts";
import { BookStatus, RecordType } from "../src/shm/layout.ts";
import { RecordView, RingReader } from "../src/shm/ring-reader.ts";
import { fixtureText } from "./support/fixtures.ts";
import { KRAKEN_EXAMPLE_CHECKSUM, KRAKEN_EXAMPLE_SNAPSHOT } from "./support/kraken-checksum-example.ts";
import { jsonParseCalls, VenueHarness } from "./support/venue-harness.ts";

const PAIRS = [
  { symbol: "BTC/USD", base: "BTC", quote: "USD", pricePrecision: 1, qtyPrecision: 8 },
  { symbol: "DOGE/USDT", base: "DOGE", quote: "USDT", pricePrecision: 5, qtyPrecision: 8 },
];

const harnesses: VenueHarness[] = [];
function harness(symbols: string[], depth = 10): VenueHarness {
  const h = new VenueHarness(kraken, mapKrakenSymbols(symbols, PAIRS), { depth });
  harnesses.push(h);
  return h;
}
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

interface CcxtCase {
  description: string;
  messages: unknown[];
  parsedResponse?: { bids: [number, number][]; asks: [number, number][] };
  parsedResponses?: { bids: [number, number][]; asks: [number, number][] }[];
}

describe("kraken checksum", () => {
  test("Kraken's documented example gives 3310070434", async () => {
    const h = harness(["BTC-USD"]);
    h.feed(KRAKEN_EXAMPLE_SNAPSHOT);
    expect(h.counters.total(h.counters.checksumMismatches)).toBe(0);
    expect(new KrakenChecksum().of(h.publisher.books[0]!)).toBe(KRAKEN_EXAMPLE_CHECKSUM);
    expect(h.publisher.isValid(0)).toBe(true);
    // The exact qty text survived: 0.10000000 at 8 decimals, not a rounded double.
    expect(h.top(0, false, 1)).toEqual([[452835, 10000000]]);
  });

  test("every ccxt v2 book case verifies and ends equal to ccxt's parsed book", async () => {
    const fixture = JSON.parse(await fixtureText("ccxt/kraken.json")) as {
      methods: { watchOrderBook: CcxtCase[] };
    };
    let checked = 0;
    for (const c of fixture.methods.watchOrderBook) {
      const isDoge = JSON.stringify(c.messages).includes("DOGE/USDT");
      const h = harness([isDoge ? "DOGE-USDT" : "BTC-USD"]);
      // ccxt's parsedResponses hold the book after the first book frame; parsedResponse after the last.
      const states: { bids: [number, number][]; asks: [number, number][] }[] = [];
      for (const message of c.messages) {
        h.feed(JSON.stringify(message));
        if ((message as { channel?: string }).channel !== "book") continue;
        states.push({ bids: h.top(0, false, 10), asks: h.top(0, true, 10) });
        if ((message as { data?: { checksum?: number }[] }).data?.[0]?.checksum !== undefined) checked++;
      }
      expect(h.counters.total(h.counters.checksumMismatches)).toBe(0);
      expect(h.publisher.isValid(0)).toBe(true);
      const parsed = c.parsedResponse ?? c.parsedResponses?.[0];
      const ours = c.parsedResponse ? states.at(-1) : states[0];
      if (parsed === undefined || ours === undefined) throw new Error(`case ${c.description} has no result`);
      const pd = isDoge ? 5 : 1;
      const scale = (levels: [number, number][]) =>
        levels.map(([p, q]): [number, number] => [Math.round(p * 10 ** pd), Math.round(q * 1e8)]);
      expect(ours.bids).toEqual(scale(parsed.bids));
      expect(ours.asks).toEqual(scale(parsed.asks));
    }
    expect(checked).toBeGreaterThanOrEqual(13);
  });

  test("a corrupted checksum invalidates the book in the ring and resubscribes it alone", async () => {
    const h = harness(["BTC-USD", "DOGE-USDT"]);
    h.open();
    const snapshot = KRAKEN_EXAMPLE_SNAPSHOT;
    h.feed(snapshot);
    expect(h.publisher.isValid(0)).toBe(true);
    const sentBefore = h.sent.length;
    const update = JSON.stringify({
      channel: "book",
      type: "update",
      data: [
        {
          symbol: "BTC/USD",
          bids: [{ price: 45283.5, qty: 0.2 }],
          asks: [],
          checksum: 12345,
          timestamp: "2023-10-06T17:35:55.440295Z",
        },
      ],
    });
    h.feed(update);
    expect(h.publisher.isValid(0)).toBe(false);
    expect(h.counters.checksumMismatches[0]).toBe(1);
    expect(h.counters.resyncs[0]).toBe(1);
    const resync = h.sent
      .slice(sentBefore)
      .map((s) => JSON.parse(s) as { method: string; params: { symbol: string[] } });
    expect(resync.map((r) => r.method)).toEqual(["unsubscribe", "subscribe"]);
    expect(resync.every((r) => r.params.symbol.join() === "BTC/USD")).toBe(true);
    const reader = RingReader.open(h.writer.path, "oldest");
    const copy = reader.newBookCopy();
    expect(reader.readBook(0, copy)).toBe(true);
    expect(copy.status).toBe(BookStatus.Invalid);
    const types: number[] = [];
    reader.poll({ record: (r) => void types.push(r.type), gap: () => {} }, new RecordView());
    expect(types.at(-1)).toBe(RecordType.BookStatus);
    reader.close();
    // A fresh snapshot makes it valid again.
    h.feed(snapshot);
    expect(h.publisher.isValid(0)).toBe(true);
  });
});

describe("kraken v1 capture (cryptofeed, depth 1000, 10 pairs)", () => {
  test("every update checksum reproduces from a book rebuilt from the raw strings", async () => {
    const lines = (await fixtureText("cryptofeed/KRAKEN.ws.50.0")).split("\n");
    const books = new Map<string, { book: OrderBook; checksum: KrakenChecksum; pd: number; sd: number }>();
    let updates = 0;
    let snapshots = 0;
    const decimalsOf = (s: string) => (s.includes(".") ? s.length - s.indexOf(".") - 1 : 0);
    const scaled = (s: string, d: number) => {
      const [whole = "", frac = ""] = s.split(".");
      return Number(whole + frac.padEnd(d, "0"));
    };
    for (const line of lines) {
      const colon = line.indexOf(": ");
      if (colon < 0 || line.includes(" <- ")) continue;
      const frame: unknown = JSON.parse(line.slice(colon + 2));
      if (!Array.isArray(frame)) continue;
      const pair = frame.at(-1) as string;
      const parts = frame.slice(1, -2) as Record<string, string[][] | string>[];
      const first = parts[0]!;
      if ("as" in first || "bs" in first) {
        const asks = first.as as string[][];
        const bids = first.bs as string[][];
        const sample = asks[0] ?? bids[0]!;
        const entry = {
          book: new OrderBook(1000),
          checksum: new KrakenChecksum(),
          pd: decimalsOf(sample[0]!),
          sd: decimalsOf(sample[1]!),
        };
        for (const [p, v] of asks) entry.book.asks.set(scaled(p!, entry.pd), scaled(v!, entry.sd));
        for (const [p, v] of bids) entry.book.bids.set(scaled(p!, entry.pd), scaled(v!, entry.sd));
        books.set(pair, entry);
        snapshots++;
        continue;
      }
      const entry = books.get(pair);
      if (!entry) throw new Error(`update before snapshot for ${pair}`);
      let checksum: string | undefined;
      for (const part of parts) {
        for (const [key, levels] of Object.entries(part)) {
          if (key === "c") checksum = levels as string;
          else
            for (const [p, v] of levels as string[][]) {
              entry.book.side(key === "a").set(scaled(p!, entry.pd), scaled(v!, entry.sd));
            }
        }
      }
      entry.book.truncate(1000);
      expect(checksum).toBeDefined();
      expect(entry.checksum.of(entry.book)).toBe(Number(checksum));
      updates++;
    }
    expect(snapshots).toBe(10);
    expect(updates).toBe(4269);
  });
});

describe("kraken symbols and frames", () => {
  test("symbols map from instrument pairs, and an unknown one is a clear error", () => {
    expect(mapKrakenSymbols(["BTC-USD"], PAIRS)[0]).toEqual({
      venueSymbol: "BTC/USD",
      symbol: "BTC-USD",
      priceDecimals: 1,
      sizeDecimals: 8,
    });
    expect(() => mapKrakenSymbols(["FOO-BAR"], PAIRS)).toThrow(UnknownSymbolError);
    expect(() => mapKrakenSymbols(["FOO-BAR"], PAIRS)).toThrow(/FOO-BAR/);
    expect(() => mapKrakenSymbols(["btcusd"], PAIRS)).toThrow(/BASE-QUOTE/);
  });

  test("trades carry the taker side, exact sizes, and are deduplicated by id", async () => {
    const h = harness(["BTC-USD"]);
    const text = await fixtureText("nautilus/kraken/ws_trade_update.json");
    h.feed(text);
    h.feed(text);
    const reader = RingReader.open(h.writer.path, "oldest");
    const trades: { price: number; size: number; flags: number; aux: number }[] = [];
    reader.poll(
      {
        record: (r) => void trades.push({ price: r.price, size: r.size, flags: r.flags, aux: r.aux }),
        gap: () => {},
      },
      new RecordView(),
    );
    reader.close();
    expect(trades.map((t) => [t.price, t.size, t.flags & 1, t.aux])).toEqual([
      [1059442, 27625, 0, 10218208],
      [1059105, 12460, 1, 10218209],
    ]);
    expect(h.publisher.trades[0]!.duplicates).toBe(2);
  });
});

describe("kraken checksum cache", () => {
  test("the cached checksum equals a fresh computation after every random change", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            isAsk: fc.boolean(),
            price: fc.integer({ min: 1, max: 40 }),
            size: fc.integer({ min: 0, max: 30 }),
          }),
          { maxLength: 200 },
        ),
        (ops) => {
          const book = new OrderBook(25);
          const cached = new KrakenChecksum();
          for (const op of ops) {
            book.side(op.isAsk).set(op.isAsk ? 100 + op.price : op.price, op.size);
            expect(cached.of(book)).toBe(new KrakenChecksum().of(book));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** Kraken's checksum text of a model book, built as strings (independent of KrakenChecksum). */
function modelChecksum(bids: Map<number, number>, asks: Map<number, number>): number {
  const top = (side: Map<number, number>, ascending: boolean) =>
    [...side.entries()]
      .sort(([a], [b]) => (ascending ? a - b : b - a))
      .slice(0, 10)
      .map(([price, size]) => `${price}${size}`)
      .join("");
  return Bun.hash.crc32(top(asks, true) + top(bids, false));
}

function truncateModel(side: Map<number, number>, bestIsHigh: boolean): void {
  const kept = [...side.keys()].sort((a, b) => (bestIsHigh ? b - a : a - b)).slice(0, 10);
  for (const price of [...side.keys()]) if (!kept.includes(price)) side.delete(price);
}

describe("kraken book fast path", () => {
  test("reads exactly what the JSON path reads; a spaced or malformed frame takes the JSON path", () => {
    // BTC/USD: price precision 1, qty precision 8. Numbers are written as Kraken does.
    const level = (price: number, size: number) =>
      `{"price":${formatScaled(price, 1)},"qty":${formatScaled(size, 8)}}`;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            isAsk: fc.boolean(),
            offset: fc.integer({ min: 1, max: 30 }),
            // Up to 2^53 - 1: sizes past 2^31 take the checksum's wide digit path.
            size: fc.oneof(
              fc.constant(0),
              fc.integer({ min: 1, max: 2 ** 40 }),
              fc.constant(Number.MAX_SAFE_INTEGER),
            ),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (changes) => {
          const fast = harness(["BTC-USD"]);
          const slow = harness(["BTC-USD"]);
          const bids = new Map<number, number>();
          const asks = new Map<number, number>();
          const mid = 600_000;
          for (let i = 1; i <= 10; i++) {
            bids.set(mid - i, i * 1_000_000);
            asks.set(mid + i, i * 3_000_000);
          }
          const side = (levels: Map<number, number>) =>
            [...levels.entries()].map(([p, q]) => level(p, q)).join(",");
          const frame = (type: string, bidText: string, askText: string) =>
            `{"channel":"book","type":"${type}","data":[{"symbol":"BTC/USD","bids":[${bidText}],"asks":[${askText}],"checksum":${modelChecksum(bids, asks)},"timestamp":"2026-11-27T09:35:55.440295Z"}]}`;
          const feedBoth = (text: string) => {
            expect(jsonParseCalls(() => fast.feed(text))).toBe(0);
            // A blank after a key's colon: still JSON, no longer the compact layout.
            expect(jsonParseCalls(() => slow.feed(text.replace('"bids":[', '"bids": [')))).toBeGreaterThan(0);
          };
          feedBoth(frame("snapshot", side(bids), side(asks)));
          for (const { isAsk, offset, size } of changes) {
            const price = isAsk ? mid + offset : mid - offset;
            const levels = isAsk ? asks : bids;
            if (size === 0) levels.delete(price);
            else levels.set(price, size);
            truncateModel(bids, true);
            truncateModel(asks, false);
            const text = level(price, size);
            feedBoth(frame("update", isAsk ? "" : text, isAsk ? text : ""));
            expect(fast.top(0, false, 10)).toEqual(slow.top(0, false, 10));
            expect(fast.top(0, true, 10)).toEqual(slow.top(0, true, 10));
          }
          const model = (levels: Map<number, number>, bestIsHigh: boolean) =>
            [...levels.entries()].sort(([a], [b]) => (bestIsHigh ? b - a : a - b));
          expect(fast.top(0, false, 10)).toEqual(model(bids, true));
          expect(fast.top(0, true, 10)).toEqual(model(asks, false));
          for (const h of [fast, slow]) {
            expect(h.counters.total(h.counters.checksumMismatches)).toBe(0);
            expect(h.publisher.isValid(0)).toBe(true);
          }
          const records = (h: VenueHarness) => {
            const reader = RingReader.open(h.writer.path, "oldest");
            const out: number[][] = [];
            reader.poll(
              {
                record: (r) => void out.push([r.type, r.flags, r.price, r.size, r.aux, r.exchangeNsec]),
                gap: () => {},
              },
              new RecordView(),
            );
            reader.close();
            return out;
          };
          expect(records(fast)).toEqual(records(slow));
          for (const h of harnesses.splice(0)) h.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  test("near misses of the compact layout are judged by the JSON path: errors counted, book invalidated", () => {
    const h = harness(["BTC-USD"]);
    const bids = new Map([[452835, 10_000_000]]);
    const asks = new Map([[452840, 20_000_000]]);
    const snapshot = `{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000}],"asks":[{"price":45284.0,"qty":0.20000000}],"checksum":${modelChecksum(bids, asks)},"timestamp":"2026-11-27T09:35:55.440295Z"}]}`;
    const update = (qty: string) =>
      `{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":${qty}}],"asks":[],"checksum":1,"timestamp":"2026-11-27T09:35:55.440295Z"}]}`;
    const cases: [string, string][] = [
      [update("0.123456789"), "bad_decimal"], // more decimals than the instrument has
      [update("01.5"), "malformed"], // not a JSON number
      [update("0.5").slice(0, -3), "malformed"], // cut short
    ];
    for (const [text, kind] of cases) {
      expect(jsonParseCalls(() => h.feed(snapshot))).toBe(0);
      expect(h.publisher.isValid(0)).toBe(true);
      const before = h.counters.parseErrors.get(kind)!;
      expect(jsonParseCalls(() => h.feed(text))).toBeGreaterThan(0);
      expect(h.counters.parseErrors.get(kind)).toBe(before + 1);
      if (kind === "bad_decimal") expect(h.publisher.isValid(0)).toBe(false);
    }
  });
});
