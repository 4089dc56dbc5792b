// Property tests of the record codec: any record the writer can be given comes back from a
// reader field for field, across wraparound, and a book entry round-trips at any depth.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import fc from "fast-check";
import { BookStatus, NO_SYMBOL, RecordFlag, RecordType } from "../src/shm/layout.ts";
import { RecordView, RingReader } from "../src/shm/ring-reader.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";
import { readI64, writeI64 } from "../src/shm/words.ts";

const DIR = `/dev/shm/ap-test-codec-${process.pid}`;
beforeAll(() => mkdirSync(DIR, { recursive: true }));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const safeInt = fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const nsec = fc.integer({ min: 0, max: 999_999_999 });
const recordArb = fc.record({
  type: fc.constantFrom(
    RecordType.Trade,
    RecordType.BookLevel,
    RecordType.BookClear,
    RecordType.BookStatus,
    RecordType.ConnectionStatus,
  ),
  flags: fc.integer({ min: 0, max: 255 }),
  symbolId: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(NO_SYMBOL)),
  price: safeInt,
  size: safeInt,
  aux: safeInt,
  exchangeSec: u32,
  exchangeNsec: nsec,
  receiveSec: u32,
  receiveNsec: nsec,
});

test("an i64 word pair is the little-endian two's complement of the value and reads back, on both sides of the i32 range", () => {
  const edges = [0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 32, -(2 ** 32)];
  const check = (value: number) => {
    const words = new Int32Array(2);
    writeI64(words, 0, value);
    expect(new DataView(words.buffer).getBigInt64(0, true)).toBe(BigInt(value));
    // Read back through both paths (fits an i32 or not); + 0 folds -0 into 0.
    expect(readI64(words, 0) + 0).toBe(value + 0);
  };
  for (const value of [...edges, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) check(value);
  fc.assert(fc.property(safeInt, (value) => check(value)));
});

test("every field of any record round-trips exactly, across many wraps of a small ring", () => {
  const writer = RingWriter.create({
    dir: DIR,
    name: "codec",
    exchange: "prop",
    capacity: 64,
    bookDepth: 4,
    symbols: [0, 1, 2, 3].map((i) => ({
      venueSymbol: `V${i}`,
      symbol: `S${i}-USD`,
      priceDecimals: 8,
      sizeDecimals: 8,
    })),
  });
  const reader = RingReader.open(writer.path, "latest");
  const view = new RecordView();
  let connectionRecords = 0;
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 50 }), (records) => {
      const firstSeq = writer.nextSeq;
      records.forEach((r, i) => {
        writer.setFrameTimes(r.exchangeSec, r.exchangeNsec, r.receiveSec, r.receiveNsec);
        // The batch flag is the writer's business: force it on the last record only.
        const flags =
          i === records.length - 1 ? r.flags | RecordFlag.BatchEnd : r.flags & ~RecordFlag.BatchEnd;
        writer.append(r.type, flags, r.symbolId, r.price, r.size, r.aux);
      });
      const got: RecordView[] = [];
      reader.poll(
        {
          record: (v) => got.push(Object.assign(new RecordView(), v)),
          gap: () => {
            throw new Error("a reader that keeps up never sees a gap");
          },
        },
        view,
      );
      expect(got.length).toBe(records.length);
      got.forEach((v, i) => {
        const r = records[i]!;
        const flags =
          i === records.length - 1 ? r.flags | RecordFlag.BatchEnd : r.flags & ~RecordFlag.BatchEnd;
        // A connection status record carries the writer's count of them in its size.
        const size = r.type === RecordType.ConnectionStatus ? ++connectionRecords : r.size;
        expect({ ...v, publishSec: 0, publishNsec: 0 }).toEqual(
          Object.assign(new RecordView(), {
            ...r,
            flags,
            size,
            seq: firstSeq + i,
            publishSec: 0,
            publishNsec: 0,
          }),
        );
      });
    }),
    { numRuns: 300 },
  );
  writer.close();
  reader.close();
});

test("a latest-book entry round-trips any levels at any count up to its depth", () => {
  const depth = 8;
  const writer = RingWriter.create({
    dir: DIR,
    name: "codec-book",
    exchange: "prop",
    capacity: 64,
    bookDepth: depth,
    symbols: [{ venueSymbol: "V", symbol: "S-USD", priceDecimals: 2, sizeDecimals: 8 }],
  });
  const reader = RingReader.open(writer.path);
  const copy = reader.newBookCopy();
  const side = fc.array(fc.tuple(safeInt, safeInt), { maxLength: depth + 4 });
  fc.assert(
    fc.property(side, side, fc.nat(), (bids, asks, venueSeq) => {
      const source = (levels: [number, number][]) => ({
        count: levels.length,
        prices: levels.map((l) => l[0]),
        sizes: levels.map((l) => l[1]),
      });
      writer.writeBook(0, BookStatus.Valid, source(bids), source(asks), venueSeq);
      expect(reader.readBook(0, copy)).toBe(true);
      const kept = (levels: [number, number][]) => levels.slice(0, depth);
      expect(copy.bidCount).toBe(kept(bids).length);
      expect(copy.askCount).toBe(kept(asks).length);
      kept(bids).forEach(([price, size], i) => {
        expect([copy.bidPrices[i], copy.bidSizes[i]]).toEqual([price, size]);
      });
      kept(asks).forEach(([price, size], i) => {
        expect([copy.askPrices[i], copy.askSizes[i]]).toEqual([price, size]);
      });
      expect(copy.venueSeq).toBe(venueSeq);
    }),
    { numRuns: 300 },
  );
  writer.close();
});
