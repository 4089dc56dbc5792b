// A relay's copy of the leader's ring: records appended as they came (same sequences, same
// times, same topic counts, since the writer counts them as the leader's did), each symbol's
// view rebuilt from the book records so the latest-book entries and the bbo count move exactly
// as the leader's. A new generation message starts a new local generation; a books message
// past the copy's end means records were missed, and the copy jumps to it: a hole its readers
// report as a gap, never a silent jump. Each book's integrity word (which checks guard it), set
// apart from any record, comes with every books message. The ring's header names the stream
// and the last stream message it holds, so a restarted relay takes up its ring where it stopped.
import { existsSync } from "node:fs";
import { OrderBook } from "../book/order-book.ts";
import { ViewSide } from "../book/top-view.ts";
import type { Logger } from "../log.ts";
import { RingFormatError } from "../shm/header.ts";
import { B, BookStatus, bookStride, LEVEL_SIZE, R, RecordFlag, RecordType, ringPath } from "../shm/layout.ts";
import { RingWriter } from "../shm/ring-writer.ts";
import { readI64 } from "../shm/words.ts";
import { type BooksMessage, type GenerationMessage, recordWords, WireError } from "./wire.ts";

export interface RingCopyOptions {
  readonly dir: string;
  readonly name: string;
  readonly exchange: string;
  readonly capacity: number;
  readonly log: Logger;
}

const WORDS = 16;

export class RingCopy {
  writer: RingWriter | null = null;
  /** The generation being copied, and its shape. */
  shape: GenerationMessage | null = null;
  private books: OrderBook[] = [];
  private status = new Uint8Array(0);
  private venueSeq = new Float64Array(0);
  /** Symbols whose levels the open batch changed. */
  private levelsInBatch = new Uint8Array(0);
  private readonly touched: number[] = [];
  private bids = new ViewSide(1);
  private asks = new ViewSide(1);
  private readonly scratch = { words: new Int32Array(WORDS * 256) };

  constructor(private readonly options: RingCopyOptions) {}

  get generation(): number {
    return this.shape?.generation ?? 0;
  }

  /** The next sequence the copy lacks (0 before the first generation). */
  get nextSeq(): number {
    return this.writer?.nextSeq ?? 0;
  }

  /**
   * Starts a local generation copying `shape`, from its first record or from `books`: the
   * stream created at `stream.createdMs`, from the message after `stream.seq`.
   */
  begin(
    shape: GenerationMessage,
    books: BooksMessage | null,
    stream: { createdMs: number; seq: number },
  ): void {
    this.writer?.close();
    this.writer = null;
    const start = books?.start ?? shape.start;
    this.writer = RingWriter.create({ ...this.ringOptions(shape), start });
    this.writer.setSource(stream.createdMs, shape.generation, stream.seq);
    this.takeShape(shape, start.entries);
  }

  /**
   * Takes up the ring a previous relay left at this path, in its local generation (its readers
   * go on without a restart), when it copies `shape`'s generation of the stream created at
   * `createdMs` and the stream still holds every message after the copy's last (the stream's
   * first is `streamFirstSeq`). Returns the stream sequence to follow on from, or why not (null:
   * there is no ring to take up).
   */
  resume(
    shape: GenerationMessage,
    createdMs: number,
    streamFirstSeq: number,
  ): { seq: number } | { why: string | null } {
    if (!existsSync(ringPath(this.options.dir, this.options.name))) return { why: null };
    let writer: RingWriter;
    try {
      writer = RingWriter.reopen(this.ringOptions(shape), {
        createdMs,
        generation: shape.generation,
        oldestSeq: streamFirstSeq,
      });
    } catch (error) {
      if (!(error instanceof RingFormatError)) throw error;
      return { why: error.message };
    }
    this.writer = writer;
    this.takeShape(shape, writer.copyEntries()!);
    return { seq: writer.source().seq };
  }

  /** The stream's messages through `seq` are in the ring. */
  appliedThrough(seq: number): void {
    this.writer?.setSourceSeq(seq);
  }

  private ringOptions(shape: GenerationMessage) {
    const { dir, name, exchange, capacity } = this.options;
    return { dir, name, exchange, capacity, bookDepth: shape.bookDepth, symbols: shape.symbols };
  }

