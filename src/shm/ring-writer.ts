// The single writer of one ring file: creates a new generation, appends records under a
// per-slot seqlock, keeps each symbol's latest top-N book and the count of each topic's
// messages (carried over from the generation it replaces), and beats a heartbeat. Readers in
// other processes never take a lock and never slow it down.
import { fstatSync, mkdirSync, renameSync, unlinkSync } from "node:fs";
import {
  checkHeader,
  decodeHeader,
  decodeSymbols,
  encodeHeader,
  LiveWord,
  RingFormatError,
  type RingHeader,
} from "./header.ts";
import {
  B,
  type BookStatus,
  bookStride,
  FORMAT_VERSION,
  H,
  isPowerOfTwo,
  LEVEL_SIZE,
  R,
  RecordFlag,
  RecordType,
  RingState,
  regionOffsets,
  ringPath,
  SLOT_SIZE,
  SYMBOL_ENTRY_SIZE,
  type SymbolInfo,
  type SymbolSpec,
} from "./layout.ts";
import {
  closeFile,
  type Mapping,
  mapFile,
  O_CREAT,
  O_EXCL,
  O_RDWR,
  openFile,
  realtimeInto,
  setFileMode,
  setFileSize,
  tryLockExclusive,
  unmap,
} from "./libc.ts";
import { Prefault } from "./prefault.ts";
import { readI64, writeI64 } from "./words.ts";

export interface RingWriterOptions {
  readonly dir: string;
  /** File name without ".ring"; one ring per writer process, usually the exchange. */
  readonly name: string;
  readonly exchange: string;
  /** Slots, a power of two. Must exceed the largest batch (a full snapshot) several times. */
  readonly capacity: number;
  /** Levels per side kept in each symbol's latest-book entry. */
  readonly bookDepth: number;
  readonly symbols: readonly SymbolSpec[];
  /** File mode; owner read-write, group read by default. */
  readonly mode?: number;
  /** Begin from another writer's state instead of from the previous file's counts (a relay). */
  readonly start?: RingStart;
}

/**
 * A point of another ring of the same shape (symbols, depth), at a batch boundary: a relay
 * starts or continues its copy there. Its entries hold the levels, status, counts, bases and
 * last_seq of each symbol as of `firstSeq - 1`.
 */
export interface RingStart {
  /** The next record's sequence; records before it are not in this file. */
  readonly firstSeq: number;
  /** The status topic's count before that ring's generation, and through firstSeq - 1. */
  readonly connectionBase: number;
  readonly connectionCount: number;
  /** Every latest-book entry, symbol_count × book_stride bytes as docs/shm-format.md lays them out. */
  readonly entries: Uint8Array;
}

/** Where a relay's copy stands in the stream it copies (header words, docs/shm-format.md). */
export interface RingSource {
  /** The stream's creation time, ms since the epoch (0: the file copies nothing). */
  readonly createdMs: number;
  readonly generation: number;
  /** The last stream sequence whose message the file holds entirely. */
  readonly seq: number;
}

/** Told of every committed batch, inside append: copy what it needs at once (slots are reused). */
export interface BatchObserver {
  committed(firstSeq: number, lastSeq: number): void;
}

export class RingBusyError extends Error {
  constructor(readonly path: string) {
    super(`another process is writing ${path}: one writer per ring (set a different ring name)`);
    this.name = "RingBusyError";
  }
}

/**
 * The one-writer lock of dir/name.ring: an flock on `<name>.lock` beside it. A writer process
 * takes it before anything that others could see or that could still fail (a collector takes it
 * before it connects to its exchange); RingWriter.create takes it itself when not handed one.
 */
export class RingLock {
  private fd: number | null;

  private constructor(
    /** The ring file this lock guards. */
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Takes the lock of ring `name` in `dir` (creating `dir`), or throws RingBusyError. */
  static acquire(dir: string, name: string): RingLock {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const path = ringPath(dir, name);
    const lockPath = `${path.slice(0, -".ring".length)}.lock`;
    const fd = openFile(lockPath, O_RDWR | O_CREAT, 0o600);
    if (!tryLockExclusive(fd, lockPath)) {
      closeFile(fd);
      throw new RingBusyError(path);
    }
    return new RingLock(path, fd);
  }

  release(): void {
    if (this.fd !== null) closeFile(this.fd);
    this.fd = null;
  }
}

const WORDS_PER_SLOT = SLOT_SIZE / 4;
/** Marks on a symbol inside the open batch. */
const IN_BATCH = 1;
const BOOK_IN_BATCH = 2;
const STATUS_IN_BATCH = 4;

/** Topic message counts of one symbol (see docs/shm-format.md, "Topic counts"). */
export interface TopicCounts {
  book: number;
  trade: number;
  bbo: number;
}

export class RingWriter {
  readonly path: string;
  readonly generation: number;
  readonly capacity: number;
  readonly bookDepth: number;
  readonly symbols: readonly SymbolInfo[];
  private readonly lock: RingLock;
  private mapping: Mapping | null;
  private readonly i32: Int32Array;
  private readonly u32: Uint32Array;
  private readonly u8: Uint8Array;
  private readonly big: BigInt64Array;
  private readonly f64: Float64Array;
  private readonly slotsWord: number;
  private readonly booksWord: number;
  private readonly bookWords: number;
  private readonly mask: number;
  private seq = 1;
  private slot = 1;
  private batchOpen = false;
  private batchFirst = 1;
  private observer: BatchObserver | null = null;
  // Topic counts (docs/shm-format.md, "Topic counts"): what every broadcaster numbers its
  // messages by, so they agree without talking to each other.
  private readonly bookCount: Float64Array;
  private readonly tradeCount: Float64Array;
  private readonly bboCount: Float64Array;
  private connectionCount: number;
  private connectionInBatch = false;
  /** Book status per symbol as the records set it. */
  private readonly bookStatus: Uint8Array;
  /** A book batch was written and its entry not yet refreshed by writeBook. */
  private readonly awaitingBook: Uint8Array;
  /** The lastSeq each entry holds, and whether later trades are not in it yet. */
  private readonly anchoredAt: Float64Array;
  private readonly unanchored: Uint8Array;
  /**
   * Trades move an entry on once this many records have passed since it was last written,
   * not at every batch (an entry write is two more fences per trade): still well inside the
   * ring, which is all a reader starting from the entry needs.
   */
  private readonly anchorSpacing: number;
  private readonly batchMarks: Uint8Array;
  private readonly batchSymbols: Int32Array;
  private batchSymbolCount = 0;
  /** Exchange and receive time of the frame being written, then publish time of the batch. */
  private readonly times = new Uint32Array(6);
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private readonly prefault: Prefault;

