// OKX: the adapter against cryptofeed's real 2022 capture (every checksum verified, final books
// equal to a rebuild from the raw strings, a corrupted level caught at its frame and healed by a
// resync of that instrument alone, capture -> `replay`), and against hand-made frames for the
// seqId chain rules, checksum 0 and what guards each book, the venue's own spellings, trades,
// keepalive and rollover. The reference book and checksum here (test/support/okx-raw-book.ts) are
// written from OKX's rules on the raw strings, not imported.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import fc from "fast-check";
import { OrderBook } from "../src/book/order-book.ts";
import { parseCapture } from "../src/collector/capture.ts";
import { OkxChecksum } from "../src/exchanges/okx/checksum.ts";
import { mapOkxSymbols, OKX_BOOK_LEVELS, okx, parseInstruments } from "../src/exchanges/okx/venue.ts";
import { UnknownSymbolError } from "../src/exchanges/venue.ts";
import {
  decimalsOfIncrement,
  formatScaled,
  formatScaledTrimmed,
  parseScaled,
} from "../src/market/decimal.ts";
import { BookIntegrity, RecordType, type SymbolSpec } from "../src/shm/layout.ts";
import { RecordView, RingReader } from "../src/shm/ring-reader.ts";
import { fixturePath, fixtureText } from "./support/fixtures.ts";
import { type Level, RawBook } from "./support/okx-raw-book.ts";
import { REPO_ROOT } from "./support/ops-source-settings.ts";
import { jsonParseCalls, VenueHarness } from "./support/venue-harness.ts";

interface BooksMessage {
  arg: { channel: string; instId: string };
  action: "snapshot" | "update";
  data: { asks: string[][]; bids: string[][]; ts: string; checksum: number }[];
}

async function captureFrames(): Promise<string[]> {
  return parseCapture(await fixtureText("cryptofeed/OKX.ws.1.0")).flatMap((e) =>
    e.kind === "frame" ? [e.text] : [],
  );
}

function booksOf(frame: string): BooksMessage | null {
  const message = JSON.parse(frame) as Partial<BooksMessage>;
  return message.arg?.channel === "books" && message.data ? (message as BooksMessage) : null;
}

/** The three instruments of the capture, with tickSz and lotSz from the same day's REST answers. */
async function captureSpecs(): Promise<SymbolSpec[]> {
  const answers = parseCapture(await fixtureText("cryptofeed/OKX.0")).flatMap((e) =>
    e.kind === "rest" ? [JSON.parse(e.text) as { data: Record<string, string>[] }] : [],
  );
  const find = (instId: string) => {
    const entry = answers.flatMap((a) => a.data).find((i) => i.instId === instId)!;
    return {
      venueSymbol: instId,
      symbol: instId,
      priceDecimals: decimalsOfIncrement(entry.tickSz!),
      sizeDecimals: decimalsOfIncrement(entry.lotSz!),
    };
  };
  return [find("BTC-USDT"), find("UNI-USD-SWAP"), find("BTC-USD-220527")];
}

const harnesses: VenueHarness[] = [];
function harness(specs: SymbolSpec[], depth = OKX_BOOK_LEVELS): VenueHarness {
  const h = new VenueHarness(okx, specs, { depth });
  harnesses.push(h);
  return h;
}
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

/** A symbol's whole book as the venue would write it (plain decimals), best first. */
function bookText(h: VenueHarness, id: number, spec: SymbolSpec, isAsk: boolean): Level[] {
  const side = h.publisher.books[id]!.side(isAsk);
  return Array.from({ length: side.count }, (_, i) => [
    formatScaledTrimmed(side.priceAt(i), spec.priceDecimals),
    formatScaledTrimmed(side.sizeAt(i), spec.sizeDecimals),
  ]);
}

/**
 * What guards the symbol's book, as the collector's alphapulse_book_integrity reports it; the
 * ring's entry must carry the same bits to its readers.
 */
function guards(h: VenueHarness, id: number): { checksum: boolean; sequence: boolean } {
  const bits = h.counters.integrity[id]!;
  const reader = RingReader.open(h.writer.path, "latest");
  try {
    expect(reader.integrity(id)).toBe(bits);
  } finally {
    reader.close();
  }
  return { checksum: (bits & BookIntegrity.checksum) !== 0, sequence: (bits & BookIntegrity.sequence) !== 0 };
}

