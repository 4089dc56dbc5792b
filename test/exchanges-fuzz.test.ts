// Property and fuzz tests of every parser with malformed input: random text, random JSON, and
// real frames mutated (characters changed, cut short, numbers replaced). Nothing may escape as
// an exception, every refusal is counted, and whatever the venue accepted leaves every book
// well-formed with its published view equal to the exact book's top.
import { afterEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseCapture, parseCaptureLine } from "../src/collector/capture.ts";
import { FrameIngest } from "../src/collector/ingest.ts";
import { TradeIdWindow } from "../src/collector/trade-ids.ts";
import { binance } from "../src/exchanges/binance/venue.ts";
import { coinbase } from "../src/exchanges/coinbase/venue.ts";
import { kraken, mapKrakenSymbols } from "../src/exchanges/kraken/venue.ts";
import { okx } from "../src/exchanges/okx/venue.ts";
import { rfc3339Into } from "../src/exchanges/timestamps.ts";
import type { VenueDefinition } from "../src/exchanges/venue.ts";
import type { SymbolSpec } from "../src/shm/layout.ts";
import { fixtureText } from "./support/fixtures.ts";
import { KRAKEN_EXAMPLE_SNAPSHOT } from "./support/kraken-checksum-example.ts";
import { RecordingStream, VenueHarness } from "./support/venue-harness.ts";

const harnesses: VenueHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

/** Every book sorted best first with positive sizes, and its published view equal to its top. */
function expectWellFormed(h: VenueHarness): void {
  h.publisher.books.forEach((book, id) => {
    for (const isAsk of [false, true]) {
      const side = book.side(isAsk);
      for (let i = 0; i < side.count; i++) {
        expect(side.sizeAt(i)).toBeGreaterThan(0);
        if (i > 0)
          expect(isAsk ? side.priceAt(i) > side.priceAt(i - 1) : side.priceAt(i) < side.priceAt(i - 1)).toBe(
            true,
          );
      }
      if (!h.publisher.isValid(id)) continue;
      const view = isAsk ? h.publisher.views[id]!.asks : h.publisher.views[id]!.bids;
      const top = h.top(id, isAsk, view.prices.length);
      expect(Array.from({ length: view.count }, (_, i) => [view.prices[i], view.sizes[i]])).toEqual(top);
    }
  });
}