  /** The books and views of `shape`'s symbols, loaded from `entries`. */
  private takeShape(shape: GenerationMessage, entries: Uint8Array): void {
    this.shape = shape;
    const n = shape.symbols.length;
    this.books = shape.symbols.map(() => new OrderBook(shape.bookDepth * 2));
    this.status = new Uint8Array(n);
    this.venueSeq = new Float64Array(n);
    this.levelsInBatch = new Uint8Array(n);
    this.bids = new ViewSide(shape.bookDepth);
    this.asks = new ViewSide(shape.bookDepth);
    this.touched.length = 0;
    this.loadBooks(entries);
  }

  /**
   * Appends one records message: one or more whole batches, each applied as the leader's ring
   * committed it (its records, then its entries), so counts and entries move batch by batch as
   * the leader's did. "duplicate": the copy has these records already; "hole": they start past
   * the copy's end (records were missed: wait for the books to jump to).
   */
  applyRecords(subject: string, body: Uint8Array): "applied" | "duplicate" | "hole" {
    const writer = this.writer;
    if (writer === null) throw new WireError(subject, "records before any generation");
    const count = recordWords(subject, body, this.scratch);
    const words = this.scratch.words;
    const first = readI64(words, R.seq / 4);
    const last = (count - 1) * WORDS;
    if (readI64(words, last + R.seq / 4) !== first + count - 1)
      throw new WireError(subject, "records out of sequence");
    if (!isBatchEnd(words, last)) throw new WireError(subject, "a batch must end in BATCH_END");
    if (first + count - 1 < writer.nextSeq) return "duplicate";
    if (first > writer.nextSeq) return "hole";
    // Part of the message may be in the copy already (its relay stopped between two of its
    // batches): it goes on at the copy's end, which is a batch boundary.
    let start = (writer.nextSeq - first) * WORDS;
    if (start > 0 && !isBatchEnd(words, start - WORDS))
      throw new WireError(subject, "the copy's end falls inside a batch");
    for (let end = start; end <= last; end += WORDS) {
      if (!isBatchEnd(words, end)) continue;
      this.applyBatch(writer, words, start, end);
      start = end + WORDS;
    }
    return "applied";
  }

  /**
   * A books message of the copied generation. At the copy's end it must agree with the copy's
   * counts (logged if not: a defect); past it, the copy jumps there. Returns the records skipped.
   */
  applyBooks(books: BooksMessage): number {
    const writer = this.writer;
    if (writer === null) return 0;
    const missing = books.start.firstSeq - writer.nextSeq;
    if (missing < 0) return 0;
    if (missing === 0) {
      const words = entryWords(books.start.entries);
      this.checkCounts(words);
      this.takeIntegrity(words);
      return 0;
    }
    writer.jumpTo(books.start);
    this.loadBooks(books.start.entries);
    return missing;
  }

  close(): void {
    this.writer?.close();
    this.writer = null;
  }

  /** One batch: words `start` to `end` (its BATCH_END record), both record offsets. */
  private applyBatch(writer: RingWriter, words: Int32Array, start: number, end: number): void {
    for (let at = start; at <= end; at += WORDS) this.track(words, at);
    // The leader writes the entries after the batch, with the exchange and receive times of its frame.
    writer.setFrameTimes(words[end + 8]! >>> 0, words[end + 9]!, words[end + 10]! >>> 0, words[end + 11]!);
    for (let at = start; at <= end; at += WORDS) writer.appendRaw(words, at);
    this.writeTouchedBooks();
  }

  /** Follows one record's effect on its symbol's view and status (as the leader's publisher set them). */
  private track(words: Int32Array, at: number): void {
    const head = words[at + 1]!;
    const type = head & 0xff;
    const id = head >>> 16;
    if (id >= this.books.length || type === RecordType.Trade) return;
    if (this.levelsInBatch[id] === 0 && type !== RecordType.BookStatus) {
      this.levelsInBatch[id] = 1;
      this.touched.push(id);
    }
    if (type === RecordType.BookLevel) {
      const isAsk = ((head >>> 8) & RecordFlag.Side) !== 0;
      this.books[id]!.side(isAsk).set(readI64(words, at + R.price / 4), readI64(words, at + R.size / 4));
      this.venueSeq[id] = readI64(words, at + R.aux / 4);
    } else if (type === RecordType.BookClear) {
      this.books[id]!.clear();
      this.status[id] = BookStatus.Valid;
    } else if (type === RecordType.BookStatus) {
      this.status[id] = readI64(words, at + R.aux / 4);
    }
  }

