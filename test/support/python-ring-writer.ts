// Test writer for the cross-language ring tests: a deterministic market (trades, top-N book
// changes with snapshots, status records, extreme exact values) written through the real
// RingWriter. Python tests and bench/python.ts run it as a separate process.
//
//   bun test/support/python-ring-writer.ts --dir D --name N --batches B [--capacity 64] [--depth 5]
//     [--seed 1] [--interval-ms 0] [--hold] [--no-close] [--jump-at N --jump-by M]
//
// --interval-ms paces batches (a live writer); --hold keeps the ring open after the last batch
// until stdin closes or SIGTERM; --no-close exits as a crashed writer would (state stays live);
// --jump-at leaves out M sequences before batch N, as a relay's copy that missed records does.
// The last stdout line is JSON: {"path", "generation", "nextSeq"}.
import { parseArgs } from "node:util";
import { BookStatus, ConnectionState, RecordFlag, RecordType, StatusReason } from "../../src/shm/layout.ts";
import { realtimeInto } from "../../src/shm/libc.ts";
import { RingWriter } from "../../src/shm/ring-writer.ts";

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** Symbols chosen to exercise decimals: 1, 2 and 12 price decimals, 0 to 8 size decimals. */
const TEST_SYMBOLS = [
  { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  { venueSymbol: "ETH/USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 6 },
  { venueSymbol: "PEPE/USD", symbol: "PEPE-USD", priceDecimals: 12, sizeDecimals: 0 },
];

/** Deterministic 32-bit generator (mulberry32), so every run writes the same records. */
function generator(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % below) | 0;
  };
}

/** A full book per symbol and the top-N view the ring publishes; changes come out as view diffs. */
class MarketBook {
  readonly bids = new Map<number, number>();
  readonly asks = new Map<number, number>();
  status = BookStatus.Unknown;
  constructor(readonly depth: number) {}

  view(ask: boolean): [number, number][] {
    const side = ask ? this.asks : this.bids;
    return [...side.entries()].sort((a, b) => (ask ? a[0] - b[0] : b[0] - a[0])).slice(0, this.depth);
  }

  /** Records (ask, price, size) that turn the view `before` into the current view. */
  diff(ask: boolean, before: [number, number][]): [boolean, number, number][] {
    const after = new Map(this.view(ask));
    const out: [boolean, number, number][] = [];
    for (const [price, size] of before) {
      if (!after.has(price)) out.push([ask, price, 0]);
      else if (after.get(price) !== size) out.push([ask, price, after.get(price)!]);
    }
    const old = new Map(before);
    for (const [price, size] of after) if (!old.has(price)) out.push([ask, price, size]);
    return out;
  }
}

interface Options {
  dir: string;
  name: string;
  batches: number;
  capacity: number;
  depth: number;
  seed: number;
  intervalMs: number;
  hold: boolean;
  close: boolean;
  jumpAt: number;
  jumpBy: number;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: "string" },
      name: { type: "string", default: "python" },
      batches: { type: "string", default: "100" },
      capacity: { type: "string", default: "64" },
      depth: { type: "string", default: "5" },
      seed: { type: "string", default: "1" },
      "interval-ms": { type: "string", default: "0" },
      hold: { type: "boolean", default: false },
      "no-close": { type: "boolean", default: false },
      "jump-at": { type: "string", default: "-1" },
      "jump-by": { type: "string", default: "0" },
    },
  });
  if (values.dir === undefined) throw new Error("--dir is required");
  return {
    dir: values.dir,
    name: values.name,
    batches: Number(values.batches),
    capacity: Number(values.capacity),
    depth: Number(values.depth),
    seed: Number(values.seed),
    intervalMs: Number(values["interval-ms"]),
    hold: values.hold,
    close: !values["no-close"],
    jumpAt: Number(values["jump-at"]),
    jumpBy: Number(values["jump-by"]),
  };
}