  private constructor(
    options: RingWriterOptions,
    lock: RingLock,
    generation: number,
    previous: PreviousCounts | null,
    /** The mapping of the file at the path, taken up as it is (reopen), instead of a new file. */
    reopened: Mapping | null = null,
  ) {
    const { capacity, bookDepth, symbols } = options;
    const n = symbols.length;
    this.bookCount = new Float64Array(n);
    this.tradeCount = new Float64Array(n);
    this.bboCount = new Float64Array(n);
    this.bookStatus = new Uint8Array(n);
    this.awaitingBook = new Uint8Array(n);
    this.anchoredAt = new Float64Array(n);
    this.unanchored = new Uint8Array(n);
    this.anchorSpacing = Math.max(1, capacity >> 3);
    this.batchMarks = new Uint8Array(n);
    this.batchSymbols = new Int32Array(n);
    // A topic that lived in the previous generation continues its count; the one message in
    // between is the broadcasters' "restarted" notice.
    symbols.forEach((spec, id) => {
      const carried = previous?.symbols.get(spec.symbol);
      if (carried === undefined) return;
      this.bookCount[id] = carried.book + 1;
      this.tradeCount[id] = carried.trade + 1;
      this.bboCount[id] = carried.bbo + 1;
    });
    this.connectionCount = previous === null ? 0 : previous.connection + 1;
    this.path = ringPath(options.dir, options.name);
    this.lock = lock;
    this.generation = generation;
    this.capacity = capacity;
    this.bookDepth = bookDepth;
    this.mask = capacity - 1;
    this.slot = this.seq & this.mask;
    this.symbols = symbols.map((spec, id) => ({ ...spec, id }));
    const regions = regionOffsets(capacity, symbols.length, bookDepth);
    const tmpPath = `${this.path}.tmp-${process.pid}`;
    this.mapping = reopened ?? createFile(tmpPath, regions.fileSize, options.mode ?? 0o640);
    const buffer = this.mapping.buffer;
    this.i32 = new Int32Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.u8 = new Uint8Array(buffer);
    this.big = new BigInt64Array(buffer, 0, H.size / 8);
    this.f64 = new Float64Array(buffer, 0, H.size / 8);
    this.slotsWord = regions.slotsOffset / 4;
    this.booksWord = regions.booksOffset / 4;
    this.bookWords = bookStride(bookDepth) / 4;
    if (reopened !== null) {
      this.restore();
      this.prefault = new Prefault(this.mapping, regions.booksOffset);
      return;
    }
    const created = new Uint32Array(2);
    realtimeInto(created, 0);
    const connectionBase = options.start === undefined ? this.connectionCount : options.start.connectionBase;
    encodeHeader(
      buffer,
      {
        version: FORMAT_VERSION,
        generation,
        writerPid: process.pid,
        capacity,
        slotSize: SLOT_SIZE,
        symbolCount: n,
        bookDepth,
        bookStride: bookStride(bookDepth),
        ...regions,
        createdSec: created[0]!,
        createdNsec: created[1]!,
        exchange: options.exchange,
        connectionBase,
      },
      this.symbols,
    );
    Atomics.store(this.i32, LiveWord.state, RingState.Initializing);
    if (options.start === undefined) {
      for (let id = 0; id < n; id++) {
        const base = this.booksWord + id * this.bookWords;
        writeI64(this.i32, base + B.bookBase / 4, this.bookCount[id]!);
        writeI64(this.i32, base + B.tradeBase / 4, this.tradeCount[id]!);
        writeI64(this.i32, base + B.bboBase / 4, this.bboCount[id]!);
        this.writeCounts(base, id, 0);
      }
    } else {
      this.adopt(options.start);
    }
    this.f64[LiveWord.firstSeq] = this.seq;
    this.f64[LiveWord.settledSeq] = this.seq - 1;
    this.f64[LiveWord.nextSeq] = this.seq;
    this.f64[LiveWord.connectionCount] = this.connectionCount;
    this.heartbeat();
    Atomics.store(this.i32, LiveWord.state, RingState.Live);
    renameSync(tmpPath, this.path);
    // Appending must not stop in a page fault on a slot's first touch; the slots are mapped in
    // from now on, in the background (the header and the entries' first lines are touched above).
    this.prefault = new Prefault(this.mapping, regions.booksOffset);
  }

