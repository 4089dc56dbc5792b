// A lock-free reader of one ring file, mapped read-only. It follows the writer record by
// record, detects torn reads with each slot's seqlock and lapping with each record's sequence,
// counts exactly what it lost, copies consistent latest books, and notices a new generation.
import { fstatSync, statSync } from "node:fs";
import {
  checkHeader,
  decodeHeader,
  decodeSymbols,
  LiveWord,
  RingFormatError,
  type RingHeader,
} from "./header.ts";
import { B, BookStatus, H, LEVEL_SIZE, R, RingState, SLOT_SIZE, type SymbolInfo } from "./layout.ts";
import { closeFile, type Mapping, mapFile, O_RDONLY, openFile, unmap } from "./libc.ts";
import { readI64 } from "./words.ts";

/** One record, decoded into reusable fields; valid only during the sink call. */
export class RecordView {
  type = 0;
  flags = 0;
  symbolId = 0;
  seq = 0;
  price = 0;
  size = 0;
  aux = 0;
  exchangeSec = 0;
  exchangeNsec = 0;
  receiveSec = 0;
  receiveNsec = 0;
  publishSec = 0;
  publishNsec = 0;
}

export interface RingSink {
  record(record: RecordView): void;
  /** `lost` records starting at `fromSeq` were overwritten before this reader got to them. */
  gap(fromSeq: number, lost: number): void;
}

/** A consistent copy of one latest-book entry. */
export interface BookCopy {
  status: BookStatus;
  bidCount: number;
  askCount: number;
  readonly bidPrices: Float64Array;
  readonly bidSizes: Float64Array;
  readonly askPrices: Float64Array;
  readonly askSizes: Float64Array;
  lastSeq: number;
  venueSeq: number;
  /** Topic message counts through lastSeq, and before this generation (docs/shm-format.md). */
  bookCount: number;
  tradeCount: number;
  bboCount: number;
  bookBase: number;
  tradeBase: number;
  bboBase: number;
  /** BookIntegrity bits: the checks that guard the book now (not tied to lastSeq). */
  integrity: number;
  exchangeSec: number;
  exchangeNsec: number;
  publishSec: number;
  publishNsec: number;
}

export type StartAt = "oldest" | "latest" | number;

const WORDS_PER_SLOT = SLOT_SIZE / 4;

// The mapping is PROT_READ, and JSC's JIT compiles Atomics.load into a locked read-modify-write
// that faults on a read-only page once the code is hot. So a reader loads plainly right after a
// full fence (an atomic op on private memory), which also stops the compiler reusing a load.
const fence = new Int32Array(1);

function fencedLoad(words: Int32Array, index: number): number {
  Atomics.add(fence, 0, 0);
  return words[index]!;
}

function fencedLoadF64(words: Float64Array, index: number): number {
  Atomics.add(fence, 0, 0);
  return words[index]!;
}

function fencedLoad64(words: BigInt64Array, index: number): number {
  Atomics.add(fence, 0, 0);
  return Number(words[index]!);
}

export class RingReader {
  readonly path: string;
  /** The file's fixed header fields, as its writer created it. */
  readonly header: RingHeader;
  readonly exchange: string;
  readonly generation: number;
  readonly capacity: number;
  readonly bookDepth: number;
  readonly writerPid: number;
  readonly symbols: readonly SymbolInfo[];
  private readonly inode: number;
  private mapping: Mapping | null;
  private readonly i32: Int32Array;
  private readonly big: BigInt64Array;
  private readonly f64: Float64Array;
  private readonly slotsWord: number;
  private readonly booksWord: number;
  private readonly bookWords: number;
  private readonly mask: number;
  private next = 1;
  private slot = 1;
  /** Records this reader lost to lapping, in total. */
  lost = 0;

  private constructor(path: string, fd: number) {
    this.path = path;
    const stat = fstatSync(fd);
    this.inode = stat.ino;
    // Mapping past the end of a file faults on access: check the length before mapping.
    if (stat.size < H.size)
      throw new RingFormatError(path, `file is ${stat.size} bytes, smaller than a header`);
    const page = mapFile(fd, H.size, false, path);
    let header: RingHeader;
    try {
      header = decodeHeader(page.buffer, path);
    } finally {
      unmap(page);
    }
    checkHeader(header, stat.size, path);
    this.header = header;
    this.mapping = mapFile(fd, header.fileSize, false, path);
    const buffer = this.mapping.buffer;
    this.i32 = new Int32Array(buffer);
    this.big = new BigInt64Array(buffer, 0, H.size / 8);
    this.f64 = new Float64Array(buffer, 0, H.size / 8);
    this.generation = header.generation;
    this.writerPid = header.writerPid;
    this.capacity = header.capacity;
    this.bookDepth = header.bookDepth;
    this.exchange = header.exchange;
    this.mask = this.capacity - 1;
    this.slotsWord = header.slotsOffset / 4;
    this.booksWord = header.booksOffset / 4;
    this.bookWords = header.bookStride / 4;
    this.symbols = decodeSymbols(buffer, header);
  }