/** Writes one batch of the deterministic market; `n` is the batch number from 0. */
function writeBatch(writer: RingWriter, books: MarketBook[], random: (below: number) => number, n: number) {
  const now = new Uint32Array(2);
  realtimeInto(now, 0);
  // Exchange time a little before receive time; every tenth frame has none, as some venues.
  const exchangeNsec = (now[1]! + 1_000_000_000 - 3_000_000) % 1_000_000_000;
  const exchangeSec = exchangeNsec > now[1]! ? now[0]! - 1 : now[0]!;
  if (n % 10 === 9) writer.setFrameTimes(0, 0, now[0]!, now[1]!);
  else writer.setFrameTimes(exchangeSec, exchangeNsec, now[0]!, now[1]!);
  const id = random(TEST_SYMBOLS.length);
  const book = books[id]!;
  const base = [450_000, 300_000, 1_234_567][id]!;
  const kind = n === 0 ? 0 : random(20);
  if (n === 0) {
    writer.append(RecordType.ConnectionStatus, 0, 0xffff, StatusReason.None, 0, ConnectionState.Connected);
  }
  if (book.status !== BookStatus.Valid || kind === 1) {
    snapshot(writer, book, id, base, random);
  } else if (kind === 2) {
    book.status = BookStatus.Invalid;
    writer.append(
      RecordType.BookStatus,
      RecordFlag.BatchEnd,
      id,
      StatusReason.ChecksumMismatch,
      0,
      book.status,
    );
  } else if (kind === 3) {
    writer.append(
      RecordType.ConnectionStatus,
      RecordFlag.BatchEnd,
      0xffff,
      StatusReason.Stale,
      0,
      ConnectionState.Reconnecting,
    );
  } else if (kind < 10) {
    const trades = 1 + random(3);
    for (let i = 0; i < trades; i++) {
      const extreme = random(8) === 0;
      const price = extreme ? MAX_EXACT - random(1000) : base + random(2000) - 1000;
      const size = extreme ? 1 : 1 + random(10 ** 6);
      const flags = [0, RecordFlag.Side, RecordFlag.SideUnknown][random(3)]!;
      const tradeId = extreme ? MAX_EXACT : n * 4 + i;
      writer.append(
        RecordType.Trade,
        flags | (i === trades - 1 ? RecordFlag.BatchEnd : 0),
        id,
        price,
        size,
        tradeId,
      );
    }
  } else {
    const beforeBids = book.view(false);
    const beforeAsks = book.view(true);
    const changes = 1 + random(4);
    for (let i = 0; i < changes; i++) {
      const ask = random(2) === 1;
      const price = ask ? base + 1 + random(3 * book.depth) : base - random(3 * book.depth);
      const side = ask ? book.asks : book.bids;
      if (random(3) === 0) side.delete(price);
      else side.set(price, 1 + random(10 ** 6));
    }
    const records = [...book.diff(false, beforeBids), ...book.diff(true, beforeAsks)];
    const venueSeq = n + 1;
    records.forEach(([ask, price, size], i) => {
      const flags = (ask ? RecordFlag.Side : 0) | (i === records.length - 1 ? RecordFlag.BatchEnd : 0);
      writer.append(RecordType.BookLevel, flags, id, price, size, venueSeq);
    });
    if (records.length === 0) writer.append(RecordType.Trade, RecordFlag.BatchEnd, id, base, 1, n * 4);
    publishBook(writer, book, id, venueSeq);
  }
}

function snapshot(
  writer: RingWriter,
  book: MarketBook,
  id: number,
  base: number,
  random: (b: number) => number,
) {
  book.bids.clear();
  book.asks.clear();
  for (let i = 0; i < 2 * book.depth; i++) {
    book.bids.set(base - i - random(2) * 100, 1 + random(10 ** 6));
    book.asks.set(base + 1 + i + random(2) * 100, 1 + random(10 ** 6));
  }
  book.status = BookStatus.Valid;
  writer.append(RecordType.BookClear, 0, id, StatusReason.Snapshot, 0, 0);
  const levels: [boolean, number, number][] = [
    ...book.view(false).map(([p, s]): [boolean, number, number] => [false, p, s]),
    ...book.view(true).map(([p, s]): [boolean, number, number] => [true, p, s]),
  ];
  levels.forEach(([ask, price, size], i) => {
    const flags =
      RecordFlag.Snapshot | (ask ? RecordFlag.Side : 0) | (i === levels.length - 1 ? RecordFlag.BatchEnd : 0);
    writer.append(RecordType.BookLevel, flags, id, price, size, 0);
  });
  publishBook(writer, book, id, 0);
}

function publishBook(writer: RingWriter, book: MarketBook, id: number, venueSeq: number) {
  const side = (ask: boolean) => {
    const levels = book.view(ask);
    return { count: levels.length, prices: levels.map((l) => l[0]), sizes: levels.map((l) => l[1]) };
  };
  writer.writeBook(id, book.status, side(false), side(true), venueSeq);
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const writer = RingWriter.create({
    dir: o.dir,
    name: o.name,
    exchange: "pytest",
    capacity: o.capacity,
    bookDepth: o.depth,
    symbols: TEST_SYMBOLS,
  });
  writer.startHeartbeat();
  // Each symbol guarded differently: by both checks, by the checksum alone, by the sequence alone.
  for (const [id, checks] of [3, 1, 2].entries()) writer.setIntegrity(id, checks);
  const random = generator(o.seed);
  const books = TEST_SYMBOLS.map(() => new MarketBook(o.depth));
  for (let n = 0; n < o.batches; n++) {
    if (n === o.jumpAt) {
      const { base, count } = writer.connectionCounts();
      const entries = writer.copyEntries()!;
      writer.jumpTo({
        firstSeq: writer.nextSeq + o.jumpBy,
        connectionBase: base,
        connectionCount: count,
        entries,
      });
    }
    writeBatch(writer, books, random, n);
    if (o.intervalMs > 0) await Bun.sleep(o.intervalMs);
  }
  const summary = JSON.stringify({
    path: writer.path,
    generation: writer.generation,
    nextSeq: writer.nextSeq,
  });
  if (o.hold) {
    console.log(JSON.stringify({ ready: true, ...JSON.parse(summary) }));
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", () => resolve());
      process.stdin.on("end", () => resolve()).resume();
    });
  }
  if (o.close) writer.close();
  console.log(summary);
}

await main();