function ringRecords(h: VenueHarness): number[][] {
  const reader = RingReader.open(h.writer.path, "oldest");
  const out: number[][] = [];
  reader.poll(
    {
      record: (r) => void out.push([r.type, r.flags, r.symbolId, r.price, r.size, r.aux, r.exchangeNsec]),
      gap: () => {},
    },
    new RecordView(),
  );
  reader.close();
  return out;
}

describe("okx capture (cryptofeed, 2022, books with real checksums)", () => {
  test("every checksum verifies, frame by frame, and the final books equal a rebuild from the raw strings", async () => {
    const specs = await captureSpecs();
    const h = harness(specs);
    const raws = new Map<string, RawBook>();
    let verified = 0;
    let parses = 0;
    for (const frame of await captureFrames()) {
      const message = booksOf(frame);
      if (message === null) {
        h.feed(frame);
        continue;
      }
      // Books frames are read in place, without JSON.parse.
      parses += jsonParseCalls(() => h.feed(frame));
      const instId = message.arg.instId;
      if (message.action === "snapshot") raws.set(instId, new RawBook());
      const raw = raws.get(instId)!;
      raw.apply(message.data[0]!);
      // The reference reproduces OKX's own checksum, and the adapter accepted the same frame.
      expect(raw.checksum()).toBe(message.data[0]!.checksum);
      expect(h.publisher.isValid(specs.findIndex((s) => s.venueSymbol === instId))).toBe(true);
      verified++;
    }
    expect(verified).toBe(290);
    expect(h.counters.total(h.counters.checksumMismatches)).toBe(0);
    expect(h.counters.totalParseErrors()).toBe(0);
    expect(parses).toBe(0);
    for (const [id, spec] of specs.entries()) {
      const raw = raws.get(spec.venueSymbol)!;
      expect(bookText(h, id, spec, false)).toEqual(raw.sorted(false));
      expect(bookText(h, id, spec, true)).toEqual(raw.sorted(true));
      // 2022: a checksum on every message, no seqIds yet.
      expect(guards(h, id)).toEqual({ checksum: true, sequence: false });
    }
    // BTC-USDT fills the venue's whole 400-level view: kept whole, not cut to the 25 a checksum covers.
    expect(h.publisher.books[0]!.bids.count).toBe(400);
    expect(h.publisher.books[0]!.asks.count).toBe(400);
  });

  test("the JSON.parse path reads exactly what the in-place path reads", async () => {
    const specs = await captureSpecs();
    const fast = harness(specs);
    const slow = harness(specs);
    let slowBooks = 0;
    let slowParses = 0;
    for (const frame of await captureFrames()) {
      fast.feed(frame);
      // A blank after a key's colon: still JSON, no longer the compact layout.
      const spaced = frame.replace('"data":[', '"data": [');
      if (booksOf(frame) === null) {
        slow.feed(spaced);
        continue;
      }
      slowBooks++;
      slowParses += jsonParseCalls(() => slow.feed(spaced));
    }
    expect(slowParses).toBe(slowBooks);
    expect(slow.counters.total(slow.counters.checksumMismatches)).toBe(0);
    expect(ringRecords(slow)).toEqual(ringRecords(fast));
  });

  test("a corrupted level is caught at its frame and healed by a resync of that instrument alone", async () => {
    const specs = await captureSpecs();
    const h = harness(specs);
    h.open();
    const frames = await captureFrames();
    const raws = new Map<string, RawBook>();
    let btcUpdates = 0;
    let corrupted = -1;
    for (const [index, frame] of frames.entries()) {
      const message = booksOf(frame);
      if (message?.arg.instId === "BTC-USDT" && message.action === "update" && ++btcUpdates >= 30) {
        const data = message.data[0]!;
        const raw = raws.get("BTC-USDT")!;
        raw.apply(data);
        // Corrupt a level this frame sets inside the top 25, so the frame's checksum must fail.
        const topBids = raw
          .sorted(false)
          .slice(0, 25)
          .map(([px]) => px);
        const level = data.bids.find(([px, sz]) => topBids.includes(px!) && sz !== "0");
        if (level === undefined) continue;
        level[1] = `${level[1]}1`;
        corrupted = index;
        const sentBefore = h.sent.length;
        h.feed(JSON.stringify(message));
        expect(h.publisher.isValid(0)).toBe(false);
        expect(h.counters.checksumMismatches[0]).toBe(1);
        expect(h.publisher.isValid(1) && h.publisher.isValid(2)).toBe(true);
        const resync = h.sent.slice(sentBefore).map((s) => JSON.parse(s) as { op: string; args: unknown[] });
        expect(resync).toEqual([
          { op: "unsubscribe", args: [{ channel: "books", instId: "BTC-USDT" }] },
          { op: "subscribe", args: [{ channel: "books", instId: "BTC-USDT" }] },
        ]);
        // The venue's fresh snapshot (here: the true book at this point, from the raw strings).
        const level4 = ([px, sz]: Level) => [px, sz, "0", "1"];
        h.feed(
          JSON.stringify({
            arg: { channel: "books", instId: "BTC-USDT" },
            action: "snapshot",
            data: [
              {
                asks: raw.sorted(true).map(level4),
                bids: raw.sorted(false).map(level4),
                ts: data.ts,
                checksum: raw.checksum(),
              },
            ],
          }),
        );
        expect(h.publisher.isValid(0)).toBe(true);
        break;
      }
      h.feed(frame);
      if (message === null) continue;
      if (message.action === "snapshot") raws.set(message.arg.instId, new RawBook());
      raws.get(message.arg.instId)!.apply(message.data[0]!);
    }
    expect(corrupted).toBeGreaterThan(0);
    for (const frame of frames.slice(corrupted + 1)) {
      h.feed(frame);
      const message = booksOf(frame);
      if (message !== null) raws.get(message.arg.instId)!.apply(message.data[0]!);
    }
    expect(h.counters.checksumMismatches[0]).toBe(1);
    expect([...h.counters.resyncs]).toEqual([1, 0, 0]);
    for (const [id, spec] of specs.entries()) {
      expect(h.publisher.isValid(id)).toBe(true);
      expect(bookText(h, id, spec, false)).toEqual(raws.get(spec.venueSymbol)!.sorted(false));
      expect(bookText(h, id, spec, true)).toEqual(raws.get(spec.venueSymbol)!.sorted(true));
    }
    // Only BTC-USDT's book ever changed status in the ring.
    const statuses = ringRecords(h).filter(([type]) => type === RecordType.BookStatus);
    expect(statuses.map(([, , symbolId]) => symbolId)).toEqual([0]);
  });

  test("capture -> replay (a real process) rebuilds the same book", async () => {
    const dir = `/dev/shm/ap-test-okx-replay-${process.pid}`;
    try {
      const files = [fixturePath("cryptofeed/OKX.0"), fixturePath("cryptofeed/OKX.ws.1.0")];
      const child = Bun.spawn(["bun", "src/main.ts", "replay", ...files], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          EXCHANGE: "okx",
          SYMBOLS: "BTC-USDT",
          BOOK_DEPTH: "400",
          SHARED_MEMORY_PATH: dir,
          LOG_LEVEL: "error",
        },
        stdout: "pipe",
        stderr: "inherit",
      });
      const output = await new Response(child.stdout).text();
      expect(await child.exited).toBe(0);
      const summary = JSON.parse(output.trim().split("\n").at(-1)!) as {
        ring: string;
        parseErrors: number;
        validBooks: string[];
      };
      expect(summary.parseErrors).toBe(0);
      expect(summary.validBooks).toEqual(["BTC-USDT"]);
      const dump = Bun.spawn(["bun", "test/support/ring-book-dump.ts", summary.ring, "400"], {
        cwd: REPO_ROOT,
        stdout: "pipe",
      });
      const books = JSON.parse(await new Response(dump.stdout).text()) as Record<
        string,
        { status: string; bids: Level[]; asks: Level[] }
      >;
      expect(await dump.exited).toBe(0);
      const raw = new RawBook();
      for (const frame of await captureFrames()) {
        const message = booksOf(frame);
        if (message?.arg.instId === "BTC-USDT") raw.apply(message.data[0]!);
      }
      const exact = (levels: Level[]): Level[] =>
        levels.map(([px, sz]) => [formatScaled(parseScaled(px, 1), 1), formatScaled(parseScaled(sz, 8), 8)]);
      expect(books["BTC-USDT"]!.status).toBe("Valid");
      expect(books["BTC-USDT"]!.bids).toEqual(exact(raw.sorted(false)));
      expect(books["BTC-USDT"]!.asks).toEqual(exact(raw.sorted(true)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("trades: taker side, exact sizes, and each trade once however often it arrives", async () => {
    const specs = await captureSpecs();
    const h = harness(specs);
    const tradeFrames = (await captureFrames()).filter((f) => f.startsWith('{"arg":{"channel":"trades"'));
    const expected = new Map<string, string>();
    for (const frame of tradeFrames) {
      for (const t of (JSON.parse(frame) as { data: Record<string, string>[] }).data) {
        expected.set(`${t.instId}/${t.tradeId}`, t.side!);
      }
    }
    for (const frame of [...tradeFrames, ...tradeFrames]) h.feed(frame);
    const trades = ringRecords(h).filter(([type]) => type === RecordType.Trade);
    expect(trades.length).toBe(expected.size);
    for (const [, flags, symbolId, , , aux] of trades) {
      expect(expected.get(`${specs[symbolId!]!.venueSymbol}/${aux}`)).toBe(flags! & 1 ? "sell" : "buy");
    }
    expect(h.publisher.trades.reduce((sum, w) => sum + w.duplicates, 0)).toBe(tradeFrames.length);
  });
});

const BTC: SymbolSpec = { venueSymbol: "BTC-USDT", symbol: "BTC-USDT", priceDecimals: 1, sizeDecimals: 8 };
const ETH: SymbolSpec = { venueSymbol: "ETH-USDT", symbol: "ETH-USDT", priceDecimals: 2, sizeDecimals: 6 };

interface Fields {
  asks?: Level[];
  bids?: Level[];
  checksum?: number;
  prevSeqId?: number;
  seqId?: number;
}

/** A books message in OKX's compact layout (fields after ts only when given). */
function books(action: "snapshot" | "update", instId: string, fields: Fields): string {
  const data: Record<string, unknown> = {
    asks: (fields.asks ?? []).map(([px, sz]) => [px, sz, "0", sz === "0" ? "0" : "2"]),
    bids: (fields.bids ?? []).map(([px, sz]) => [px, sz, "0", sz === "0" ? "0" : "2"]),
    ts: "1789000000123",
  };
  for (const key of ["checksum", "prevSeqId", "seqId"] as const)
    if (fields[key] !== undefined) data[key] = fields[key];
  return JSON.stringify({ arg: { channel: "books", instId }, action, data: [data] });
}

function resubscribes(h: VenueHarness, from: number): string[] {
  return h.sent
    .slice(from)
    .map((s) => JSON.parse(s) as { op: string; args: { instId: string }[] })
    .map((r) => `${r.op} ${r.args.map((a) => a.instId).join(",")}`);
}

describe("okx seqId chain", () => {
  test("in order by identity, no change when seqId == prevSeqId, a break or a reset resyncs that instrument alone", () => {
    const h = harness([BTC, ETH]);
    h.open();
    h.feed(
      books("snapshot", "ETH-USDT", {
        bids: [["3000.01", "1"]],
        asks: [["3000.02", "1"]],
        checksum: 0,
        prevSeqId: -1,
        seqId: 7,
      }),
    );
    h.feed(
      books("snapshot", "BTC-USDT", {
        bids: [
          ["100.1", "1"],
          ["100", "2"],
        ],
        asks: [["100.2", "3"]],
        checksum: 0,
        prevSeqId: -1,
        seqId: 100,
      }),
    );
    // Steps between ids vary: 100 -> 107 -> 120.
    h.feed(
      books("update", "BTC-USDT", { bids: [["100.1", "1.5"]], checksum: 0, prevSeqId: 100, seqId: 107 }),
    );
    const records = h.publisher.recordsWritten;
    h.feed(books("update", "BTC-USDT", { checksum: 0, prevSeqId: 107, seqId: 107 }));
    expect(h.counters.messages.get("books_no_change")).toBe(1);
    expect(h.publisher.recordsWritten).toBe(records);
    h.feed(books("update", "BTC-USDT", { asks: [["100.3", "4"]], checksum: 0, prevSeqId: 107, seqId: 120 }));
    expect(h.top(0, false, 5)).toEqual([
      [1001, 150_000_000],
      [1000, 200_000_000],
    ]);
    expect(h.top(0, true, 5)).toEqual([
      [1002, 300_000_000],
      [1003, 400_000_000],
    ]);
    expect(h.publisher.venueSeq[0]).toBe(120);
    expect(guards(h, 0)).toEqual({ checksum: false, sequence: true });

    // prevSeqId is not the last seqId: a break.
    let sent = h.sent.length;
    h.feed(books("update", "BTC-USDT", { bids: [["99", "1"]], checksum: 0, prevSeqId: 119, seqId: 130 }));
    expect(h.publisher.isValid(0)).toBe(false);
    expect(h.counters.sequenceGaps[0]).toBe(1);
    expect(resubscribes(h, sent)).toEqual(["unsubscribe BTC-USDT", "subscribe BTC-USDT"]);
    // Updates before the new snapshot are not applied.
    h.feed(books("update", "BTC-USDT", { bids: [["98", "1"]], checksum: 0, prevSeqId: 130, seqId: 140 }));
    h.feed(
      books("snapshot", "BTC-USDT", {
        bids: [["100.1", "1"]],
        asks: [["100.2", "3"]],
        checksum: 0,
        prevSeqId: -1,
        seqId: 500,
      }),
    );
    expect(h.publisher.isValid(0)).toBe(true);
    expect(h.top(0, false, 5)).toEqual([[1001, 100_000_000]]);

    // A seqId below the last one: the venue reset its sequence.
    sent = h.sent.length;
    h.feed(books("update", "BTC-USDT", { bids: [["100.1", "2"]], checksum: 0, prevSeqId: 500, seqId: 3 }));
    expect(h.publisher.isValid(0)).toBe(false);
    expect(h.counters.messages.get("books_sequence_reset")).toBe(1);
    expect(h.counters.sequenceGaps[0]).toBe(2);
    expect(resubscribes(h, sent)).toEqual(["unsubscribe BTC-USDT", "subscribe BTC-USDT"]);
    h.feed(
      books("snapshot", "BTC-USDT", {
        bids: [["100.1", "2"]],
        asks: [["100.2", "3"]],
        checksum: 0,
        prevSeqId: -1,
        seqId: 3,
      }),
    );
    h.feed(books("update", "BTC-USDT", { asks: [["100.2", "0"]], checksum: 0, prevSeqId: 3, seqId: 9 }));
    expect(h.publisher.isValid(0)).toBe(true);
    expect(h.top(0, true, 5)).toEqual([]);

    // ETH-USDT never noticed.
    expect(h.publisher.isValid(1)).toBe(true);
    expect(h.counters.resyncs[1]).toBe(0);
    expect(h.counters.total(h.counters.checksumMismatches)).toBe(0);
  });

  test("checksum 0 or none is 'not sent'; a non-zero one is verified, and a wrong one resyncs", () => {
    const h = harness([BTC]);
    h.open();
    const raw = new RawBook();
    const snapshot = { bids: [["100.1", "1"]] as Level[], asks: [["100.2", "3"]] as Level[] };
    h.feed(books("snapshot", "BTC-USDT", { ...snapshot, checksum: 0, prevSeqId: -1, seqId: 1 }));
    raw.apply(snapshot);
    // Levels that no checksum could agree with, under checksum 0 and no checksum at all: accepted.
    h.feed(books("update", "BTC-USDT", { bids: [["90", "9"]], checksum: 0, prevSeqId: 1, seqId: 2 }));
    h.feed(books("update", "BTC-USDT", { bids: [["91", "9"]], prevSeqId: 2, seqId: 3 }));
    raw.apply({
      asks: [],
      bids: [
        ["90", "9"],
        ["91", "9"],
      ],
    });
    expect(h.publisher.isValid(0)).toBe(true);
    expect(guards(h, 0)).toEqual({ checksum: false, sequence: true });
    // Checksums come back: verified.
    h.feed(books("update", "BTC-USDT", { asks: [["100.4", "2"]], checksum: 0, prevSeqId: 3, seqId: 4 }));
    raw.apply({ asks: [["100.4", "2"]], bids: [] });
    h.feed(
      books("update", "BTC-USDT", {
        asks: [["100.3", "1"]],
        checksum: checksumAfter(raw, { asks: [["100.3", "1"]], bids: [] }),
        prevSeqId: 4,
        seqId: 5,
      }),
    );
    expect(h.publisher.isValid(0)).toBe(true);
    expect(guards(h, 0)).toEqual({ checksum: true, sequence: true });
    const sent = h.sent.length;
    h.feed(
      books("update", "BTC-USDT", {
        asks: [["100.3", "2"]],
        checksum: raw.checksum(),
        prevSeqId: 5,
        seqId: 6,
      }),
    );
    expect(h.publisher.isValid(0)).toBe(false);
    expect(h.counters.checksumMismatches[0]).toBe(1);
    expect(resubscribes(h, sent)).toEqual(["unsubscribe BTC-USDT", "subscribe BTC-USDT"]);
  });

  test("the checksum is over the venue's own strings, also when they are not in plain form", () => {
    const h = harness([BTC]);
    const raw = new RawBook();
    const snapshot = {
      bids: [
        ["30236.10", "0.50000000"],
        ["30236", "1"],
      ] as Level[],
      asks: [["30236.2", "02.5"]] as Level[],
    };
    raw.apply(snapshot);
    const plain = new RawBook();
    plain.apply({
      bids: [
        ["30236.1", "0.5"],
        ["30236", "1"],
      ],
      asks: [["30236.2", "2.5"]],
    });
    expect(raw.checksum()).not.toBe(plain.checksum());
    h.feed(books("snapshot", "BTC-USDT", { ...snapshot, checksum: raw.checksum() }));
    expect(h.publisher.isValid(0)).toBe(true);
    // The same level written plainly now: its new spelling counts from here on.
    const step = (fields: { asks?: Level[]; bids?: Level[] }) => {
      const change = { asks: fields.asks ?? [], bids: fields.bids ?? [] };
      h.feed(books("update", "BTC-USDT", { ...change, checksum: checksumAfter(raw, change) }));
      expect(h.counters.checksumMismatches[0]).toBe(0);
    };
    step({ bids: [["30236.1", "0.5"]] });
    step({ asks: [["30236.3", "1.10"]] });
    step({ asks: [["30236.2", "0"]] });
    step({ bids: [["30236.0", "3"]] });
    expect(h.publisher.isValid(0)).toBe(true);
  });
});

/** Applies `change` to the reference book and returns the checksum OKX would then send. */
function checksumAfter(raw: RawBook, change: { asks: Level[]; bids: Level[] }): number {
  raw.apply(change);
  return raw.checksum();
}

describe("okx checksum cache", () => {
  test("the cached checksum, told each level, equals a fresh one and the reference after every change, sides of any length", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            isAsk: fc.boolean(),
            price: fc.integer({ min: 1, max: 60 }),
            size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 ** 12 })),
          }),
          { maxLength: 300 },
        ),
        (ops) => {
          const book = new OrderBook(OKX_BOOK_LEVELS);
          const cached = new OkxChecksum(2, 6);
          const raw = new RawBook();
          for (const { isAsk, price, size } of ops) {
            const px = isAsk ? 1000 + price : price;
            book.side(isAsk).set(px, size);
            cached.level(isAsk, px, null);
            const level: Level = [formatScaledTrimmed(px, 2), formatScaledTrimmed(size, 6)];
            raw.apply({ asks: isAsk ? [level] : [], bids: isAsk ? [] : [level] });
            const sum = cached.of(book);
            expect(sum).toBe(new OkxChecksum(2, 6).of(book));
            expect(sum).toBe(raw.checksum());
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("okx books in place", () => {
  test("random books read in place equal the JSON.parse path, checksums and spellings included", () => {
    const spelling = fc.constantFrom("plain", "trailing", "leading");
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            isAsk: fc.boolean(),
            offset: fc.integer({ min: 1, max: 40 }),
            size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 })),
            spelling,
          }),
          { minLength: 1, maxLength: 50 },
        ),
        (changes) => {
          const fast = harness([BTC], 10);
          const slow = harness([BTC], 10);
          const raw = new RawBook();
          const write = (value: number, decimals: number, how: string) => {
            const text = formatScaledTrimmed(value, decimals);
            if (how === "trailing" && value !== 0) return text.includes(".") ? `${text}0` : `${text}.0`;
            if (how === "leading" && value !== 0) return `0${text}`;
            return text;
          };
          const mid = 600_000;
          const snapshot = { bids: [] as Level[], asks: [] as Level[] };
          for (let i = 1; i <= 30; i++) {
            snapshot.bids.push([write(mid - i, 1, "plain"), write(i * 1_000_000, 8, "plain")]);
            snapshot.asks.push([write(mid + i, 1, "plain"), write(i * 3_000_000, 8, "plain")]);
          }
          raw.apply(snapshot);
          let fastParses = 0;
          let slowParses = 0;
          const feedBoth = (text: string) => {
            fastParses += jsonParseCalls(() => fast.feed(text));
            slowParses += jsonParseCalls(() => slow.feed(text.replace('"data":[', '"data": [')));
          };
          let seq = 10;
          feedBoth(
            books("snapshot", "BTC-USDT", {
              ...snapshot,
              checksum: raw.checksum(),
              prevSeqId: -1,
              seqId: seq,
            }),
          );
          for (const { isAsk, offset, size, spelling: how } of changes) {
            const px = write(isAsk ? mid + offset : mid - offset, 1, how);
            const level: Level = [px, write(size, 8, how)];
            const change = { asks: isAsk ? [level] : [], bids: isAsk ? [] : [level] };
            const checksum = checksumAfter(raw, change);
            feedBoth(books("update", "BTC-USDT", { ...change, checksum, prevSeqId: seq, seqId: seq + 3 }));
            seq += 3;
          }
          for (const h of [fast, slow]) {
            expect(h.counters.total(h.counters.checksumMismatches)).toBe(0);
            expect(h.publisher.isValid(0)).toBe(true);
          }
          expect(fastParses).toBe(0);
          expect(slowParses).toBe(changes.length + 1);
          expect(ringRecords(fast)).toEqual(ringRecords(slow));
          for (const h of harnesses.splice(0)) h.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  test("near misses of the layout are judged by the JSON path: errors counted, book invalidated", () => {
    const h = harness([BTC]);
    const snapshot = books("snapshot", "BTC-USDT", {
      bids: [["100.1", "1"]],
      asks: [["100.2", "3"]],
      prevSeqId: -1,
      seqId: 1,
    });
    const update = (sz: string) =>
      books("update", "BTC-USDT", { bids: [["100.1", sz]], prevSeqId: 1, seqId: 2 });
    const cases: [string, string][] = [
      [update("0.123456789"), "bad_decimal"], // more decimals than the instrument has
      [update("1").replace('"1","0"', '1,"0"'), "malformed"], // a size that is not a string
      [update("1").slice(0, -3), "malformed"], // cut short
    ];
    for (const [text, kind] of cases) {
      h.feed(snapshot);
      expect(h.publisher.isValid(0)).toBe(true);
      const before = h.counters.parseErrors.get(kind)!;
      const resyncs = h.counters.resyncs[0]!;
      h.feed(text);
      expect(h.counters.parseErrors.get(kind)).toBe(before + 1);
      // The book missed an update it could not read: it waits for a fresh snapshot.
      expect(h.publisher.isValid(0)).toBe(false);
      expect(h.counters.resyncs[0]).toBe(resyncs + 1);
    }
  });
});

