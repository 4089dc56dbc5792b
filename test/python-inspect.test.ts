// `alphapulse inspect` on a ring written here by the real RingWriter: the text and --json
// reports, a directory of rings, clear failures on bad input, and agreement with the Python
// reader (python/alphapulse_shm) on the same file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { RingReport } from "../src/cli/inspect.ts";
import {
  BookStatus,
  ConnectionState,
  NO_SYMBOL,
  RecordFlag,
  RecordType,
  StatusReason,
} from "../src/shm/layout.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";

const REPO = path.resolve(import.meta.dir, "..");
const DIR = `/dev/shm/ap-test-python-inspect-${process.pid}`;
const SYMBOLS = [
  { venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  { venueSymbol: "PEPE/USD", symbol: "PEPE-USD", priceDecimals: 12, sizeDecimals: 0 },
];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function alphapulse(args: string[]): Promise<Ran> {
  const child = Bun.spawn([process.execPath, path.join(REPO, "src/main.ts"), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, SHARED_MEMORY_PATH: DIR },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

/** kraken.ring: a snapshot, a delta, trades (one at 2^53 - 1), a book status, a connection status. */
function writeKraken(): void {
  const w = RingWriter.create({
    dir: DIR,
    name: "kraken",
    exchange: "kraken",
    capacity: 64,
    bookDepth: 3,
    symbols: SYMBOLS,
  });
  w.setFrameTimes(1_700_000_000, 5, 1_700_000_000, 900);
  w.append(
    RecordType.ConnectionStatus,
    RecordFlag.BatchEnd,
    NO_SYMBOL,
    StatusReason.None,
    0,
    ConnectionState.Connected,
  );
  w.append(RecordType.BookClear, 0, 0, StatusReason.Snapshot, 0, 0);
  w.append(RecordType.BookLevel, RecordFlag.Snapshot, 0, 452_834, 50_000_000, 0);
  w.append(RecordType.BookLevel, RecordFlag.Snapshot, 0, 452_830, 1, 0);
  w.append(
    RecordType.BookLevel,
    RecordFlag.Snapshot | RecordFlag.Side | RecordFlag.BatchEnd,
    0,
    452_835,
    120_000_000,
    0,
  );
  const bids = { count: 2, prices: [452_834, 452_830], sizes: [50_000_000, 1] };
  w.writeBook(0, BookStatus.Valid, bids, { count: 1, prices: [452_835], sizes: [120_000_000] }, 77);
  w.append(RecordType.Trade, RecordFlag.Side, 0, 452_835, 25_000_000, 1001);
  w.append(
    RecordType.Trade,
    RecordFlag.SideUnknown | RecordFlag.BatchEnd,
    0,
    Number.MAX_SAFE_INTEGER,
    1,
    1002,
  );
  w.append(RecordType.Trade, RecordFlag.BatchEnd, 1, 1_234_567, 42, 0);
  w.append(
    RecordType.BookStatus,
    RecordFlag.BatchEnd,
    1,
    StatusReason.ChecksumMismatch,
    0,
    BookStatus.Invalid,
  );
  w.close();
}

beforeAll(() => {
  mkdirSync(DIR, { recursive: true });
  writeKraken();
  const other = RingWriter.create({
    dir: DIR,
    name: "binance",
    exchange: "binance",
    capacity: 64,
    bookDepth: 1,
    symbols: [SYMBOLS[0]!],
  });
  other.close();
  writeFileSync(path.join(DIR, "junk.bin"), "x".repeat(5000));
});
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe("alphapulse inspect", () => {
  test("text report shows header, symbols, exact books and the last records", async () => {
    const ran = await alphapulse(["inspect", path.join(DIR, "kraken.ring")]);
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    const text = ran.stdout;
    expect(text).toContain("exchange kraken   state closed   generation 1");
    expect(text).toContain("next seq 10");
    expect(text).toMatch(/0\s+BTC-USD\s+XBT\/USD\s+1\s+8/);
    // Closing the ring moved BTC-USD's entry past its trades (6, 7) to the end; PEPE-USD's
    // moved with its status record (9).
    expect(text).toContain(
      "book BTC-USD: valid, 2 bids / 1 asks, last seq 9, venue seq 77, topic counts book 1 trades 2 bbo 1",
    );
    expect(text).toMatch(/0\.50000000\s+45283\.4\s+45283\.5\s+1\.20000000/);
    expect(text).toContain(
      "book PEPE-USD: invalid, 0 bids / 0 asks, last seq 9, venue seq 0, topic counts book 1 trades 1 bbo 0, never published",
    );
    expect(text).toMatch(
      /7\s+\S+\s+trade\s+BTC-USD\s+unknown\s+900719925474099\.1\s+0\.00000001\s+1002\s+batch-end/,
    );
    expect(text).toMatch(/8\s+\S+\s+trade\s+PEPE-USD\s+buy\s+0\.000001234567\s+42/);
    expect(text).toMatch(/9\s+\S+\s+book-status\s+PEPE-USD\s+invalid\s+checksum-mismatch/);
    expect(text).toMatch(/1\s+\S+\s+connection-status\s+-\s+connected\s+none/);
  });

  test("--json gives the same report as data", async () => {
    const ran = await alphapulse(["inspect", path.join(DIR, "kraken.ring"), "--json", "--records", "3"]);
    expect(ran.code).toBe(0);
    const report = JSON.parse(ran.stdout) as RingReport;
    expect(report.exchange).toBe("kraken");
    expect(report.state).toBe("closed");
    expect(report.nextSeq).toBe(10);
    expect(report.connectionCount).toBe(1);
    expect(report.books.map((b) => b.topicCounts)).toEqual([
      { book: 1, trades: 2, bbo: 1 },
      { book: 1, trades: 1, bbo: 0 },
    ]);
    expect(report.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(report.symbols.map((s) => s.venueSymbol)).toEqual(["XBT/USD", "PEPE/USD"]);
    expect(report.books[0]!.bids).toEqual([
      ["45283.4", "0.50000000"],
      ["45283.0", "0.00000001"],
    ]);
    expect(report.books[0]!.asks).toEqual([["45283.5", "1.20000000"]]);
    expect(report.books[0]!.exchangeTime).toBe("2023-11-14T22:13:20.000000005Z");
    expect(report.records.map((r) => r.seq)).toEqual([7, 8, 9]);
    expect(report.records[0]).toMatchObject({
      type: "trade",
      symbol: "BTC-USD",
      side: "unknown",
      price: "900719925474099.1",
    });
    expect(report.records[2]).toMatchObject({
      type: "book-status",
      status: "invalid",
      price: "checksum-mismatch",
    });
  });

  test("a directory lists its rings; the default is SHARED_MEMORY_PATH", async () => {
    const ran = await alphapulse(["inspect", "--json", "--records", "0"]);
    expect(ran.code).toBe(0);
    const reports = JSON.parse(ran.stdout) as RingReport[];
    expect(reports.map((r) => r.exchange)).toEqual(["binance", "kraken"]);
    expect(reports[0]!.records).toEqual([]);
  });

  test("bad input fails clearly", async () => {
    const junk = await alphapulse(["inspect", path.join(DIR, "junk.bin")]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toContain("bad magic");
    const missing = await alphapulse(["inspect", path.join(DIR, "absent.ring")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("absent.ring");
    const badCount = await alphapulse(["inspect", DIR, "--records", "many"]);
    expect(badCount.code).toBe(2);
    expect(badCount.stderr).toContain("--records");
    const badFlag = await alphapulse(["inspect", "--frobnicate"]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("usage: alphapulse inspect");
  });

  test("the Python reader decodes the same books and records", async () => {
    const ringPath = path.join(DIR, "kraken.ring");
    const ran = await alphapulse(["inspect", ringPath, "--json", "--records", "100"]);
    const report = JSON.parse(ran.stdout) as RingReport;
    const script = [
      "import json, sys",
      `sys.path.insert(0, ${JSON.stringify(path.join(REPO, "python"))})`,
      "from alphapulse_shm import Ring, Record",
      `ring = Ring.open(${JSON.stringify(ringPath)}, 1)`,
      "records = [[r.seq, r.price_text if r.has_amount else r.price, r.size_text if r.has_amount else None, r.aux] for r in ring.poll() if isinstance(r, Record)]",
      "books = [[b.symbol.symbol, [[format(p, 'f'), format(s, 'f')] for p, s in b.bids_decimal()], [[format(p, 'f'), format(s, 'f')] for p, s in b.asks_decimal()]] for b in map(ring.read_book, ring.symbols)]",
      "print(json.dumps({'records': records, 'books': books}))",
    ].join("\n");
    const python = Bun.spawnSync(["python3", "-c", script]);
    expect(python.stderr.toString()).toBe("");
    const decoded = JSON.parse(python.stdout.toString()) as { records: unknown[][]; books: unknown[][] };
    expect(decoded.books).toEqual(report.books.map((b) => [b.symbol, b.bids, b.asks]));
    const statusPrices: Record<string, number> = { none: 0, snapshot: 5, "checksum-mismatch": 1 };
    expect(decoded.records).toEqual(
      report.records.map((r) => [
        r.seq,
        r.size === null ? (statusPrices[r.price] ?? Number(r.price)) : r.price,
        r.size,
        r.aux,
      ]),
    );
  });
});