  /**
   * Takes up the file at dir/name.ring again, in its generation, where its last writer left it
   * (killed or closed): committed records, counts and entries stay; records of a batch it never
   * committed stay invisible and are written over. Throws RingFormatError saying why when the
   * file cannot be continued (absent, another format or shape, retired, copying another source
   * than `source` or past what the source still holds, an entry torn or behind its records,
   * counts it cannot establish): the caller then creates a new generation. Nothing in a refused
   * file changes.
   */
  static reopen(options: RingWriterOptions, source: ExpectedSource): RingWriter {
    validateOptions(options);
    const path = ringPath(options.dir, options.name);
    const lock = RingLock.acquire(options.dir, options.name);
    let mapping: Mapping | null = null;
    try {
      let fd: number;
      try {
        fd = openFile(path, O_RDWR);
      } catch {
        throw new RingFormatError(path, "no file to continue");
      }
      let header: RingHeader;
      try {
        const size = fstatSync(fd).size;
        if (size < H.size) throw new RingFormatError(path, "shorter than a header");
        const page = mapFile(fd, H.size, false, path);
        try {
          header = decodeHeader(page.buffer, path);
        } finally {
          unmap(page);
        }
        checkHeader(header, size, path);
        mapping = mapFile(fd, header.fileSize, true, path);
      } finally {
        closeFile(fd);
      }
      checkSameShape(header, decodeSymbols(mapping.buffer, header), options, path);
      const state = Atomics.load(new Int32Array(mapping.buffer), LiveWord.state);
      if (state !== RingState.Live && state !== RingState.Closed) {
        throw new RingFormatError(path, `its state is ${RingState[state] ?? state}`);
      }
      checkSource(new Float64Array(mapping.buffer, 0, H.size / 8), source, path);
      return new RingWriter(options, lock, header.generation, null, mapping);
    } catch (error) {
      if (mapping !== null) unmap(mapping);
      lock.release();
      throw error;
    }
  }