describe("okx connection", () => {
  test("the runtime is asked to send the text ping after 15 s of quiet, inside OKX's 30 s; pong is a message", () => {
    const h = harness([BTC]);
    const [plan] = h.venue.streams;
    expect(plan!.keepalive).toEqual({ idleMs: 15_000, text: "ping" });
    // The answer to a ping counts as traffic long before the watchdog gives the link up.
    expect(plan!.watchdogMs).toBeGreaterThan(plan!.keepalive!.idleMs);
    h.open();
    h.feed("pong");
    expect(h.counters.messages.get("pong")).toBe(1);
    expect(h.counters.totalParseErrors()).toBe(0);
    expect(h.sent.filter((text) => text === "ping")).toEqual([]);
  });

  test("a service-upgrade notice rolls over; while both connections deliver, each message applies once", () => {
    // The runtime hands the venue one handle per planned connection, old and new alike.
    const h = harness([BTC, ETH]);
    h.open();
    const update = (instId: string, px: string, prevSeqId: number, seqId: number) =>
      books("update", instId, { bids: [[px, String(seqId)]], prevSeqId, seqId });
    const snapshot = (instId: string, px: string, seqId: number) =>
      books("snapshot", instId, { bids: [[px, String(seqId)]], prevSeqId: -1, seqId });
    h.feed(snapshot("BTC-USDT", "100.1", 10));
    h.feed(snapshot("ETH-USDT", "3000.01", 10));
    h.feed(
      '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a1"}',
    );
    expect(h.rollovers).toEqual(["okx service upgrade notice"]);
    const sent = h.sent.length;
    h.open(); // the new connection subscribes everything again
    expect(h.sent.slice(sent)).toEqual([
      '{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"},{"channel":"books","instId":"ETH-USDT"},{"channel":"trades","instId":"ETH-USDT"}]}',
    ]);
    h.feed(update("BTC-USDT", "100.1", 10, 12)); // old connection
    h.feed(snapshot("BTC-USDT", "100.1", 12)); // new: a snapshot of what is already held
    h.feed(update("BTC-USDT", "100.1", 12, 15)); // new
    h.feed(update("BTC-USDT", "100.1", 12, 15)); // old, behind: the same message again
    h.feed(update("ETH-USDT", "3000.01", 10, 14)); // old
    h.feed(snapshot("ETH-USDT", "3000.01", 20)); // new, ahead: the book moves to it
    h.feed(update("ETH-USDT", "3000.01", 14, 20)); // old, behind
    h.feed(update("ETH-USDT", "3000.01", 20, 22)); // new
    expect(h.counters.messages.get("books_duplicate")).toBe(3);
    expect(h.top(0, false, 1)).toEqual([[1001, 1_500_000_000]]);
    expect(h.top(1, false, 1)).toEqual([[300001, 22_000_000]]);
    // The old connection closes: the new one carries both books on.
    h.ingest.batch(() => h.venue.onClose(h, true));
    expect(h.publisher.isValid(0) && h.publisher.isValid(1)).toBe(true);
    expect(h.counters.total(h.counters.sequenceGaps)).toBe(0);
    expect(h.counters.total(h.counters.resyncs)).toBe(0);
    // With one connection, a message the book is already past is a break, not a duplicate.
    h.feed(update("BTC-USDT", "100.1", 12, 15));
    expect(h.publisher.isValid(0)).toBe(false);
    h.ingest.batch(() => h.venue.onClose(h, false));
    expect(h.publisher.isValid(1)).toBe(false);
  });

  test("an error event is counted and logged, never fatal; other channels and events are counted", () => {
    const h = harness([BTC]);
    h.feed('{"event":"error","code":"60014","msg":"Requests too frequent.","connId":"a1"}');
    h.feed('{"event":"channel-conn-count","channel":"books","connCount":"1","connId":"a1"}');
    h.feed('{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT"}]}');
    h.feed('{"something":"else"}');
    expect(h.counters.messages.get("error")).toBe(1);
    expect(h.counters.messages.get("channel-conn-count")).toBe(1);
    expect(h.counters.messages.get("tickers")).toBe(1);
    expect(h.counters.parseErrors.get("unknown_type")).toBe(1);
  });
});

