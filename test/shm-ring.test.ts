// The ring in one process: wraparound, gap accounting, symbol table, latest-book area,
// generations, a file taken up again after its writer died, refusal of foreign files, the
// single-writer lock.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { RingFormatError } from "../src/shm/header.ts";
import {
  BookIntegrity,
  BookStatus,
  FORMAT_VERSION,
  H,
  integrityChecks,
  NO_SYMBOL,
  RecordFlag,
  RecordType,
  RingState,
  type SymbolSpec,
} from "../src/shm/layout.ts";
import { RecordView, RingReader, type RingSink } from "../src/shm/ring-reader.ts";
import { RingBusyError, RingWriter } from "../src/shm/ring-writer.ts";

const DIR = `/dev/shm/ap-test-shm-${process.pid}`;
const SYMBOLS: SymbolSpec[] = [
  { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  { venueSymbol: "ETH/USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 8 },
];

beforeAll(() => mkdirSync(DIR, { recursive: true }));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

let ringCounter = 0;
function newWriter(capacity = 64, depth = 5): RingWriter {
  return RingWriter.create({
    dir: DIR,
    name: `ring${++ringCounter}`,
    exchange: "kraken",
    capacity,
    bookDepth: depth,
    symbols: SYMBOLS,
  });
}

/** Collects what a reader delivers: sequences and gaps, in order. */
class Collector implements RingSink {
  seqs: number[] = [];
  prices: number[] = [];
  sizes: number[] = [];
  gaps: Array<[number, number]> = [];
  record(r: RecordView): void {
    this.seqs.push(r.seq);
    this.prices.push(r.price);
    this.sizes.push(r.size);
  }
  gap(fromSeq: number, lost: number): void {
    this.gaps.push([fromSeq, lost]);
  }
}

function writeTrades(writer: RingWriter, n: number, priceOf = (seq: number) => seq * 10): void {
  for (let i = 0; i < n; i++) {
    const seq = writer.nextSeq;
    writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, priceOf(seq), 1, seq);
  }
}

describe("records", () => {
  test("round-trip every field exactly, including negative and 2^53-scale values", () => {
    const writer = newWriter();
    const reader = RingReader.open(writer.path, "latest");
    writer.setFrameTimes(1_790_000_000, 123_456_789, 1_790_000_001, 999_999_999);
    const big = Number.MAX_SAFE_INTEGER;
    writer.append(RecordType.BookLevel, RecordFlag.Side | RecordFlag.Snapshot, 1, big, -big, -42);
    writer.append(RecordType.Trade, RecordFlag.Side | RecordFlag.BatchEnd, 0xffff, 0, 2 ** 32 + 5, 2 ** 40);
    const seen: RecordView[] = [];
    reader.poll(
      {
        record: (r) => seen.push(Object.assign(new RecordView(), r)),
        gap: () => {
          throw new Error("no gap expected");
        },
      },
      new RecordView(),
    );
    expect(seen.length).toBe(2);
    const [level, trade] = seen as [RecordView, RecordView];
    expect(level).toMatchObject({
      type: RecordType.BookLevel,
      flags: RecordFlag.Side | RecordFlag.Snapshot,
      symbolId: 1,
      seq: 1,
      price: big,
      size: -big,
      aux: -42,
      exchangeSec: 1_790_000_000,
      exchangeNsec: 123_456_789,
      receiveSec: 1_790_000_001,
      receiveNsec: 999_999_999,
    });
    expect(trade).toMatchObject({ seq: 2, symbolId: 0xffff, size: 2 ** 32 + 5, aux: 2 ** 40 });
    // Publish time is the shared clock at the batch's start: within a second of now.
    expect(Math.abs(level.publishSec - Date.now() / 1000)).toBeLessThan(5);
    expect(trade.publishSec * 1e9 + trade.publishNsec).toBe(level.publishSec * 1e9 + level.publishNsec);
    writer.close();
    reader.close();
  });

  test("the header cursor moves only at batch ends", () => {
    const writer = newWriter();
    const reader = RingReader.open(writer.path, "latest");
    writer.append(RecordType.BookLevel, 0, 0, 1, 1, 0);
    writer.append(RecordType.BookLevel, 0, 0, 2, 1, 0);
    expect(reader.writerNextSeq()).toBe(1);
    writer.append(RecordType.BookLevel, RecordFlag.BatchEnd, 0, 3, 1, 0);
    expect(reader.writerNextSeq()).toBe(4);
    writer.close();
  });
});

describe("wraparound and gaps", () => {
  test("a reader that keeps up sees every record across many wraps", () => {
    const writer = newWriter(64);
    const reader = RingReader.open(writer.path, "latest");
    const got = new Collector();
    const view = new RecordView();
    for (let round = 0; round < 50; round++) {
      writeTrades(writer, 37);
      reader.poll(got, view);
    }
    expect(got.gaps).toEqual([]);
    expect(got.seqs).toEqual(Array.from({ length: 50 * 37 }, (_, i) => i + 1));
    expect(got.prices).toEqual(got.seqs.map((s) => s * 10));
  });

  test("a lapped reader learns exactly how many it lost and resumes at the oldest record", () => {
    const writer = newWriter(64);
    const reader = RingReader.open(writer.path, "latest");
    const got = new Collector();
    const view = new RecordView();
    writeTrades(writer, 10);
    reader.poll(got, view, 4); // read 1..4
    writeTrades(writer, 200); // now 210 written; 147..210 remain, 147 is next to be overwritten
    reader.poll(got, view);
    expect(got.gaps).toEqual([[5, 143]]);
    expect(got.seqs.slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(got.seqs.slice(4)).toEqual(Array.from({ length: 63 }, (_, i) => 148 + i));
    expect(reader.lost).toBe(143);
    // Every sequence 1..210 is either delivered or counted lost, once.
    expect(got.seqs.length + reader.lost).toBe(210);
  });

  test("start positions: latest, oldest and an explicit sequence", () => {
    const writer = newWriter(64);
    writeTrades(writer, 100);
    const view = new RecordView();
    const oldest = new Collector();
    RingReader.open(writer.path, "oldest").poll(oldest, view);
    // 37..100 are all there, but 37 shares its slot with 101, the next record written.
    expect(oldest.seqs[0]).toBe(100 - 64 + 2);
    expect(oldest.gaps).toEqual([]);
    const latest = new Collector();
    RingReader.open(writer.path, "latest").poll(latest, view);
    expect(latest.seqs).toEqual([]);
    const from = new Collector();
    RingReader.open(writer.path, 90).poll(from, view);
    expect(from.seqs).toEqual(Array.from({ length: 11 }, (_, i) => 90 + i));
  });
});

describe("symbol table and latest books", () => {
  test("the symbol table carries venue and normalized names and both scales", () => {
    const writer = newWriter();
    const reader = RingReader.open(writer.path);
    expect(reader.symbols).toEqual(SYMBOLS.map((s, id) => ({ ...s, id })));
    expect(reader.exchange).toBe("kraken");
    expect(reader.symbolId("ETH-USD")).toBe(1);
    expect(reader.symbolId("DOGE-USD")).toBe(-1);
  });

  test("a book copy is the last book written, truncated to the ring's depth", () => {
    const writer = newWriter(64, 3);
    const reader = RingReader.open(writer.path);
    const copy = reader.newBookCopy();
    expect(reader.readBook(0, copy)).toBe(true);
    expect(copy).toMatchObject({ status: BookStatus.Unknown, bidCount: 0, askCount: 0 });
    writer.setFrameTimes(1_790_000_000, 5, 0, 0);
    writer.append(RecordType.BookClear, 0, 1, 0, 0, 0);
    const snapshotEnd = writer.append(
      RecordType.BookLevel,
      RecordFlag.Snapshot | RecordFlag.BatchEnd,
      1,
      40,
      1,
      0,
    );
    writer.writeBook(
      1,
      BookStatus.Valid,
      { count: 4, prices: [40, 39, 38, 37], sizes: [1, 2, 3, 4] },
      { count: 2, prices: [41, 42], sizes: [5, 6] },
      123456,
    );
    expect(reader.readBook(1, copy)).toBe(true);
    expect(copy.status).toBe(BookStatus.Valid);
    expect(copy.bidCount).toBe(3);
    expect([...copy.bidPrices.slice(0, 3)]).toEqual([40, 39, 38]);
    expect([...copy.bidSizes.slice(0, 3)]).toEqual([1, 2, 3]);
    expect(copy.askCount).toBe(2);
    expect([...copy.askPrices.slice(0, 2)]).toEqual([41, 42]);
    expect(copy).toMatchObject({
      lastSeq: snapshotEnd,
      venueSeq: 123456,
      exchangeSec: 1_790_000_000,
      exchangeNsec: 5,
    });
    // A status record alone moves the entry: new status, same levels.
    const invalid = writer.append(RecordType.BookStatus, RecordFlag.BatchEnd, 1, 1, 0, BookStatus.Invalid);
    expect(reader.readBook(1, copy)).toBe(true);
    expect(copy.status).toBe(BookStatus.Invalid);
    expect(copy.bidCount).toBe(3);
    expect(copy.lastSeq).toBe(invalid);
    expect(() => reader.readBook(2, copy)).toThrow(RangeError);
  });

  test("each entry's integrity word: zero at first, set alone, kept by writes of the entry and by a copy", () => {
    const writer = newWriter(64, 3);
    const reader = RingReader.open(writer.path);
    const copy = reader.newBookCopy();
    expect([reader.integrity(0), reader.integrity(1)]).toEqual([0, 0]);
    const both = BookIntegrity.checksum | BookIntegrity.sequence;
    writer.setIntegrity(0, both);
    writer.setIntegrity(1, BookIntegrity.sequence);
    expect([reader.integrity(0), reader.integrity(1)]).toEqual([both, BookIntegrity.sequence]);
    expect(integrityChecks(reader.integrity(0))).toEqual(["checksum", "sequence"]);
    expect(integrityChecks(0)).toEqual([]);
    // Levels, status records and trades rewrite the entry around the word, never over it.
    writer.append(RecordType.BookClear, 0, 0, 0, 0, 0);
    writer.append(RecordType.BookLevel, RecordFlag.Snapshot | RecordFlag.BatchEnd, 0, 40, 1, 0);
    writer.writeBook(
      0,
      BookStatus.Valid,
      { count: 1, prices: [40], sizes: [1] },
      { count: 0, prices: [], sizes: [] },
      9,
    );
    writer.append(RecordType.BookStatus, RecordFlag.BatchEnd, 1, 1, 0, BookStatus.Invalid);
    expect(reader.readBook(0, copy)).toBe(true);
    expect(copy.integrity).toBe(both);
    expect(reader.readBook(1, copy)).toBe(true);
    expect(copy.integrity).toBe(BookIntegrity.sequence);
    // A writer that starts from this one's entries (a relay's copy) carries the words on.
    const { base, count } = writer.connectionCounts();
    const relay = RingWriter.create({
      dir: DIR,
      name: `ring${++ringCounter}`,
      exchange: "kraken",
      capacity: 64,
      bookDepth: 3,
      symbols: SYMBOLS,
      start: {
        firstSeq: writer.nextSeq,
        connectionBase: base,
        connectionCount: count,
        entries: writer.copyEntries()!,
      },
    });
    const relayed = RingReader.open(relay.path);
    expect([relayed.integrity(0), relayed.integrity(1)]).toEqual([both, BookIntegrity.sequence]);
    expect(() => relayed.integrity(2)).toThrow(RangeError);
    for (const r of [reader, relayed]) r.close();
    relay.close();
    writer.close();
  });
});

describe("topic counts", () => {
  const side = (prices: number[], sizes: number[]) => ({ count: prices.length, prices, sizes });
  const entry = (reader: RingReader, id: number) => {
    const copy = reader.newBookCopy();
    expect(reader.readBook(id, copy)).toBe(true);
    return copy;
  };

  test("the writer counts each topic's messages in the entry, as of its lastSeq", () => {
    const writer = newWriter(64, 3);
    const reader = RingReader.open(writer.path);
    writer.setFrameTimes(0, 0, 0, 0);
    // A snapshot batch: one book message; the top moved from nothing: one bbo message.
    writer.append(RecordType.BookClear, 0, 0, 0, 0, 0);
    writer.append(RecordType.BookLevel, RecordFlag.Snapshot, 0, 100, 5, 0);
    writer.append(
      RecordType.BookLevel,
      RecordFlag.Snapshot | RecordFlag.Side | RecordFlag.BatchEnd,
      0,
      101,
      6,
      0,
    );
    writer.writeBook(0, BookStatus.Valid, side([100], [5]), side([101], [6]), 0);
    expect(entry(reader, 0)).toMatchObject({ bookCount: 1, tradeCount: 0, bboCount: 1, lastSeq: 3 });
    // A level below the top: a book message, no bbo one.
    writer.append(RecordType.BookLevel, RecordFlag.BatchEnd, 0, 99, 2, 0);
    writer.writeBook(0, BookStatus.Valid, side([100, 99], [5, 2]), side([101], [6]), 0);
    expect(entry(reader, 0)).toMatchObject({ bookCount: 2, bboCount: 1, lastSeq: 4 });
    // Two trades in one batch are counted; the entry moves for trades only every capacity / 8
    // records (here 8), so it still stands at 4.
    writer.append(RecordType.Trade, 0, 0, 101, 1, 1);
    writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 101, 1, 2);
    expect(writer.counts(0).trade).toBe(2);
    expect(entry(reader, 0)).toMatchObject({ bookCount: 2, tradeCount: 0, lastSeq: 4, bidCount: 2 });
    // The best bid's size changes: book and bbo messages.
    writer.append(RecordType.BookLevel, RecordFlag.BatchEnd, 0, 100, 7, 0);
    writer.writeBook(0, BookStatus.Valid, side([100, 99], [7, 2]), side([101], [6]), 0);
    expect(entry(reader, 0)).toMatchObject({ bookCount: 3, bboCount: 2, lastSeq: 7 });
    // A book batch not yet in the entry: a trade after it must not move the entry past it.
    writer.append(RecordType.BookLevel, RecordFlag.BatchEnd, 0, 98, 1, 0);
    writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 101, 1, 3);
    expect(entry(reader, 0)).toMatchObject({ bookCount: 3, tradeCount: 2, lastSeq: 7 });
    writer.writeBook(0, BookStatus.Valid, side([100, 99, 98], [7, 2, 1]), side([101], [6]), 0);
    expect(entry(reader, 0)).toMatchObject({ bookCount: 4, tradeCount: 3, bboCount: 2, lastSeq: 9 });
    // A status record is a book message of its own and sets the entry's status.
    writer.append(RecordType.BookStatus, RecordFlag.BatchEnd, 0, 1, 0, BookStatus.Invalid);
    expect(entry(reader, 0)).toMatchObject({ bookCount: 5, status: BookStatus.Invalid, lastSeq: 10 });
    // Trades alone move it once 8 records have passed since it was written (at 10).
    for (let id = 1; id <= 7; id++) writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 101, 1, 3 + id);
    expect(entry(reader, 0)).toMatchObject({ tradeCount: 3, lastSeq: 10 });
    writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 101, 1, 11);
    expect(entry(reader, 0)).toMatchObject({ tradeCount: 11, lastSeq: 18, status: BookStatus.Invalid });
    // Connection records carry their own count; the header keeps the latest.
    writer.append(RecordType.ConnectionStatus, RecordFlag.BatchEnd, NO_SYMBOL, 0, 0, 1);
    writer.append(RecordType.ConnectionStatus, RecordFlag.BatchEnd, NO_SYMBOL, 0, 0, 2);
    expect(reader.connectionCount()).toBe(2);
    const records = new Collector();
    reader.seek(19);
    reader.poll(records, new RecordView());
    expect(records.seqs).toEqual([19, 20]);
    expect(records.sizes).toEqual([1, 2]);
    expect(entry(reader, 1)).toMatchObject({ bookCount: 0, tradeCount: 0, bboCount: 0, lastSeq: 0 });
    expect(writer.counts(0)).toEqual({ book: 5, trade: 11, bbo: 2 });
    reader.close();
    writer.close();
  });

  test("a new generation continues each symbol's counts, one past the old (the restart notice)", () => {
    // The last trade is not in its entry until close() brings every entry up to date.
    const first = newWriter(64, 3);
    const name = `ring${ringCounter}`;
    first.setFrameTimes(0, 0, 0, 0);
    first.append(RecordType.BookClear, 0, 1, 0, 0, 0);
    first.append(RecordType.BookLevel, RecordFlag.Snapshot | RecordFlag.BatchEnd, 1, 100, 5, 0);
    first.writeBook(1, BookStatus.Valid, side([100], [5]), side([], []), 0);
    first.append(RecordType.Trade, RecordFlag.BatchEnd, 1, 100, 1, 1);
    first.append(RecordType.ConnectionStatus, RecordFlag.BatchEnd, NO_SYMBOL, 0, 0, 1);
    first.close();
    const second = RingWriter.create({
      dir: DIR,
      name,
      exchange: "kraken",
      capacity: 64,
      bookDepth: 3,
      symbols: [
        SYMBOLS[1]!,
        { venueSymbol: "SOL/USD", symbol: "SOL-USD", priceDecimals: 2, sizeDecimals: 8 },
      ],
    });
    const reader = RingReader.open(second.path);
    expect(reader.generation).toBe(2);
    // ETH-USD moved from id 1 to id 0: its counts follow the name. SOL-USD is new: from zero.
    expect(entry(reader, 0)).toMatchObject({
      bookBase: 2,
      tradeBase: 2,
      bboBase: 2,
      bookCount: 2,
      lastSeq: 0,
    });
    expect(entry(reader, 1)).toMatchObject({ bookBase: 0, tradeBase: 0, bboBase: 0, bookCount: 0 });
    expect(reader.connectionBase()).toBe(2);
    expect(reader.connectionCount()).toBe(2);
    reader.close();
    second.close();
  });
});

