// Binance: the official depth sync on cryptofeed's real capture (BINANCE.ws.1.0 with its REST
// snapshots BINANCE.http.0.0, and the Binance.US pair): every symbol syncs, no gap, and the
// book read back from the ring agrees with Binance's own bookTicker whenever both describe
// the same update id. Plus gap handling, trades and exchangeInfo mapping.
import { afterEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { TokenBucket } from "../src/collector/budget.ts";
import { parseCapture, RecordedRest } from "../src/collector/capture.ts";
import { binance, parseExchangeInfo } from "../src/exchanges/binance/venue.ts";
import { formatScaled } from "../src/market/decimal.ts";
import { BookStatus, type SymbolSpec } from "../src/shm/layout.ts";
import { RecordView, RingReader } from "../src/shm/ring-reader.ts";
import { fixtureText } from "./support/fixtures.ts";
import { jsonParseCalls, VenueHarness } from "./support/venue-harness.ts";
import { waitFor } from "./support/wait.ts";

const harnesses: VenueHarness[] = [];
const readers: RingReader[] = [];
afterEach(() => {
  for (const r of readers.splice(0)) r.close();
  for (const h of harnesses.splice(0)) h.close();
});

function specsFor(venueSymbols: string[], quotes: string[]): SymbolSpec[] {
  return venueSymbols.map((venueSymbol) => {
    const quote = quotes.find((q) => venueSymbol.endsWith(q))!;
    return {
      venueSymbol,
      symbol: `${venueSymbol.slice(0, -quote.length)}-${quote}`,
      priceDecimals: 8,
      sizeDecimals: 8,
    };
  });
}

async function replayCapture(wsFile: string, httpFile: string, depth: number) {
  const entries = parseCapture(await fixtureText(wsFile));
  const rest = new RecordedRest(parseCapture(await fixtureText(httpFile)));
  const venueSymbols = [
    ...new Set(
      entries.flatMap((e) =>
        e.kind === "frame" ? [...e.text.matchAll(/"s":"([A-Z0-9]+)"/g)].map((m) => m[1]!) : [],
      ),
    ),
  ];
  const specs = specsFor(venueSymbols, ["USDT", "USD", "ETH", "BTC", "EUR"]);
  const h = new VenueHarness(binance, specs, { depth, rest });
  harnesses.push(h);
  h.open();
  const reader = RingReader.open(h.writer.path, "oldest");
  readers.push(reader);
  const copy = reader.newBookCopy();
  const lastU = new Map<string, number>();
  let tickerMatches = 0;
  for (const entry of entries) {
    if (entry.kind !== "frame") continue;
    const sec = Math.floor(entry.epoch);
    h.feed(entry.text, sec, Math.round((entry.epoch - sec) * 1e9));
    await rest.settled();
    const data = (JSON.parse(entry.text) as { data: Record<string, unknown> }).data;
    if (data.e === "depthUpdate") lastU.set(data.s as string, data.u as number);
    // bookTicker: {u, s, b, B, a, A}. When the published book is at exactly that update id, the tops agree.
    if (data.e === undefined && typeof data.u === "number") {
      const id = specs.findIndex((s) => s.venueSymbol === data.s);
      const view = h.publisher.views[id]!;
      if (h.publisher.isValid(id) && h.publisher.venueSeq[id] === data.u) {
        expect(view.bids.prices[0]).toBe(Number((data.b as string).replace(".", "")));
        expect(view.bids.sizes[0]).toBe(Number((data.B as string).replace(".", "")));
        expect(view.asks.prices[0]).toBe(Number((data.a as string).replace(".", "")));
        expect(view.asks.sizes[0]).toBe(Number((data.A as string).replace(".", "")));
        tickerMatches++;
      }
    }
  }
  return { h, specs, reader, copy, lastU, tickerMatches };
}

describe("binance depth sync on real captures", () => {
  for (const [ws, http] of [
    ["cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"],
    ["cryptofeed/BINANCE_US.ws.1.0", "cryptofeed/BINANCE_US.http.0.0"],
  ] as const) {
    test(`${ws}: every symbol syncs with no gap and ends exact`, async () => {
      const { h, specs, reader, copy, lastU } = await replayCapture(ws, http, 100);
      expect(h.counters.total(h.counters.sequenceGaps)).toBe(0);
      expect(h.counters.totalParseErrors()).toBe(0);
      for (const spec of specs) {
        const id = specs.indexOf(spec);
        if (!lastU.has(spec.venueSymbol)) continue;
        expect(reader.readBook(id, copy)).toBe(true);
        expect(copy.status).toBe(BookStatus.Valid);
        // Every event up to the last one was applied.
        expect(copy.venueSeq).toBe(lastU.get(spec.venueSymbol)!);
        expect(copy.bidPrices[0]!).toBeLessThan(copy.askPrices[0]!);
        // The ring's view equals the exact book's top.
        expect(Array.from(copy.bidPrices.subarray(0, copy.bidCount))).toEqual(
          h.top(id, false, 100).map(([p]) => p),
        );
      }
    });
  }

  test("a skipped update id is a gap: that symbol alone goes invalid and resyncs", async () => {
    const { h, specs, reader, copy } = await replayCapture(
      "cryptofeed/BINANCE.ws.1.0",
      "cryptofeed/BINANCE.http.0.0",
      10,
    );
    const nkn = specs.findIndex((s) => s.venueSymbol === "NKNUSDT");
    const lrc = specs.findIndex((s) => s.venueSymbol === "LRCBTC");
    expect(reader.readBook(nkn, copy)).toBe(true);
    const u = copy.venueSeq;
    h.feed(
      JSON.stringify({
        stream: "nknusdt@depth@100ms",
        data: { e: "depthUpdate", E: 1633998600000, s: "NKNUSDT", U: u + 5, u: u + 6, b: [], a: [] },
      }),
    );
    expect(h.counters.sequenceGaps[nkn]).toBe(1);
    expect(h.counters.resyncs[nkn]).toBe(1);
    expect(h.publisher.isValid(nkn)).toBe(false);
    expect(h.publisher.isValid(lrc)).toBe(true);
    expect(reader.readBook(nkn, copy)).toBe(true);
    expect(copy.status).toBe(BookStatus.Invalid);
  });
});

describe("binance snapshots through the request budget", () => {
  /** The real token bucket, counting what is queued on it. */
  class CountingBucket extends TokenBucket {
    scheduled = 0;
    override schedule(weight: number, run: () => void): void {
      this.scheduled++;
      super.schedule(weight, run);
    }
  }

  test("a resync while the snapshot request waits its turn reuses that request", async () => {
    const lastU = new Map<string, number>();
    const requested: string[] = [];
    // Answers at the last update id fed for the symbol, so the snapshot meets the buffered events.
    const rest = {
      getJson: async (url: string) => {
        const symbol = new URL(url).searchParams.get("symbol")!;
        requested.push(symbol);
        return { lastUpdateId: lastU.get(symbol)!, bids: [["1.00", "1.00"]], asks: [["2.00", "1.00"]] };
      },
    };
    // Depth 1000 asks for 5000-level snapshots (weight 250): one at once, then one a second.
    const budget = new CountingBucket(250, 250);
    const specs = specsFor(["AAAUSDT", "BBBUSDT"], ["USDT"]);
    const h = new VenueHarness(binance, specs, { depth: 1000, rest, budget });
    harnesses.push(h);
    h.open();
    const event = (s: string, u: number) => {
      lastU.set(s, u);
      h.feed(
        JSON.stringify({
          stream: `${s.toLowerCase()}@depth@100ms`,
          data: { e: "depthUpdate", E: 1633998600000, s, U: u, u, b: [], a: [] },
        }),
      );
    };
    event("AAAUSDT", 11);
    event("BBBUSDT", 11);
    // While BBB waits, the collector resyncs it (its book is still not valid) and events go on.
    for (let u = 12; u <= 14; u++) {
      h.venue.resync(1);
      event("BBBUSDT", u);
    }
    await waitFor("BBBUSDT's book valid", () => h.publisher.isValid(1), { timeoutMs: 10_000 });
    expect(h.publisher.venueSeq[1]).toBe(14);
    // One request per symbol was queued and sent: none went stale in the queue.
    expect(budget.scheduled).toBe(2);
    expect(requested).toEqual(["AAAUSDT", "BBBUSDT"]);
    budget.stop();
  });
});

describe("binance frames", () => {
  test("trades: m=true means the aggressor sold; ids dedupe; exact decimals", () => {
    const h = new VenueHarness(binance, [
      { venueSymbol: "BNBBTC", symbol: "BNB-BTC", priceDecimals: 8, sizeDecimals: 3 },
    ]);
    harnesses.push(h);
    const trade = (t: number, m: boolean) =>
      JSON.stringify({
        stream: "bnbbtc@trade",
        data: {
          e: "trade",
          E: 1672515782136,
          s: "BNBBTC",
          t,
          p: "0.00100000",
          q: "100.000",
          T: 1672515782136,
          m,
          M: true,
        },
      });
    h.feed(trade(12345, true));
    h.feed(trade(12346, false));
    h.feed(trade(12345, true));
    h.feed(trade(12350, false));
    const reader = RingReader.open(h.writer.path, "oldest");
    readers.push(reader);
    const got: number[][] = [];
    reader.poll(
      { record: (r) => void got.push([r.price, r.size, r.flags & 1, r.aux, r.exchangeSec]), gap: () => {} },
      new RecordView(),
    );
    expect(got).toEqual([
      [100000, 100000, 1, 12345, 1672515782],
      [100000, 100000, 0, 12346, 1672515782],
      [100000, 100000, 0, 12350, 1672515782],
    ]);
    expect(h.publisher.trades[0]!.duplicates).toBe(1);
    expect(h.publisher.trades[0]!.missing).toBe(3);
  });

  test("exchangeInfo gives precisions from tickSize and stepSize", () => {
    const infos = parseExchangeInfo({
      symbols: [
        {
          symbol: "BTCUSDT",
          baseAsset: "BTC",
          quoteAsset: "USDT",
          filters: [
            { filterType: "PRICE_FILTER", tickSize: "0.01000000" },
            { filterType: "LOT_SIZE", stepSize: "0.00001000" },
          ],
        },
      ],
    });
    expect(infos).toEqual([
      {
        symbol: "BTCUSDT",
        baseAsset: "BTC",
        quoteAsset: "USDT",
        tickSize: "0.01000000",
        stepSize: "0.00001000",
      },
    ]);
  });

  test("serverShutdown asks for a make-before-break rollover", () => {
    const h = new VenueHarness(binance, [
      { venueSymbol: "BTCUSDT", symbol: "BTC-USDT", priceDecimals: 2, sizeDecimals: 5 },
    ]);
    harnesses.push(h);
    h.feed(JSON.stringify({ stream: "!serverShutdown", data: { e: "serverShutdown", E: 1 } }));
    expect(h.rollovers).toEqual(["serverShutdown"]);
  });
});

describe("binance trade fast path", () => {
  test("reads exactly what the JSON path reads (same trades, reordered keys force the JSON path)", () => {
    const spec = { venueSymbol: "BTCUSDT", symbol: "BTC-USDT", priceDecimals: 8, sizeDecimals: 8 };
    const fast = new VenueHarness(binance, [spec]);
    const slow = new VenueHarness(binance, [spec]);
    harnesses.push(fast, slow);
    const records = (h: VenueHarness) => {
      const reader = RingReader.open(h.writer.path, "oldest");
      readers.push(reader);
      const out: number[][] = [];
      reader.poll(
        {
          record: (r) =>
            void out.push([r.type, r.flags, r.price, r.size, r.aux, r.exchangeSec, r.exchangeNsec]),
          gap: () => {},
        },
        new RecordView(),
      );
      return out;
    };
    let nextId = 1_000_000_000;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            step: fc.integer({ min: 1, max: 1000 }),
            p: fc.integer({ min: 1, max: 2 ** 45 }),
            q: fc.integer({ min: 1, max: 2 ** 45 }),
            T: fc.integer({ min: 0, max: 4e12 }),
            m: fc.boolean(),
          }),
          { maxLength: 20 },
        ),
        (trades) => {
          for (const { step, p, q, T, m } of trades) {
            nextId += step; // ids rise, as Binance's do, so the dedupe window keeps every trade
            const t = nextId;
            const price = formatScaled(p, 8);
            const size = formatScaled(q, 8);
            const canonical = `{"stream":"btcusdt@trade","data":{"e":"trade","E":${T},"s":"BTCUSDT","t":${t},"p":"${price}","q":"${size}","T":${T},"m":${m},"M":true}}`;
            const reordered = JSON.stringify({
              data: { M: true, m, T, q: size, p: price, t, s: "BTCUSDT", E: T, e: "trade" },
              stream: "btcusdt@trade",
            });
            expect(jsonParseCalls(() => fast.feed(canonical))).toBe(0);
            expect(jsonParseCalls(() => slow.feed(reordered))).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 100 },
    );
    expect(fast.counters.totalParseErrors()).toBe(0);
    const fastRecords = records(fast);
    expect(fastRecords.length).toBeGreaterThan(100);
    expect(fastRecords).toEqual(records(slow));
  });

  test("a frame whose stream, event or symbol differs from the symbol's exact texts takes the JSON path", () => {
    const spec = { venueSymbol: "BTCUSDT", symbol: "BTC-USDT", priceDecimals: 8, sizeDecimals: 8 };
    const h = new VenueHarness(binance, [spec]);
    harnesses.push(h);
    const trade = (stream: string, event: string, symbol: string, id: number) =>
      `{"stream":"${stream}","data":{"e":"${event}","E":1,"s":"${symbol}","t":${id},"p":"1.00000000","q":"2.00000000","T":1,"m":true,"M":true}}`;
    expect(jsonParseCalls(() => h.feed(trade("btcusdt@trade", "trade", "BTCUSDT", 1)))).toBe(0);
    const jsonPath = [
      trade("btcusdt@trade", "trade", "BTCUSDX", 2), // not our symbol: ignored
      trade("ethusdt@trade", "trade", "BTCUSDT", 3), // another stream: JSON path, data.s decides
      trade("btcusdt@trade", "aggTrade", "BTCUSDT", 4), // another event: JSON path
    ];
    for (const frame of jsonPath) expect(jsonParseCalls(() => h.feed(frame))).toBe(1);
    expect(h.counters.messages.get("trade")).toBe(4); // the JSON path counts every trade frame
    expect(h.counters.totalParseErrors()).toBe(0);
  });
});
