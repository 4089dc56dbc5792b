// A test collector for the broadcaster's tests and benchmark: writes a ring with exactly the
// record semantics real collectors use (snapshot batches, top-N view deltas, trades, book and
// connection status) from a full book it keeps, so the ring's latest-book entry is the truth.
import { realtimeInto } from "../../src/shm/clock.ts";
import {
  BookStatus,
  type ConnectionState,
  NO_SYMBOL,
  RecordFlag,
  RecordType,
  type StatusReason,
  type SymbolSpec,
} from "../../src/shm/layout.ts";
import { RingWriter } from "../../src/shm/ring-writer.ts";

type Side = Map<number, number>;

interface FeedBook {
  bids: Side;
  asks: Side;
  /** The published top-N view, best first. */
  viewBids: Array<[number, number]>;
  viewAsks: Array<[number, number]>;
}

export interface LevelChange {
  readonly ask: boolean;
  readonly price: number;
  readonly size: number;
}

const now = new Uint32Array(2);

export class TestFeed {
  readonly writer: RingWriter;
  private readonly books: FeedBook[];

  constructor(
    dir: string,
    name: string,
    exchange: string,
    readonly symbols: readonly SymbolSpec[],
    readonly depth = 10,
    capacity = 1 << 14,
  ) {
    this.writer = RingWriter.create({ dir, name, exchange, capacity, bookDepth: depth, symbols });
    this.writer.startHeartbeat(50);
    this.books = symbols.map(() => ({ bids: new Map(), asks: new Map(), viewBids: [], viewAsks: [] }));
  }

  /** The ring seq of the last record written. */
  get lastSeq(): number {
    return this.writer.nextSeq - 1;
  }

  private stamp(): void {
    realtimeInto(now, 0);
    this.writer.setFrameTimes(now[0]!, now[1]!, now[0]!, now[1]!);
  }

  /** A snapshot batch: BookClear, then the top-N levels; the book becomes Valid. */
  snapshot(symbolId: number, bids: Array<[number, number]>, asks: Array<[number, number]>): number {
    const book = this.books[symbolId]!;
    book.bids = new Map(bids.filter(([, s]) => s > 0));
    book.asks = new Map(asks.filter(([, s]) => s > 0));
    book.viewBids = top(book.bids, true, this.depth);
    book.viewAsks = top(book.asks, false, this.depth);
    this.stamp();
    const records: Array<[number, number, number, number]> = [[RecordType.BookClear, 0, 0, 0]];
    for (const [price, size] of book.viewBids)
      records.push([RecordType.BookLevel, RecordFlag.Snapshot, price, size]);
    for (const [price, size] of book.viewAsks) {
      records.push([RecordType.BookLevel, RecordFlag.Snapshot | RecordFlag.Side, price, size]);
    }
    return this.writeBatch(symbolId, records, BookStatus.Valid);
  }

  /** A snapshot of `levels` levels a side, `tick` apart around `mid`, random sizes below `maxSize`. */
  randomSnapshot(
    symbolId: number,
    random: () => number,
    mid: number,
    tick: number,
    levels = 30,
    maxSize = 1e8,
  ): number {
    const side = (sign: number) =>
      Array.from({ length: levels }, (_, i): [number, number] => [
        mid + sign * (i + 1) * tick,
        1 + Math.floor(random() * maxSize),
      ]);
    return this.snapshot(symbolId, side(-1), side(1));
  }

  /** Applies changes to the full book and writes how its top-N view changed (nothing if it did not). */
  update(symbolId: number, changes: readonly LevelChange[]): number {
    const book = this.books[symbolId]!;
    for (const { ask, price, size } of changes) {
      const side = ask ? book.asks : book.bids;
      if (size === 0) side.delete(price);
      else side.set(price, size);
    }
    const viewBids = top(book.bids, true, this.depth);
    const viewAsks = top(book.asks, false, this.depth);
    const records: Array<[number, number, number, number]> = [];
    for (const [price, size] of viewDiff(book.viewBids, viewBids))
      records.push([RecordType.BookLevel, 0, price, size]);
    for (const [price, size] of viewDiff(book.viewAsks, viewAsks)) {
      records.push([RecordType.BookLevel, RecordFlag.Side, price, size]);
    }
    book.viewBids = viewBids;
    book.viewAsks = viewAsks;
    if (records.length === 0) return 0;
    this.stamp();
    return this.writeBatch(symbolId, records, BookStatus.Valid);
  }

  /** A random change near the top of the book around `mid` (scaled), deterministic from `random`. */
  randomUpdate(symbolId: number, random: () => number, mid: number, tick: number): number {
    const changes: LevelChange[] = [];
    const count = 1 + Math.floor(random() * 3);
    for (let i = 0; i < count; i++) {
      const ask = random() < 0.5;
      const offset = (1 + Math.floor(random() * 25)) * tick;
      const price = ask ? mid + offset : mid - offset;
      const size = random() < 0.3 ? 0 : 1 + Math.floor(random() * 5_000_000);
      changes.push({ ask, price, size });
    }
    return this.update(symbolId, changes);
  }

  trade(symbolId: number, price: number, size: number, sold: boolean, id: number): number {
    this.stamp();
    return this.writer.append(
      RecordType.Trade,
      (sold ? RecordFlag.Side : 0) | RecordFlag.BatchEnd,
      symbolId,
      price,
      size,
      id,
    );
  }

  /** The collector lost sync: the book is invalid until the next snapshot. */
  invalidate(symbolId: number, status: BookStatus, reason: StatusReason): number {
    this.stamp();
    return this.writer.append(RecordType.BookStatus, RecordFlag.BatchEnd, symbolId, reason, 0, status);
  }

  connection(state: ConnectionState, reason: StatusReason): number {
    this.stamp();
    return this.writer.append(RecordType.ConnectionStatus, RecordFlag.BatchEnd, NO_SYMBOL, reason, 0, state);
  }

  close(): void {
    this.writer.close();
  }

  private writeBatch(
    symbolId: number,
    records: Array<[number, number, number, number]>,
    status: BookStatus,
  ): number {
    let seq = 0;
    records.forEach(([type, flags, price, size], i) => {
      const last = i === records.length - 1;
      seq = this.writer.append(type, flags | (last ? RecordFlag.BatchEnd : 0), symbolId, price, size, 0);
    });
    const book = this.books[symbolId]!;
    this.writer.writeBook(symbolId, status, sideSource(book.viewBids), sideSource(book.viewAsks), 0);
    return seq;
  }
}

function top(side: Side, descending: boolean, depth: number): Array<[number, number]> {
  return [...side.entries()].sort((a, b) => (descending ? b[0] - a[0] : a[0] - b[0])).slice(0, depth);
}

/** Levels that changed between two views: removed ones as size 0, new or resized with their size. */
function viewDiff(before: Array<[number, number]>, after: Array<[number, number]>): Array<[number, number]> {
  const old = new Map(before);
  const next = new Map(after);
  const out: Array<[number, number]> = [];
  for (const [price] of before) if (!next.has(price)) out.push([price, 0]);
  for (const [price, size] of after) if (old.get(price) !== size) out.push([price, size]);
  return out;
}

function sideSource(levels: Array<[number, number]>) {
  return { count: levels.length, prices: levels.map(([p]) => p), sizes: levels.map(([, s]) => s) };
}

/** A small deterministic PRNG (mulberry32) so a failing run can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
