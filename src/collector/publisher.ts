// Turns a venue's normalized events into ring records: owns every symbol's exact book and its
// published top-N view, stages one frame's records and writes them as one batch (the last
// flagged BatchEnd), then refreshes the latest-book entries. Book validity lives here too:
// an invalid book takes no updates until a snapshot batch makes it valid again.
import { OrderBook } from "../book/order-book.ts";
import { type LevelSink, TopView } from "../book/top-view.ts";
import { type FeedSink, TradeSide } from "../exchanges/venue.ts";
import { realtimeInto } from "../shm/clock.ts";
import {
  BookStatus,
  type ConnectionState,
  NO_SYMBOL,
  RecordFlag,
  RecordType,
  type StatusReason,
  type SymbolInfo,
} from "../shm/layout.ts";
import type { RingWriter } from "../shm/ring-writer.ts";
import { TradeIdWindow } from "./trade-ids.ts";

export interface PublisherOptions {
  readonly writer: RingWriter;
  readonly symbols: readonly SymbolInfo[];
  /** Levels per side in the published view (the ring's book depth). */
  readonly depth: number;
  /** Levels per side the exact book keeps (at least `depth`). */
  readonly maxLevels: number;
  /** Called after each batch with nanoseconds from frame receipt to the batch's publish time. */
  readonly onPublished?: (latencyNs: number) => void;
}

/** One frame's records before they go to the ring, in parallel typed arrays. */
class RecordStage {
  count = 0;
  types = new Uint8Array(256);
  flags = new Uint8Array(256);
  symbols = new Uint16Array(256);
  prices = new Float64Array(256);
  sizes = new Float64Array(256);
  aux = new Float64Array(256);

  push(type: number, flags: number, symbolId: number, price: number, size: number, aux: number): void {
    if (this.count === this.types.length) this.grow();
    const i = this.count++;
    this.types[i] = type;
    this.flags[i] = flags;
    this.symbols[i] = symbolId;
    this.prices[i] = price;
    this.sizes[i] = size;
    this.aux[i] = aux;
  }

  private grow(): void {
    const n = this.types.length * 2;
    this.types = copyInto(new Uint8Array(n), this.types);
    this.flags = copyInto(new Uint8Array(n), this.flags);
    this.symbols = copyInto(new Uint16Array(n), this.symbols);
    this.prices = copyInto(new Float64Array(n), this.prices);
    this.sizes = copyInto(new Float64Array(n), this.sizes);
    this.aux = copyInto(new Float64Array(n), this.aux);
  }
}

function copyInto<T extends Uint8Array | Uint16Array | Float64Array>(to: T, from: T): T {
  to.set(from);
  return to;
}

export class Publisher implements FeedSink, LevelSink {
  readonly books: OrderBook[];
  readonly views: TopView[];
  /** BookStatus per symbol. */
  readonly status: Uint8Array;
  readonly trades: TradeIdWindow[];
  /** Date.now() when each book last changed status (for the snapshot watchdog). */
  readonly statusSince: Float64Array;
  /** Ring records written so far. */
  recordsWritten = 0;
  private readonly writer: RingWriter;
  private readonly pendingSnapshot: Uint8Array;
  private readonly changedInFrame: Uint8Array;
  private readonly touchedFlag: Uint8Array;
  private readonly touched: Int32Array;
  private touchedCount = 0;
  /** The venue update id each book reflects (0 if the venue has none). */
  readonly venueSeq: Float64Array;
  private readonly stage = new RecordStage();
  private readonly times = new Uint32Array(4);
  private readonly onPublished: ((latencyNs: number) => void) | undefined;
  private readonly now = new Uint32Array(2);
  /** Symbol and flags of the levels the view is emitting now. */
  private emitSymbol = 0;
  private emitFlags = 0;

  constructor(options: PublisherOptions) {
    const n = options.symbols.length;
    this.writer = options.writer;
    this.books = options.symbols.map(() => new OrderBook(Math.max(options.maxLevels, options.depth)));
    this.views = options.symbols.map(() => new TopView(options.depth));
    this.trades = options.symbols.map(() => new TradeIdWindow());
    this.status = new Uint8Array(n);
    this.statusSince = new Float64Array(n).fill(Date.now());
    this.pendingSnapshot = new Uint8Array(n);
    this.changedInFrame = new Uint8Array(n);
    this.touchedFlag = new Uint8Array(n);
    this.touched = new Int32Array(n);
    this.venueSeq = new Float64Array(n);
    this.onPublished = options.onPublished;
  }

  /** Starts a frame received at this shared-clock time. */
  beginFrame(receiveSec: number, receiveNsec: number): void {
    const t = this.times;
    t[0] = 0;
    t[1] = 0;
    t[2] = receiveSec;
    t[3] = receiveNsec;
  }

  /** Starts a frame received now. */
  beginFrameNow(): void {
    realtimeInto(this.now, 0);
    this.beginFrame(this.now[0]!, this.now[1]!);
  }

  exchangeTime(sec: number, nsec: number): void {
    this.times[0] = sec;
    this.times[1] = nsec;
  }