const mutation = fc.oneof(
  fc.record({
    kind: fc.constant("char" as const),
    at: fc.nat(),
    char: fc.string({ minLength: 1, maxLength: 1 }),
  }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("number" as const),
    at: fc.nat(),
    value: fc.oneof(fc.double(), fc.integer(), fc.constant(-0)),
  }),
  fc.record({ kind: fc.constant("dup" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, m: Mutation): string {
  const at = m.at % Math.max(1, text.length);
  switch (m.kind) {
    case "char":
      return text.slice(0, at) + m.char + text.slice(at + 1);
    case "cut":
      return text.slice(0, at);
    case "number": {
      // Replace the first number at or after `at` with another (maybe negative, huge, inexact).
      const match = /-?\d+(\.\d+)?/.exec(text.slice(at));
      if (!match) return text;
      const start = at + match.index;
      return text.slice(0, start) + String(m.value) + text.slice(start + match[0].length);
    }
    case "dup":
      return text.slice(0, at) + text.slice(at, at + m.length) + text.slice(at);
  }
}

interface VenueCase {
  readonly definition: VenueDefinition;
  readonly specs: SymbolSpec[];
  readonly stream: string;
  readonly frames: () => Promise<string[]>;
}

const CASES: VenueCase[] = [
  {
    definition: kraken,
    specs: mapKrakenSymbols(
      ["BTC-USD"],
      [{ symbol: "BTC/USD", base: "BTC", quote: "USD", pricePrecision: 1, qtyPrecision: 8 }],
    ),
    stream: "kraken",
    frames: async () => {
      const cases = (
        JSON.parse(await fixtureText("ccxt/kraken.json")) as {
          methods: { watchOrderBook: { messages: unknown[] }[] };
        }
      ).methods.watchOrderBook;
      return [
        ...cases[0]!.messages.map((m) => JSON.stringify(m)),
        await fixtureText("nautilus/kraken/ws_trade_update.json"),
      ];
    },
  },
  {
    definition: binance,
    specs: [{ venueSymbol: "NKNUSDT", symbol: "NKN-USDT", priceDecimals: 8, sizeDecimals: 8 }],
    stream: "binance",
    frames: async () =>
      (await fixtureText("cryptofeed/BINANCE.ws.1.0"))
        .split("\n")
        .filter((l) => l.includes("nknusdt@depth"))
        .slice(0, 20)
        .map((l) => l.slice(l.indexOf(": ") + 2))
        .concat(
          JSON.stringify({
            stream: "nknusdt@trade",
            data: { e: "trade", E: 1, s: "NKNUSDT", t: 5, p: "0.35000000", q: "10.00000000", T: 1, m: true },
          }),
        ),
  },
  {
    definition: coinbase,
    specs: [{ venueSymbol: "BTC-USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 }],
    stream: "coinbase-book-BTC-USD",
    frames: async () => [
      await fixtureText("nautilus/coinbase/ws_l2_data_snapshot.json"),
      await fixtureText("nautilus/coinbase/ws_l2_data_update.json"),
      await fixtureText("nautilus/coinbase/ws_market_trades.json"),
    ],
  },
  {
    definition: okx,
    specs: [{ venueSymbol: "BTC-USDT", symbol: "BTC-USDT", priceDecimals: 1, sizeDecimals: 8 }],
    stream: "okx",
    // BTC-USDT's books snapshot and updates (with real checksums), then its trades.
    frames: async () => {
      const frames = parseCapture(await fixtureText("cryptofeed/OKX.ws.1.0")).flatMap((e) =>
        e.kind === "frame" && e.text.includes('"instId":"BTC-USDT"}') ? [e.text] : [],
      );
      const books = frames.filter((f) => f.startsWith('{"arg":{"channel":"books"')).slice(0, 20);
      const trades = frames.filter((f) => f.startsWith('{"arg":{"channel":"trades"')).slice(0, 5);
      return [...books, ...trades];
    },
  },
];

describe("venue parsers under malformed input", () => {
  for (const c of CASES) {
    test(`${c.definition.name}: random text and JSON never escape, and are counted`, () => {
      const h = new VenueHarness(c.definition, c.specs);
      harnesses.push(h);
      const stream = new RecordingStream(c.stream);
      h.open(stream);
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 4 })), (text) => {
          const errors = () => h.counters.totalParseErrors();
          const before = errors();
          expect(() => h.feed(text, 1, 0, stream)).not.toThrow();
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          // Anything that is not a JSON object is refused and counted; objects may be valid frames.
          const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
          if (!isObject) expect(errors()).toBe(before + 1);
        }),
        { numRuns: 400 },
      );
      expectWellFormed(h);
    });

    test(`${c.definition.name}: mutated real frames never escape and never leave a malformed book`, async () => {
      const frames = await c.frames();
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(frames.length - 1), fc.option(mutation, { freq: 2 })), { maxLength: 30 }),
          (plan) => {
            const h = new VenueHarness(c.definition, c.specs);
            const stream = new RecordingStream(c.stream);
            try {
              h.open(stream);
              for (const frame of frames.slice(0, 2)) h.feed(frame, 1, 0, stream); // usually a valid book first
              for (const [index, m] of plan) {
                const text = m === null ? frames[index]! : mutate(frames[index]!, m);
                expect(() => h.feed(text, 1, 0, stream)).not.toThrow();
              }
              expectWellFormed(h);
            } finally {
              h.close();
            }
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  test("a negative size is refused: the book goes invalid and resyncs", async () => {
    const h = new VenueHarness(coinbase, CASES[2]!.specs);
    harnesses.push(h);
    const stream = new RecordingStream("coinbase-book-BTC-USD");
    h.open(stream);
    h.feed(await fixtureText("nautilus/coinbase/ws_l2_data_snapshot.json"), 1, 0, stream);
    expect(h.publisher.isValid(0)).toBe(true);
    const update = (await fixtureText("nautilus/coinbase/ws_l2_data_update.json")).replace(
      '"2.00000000"',
      '"-2.00000000"',
    );
    h.feed(update, 1, 0, stream);
    expect(h.publisher.isValid(0)).toBe(false);
    expect(h.counters.parseErrors.get("malformed")).toBe(1);
    expect(h.counters.resyncs[0]).toBe(1);
  });

  test("an oversized frame is refused unread and counted", () => {
    const h = new VenueHarness(kraken, CASES[0]!.specs);
    harnesses.push(h);
    const small = new FrameIngest(h.venue, h.publisher, h.counters, 100);
    small.frame(h, `{"channel":"heartbeat","pad":"${"x".repeat(200)}"}`, 1, 0);
    expect(h.counters.parseErrors.get("oversized")).toBe(1);
  });

  test("a Kraken level whose qty has more decimals than the instrument allows invalidates the book", async () => {
    const h = new VenueHarness(kraken, CASES[0]!.specs);
    harnesses.push(h);
    h.feed(KRAKEN_EXAMPLE_SNAPSHOT);
    expect(h.publisher.isValid(0)).toBe(true);
    h.feed(
      '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.55,"qty":1}],"asks":[],"checksum":1}]}',
    );
    expect(h.publisher.isValid(0)).toBe(false);
    expect(h.counters.parseErrors.get("bad_decimal")).toBe(1);
    expect(h.counters.resyncs[0]).toBe(1);
  });
});

describe("small parsers", () => {
  test("rfc3339Into agrees with Date for valid times and never throws on junk", () => {
    const out = new Uint32Array(2);
    fc.assert(
      fc.property(
        fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
        fc.nat(999_999),
        (date, micros) => {
          const text = `${date.toISOString().slice(0, 19)}.${String((date.getUTCMilliseconds() * 1000 + micros) % 1_000_000).padStart(6, "0")}Z`;
          expect(rfc3339Into(text, out)).toBe(true);
          expect(out[0]).toBe(Math.floor(date.getTime() / 1000));
          expect(out[1]).toBe(((date.getUTCMilliseconds() * 1000 + micros) % 1_000_000) * 1000);
        },
      ),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        expect(() => rfc3339Into(text, out)).not.toThrow();
      }),
    );
  });

  test("capture lines: junk gives null, never an exception", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (line) => {
        expect(() => parseCaptureLine(line)).not.toThrow();
      }),
    );
    expect(parseCaptureLine("1633998512.0633569: {}")).toEqual({
      kind: "frame",
      epoch: 1633998512.0633569,
      text: "{}",
    });
    expect(parseCaptureLine("wss://x/y <-> 1.5")).toEqual({ kind: "connect", epoch: 1.5, url: "wss://x/y" });
  });

  test("trade id window matches a Set model inside its window, in any order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 400 }), (ids) => {
        const window = new TradeIdWindow();
        const seen = new Set<number>();
        for (const id of ids) {
          expect(window.accept(id)).toBe(!seen.has(id));
          seen.add(id);
        }
        expect(window.duplicates).toBe(ids.length - seen.size);
      }),
    );
  });
});