  /**
   * Creates the next generation of the ring at dir/name.ring. Takes the ring's lock (a second
   * writer gets RingBusyError) unless handed it already taken, writes the new file beside the
   * old, renames it into place, then marks the old file Retired so its readers re-open the path.
   * The writer owns the lock from here: close() releases it, and so does a failed create.
   */
  static create(options: RingWriterOptions, taken?: RingLock): RingWriter {
    validateOptions(options);
    const path = ringPath(options.dir, options.name);
    if (taken !== undefined && taken.path !== path) {
      throw new Error(`the lock handed over guards ${taken.path}, not ${path}`);
    }
    const lock = taken ?? RingLock.acquire(options.dir, options.name);
    try {
      const previous = openPrevious(path);
      const writer = new RingWriter(
        options,
        lock,
        previous ? previous.generation + 1 : 1,
        previous?.counts ?? null,
      );
      previous?.retire();
      return writer;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /** Sequence the next append gets. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Sets exchange and local receive time for the records of the frame being written. */
  setFrameTimes(exchangeSec: number, exchangeNsec: number, receiveSec: number, receiveNsec: number): void {
    const t = this.times;
    t[0] = exchangeSec;
    t[1] = exchangeNsec;
    t[2] = receiveSec;
    t[3] = receiveNsec;
  }

  /**
   * Appends one record and returns its sequence. A record flagged BatchEnd closes the batch and
   * publishes the header cursor; publish time is taken once, at the batch's first record. A
   * connection status record's size is set to its count (the caller's is ignored).
   */
  append(type: number, flags: number, symbolId: number, price: number, size: number, aux: number): number {
    const seq = this.seq;
    if (type === RecordType.ConnectionStatus) {
      size = ++this.connectionCount;
      this.connectionInBatch = true;
    } else if (symbolId < this.symbols.length) {
      this.countSymbolRecord(type, symbolId, aux);
    }
    const i32 = this.i32;
    const u32 = this.u32;
    const t = this.times;
    const base = this.slotsWord + this.slot * WORDS_PER_SLOT;
    const version = i32[base]!;
    Atomics.store(i32, base, (version + 1) | 0); // odd: readers discard what they copy now
    if (!this.batchOpen) {
      // Publish time is read once the slot is ours: taking the slot's cache line from the
      // readers that poll it is part of getting to the record, not of handing it over.
      realtimeInto(t, 4);
      this.batchOpen = true;
      this.batchFirst = seq;
    }
    u32[base + 1] = type | (flags << 8) | (symbolId << 16);
    writeI64(i32, base + R.seq / 4, seq);
    writeI64(i32, base + R.price / 4, price);
    writeI64(i32, base + R.size / 4, size);
    u32[base + 8] = t[0]!;
    u32[base + 9] = t[1]!;
    u32[base + 10] = t[2]!;
    u32[base + 11] = t[3]!;
    u32[base + 12] = t[4]!;
    u32[base + 13] = t[5]!;
    writeI64(i32, base + R.aux / 4, aux);
    Atomics.store(i32, base, (version + 2) | 0);
    this.seq = seq + 1;
    this.slot = (this.slot + 1) & this.mask;
    if ((flags & RecordFlag.BatchEnd) !== 0) this.commitBatch();
    return seq;
  }

  /** A symbol's record in the open batch: trades and status records count where they stand. */
  private countSymbolRecord(type: number, symbolId: number, aux: number): void {
    const mark = this.batchMarks[symbolId]!;
    if (mark === 0) this.batchSymbols[this.batchSymbolCount++] = symbolId;
    if (type === RecordType.Trade) {
      this.tradeCount[symbolId]!++;
      this.batchMarks[symbolId] = mark | IN_BATCH;
    } else if (type === RecordType.BookStatus) {
      this.bookCount[symbolId]!++;
      this.bookStatus[symbolId] = aux;
      this.batchMarks[symbolId] = mark | IN_BATCH | STATUS_IN_BATCH;
    } else {
      this.batchMarks[symbolId] = mark | IN_BATCH | BOOK_IN_BATCH;
    }
  }

  /** Publishes the batch that just ended to readers, counts it, and tells the observer. */
  private commitBatch(): void {
    // Each one aligned 8-byte store (single-copy atomic on x86-64 and AArch64), after the
    // slot's seqlock release; doubles avoid a BigInt allocation per batch (25 ns measured).
    // The connection count follows the cursor: a reader that sees a count can also read the
    // record that made it.
    this.f64[LiveWord.nextSeq] = this.seq;
    if (this.connectionInBatch) {
      this.f64[LiveWord.connectionCount] = this.connectionCount;
      this.connectionInBatch = false;
    }
    this.batchOpen = false;
    if (this.batchSymbolCount > 0) this.endBatchCounts();
    this.observer?.committed(this.batchFirst, this.seq - 1);
  }

  /**
   * Counts the batch's book message per symbol, and moves on the entries of symbols whose levels
   * it did not touch: at once for a status change, after trades once anchorSpacing records have
   * passed. writeBook moves the others, with their levels.
   */
  private endBatchCounts(): void {
    const last = this.seq - 1;
    for (let i = 0; i < this.batchSymbolCount; i++) {
      const id = this.batchSymbols[i]!;
      const mark = this.batchMarks[id]!;
      this.batchMarks[id] = 0;
      if ((mark & BOOK_IN_BATCH) !== 0) {
        this.bookCount[id]!++;
        this.awaitingBook[id] = 1;
      } else if (this.awaitingBook[id] === 1) {
        // Levels lag a book batch: the entry keeps its older lastSeq until writeBook, so levels
        // and counts always describe the same point of the ring.
      } else if ((mark & STATUS_IN_BATCH) !== 0 || last - this.anchoredAt[id]! >= this.anchorSpacing) {
        this.writeAnchor(id, last);
      } else {
        this.unanchored[id] = 1;
      }
    }
    this.batchSymbolCount = 0;
  }

  /** Moves an entry to `lastSeq` with its status and counts, leaving its levels. */
  private writeAnchor(id: number, lastSeq: number): void {
    const i32 = this.i32;
    const base = this.bookBase(id);
    const version = i32[base]!;
    Atomics.store(i32, base, (version + 1) | 0);
    i32[base + B.status / 4] = this.bookStatus[id]!;
    this.writeCounts(base, id, lastSeq);
    Atomics.store(i32, base, (version + 2) | 0);
  }

  /** An entry's lastSeq and the counts through it (inside the entry's seqlock). */
  private writeCounts(base: number, id: number, lastSeq: number): void {
    writeI64(this.i32, base + B.lastSeq / 4, lastSeq);
    this.anchoredAt[id] = lastSeq;
    this.unanchored[id] = 0;
    writeI64(this.i32, base + B.bookCount / 4, this.bookCount[id]!);
    writeI64(this.i32, base + B.tradeCount / 4, this.tradeCount[id]!);
    writeI64(this.i32, base + B.bboCount / 4, this.bboCount[id]!);
  }

  /** A symbol's topic counts now. */
  counts(symbolId: number): TopicCounts {
    return {
      book: this.bookCount[symbolId]!,
      trade: this.tradeCount[symbolId]!,
      bbo: this.bboCount[symbolId]!,
    };
  }

  /**
   * Nanoseconds from (sec, nsec) on the shared clock to the publish time stamped on the last
   * batch: lets a caller measure receipt-to-publish latency without reading the clock again.
   */
  nanosToLastPublish(sec: number, nsec: number): number {
    const t = this.times;
    return (t[4]! - sec) * 1e9 + (t[5]! - nsec);
  }

  /**
   * Replaces a symbol's latest-book entry with the top levels of each side (best first), under
   * the entry's seqlock, as of the last record written: call it after each batch that changed
   * the symbol's levels. It counts a bbo message when the best bid or ask (price or size) moved.
   */
  writeBook(
    symbolId: number,
    status: BookStatus,
    bids: BookSideSource,
    asks: BookSideSource,
    venueSeq: number,
  ): void {
    if (this.batchOpen) throw new Error("writeBook inside an open batch: end the batch first");
    const i32 = this.i32;
    const base = this.bookBase(symbolId);
    const bidCount = Math.min(bids.count, this.bookDepth);
    const askCount = Math.min(asks.count, this.bookDepth);
    const levelWords = LEVEL_SIZE / 4;
    const bidsAt = base + B.levels / 4;
    const asksAt = bidsAt + this.bookDepth * levelWords;
    if (
      !this.sameBest(base + B.bidCount / 4, bidsAt, bids, bidCount) ||
      !this.sameBest(base + B.askCount / 4, asksAt, asks, askCount)
    ) {
      this.bboCount[symbolId]!++;
    }
    this.bookStatus[symbolId] = status;
    this.awaitingBook[symbolId] = 0;
    const version = i32[base]!;
    Atomics.store(i32, base, (version + 1) | 0);
    i32[base + B.status / 4] = status;
    i32[base + B.bidCount / 4] = bidCount;
    i32[base + B.askCount / 4] = askCount;
    this.u32[base + B.exchangeSec / 4] = this.times[0]!;
    this.u32[base + B.exchangeNsec / 4] = this.times[1]!;
    realtimeInto(this.u32, base + B.publishSec / 4);
    writeI64(i32, base + B.venueSeq / 4, venueSeq);
    this.writeCounts(base, symbolId, this.seq - 1);
    let at = bidsAt;
    for (let i = 0; i < bidCount; i++, at += levelWords) {
      writeI64(i32, at, bids.prices[i]!);
      writeI64(i32, at + 2, bids.sizes[i]!);
    }
    at = asksAt;
    for (let i = 0; i < askCount; i++, at += levelWords) {
      writeI64(i32, at, asks.prices[i]!);
      writeI64(i32, at + 2, asks.sizes[i]!);
    }
    Atomics.store(i32, base, (version + 2) | 0);
  }

  /** Whether a side's best level in the entry (count word, first level word) equals the new one. */
  private sameBest(countWord: number, levelWord: number, side: BookSideSource, count: number): boolean {
    const had = this.i32[countWord]! > 0;
    if (had !== count > 0) return false;
    return (
      !had ||
      (readI64(this.i32, levelWord) === side.prices[0] && readI64(this.i32, levelWord + 2) === side.sizes[0])
    );
  }

  /**
   * Sets the BookIntegrity bits of the checks that guard a symbol's book now. The word stands
   * apart from the entry's seqlock (one aligned store, not tied to last_seq), so a change never
   * makes readers of a busy book copy it again; callers store it when it changes, not per update.
   */
  setIntegrity(symbolId: number, flags: number): void {
    Atomics.store(this.i32, this.bookBase(symbolId) + B.integrity / 4, flags);
  }

  /**
   * Stamps the header heartbeat (ms since the epoch); readers judge the writer alive by it. A
   * relay stamps the time its copy was last known current, not the time it is now.
   */
  heartbeat(atMs = Date.now()): void {
    Atomics.store(this.big, LiveWord.heartbeatMs, BigInt(atMs));
  }

  startHeartbeat(intervalMs = 100): void {
    this.heartbeatTimer ??= setInterval(() => this.heartbeat(), intervalMs);
    this.heartbeatTimer.unref?.();
  }

  /**
   * Brings every entry's counts up to date (the next generation continues from them), marks
   * the ring Closed (data stays readable), unmaps it and releases the writer lock.
   */
  close(): void {
    if (this.mapping === null) return;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.prefault.stop();
    this.anchorAll();
    Atomics.store(this.i32, LiveWord.state, RingState.Closed);
    unmap(this.mapping);
    this.mapping = null;
    this.lock.release();
  }

  /** Moves every entry that trades have left behind to the last committed record. */
  anchorAll(): void {
    const committed = this.f64[LiveWord.nextSeq]! - 1;
    for (let id = 0; id < this.symbols.length; id++) {
      if (this.unanchored[id] === 1 && this.awaitingBook[id] === 0) this.writeAnchor(id, committed);
    }
    this.settle();
  }

  /**
   * Stores settled_seq: the point through which every entry's counts are exact (or through its
   * own later last_seq), so a writer that takes the file up again (reopen) recounts only the
   * records after it. An entry trades left behind by half the ring is moved on first, so that
   * point stays inside the ring; one that waits for its levels holds it back.
   */
  settle(): void {
    if (this.batchOpen) return;
    const committed = this.f64[LiveWord.nextSeq]! - 1;
    let settled = committed;
    for (let id = 0; id < this.symbols.length; id++) {
      if (this.unanchored[id] === 0 && this.awaitingBook[id] === 0) continue;
      if (this.awaitingBook[id] === 0 && committed - this.anchoredAt[id]! > this.capacity / 2)
        this.writeAnchor(id, committed);
      else settled = Math.min(settled, this.anchoredAt[id]!);
    }
    this.f64[LiveWord.settledSeq] = settled;
  }

  // Copying a ring between machines (src/fabric): the writer's side hands out committed batches
  // and entries as their bytes; a relay's side writes those records and entries into its own
  // file, so every copy holds the same records under the same sequences and counts.

  /** Sets the one observer of committed batches (null: none). */
  observe(observer: BatchObserver | null): void {
    this.observer = observer;
  }

  /**
   * Copies `count` committed records from `firstSeq` (64 bytes each, as in the slots) into
   * `out` at `at`. Their version words are zeroed: they mean nothing outside this file.
   */
  copyRecords(firstSeq: number, count: number, out: Uint8Array, at = 0): void {
    const committed = this.f64[LiveWord.nextSeq]!;
    if (firstSeq < committed - this.capacity || firstSeq + count > committed || count < 0) {
      throw new RangeError(`records ${firstSeq}+${count} are not all committed and still in the ring`);
    }
    const slotsOffset = this.slotsWord * 4;
    let slot = firstSeq & this.mask;
    for (let left = count; left > 0; slot = 0) {
      const run = Math.min(left, this.capacity - slot);
      const from = slotsOffset + slot * SLOT_SIZE;
      out.set(this.u8.subarray(from, from + run * SLOT_SIZE), at);
      for (let i = 0; i < run; i++) out.fill(0, at + i * SLOT_SIZE, at + i * SLOT_SIZE + 4);
      at += run * SLOT_SIZE;
      left -= run;
    }
  }

  /** The symbol table's bytes (symbol_count × 64), as in the file. */
  copySymbolTable(): Uint8Array {
    const from = H.size;
    return this.u8.slice(from, from + this.symbols.length * SYMBOL_ENTRY_SIZE);
  }

  /**
   * Every latest-book entry's bytes, each describing the ring as of the last committed record
   * (trades are anchored first), as a RingStart's entries. Null when that cannot hold now: inside
   * a batch, or after a book batch whose levels writeBook has not written yet.
   */
  copyEntries(): Uint8Array | null {
    if (this.batchOpen || this.awaitingBook.includes(1)) return null;
    this.anchorAll();
    const from = this.booksWord * 4;
    return this.u8.slice(from, from + this.symbols.length * this.bookWords * 4);
  }

  /** The status topic's count before this generation, and through the last committed record. */
  connectionCounts(): { base: number; count: number } {
    return { base: this.f64[H.connectionBase / 8]!, count: this.f64[LiveWord.connectionCount]! };
  }

  /**
   * Appends a record copied from another ring (words at + 0..15, 64 bytes as in a slot): its
   * sequence must be this ring's next, and everything but the version word is kept, times
   * included. Counts move as append moves them; a connection status record keeps its count.
   */
  appendRaw(words: Int32Array, at: number): number {
    const seq = readI64(words, at + R.seq / 4);
    if (seq !== this.seq) throw new RangeError(`record ${seq} is not this ring's next (${this.seq})`);
    const head = words[at + 1]!;
    const type = head & 0xff;
    const symbolId = head >>> 16;
    if (type === RecordType.ConnectionStatus) {
      this.connectionCount = readI64(words, at + R.size / 4);
      this.connectionInBatch = true;
    } else if (symbolId < this.symbols.length) {
      this.countSymbolRecord(type, symbolId, readI64(words, at + R.aux / 4));
    }
    if (!this.batchOpen) {
      this.batchOpen = true;
      this.batchFirst = seq;
    }
    const i32 = this.i32;
    const base = this.slotsWord + this.slot * WORDS_PER_SLOT;
    const version = i32[base]!;
    Atomics.store(i32, base, (version + 1) | 0);
    for (let i = 1; i < WORDS_PER_SLOT; i++) i32[base + i] = words[at + i]!;
    Atomics.store(i32, base, (version + 2) | 0);
    this.seq = seq + 1;
    this.slot = (this.slot + 1) & this.mask;
    if (((head >>> 8) & 0xff & RecordFlag.BatchEnd) !== 0) this.commitBatch();
    return seq;
  }

  /**
   * Continues at a later point of the ring this one copies, leaving out the records in between
   * (a relay that cannot get them). Entries first, then first_seq, then the cursor: a reader that
   * finds the hole (docs/shm-format.md) finds the entries it starts again from already there.
   */
  jumpTo(start: RingStart): void {
    if (this.batchOpen) throw new Error("jumpTo inside an open batch");
    if (start.firstSeq <= this.seq)
      throw new RangeError(`jumpTo ${start.firstSeq}: this ring is at ${this.seq}`);
    this.adopt(start);
    this.f64[LiveWord.firstSeq] = this.seq;
    this.f64[LiveWord.settledSeq] = this.seq - 1;
    this.f64[LiveWord.nextSeq] = this.seq;
    this.f64[LiveWord.connectionCount] = this.connectionCount;
  }

  /** Takes every entry (under its seqlock), count and status from `start`; the next record is start.firstSeq. */
  private adopt(start: RingStart): void {
    const n = this.symbols.length;
    const words = this.bookWords;
    if (start.entries.byteLength !== n * words * 4) {
      throw new RangeError(
        `the start's entries are ${start.entries.byteLength} bytes, not ${n} × ${words * 4}`,
      );
    }
    if (!Number.isInteger(start.firstSeq) || start.firstSeq < 1)
      throw new RangeError(`bad firstSeq ${start.firstSeq}`);
    const source = new Int32Array(n * words);
    new Uint8Array(source.buffer).set(start.entries);
    const i32 = this.i32;
    for (let id = 0; id < n; id++) {
      const from = id * words;
      const base = this.booksWord + from;
      const lastSeq = readI64(source, from + B.lastSeq / 4);
      if (lastSeq >= start.firstSeq) throw new RangeError(`entry ${id} is at ${lastSeq}, past the start`);
      const version = i32[base]!;
      Atomics.store(i32, base, (version + 1) | 0);
      i32.set(source.subarray(from + 1, from + words), base + 1);
      Atomics.store(i32, base, (version + 2) | 0);
      this.bookCount[id] = readI64(source, from + B.bookCount / 4);
      this.tradeCount[id] = readI64(source, from + B.tradeCount / 4);
      this.bboCount[id] = readI64(source, from + B.bboCount / 4);
      this.bookStatus[id] = source[from + B.status / 4]!;
      this.anchoredAt[id] = lastSeq;
      this.unanchored[id] = 0;
      this.awaitingBook[id] = 0;
    }
    this.connectionCount = start.connectionCount;
    this.seq = start.firstSeq;
    this.slot = this.seq & this.mask;
  }

  /**
   * The state of a file taken up again: counts, statuses and anchors from its entries, then the
   * records committed after settled_seq counted as append counted them. Throws RingFormatError
   * when they cannot be established: an entry torn (its writer died inside it), records since
   * settled_seq gone from the ring, or a book batch whose entry was never written.
   */
  private restore(): void {
    const fail = (detail: string) => new RingFormatError(this.path, `cannot continue it: ${detail}`);
    const i32 = this.i32;
    const committed = this.f64[LiveWord.nextSeq]! - 1;
    const settled = this.f64[LiveWord.settledSeq]!;
    if (!(settled <= committed && committed - settled <= this.capacity))
      throw fail(
        `settled_seq ${settled} is not within the ring's last ${this.capacity} records (${committed})`,
      );
    for (let id = 0; id < this.symbols.length; id++) {
      const base = this.bookBase(id);
      if ((i32[base]! & 1) !== 0) throw fail(`the entry of ${this.symbols[id]!.symbol} is torn`);
      this.bookCount[id] = readI64(i32, base + B.bookCount / 4);
      this.tradeCount[id] = readI64(i32, base + B.tradeCount / 4);
      this.bboCount[id] = readI64(i32, base + B.bboCount / 4);
      this.bookStatus[id] = i32[base + B.status / 4]!;
      this.anchoredAt[id] = readI64(i32, base + B.lastSeq / 4);
    }
    // A slot its writer died inside is left odd: even again, or the next write would look whole.
    for (let slot = 0; slot < this.capacity; slot++) {
      const at = this.slotsWord + slot * WORDS_PER_SLOT;
      if ((i32[at]! & 1) !== 0) i32[at] = (i32[at]! + 1) | 0;
    }
    for (let seq = settled + 1; seq <= committed; seq++) {
      const at = this.slotsWord + (seq & this.mask) * WORDS_PER_SLOT;
      if (readI64(i32, at + R.seq / 4) !== seq) throw fail(`record ${seq} is not in its slot`);
      const head = i32[at + 1]!;
      const type = head & 0xff;
      const id = head >>> 16;
      if (id >= this.symbols.length || seq <= this.anchoredAt[id]!) continue;
      if (type === RecordType.Trade) this.tradeCount[id]!++;
      else if (type === RecordType.BookStatus) {
        this.bookCount[id]!++;
        this.bookStatus[id] = readI64(i32, at + R.aux / 4);
      } else throw fail(`the book batch at ${seq} never reached the entry of ${this.symbols[id]!.symbol}`);
      this.unanchored[id] = 1;
    }
    this.seq = committed + 1;
    this.slot = this.seq & this.mask;
    this.connectionCount = this.f64[LiveWord.connectionCount]!;
    this.u32[H.writerPid / 4] = process.pid;
    Atomics.store(i32, LiveWord.state, RingState.Live);
  }

  /** What this file copies (a relay's ring): zeros in a ring that copies nothing. */
  source(): RingSource {
    const f64 = this.f64;
    return {
      createdMs: f64[LiveWord.sourceCreatedMs]!,
      generation: f64[LiveWord.sourceGeneration]!,
      seq: f64[LiveWord.sourceSeq]!,
    };
  }

  /** Names the stream (its creation time) and the generation this file copies, from stream sequence `seq`. */
  setSource(createdMs: number, generation: number, seq: number): void {
    this.f64[LiveWord.sourceCreatedMs] = createdMs;
    this.f64[LiveWord.sourceGeneration] = generation;
    this.f64[LiveWord.sourceSeq] = seq;
  }

  /** The stream's messages through `seq` are in this file (stored after the records they carried). */
  setSourceSeq(seq: number): void {
    this.f64[LiveWord.sourceSeq] = seq;
  }

  private bookBase(symbolId: number): number {
    if (symbolId < 0 || symbolId >= this.symbols.length) throw new RangeError(`no symbol id ${symbolId}`);
    return this.booksWord + symbolId * this.bookWords;
  }
}

/** One side of a book as parallel arrays, best level first. */
export interface BookSideSource {
  readonly count: number;
  readonly prices: ArrayLike<number>;
  readonly sizes: ArrayLike<number>;
}

function validateOptions(options: RingWriterOptions): void {
  if (!isPowerOfTwo(options.capacity) || options.capacity < 64 || options.capacity > 2 ** 30) {
    throw new RangeError(`ring capacity must be a power of two from 64 to 2^30, not ${options.capacity}`);
  }
  if (!Number.isInteger(options.bookDepth) || options.bookDepth < 1 || options.bookDepth > 5000) {
    throw new RangeError(`book depth must be 1 to 5000, not ${options.bookDepth}`);
  }
  if (options.symbols.length > 0xfffe) throw new RangeError("at most 65534 symbols per ring");
  const seen = new Set<string>();
  for (const symbol of options.symbols) {
    if (seen.has(symbol.symbol)) throw new Error(`symbol ${symbol.symbol} appears twice`);
    seen.add(symbol.symbol);
    for (const decimals of [symbol.priceDecimals, symbol.sizeDecimals]) {
      if (!Number.isInteger(decimals) || decimals < 0 || decimals > 18) {
        throw new RangeError(`${symbol.symbol}: decimals must be 0 to 18, not ${decimals}`);
      }
    }
  }
}

/** A new file at `tmpPath` of `size` bytes, mapped read-write (the mapping keeps it alive). */
function createFile(tmpPath: string, size: number, mode: number): Mapping {
  const fd = openFile(tmpPath, O_RDWR | O_CREAT | O_EXCL, mode);
  try {
    setFileMode(fd, mode, tmpPath);
    setFileSize(fd, size, tmpPath);
    return mapFile(fd, size, true, tmpPath);
  } catch (error) {
    unlinkSync(tmpPath);
    throw error;
  } finally {
    closeFile(fd);
  }
}

/** What a file taken up again must copy: a source ring's generation, through a stream created at `createdMs`. */
export interface ExpectedSource {
  readonly createdMs: number;
  readonly generation: number;
  /** The oldest stream sequence the stream still holds: the file's next must not be older. */
  readonly oldestSeq: number;
}

/** Refuses a file that copies something else than `expected`, or stands where the stream no longer reaches. */
function checkSource(f64: Float64Array, expected: ExpectedSource, path: string): void {
  const createdMs = f64[LiveWord.sourceCreatedMs]!;
  const generation = f64[LiveWord.sourceGeneration]!;
  const next = f64[LiveWord.sourceSeq]! + 1;
  const why =
    createdMs === 0
      ? "it copies no stream (a collector wrote it)"
      : createdMs !== expected.createdMs
        ? "it copies another stream"
        : generation !== expected.generation
          ? `it copies generation ${generation}, the stream's is ${expected.generation}`
          : next < expected.oldestSeq
            ? `the stream no longer holds message ${next} (it starts at ${expected.oldestSeq})`
            : null;
  if (why !== null) throw new RingFormatError(path, why);
}

/** Refuses a file of another shape than `options` ask for (reopen continues only the same ring). */
function checkSameShape(
  header: RingHeader,
  symbols: readonly SymbolInfo[],
  options: RingWriterOptions,
  path: string,
): void {
  const differs = (what: string, theirs: unknown, ours: unknown) =>
    new RingFormatError(path, `its ${what} is ${theirs}, not ${ours}`);
  if (header.capacity !== options.capacity) throw differs("capacity", header.capacity, options.capacity);
  if (header.bookDepth !== options.bookDepth)
    throw differs("book depth", header.bookDepth, options.bookDepth);
  if (header.exchange !== options.exchange) throw differs("exchange", header.exchange, options.exchange);
  const table = (list: readonly SymbolSpec[]) =>
    list.map((s) => `${s.symbol} ${s.venueSymbol} ${s.priceDecimals} ${s.sizeDecimals}`).join();
  if (table(symbols) !== table(options.symbols))
    throw differs(
      "symbol table",
      `${symbols.length} symbols`,
      `the ${options.symbols.length} symbols asked for`,
    );
}

/** What a new generation continues from: the previous one's topic counts, by symbol. */
interface PreviousCounts {
  readonly symbols: Map<string, TopicCounts>;
  readonly connection: number;
}

/**
 * The ring currently at `path`, if it is ours: its generation, its topic counts (when its format
 * is this one) and a way to retire it. Its writer is gone (we hold the lock), so plain reads do.
 */
function openPrevious(
  path: string,
): { generation: number; counts: PreviousCounts | null; retire(): void } | null {
  let fd: number;
  try {
    fd = openFile(path, O_RDWR);
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < H.size) return null;
    const page = mapFile(fd, H.size, true, path);
    let header: RingHeader;
    try {
      header = decodeHeader(page.buffer, path);
    } catch (error) {
      unmap(page);
      if (error instanceof RingFormatError) return null; // not a ring: nothing to continue or retire
      throw error;
    }
    return {
      generation: header.generation,
      counts: readCounts(fd, page.buffer, header, size, path),
      retire() {
        Atomics.store(new Int32Array(page.buffer), LiveWord.state, RingState.Retired);
        unmap(page);
      },
    };
  } finally {
    closeFile(fd);
  }
}

/** A previous file's topic counts; null when it is of another format (they start again). */
function readCounts(
  fd: number,
  page: ArrayBuffer,
  header: RingHeader,
  size: number,
  path: string,
): PreviousCounts | null {
  try {
    checkHeader(header, size, path);
  } catch (error) {
    if (error instanceof RingFormatError) return null;
    throw error;
  }
  const whole = mapFile(fd, header.fileSize, false, path);
  try {
    const i32 = new Int32Array(whole.buffer);
    const symbols = new Map<string, TopicCounts>();
    for (const symbol of decodeSymbols(whole.buffer, header)) {
      const base = (header.booksOffset + symbol.id * header.bookStride) / 4;
      symbols.set(symbol.symbol, {
        book: readI64(i32, base + B.bookCount / 4),
        trade: readI64(i32, base + B.tradeCount / 4),
        bbo: readI64(i32, base + B.bboCount / 4),
      });
    }
    return { symbols, connection: new Float64Array(page)[LiveWord.connectionCount]! };
  } finally {
    unmap(whole);
  }
}