  trade(symbolId: number, price: number, size: number, side: TradeSide, tradeId: number): void {
    if (!(price > 0) || !(size > 0)) throw new RangeError(`bad trade: price ${price}, size ${size}`);
    if (tradeId > 0 && !this.trades[symbolId]!.accept(tradeId)) return;
    const flags =
      side === TradeSide.Sell ? RecordFlag.Side : side === TradeSide.Unknown ? RecordFlag.SideUnknown : 0;
    this.stage.push(RecordType.Trade, flags, symbolId, price, size, tradeId);
  }

  book(symbolId: number): OrderBook | null {
    if (this.status[symbolId] !== BookStatus.Valid && this.pendingSnapshot[symbolId] !== 1) return null;
    // Handed out to be changed: if the frame fails half-way, this book is suspect.
    this.changedInFrame[symbolId] = 1;
    this.touch(symbolId);
    return this.books[symbolId]!;
  }

  snapshot(symbolId: number): OrderBook {
    const book = this.books[symbolId]!;
    book.clear();
    this.pendingSnapshot[symbolId] = 1;
    this.touch(symbolId);
    return book;
  }

  changed(symbolId: number, venueSeq: number): void {
    this.changedInFrame[symbolId] = 1;
    this.venueSeq[symbolId] = venueSeq;
    this.touch(symbolId);
  }

  invalidate(symbolId: number, reason: StatusReason): void {
    this.pendingSnapshot[symbolId] = 0;
    this.changedInFrame[symbolId] = 0;
    if (this.status[symbolId] === BookStatus.Invalid) return;
    this.status[symbolId] = BookStatus.Invalid;
    this.statusSince[symbolId] = Date.now();
    this.stage.push(RecordType.BookStatus, 0, symbolId, reason, 0, BookStatus.Invalid);
    this.touch(symbolId);
  }

  isValid(symbolId: number): boolean {
    return this.status[symbolId] === BookStatus.Valid;
  }

  /** Symbols whose book this frame changed (a failed frame leaves them suspect). */
  changedSymbols(): number[] {
    const ids: number[] = [];
    for (let i = 0; i < this.touchedCount; i++) {
      const id = this.touched[i]!;
      if (this.changedInFrame[id] === 1 || this.pendingSnapshot[id] === 1) ids.push(id);
    }
    return ids;
  }

  /** Writes the frame's records as one batch and refreshes the touched latest-book entries. */
  endFrame(): void {
    const stage = this.stage;
    for (let i = 0; i < this.touchedCount; i++) {
      const id = this.touched[i]!;
      const view = this.views[id]!;
      this.emitSymbol = id;
      if (this.pendingSnapshot[id] === 1) {
        stage.push(RecordType.BookClear, 0, id, 0, 0, 0);
        view.clear();
        this.emitFlags = RecordFlag.Snapshot;
        view.emitAll(this.books[id]!, this);
        this.pendingSnapshot[id] = 0;
        if (this.status[id] !== BookStatus.Valid) this.statusSince[id] = Date.now();
        this.status[id] = BookStatus.Valid;
      } else if (this.changedInFrame[id] === 1 && this.status[id] === BookStatus.Valid) {
        this.emitFlags = 0;
        view.emitDiff(this.books[id]!, this);
      }
    }
    if (stage.count > 0) this.flush();
    for (let i = 0; i < this.touchedCount; i++) {
      const id = this.touched[i]!;
      this.touchedFlag[id] = 0;
      this.changedInFrame[id] = 0;
      // An invalid book's entry keeps its levels; the writer takes its status from the record.
      if (this.status[id] === BookStatus.Valid) {
        const view = this.views[id]!;
        this.writer.writeBook(id, BookStatus.Valid, view.bids, view.asks, this.venueSeq[id]!);
      }
    }
    this.touchedCount = 0;
  }

  /** Writes one connection-wide status record as its own batch. */
  connectionStatus(state: ConnectionState, reason: StatusReason): void {
    this.beginFrameNow();
    this.stage.push(RecordType.ConnectionStatus, 0, NO_SYMBOL, reason, 0, state);
    this.flush();
  }

  level(isAsk: boolean, price: number, size: number): void {
    this.stage.push(
      RecordType.BookLevel,
      this.emitFlags | (isAsk ? RecordFlag.Side : 0),
      this.emitSymbol,
      price,
      size,
      this.venueSeq[this.emitSymbol]!,
    );
  }

  private flush(): void {
    const stage = this.stage;
    const writer = this.writer;
    const t = this.times;
    writer.setFrameTimes(t[0]!, t[1]!, t[2]!, t[3]!);
    const last = stage.count - 1;
    for (let i = 0; i <= last; i++) {
      writer.append(
        stage.types[i]!,
        i === last ? stage.flags[i]! | RecordFlag.BatchEnd : stage.flags[i]!,
        stage.symbols[i]!,
        stage.prices[i]!,
        stage.sizes[i]!,
        stage.aux[i]!,
      );
    }
    this.recordsWritten += stage.count;
    stage.count = 0;
    // Latency to the publish time the records carry (what readers see): no second clock read.
    if (this.onPublished !== undefined && t[2]! > 0) {
      this.onPublished(writer.nanosToLastPublish(t[2]!, t[3]!));
    }
  }

  private touch(symbolId: number): void {
    if (this.touchedFlag[symbolId] === 1) return;
    this.touchedFlag[symbolId] = 1;
    this.touched[this.touchedCount++] = symbolId;
  }
}