  /** Maps the ring at `path` read-only, positioned at `start` (default: only new records). */
  static open(path: string, start: StartAt = "latest"): RingReader {
    const fd = openFile(path, O_RDONLY);
    try {
      const reader = new RingReader(path, fd);
      reader.seek(start);
      return reader;
    } finally {
      closeFile(fd);
    }
  }

  /** Sequence of the next record this reader will deliver. */
  get position(): number {
    return this.next;
  }

  /** The writer's committed cursor: the sequence it will write next. */
  writerNextSeq(): number {
    return fencedLoadF64(this.f64, LiveWord.nextSeq);
  }

  /** Status-topic messages before this generation's first record. */
  connectionBase(): number {
    return this.header.connectionBase;
  }

  /** Status-topic messages through the last connection status record written. */
  connectionCount(): number {
    return fencedLoadF64(this.f64, LiveWord.connectionCount);
  }

  /**
   * The oldest sequence the file holds: 1, or later in a relay's copy that started (or went on)
   * past records it could not get. 0 in files from writers before the field means 1.
   */
  firstSeq(): number {
    return Math.max(1, fencedLoadF64(this.f64, LiveWord.firstSeq));
  }

  /** Oldest sequence still safe to read: the writer may be overwriting the slot before it. */
  oldestSeq(): number {
    return Math.max(this.firstSeq(), this.writerNextSeq() - this.capacity + 1);
  }

  seek(start: StartAt): void {
    const target = start === "latest" ? this.writerNextSeq() : start === "oldest" ? this.oldestSeq() : start;
    this.next = Math.max(1, target);
    this.slot = this.next % this.capacity;
  }

  state(): RingState {
    return fencedLoad(this.i32, LiveWord.state);
  }

  heartbeatAgeMs(now = Date.now()): number {
    return now - fencedLoad64(this.big, LiveWord.heartbeatMs);
  }

  /**
   * True when the path now holds a different ring (the old one was retired, or the file was
   * replaced): the caller re-opens the path and treats it as a new stream.
   */
  replaced(): boolean {
    if (this.state() === RingState.Retired) return true;
    try {
      return statSync(this.path).ino !== this.inode;
    } catch {
      return false;
    }
  }

  /**
   * Delivers up to `max` new records to the sink, in sequence, and returns how many. Never
   * waits: a slot the writer is inside ends the poll, and the next poll tries it again.
   * The position lives in locals while the poll runs (about 1 ns a record less than reading it
   * back from the object): a sink's `gap` may seek this reader, its `record` must not.
   */
  poll(sink: RingSink, view: RecordView, max = 65536): number {
    const i32 = this.i32;
    const slotsWord = this.slotsWord;
    const mask = this.mask;
    let next = this.next;
    let slot = this.slot;
    let delivered = 0;
    while (delivered < max) {
      const base = slotsWord + slot * WORDS_PER_SLOT;
      const before = fencedLoad(i32, base);
      if ((before & 1) !== 0) break;
      const seq = readI64(i32, base + R.seq / 4);
      // Not written yet: the usual end of a poll, decided before copying the rest. (A seq torn
      // by a writer that just came in only ends this poll early; one that passes is checked below.)
      // Unless the writer jumped past it (a relay's copy): first_seq lies on a header line the
      // writer stores to only when it jumps, so this load, already fenced by the version's, stays
      // in the reader's cache while it waits.
      if (seq < next) {
        if (this.f64[LiveWord.firstSeq]! <= next) break;
        this.skipHole(sink);
        next = this.next;
        slot = this.slot;
        continue;
      }
      const head = i32[base + 1]!;
      view.price = readI64(i32, base + R.price / 4);
      view.size = readI64(i32, base + R.size / 4);
      view.exchangeSec = i32[base + 8]! >>> 0;
      view.exchangeNsec = i32[base + 9]!;
      view.receiveSec = i32[base + 10]! >>> 0;
      view.receiveNsec = i32[base + 11]!;
      view.publishSec = i32[base + 12]! >>> 0;
      view.publishNsec = i32[base + 13]!;
      view.aux = readI64(i32, base + R.aux / 4);
      if (fencedLoad(i32, base) !== before) continue; // torn: the writer came through, read again
      if (seq !== next) {
        this.skipLapped(sink, seq);
        next = this.next;
        slot = this.slot;
        continue;
      }
      view.type = head & 0xff;
      view.flags = (head >>> 8) & 0xff;
      view.symbolId = head >>> 16;
      view.seq = seq;
      next = seq + 1;
      slot = (slot + 1) & mask;
      this.next = next;
      this.slot = slot;
      delivered++;
      sink.record(view);
    }
    return delivered;
  }