  /** After a batch: each symbol whose levels it changed and that is valid gets its entry rewritten. */
  private writeTouchedBooks(): void {
    const writer = this.writer!;
    const depth = this.bids.prices.length;
    for (const id of this.touched) {
      this.levelsInBatch[id] = 0;
      if (this.status[id] !== BookStatus.Valid) continue;
      const book = this.books[id]!;
      this.bids.count = book.bids.topInto(this.bids.prices, this.bids.sizes, depth);
      this.asks.count = book.asks.topInto(this.asks.prices, this.asks.sizes, depth);
      writer.writeBook(id, BookStatus.Valid, this.bids, this.asks, this.venueSeq[id]!);
    }
    this.touched.length = 0;
  }

  /** Each symbol's view and status from entries (a generation's start or a books message). */
  private loadBooks(entries: Uint8Array): void {
    const shape = this.shape!;
    const depth = shape.bookDepth;
    const strideWords = bookStride(depth) / 4;
    const words = entryWords(entries);
    for (let id = 0; id < this.books.length; id++) {
      const base = id * strideWords;
      const book = this.books[id]!;
      book.clear();
      this.status[id] = words[base + B.status / 4]!;
      this.venueSeq[id] = readI64(words, base + B.venueSeq / 4);
      const bids = base + B.levels / 4;
      const asks = bids + (depth * LEVEL_SIZE) / 4;
      for (let i = 0; i < Math.min(words[base + B.bidCount / 4]!, depth); i++) {
        book.bids.set(readI64(words, bids + i * 4), readI64(words, bids + i * 4 + 2));
      }
      for (let i = 0; i < Math.min(words[base + B.askCount / 4]!, depth); i++) {
        book.asks.set(readI64(words, asks + i * 4), readI64(words, asks + i * 4 + 2));
      }
    }
  }

  /**
   * The leader's integrity words (which checks guard each book): they change apart from any
   * record, so the copy takes them from each books message at its end (the entries it starts
   * or jumps from carry them already).
   */
  private takeIntegrity(words: Int32Array): void {
    const writer = this.writer!;
    const strideWords = bookStride(this.shape!.bookDepth) / 4;
    for (let id = 0; id < this.books.length; id++) {
      writer.setIntegrity(id, words[id * strideWords + B.integrity / 4]!);
    }
  }

  /** The leader's counts at the copy's end must be the copy's: a difference is a defect, logged. */
  private checkCounts(words: Int32Array): void {
    const writer = this.writer!;
    const strideWords = bookStride(this.shape!.bookDepth) / 4;
    for (let id = 0; id < this.books.length; id++) {
      const base = id * strideWords;
      const theirs = [B.bookCount, B.tradeCount, B.bboCount].map((field) => readI64(words, base + field / 4));
      const ours = writer.counts(id);
      if (theirs[0] !== ours.book || theirs[1] !== ours.trade || theirs[2] !== ours.bbo) {
        this.options.log.throttled(
          "error",
          `counts:${id}`,
          "the copy's topic counts differ from the leader's",
          {
            symbol: this.shape!.symbols[id]!.symbol,
            leader: theirs,
            copy: [ours.book, ours.trade, ours.bbo],
          },
        );
      }
    }
  }
}

/** A books message's or a start's entry bytes as words (a copy: the bytes may sit at any offset). */
function entryWords(entries: Uint8Array): Int32Array {
  const words = new Int32Array(entries.length / 4);
  new Uint8Array(words.buffer).set(entries);
  return words;
}

function isBatchEnd(words: Int32Array, at: number): boolean {
  return ((words[at + 1]! >>> 8) & RecordFlag.BatchEnd) !== 0;
}