describe("generations and files", () => {
  test("a new writer makes a new generation, retires the old file, and readers notice", () => {
    const first = newWriter(64);
    const name = `ring${ringCounter}`;
    writeTrades(first, 5);
    const reader = RingReader.open(first.path, "oldest");
    expect(reader.generation).toBe(1);
    expect(reader.state()).toBe(RingState.Live);
    expect(reader.replaced()).toBe(false);
    first.close();
    expect(reader.state()).toBe(RingState.Closed);
    const second = RingWriter.create({
      dir: DIR,
      name,
      exchange: "kraken",
      capacity: 128,
      bookDepth: 5,
      symbols: SYMBOLS,
    });
    expect(second.generation).toBe(2);
    expect(reader.replaced()).toBe(true);
    expect(reader.state()).toBe(RingState.Retired);
    const again = RingReader.open(second.path, "oldest");
    expect(again.generation).toBe(2);
    expect(again.capacity).toBe(128);
    const got = new Collector();
    writeTrades(second, 3);
    again.poll(got, new RecordView());
    expect(got.seqs).toEqual([1, 2, 3]); // a new stream: sequences start again
    second.close();
  });

  test("a writer killed inside a batch: reopen takes its file up in the same generation, counts recounted, the open batch never seen", async () => {
    const killed = Bun.spawn(
      ["bun", `${import.meta.dir}/support/dead-writer.ts`, DIR, "killed", "kraken", "BTC-USD,ETH-USD", "300"],
      { stdout: "ignore", stderr: "pipe" },
    );
    await killed.exited;
    expect({ signal: killed.signalCode, stderr: await new Response(killed.stderr).text() }).toEqual({
      signal: "SIGKILL",
      stderr: "",
    });
    const options = {
      dir: DIR,
      name: "killed",
      exchange: "kraken",
      capacity: 1024,
      bookDepth: 10,
      symbols: ["BTC-USD", "ETH-USD"].map((symbol) => ({
        venueSymbol: symbol,
        symbol,
        priceDecimals: 1,
        sizeDecimals: 8,
      })),
    };
    const source = { createdMs: 1, generation: 1, oldestSeq: 1 };
    const reader = RingReader.open(`${DIR}/killed.ring`, "oldest");
    expect(() => RingWriter.reopen(options, { ...source, generation: 2 })).toThrow(
      /it copies generation 1, the stream's is 2/,
    );
    expect(() => RingWriter.reopen(options, { ...source, oldestSeq: 3 })).toThrow(
      /the stream no longer holds message 2/,
    );
    const writer = RingWriter.reopen(options, source);
    expect(writer.generation).toBe(1);
    expect(writer.nextSeq).toBe(301);
    // 300 trades, though the entry was last anchored at 256 (every capacity / 8 records).
    expect(writer.counts(0)).toEqual({ book: 0, trade: 300, bbo: 0 });
    expect(RingReader.open(writer.path, "latest").writerPid).toBe(process.pid);
    writeTrades(writer, 2);
    const got = new Collector();
    reader.poll(got, new RecordView());
    expect(reader.replaced()).toBe(false);
    expect(reader.state()).toBe(RingState.Live);
    expect(got.seqs).toEqual(Array.from({ length: 302 }, (_, i) => i + 1));
    expect(got.prices.slice(-2)).toEqual([3010, 3020]); // the killed batch's record is gone
    writer.close();
    const again = RingWriter.reopen(options, source); // closed cleanly this time
    expect(again.generation).toBe(1);
    expect(again.counts(0)).toEqual({ book: 0, trade: 302, bbo: 0 });
    again.close();
  });

  test("reopen refuses a file it cannot continue, saying why, and leaves the lock free", () => {
    const source = { createdMs: 5, generation: 1, oldestSeq: 1 };
    const options = (name: string, capacity = 64) => ({
      dir: DIR,
      name,
      exchange: "kraken",
      capacity,
      bookDepth: 5,
      symbols: SYMBOLS,
    });
    expect(() => RingWriter.reopen(options("nothing-here"), source)).toThrow(/no file to continue/);
    const collectors = newWriter(64);
    collectors.close();
    expect(() => RingWriter.reopen(options(`ring${ringCounter}`), source)).toThrow(/copies no stream/);
    const unwritten = newWriter(64);
    unwritten.setSource(5, 1, 0);
    unwritten.append(RecordType.BookLevel, RecordFlag.BatchEnd, 0, 100, 1, 1); // its entry never written
    unwritten.close();
    expect(() => RingWriter.reopen(options(`ring${ringCounter}`), source)).toThrow(
      /never reached the entry of BTC-USD/,
    );
    const other = newWriter(64);
    other.setSource(5, 1, 0);
    other.close();
    expect(() => RingWriter.reopen(options(`ring${ringCounter}`, 128), source)).toThrow(
      /capacity is 64, not 128/,
    );
    expect(() => RingWriter.reopen(options(`ring${ringCounter}`), { ...source, createdMs: 6 })).toThrow(
      /copies another stream/,
    );
    RingWriter.reopen(options(`ring${ringCounter}`), source).close();
  });

  test("one writer per ring: a second writer is refused while the first lives", () => {
    const writer = newWriter();
    expect(() =>
      RingWriter.create({
        dir: DIR,
        name: `ring${ringCounter}`,
        exchange: "kraken",
        capacity: 64,
        bookDepth: 5,
        symbols: SYMBOLS,
      }),
    ).toThrow(RingBusyError);
    writer.close();
  });

  test("a new ring's pages are mapped in behind the writer's back, so appends never fault", async () => {
    const writer = newWriter(1 << 14); // 1 MiB of slots
    const resident = () => {
      const stat = statSync(writer.path);
      return (stat.blocks * 512) / stat.size;
    };
    expect(resident()).toBeLessThan(0.1); // create did not wait for them
    const deadline = Date.now() + 5000;
    while (resident() < 1 && Date.now() < deadline) await Bun.sleep(5);
    expect(resident()).toBe(1);
    writer.close();
  });

  test("files are created owner read-write, group read", async () => {
    const writer = newWriter();
    const mode = (await Bun.file(writer.path).stat()).mode & 0o777;
    expect(mode).toBe(0o640);
    writer.close();
  });

  test("a file with the wrong magic or version is refused with a clear error", () => {
    const foreign = `${DIR}/foreign.ring`;
    writeFileSync(foreign, Buffer.alloc(8192, 7));
    expect(() => RingReader.open(foreign)).toThrow(/bad magic .*not an AlphaPulse ring/);
    const writer = newWriter();
    const bytes = Buffer.from(require("node:fs").readFileSync(writer.path));
    bytes.writeUInt32LE(99, H.version);
    const future = `${DIR}/future.ring`;
    writeFileSync(future, bytes);
    expect(() => RingReader.open(future)).toThrow(RingFormatError);
    expect(() => RingReader.open(future)).toThrow(
      new RegExp(`format version 99; this reader understands ${FORMAT_VERSION}`),
    );
    writeFileSync(`${DIR}/short.ring`, Buffer.alloc(100));
    expect(() => RingReader.open(`${DIR}/short.ring`)).toThrow(/smaller than a header/);
    expect(() => RingReader.open(`${DIR}/missing.ring`)).toThrow(/No such file/);
    writer.close();
  });

  test("a header whose regions or slot size do not fit the file is refused, not mapped", () => {
    const writer = newWriter();
    const good = Buffer.from(require("node:fs").readFileSync(writer.path));
    writer.close();
    const damaged = (edit: (bytes: Buffer) => void) => {
      const bytes = Buffer.from(good);
      edit(bytes);
      const path = `${DIR}/damaged.ring`;
      writeFileSync(path, bytes);
      return () => RingReader.open(path);
    };
    expect(damaged((b) => b.writeBigUInt64LE(BigInt(good.length), H.slotsOffset))).toThrow(
      /record slots at \d+ \(4096 bytes\) lies outside the file/,
    );
    expect(damaged((b) => b.writeUInt32LE(1 << 20, H.symbolCount))).toThrow(
      /symbol table .* outside the file/,
    );
    expect(damaged((b) => b.writeUInt32LE(128, H.slotSize))).toThrow(/slot size 128, expected 64/);
    expect(damaged((b) => b.writeBigUInt64LE(BigInt(good.length + 4096), H.fileSize))).toThrow(/header says/);
    expect(damaged(() => {})().symbols).toHaveLength(SYMBOLS.length);
  });

  test("bad writer options are refused before anything is created", () => {
    const make = (capacity: number, bookDepth: number, symbols = SYMBOLS) =>
      RingWriter.create({ dir: DIR, name: "bad", exchange: "x", capacity, bookDepth, symbols });
    expect(() => make(100, 5)).toThrow(/power of two/);
    expect(() => make(64, 0)).toThrow(/book depth/);
    expect(() => make(64, 5, [SYMBOLS[0]!, SYMBOLS[0]!])).toThrow(/appears twice/);
    expect(() => make(64, 5, [{ ...SYMBOLS[0]!, priceDecimals: 19 }])).toThrow(/decimals/);
    expect(() => make(64, 5, [{ ...SYMBOLS[0]!, venueSymbol: "X".repeat(30) }])).toThrow(/shorter than 24/);
  });
});