describe("okx symbols", () => {
  test("BASE-QUOTE maps to live spot instruments with tickSz and lotSz; unknown and non-live ones are refused by name", async () => {
    const spot = parseCapture(await fixtureText("cryptofeed/OKX.0")).find(
      (e) => e.kind === "rest" && e.url.endsWith("instType=SPOT"),
    )!;
    const instruments = parseInstruments(JSON.parse(spot.kind === "rest" ? spot.text : ""));
    expect(instruments.length).toBeGreaterThan(400);
    expect(mapOkxSymbols(["BTC-USDT", "ETH-USDT"], instruments)).toEqual([
      { venueSymbol: "BTC-USDT", symbol: "BTC-USDT", priceDecimals: 1, sizeDecimals: 8 },
      { venueSymbol: "ETH-USDT", symbol: "ETH-USDT", priceDecimals: 2, sizeDecimals: 6 },
    ]);
    expect(() => mapOkxSymbols(["FOO-BAR"], instruments)).toThrow(UnknownSymbolError);
    expect(() => mapOkxSymbols(["FOO-BAR"], instruments)).toThrow(/FOO-BAR/);
    const suspended = instruments.map((i) => (i.instId === "BTC-USDT" ? { ...i, state: "suspend" } : i));
    expect(() => mapOkxSymbols(["BTC-USDT"], suspended)).toThrow(/suspend/);
    expect(() => parseInstruments({ code: "51000", msg: "Parameter instType error", data: [] })).toThrow(
      /51000/,
    );
  });
});