  /**
   * The writer overwrote records we had not read: resume at the oldest one still there, leaving
   * out the slot the writer may be filling right now (newest + 1 shares it with newest + 1 - capacity).
   */
  private skipLapped(sink: RingSink, seen: number): void {
    const newest = Math.max(seen, this.writerNextSeq() - 1);
    this.resumeAt(sink, Math.max(this.next + 1, newest - this.capacity + 2, this.firstSeq()));
  }

  /** The writer went on past records it never had (a relay's copy): resume at the first it has. */
  private skipHole(sink: RingSink): void {
    this.resumeAt(sink, this.firstSeq());
  }

  private resumeAt(sink: RingSink, resume: number): void {
    const lost = resume - this.next;
    sink.gap(this.next, lost);
    this.lost += lost;
    this.next = resume;
    this.slot = resume % this.capacity;
  }

  newBookCopy(): BookCopy {
    const depth = this.bookDepth;
    return {
      status: BookStatus.Unknown,
      bidCount: 0,
      askCount: 0,
      bidPrices: new Float64Array(depth),
      bidSizes: new Float64Array(depth),
      askPrices: new Float64Array(depth),
      askSizes: new Float64Array(depth),
      lastSeq: 0,
      venueSeq: 0,
      bookCount: 0,
      tradeCount: 0,
      bboCount: 0,
      bookBase: 0,
      tradeBase: 0,
      bboBase: 0,
      integrity: 0,
      exchangeSec: 0,
      exchangeNsec: 0,
      publishSec: 0,
      publishNsec: 0,
    };
  }

  /**
   * Copies a symbol's latest book, retrying while the writer is inside the entry. Returns false
   * only if every copy for `timeoutMs` was torn: bounded by time, not attempts, because a writer
   * preempted inside the entry holds it odd for as long as the scheduler likes.
   */
  readBook(symbolId: number, out: BookCopy, timeoutMs = 1000): boolean {
    if (symbolId < 0 || symbolId >= this.symbols.length) throw new RangeError(`no symbol id ${symbolId}`);
    const i32 = this.i32;
    const base = this.booksWord + symbolId * this.bookWords;
    const levelWords = LEVEL_SIZE / 4;
    const depth = this.bookDepth;
    let deadline = 0;
    for (let attempt = 0; ; attempt++) {
      if ((attempt & 255) === 255) {
        const now = performance.now();
        if (deadline === 0) deadline = now + timeoutMs;
        else if (now > deadline) return false;
      }
      const before = fencedLoad(i32, base);
      if ((before & 1) !== 0) continue;
      out.status = i32[base + B.status / 4]!;
      const bidCount = Math.min(i32[base + B.bidCount / 4]! >>> 0, depth);
      const askCount = Math.min(i32[base + B.askCount / 4]! >>> 0, depth);
      out.lastSeq = readI64(i32, base + B.lastSeq / 4);
      out.exchangeSec = i32[base + B.exchangeSec / 4]! >>> 0;
      out.exchangeNsec = i32[base + B.exchangeNsec / 4]!;
      out.publishSec = i32[base + B.publishSec / 4]! >>> 0;
      out.publishNsec = i32[base + B.publishNsec / 4]!;
      out.venueSeq = readI64(i32, base + B.venueSeq / 4);
      out.bookCount = readI64(i32, base + B.bookCount / 4);
      out.tradeCount = readI64(i32, base + B.tradeCount / 4);
      out.bboCount = readI64(i32, base + B.bboCount / 4);
      out.bookBase = readI64(i32, base + B.bookBase / 4);
      out.tradeBase = readI64(i32, base + B.tradeBase / 4);
      out.bboBase = readI64(i32, base + B.bboBase / 4);
      out.integrity = i32[base + B.integrity / 4]!;
      let at = base + B.levels / 4;
      for (let i = 0; i < bidCount; i++, at += levelWords) {
        out.bidPrices[i] = readI64(i32, at);
        out.bidSizes[i] = readI64(i32, at + 2);
      }
      at = base + B.levels / 4 + depth * levelWords;
      for (let i = 0; i < askCount; i++, at += levelWords) {
        out.askPrices[i] = readI64(i32, at);
        out.askSizes[i] = readI64(i32, at + 2);
      }
      if (fencedLoad(i32, base) !== before) continue;
      out.bidCount = bidCount;
      out.askCount = askCount;
      return true;
    }
  }

  /** The BookIntegrity bits of the checks that guard a symbol's book now (one aligned load). */
  integrity(symbolId: number): number {
    if (symbolId < 0 || symbolId >= this.symbols.length) throw new RangeError(`no symbol id ${symbolId}`);
    return fencedLoad(this.i32, this.booksWord + symbolId * this.bookWords + B.integrity / 4);
  }

  symbolId(symbol: string): number {
    return this.symbols.find((s) => s.symbol === symbol)?.id ?? -1;
  }

  close(): void {
    if (this.mapping === null) return;
    unmap(this.mapping);
    this.mapping = null;
  }
}
