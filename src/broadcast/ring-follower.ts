// Follows one ring file for the broadcaster: keeps each symbol's book (the ring's top-N view)
// from the latest-book entry plus the ring's records, and turns each batch into the messages
// of its topics (delta, snapshot, trade, bbo, status). Each topic's seq counts its messages,
// from the counts the writer keeps in the ring (docs/shm-format.md, "Topic counts"), so every
// broadcaster on the same ring sends the same message under the same seq, without holes. It
// judges whether the ring's writer is live, and tells its topics when that changes.

import { formatScaledTrimmed } from "../market/decimal.ts";
import {
  encodeBbo,
  encodeDelta,
  encodeNotice,
  encodeSnapshot,
  encodeStatus,
  encodeTrade,
  epochMicros,
} from "../protocol/encode.ts";
import type { BookValidity, Level, StatusState } from "../protocol/messages.ts";
import { SortedLevels } from "../protocol/sorted-levels.ts";
import type { TopicParts } from "../protocol/topics.ts";
import {
  type BookCheck,
  BookStatus,
  ConnectionState,
  integrityChecks,
  RecordFlag,
  RecordType,
  RingState,
  StatusReason,
  type SymbolInfo,
} from "../shm/layout.ts";
import { type BookCopy, RecordView, RingReader, type RingSink } from "../shm/ring-reader.ts";
import { writerGone } from "../shm/writer-liveness.ts";
import { Sightings } from "./sightings.ts";
import { type Topic, UNKNOWN_POSITION } from "./topic.ts";

/** Where the follower's messages go: to the subscribers of the topics it serves. */
export interface MessageOutlet {
  /** A message that is not live (catch-up reading, gap notices, starting states, restarts): never timed. */
  publish(topic: Topic, text: string, deltaOf?: number): void;
  /**
   * A live record's message. committedSec/Nsec: when the writer committed the record (the
   * ring's publish time); pickedUpAtMs: when this follower saw it committed (performance.now()).
   */
  publishLive(
    topic: Topic,
    text: string,
    committedSec: number,
    committedNsec: number,
    pickedUpAtMs: number,
    deltaOf?: number,
  ): void;
  /** A ring dropped records before the follower read them. */
  lost(ring: string, records: number): void;
  /** Topics of a ring that (re)attached: subscribe wildcard subscribers to the new ones. */
  topicsChanged(): void;
  /** The ring's writer stopped, or is live again (its `stale` says which). */
  writerChanged(ring: RingFollower): void;
}

export interface TopicDirectory {
  /** This follower's stream of the topic: the one it had (a new generation carries it on), else a new one. */
  claim(owner: RingFollower, parts: TopicParts): Topic;
  /** The follower has the topic no more (its ring went, or a new generation dropped the symbol). */
  release(owner: RingFollower, topic: Topic): void;
}

/** The reason of the status that tells a ring's topics its writer is live again. */
const WRITER_LIVE = "writer_live";

const VALIDITY: Record<number, BookValidity> = {
  [BookStatus.Unknown]: "unknown",
  [BookStatus.Valid]: "valid",
  [BookStatus.Invalid]: "invalid",
  [BookStatus.Resyncing]: "resyncing",
};

const CONNECTION: Record<number, StatusState> = {
  [ConnectionState.Connected]: "connected",
  [ConnectionState.Disconnected]: "disconnected",
  [ConnectionState.Reconnecting]: "reconnecting",
};

function reasonText(reason: number): string {
  const name = StatusReason[reason];
  return name === undefined
    ? `reason_${reason}`
    : name.replace(/[A-Z]/g, (c, at) => (at ? "_" : "") + c.toLowerCase());
}

/** One symbol's book and topics inside a follower. */
class SymbolState {
  readonly bids: SortedLevels;
  readonly asks: SortedLevels;
  status = BookStatus.Unknown;
  /** Records at or below this ring seq are already in the book and the counts (from the entry). */
  skipThrough = 0;
  // The batch being read: level changes wait for its BatchEnd.
  readonly pendingBids = new Map<number, number>();
  readonly pendingAsks = new Map<number, number>();
  cleared = false;
  /** The batch carried levels (or a clear) for this symbol: it makes one book message. */
  batchLevels = false;
  batchStatus = BookStatus.Unknown;
  touched = false;
  exchangeSec = 0;
  exchangeNsec = 0;
  publishSec = 0;
  publishNsec = 0;
  bestBid: Level | null = null;
  bestAsk: Level | null = null;

  constructor(
    readonly info: SymbolInfo,
    readonly book: Topic,
    readonly trades: Topic,
    readonly bbo: Topic,
  ) {
    this.bids = new SortedLevels(true, info.priceDecimals, info.sizeDecimals);
    this.asks = new SortedLevels(false, info.priceDecimals, info.sizeDecimals);
  }
}

export class RingFollower implements RingSink {
  readonly path: string;
  exchange = "";
  generation = 0;
  /**
   * Why the ring's writer counts as stopped ("writer_gone", "no_heartbeat", "writer_closed",
   * "writer_starting"), or null while it is live: as judged at attach and at each checkWriter.
   */
  stale: string | null = null;
  private reader: RingReader | null = null;
  private symbols: SymbolState[] = [];
  private statusTopic: Topic | null = null;
  private readonly touched: SymbolState[] = [];
  private readonly view = new RecordView();
  /** The venue connection's last state, for a new subscriber of `status.<exchange>`. */
  private connection: StatusState = "connected";
  /** Ring seqs from here on were committed after this follower started reading: live. */
  private liveFrom = Number.POSITIVE_INFINITY;
  /** The record being read is live (not catch-up of what the ring held when reading started). */
  private live = false;
  /** When the live records being read were first seen committed: their pick-up. */
  private readonly sightings = new Sightings();

  constructor(
    path: string,
    private readonly directory: TopicDirectory,
    private readonly outlet: MessageOutlet,
    /** A writer whose heartbeat is older than this counts as stopped (BROADCAST_STALE_MS). */
    private readonly staleMs: number,
  ) {
    this.path = path;
  }

  /** Maps the ring, builds its books and judges its writer; throws if the file is not a readable ring. */
  attach(): void {
    const reader = RingReader.open(this.path, "latest");
    this.reader = reader;
    this.exchange = reader.exchange;
    this.generation = reader.generation;
    this.buildSymbols(reader);
    this.startReading(reader, false, "");
    this.checkWriter();
    this.outlet.topicsChanged();
  }

  /** Starts a generation's topics: from its bases if it is whole, else from the entries. */
  private startReading(reader: RingReader, notify: boolean, reason: string): void {
    this.liveFrom = reader.writerNextSeq();
    this.sightings.clear();
    const oldest = reader.oldestSeq();
    if (oldest === 1) {
      this.startWhole(reader);
      reader.seek(1);
    } else {
      this.startAtEntries(reader, notify, reason);
      reader.seek(oldest);
    }
  }

  /**
   * The whole generation is still in the ring: read it all from the generation's base counts,
   * so this broadcaster's books, seqs and history are exactly those of one that was there.
   */
  private startWhole(reader: RingReader): void {
    const copy = reader.newBookCopy();
    for (const state of this.symbols) {
      const known = reader.readBook(state.info.id, copy);
      continueAt(state.book, known ? copy.bookBase : UNKNOWN_POSITION);
      continueAt(state.trades, known ? copy.tradeBase : UNKNOWN_POSITION);
      continueAt(state.bbo, known ? copy.bboBase : UNKNOWN_POSITION);
    }
    continueAt(this.statusTopic, reader.connectionBase());
  }

  /**
   * Starts every topic at its latest-book entry (books, counts); the records the entries
   * already hold are skipped as they come. With `notify`, subscribers are told: a gap notice on
   * each topic, then the book and the bbo as they are now.
   */
  private startAtEntries(reader: RingReader, notify: boolean, reason: string): void {
    const copy = reader.newBookCopy();
    for (const state of this.symbols) {
      state.pendingBids.clear();
      state.pendingAsks.clear();
      state.touched = false;
      state.batchLevels = false;
      if (!this.takeEntry(reader, state, copy)) {
        for (const topic of [state.book, state.trades, state.bbo]) topic.reset(UNKNOWN_POSITION);
        continue;
      }
      state.book.reset(copy.bookCount);
      state.trades.reset(copy.tradeCount);
      state.bbo.reset(copy.bboCount);
      this.rememberBest(state);
      if (!notify) continue;
      for (const topic of [state.book, state.trades]) {
        this.outlet.publish(topic, encodeNotice(topic.name, topic.position, "gap", reason));
      }
      for (const topic of [state.book, state.bbo]) {
        const text = topic.initial?.();
        if (text) this.outlet.publish(topic, text);
      }
    }
    this.touched.length = 0;
    const status = this.statusTopic;
    status?.reset(reader.connectionCount());
    if (notify && status) {
      this.outlet.publish(status, encodeNotice(status.name, status.position, "gap", reason));
    }
  }

  private buildSymbols(reader: RingReader): void {
    const exchange = reader.exchange;
    const status = this.directory.claim(this, { channel: "status", exchange, symbol: "" });
    status.initial = () => this.connectionText(status.position);
    this.statusTopic = status;
    this.symbols = reader.symbols.map((info) => {
      const claim = (channel: "book" | "trades" | "bbo") =>
        this.directory.claim(this, { channel, exchange, symbol: info.symbol });
      const state = new SymbolState(info, claim("book"), claim("trades"), claim("bbo"));
      state.book.initial = () => this.snapshotText(state, state.book.position, this.shownValidity(state));
      // The current best levels (also when they have not changed since this broadcaster attached).
      state.bbo.initial = () => bboText(state.bbo, state, state.bbo.position);
      return state;
    });
  }

  private *allTopics(): Generator<Topic> {
    if (this.statusTopic) yield this.statusTopic;
    for (const state of this.symbols) {
      yield state.book;
      yield state.trades;
      yield state.bbo;
    }
  }

  /** Reads what the writer published since the last call; returns the records read. */
  poll(max: number): number {
    const reader = this.reader;
    if (reader === null) return 0;
    const read = reader.poll(this, this.view, max);
    if (read === 0 && reader.state() === RingState.Retired) this.switchGeneration();
    return read;
  }

  /** Records the writer has committed that this follower has not read yet. */
  lag(): number {
    const reader = this.reader;
    return reader === null ? 0 : Math.max(0, reader.writerNextSeq() - reader.position);
  }

  heartbeatAgeMs(): number {
    return this.reader?.heartbeatAgeMs() ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Judges the ring's writer now. When it stops, each topic of the ring gets a "stale" notice;
   * when it beats again, the status the topic is in: the book's validity, the venue connection,
   * "valid" for trades and bbo. Notices reach subscribers only of the topics this ring serves.
   */
  checkWriter(now = Date.now()): void {
    const reader = this.reader;
    if (reader === null) return;
    const was = this.stale;
    const reason = this.writerProblem(reader, now);
    if (reason === was) return;
    this.setStale(reason);
    if ((was === null) === (reason === null)) return; // only the reason changed
    this.outlet.writerChanged(this);
    if (reason !== null) {
      for (const topic of this.allTopics()) this.outlet.publish(topic, topic.staleNotice()!);
      return;
    }
    const live = (topic: Topic, status: StatusState) =>
      this.outlet.publish(topic, encodeNotice(topic.name, topic.position, status, WRITER_LIVE));
    if (this.statusTopic) live(this.statusTopic, this.connection);
    for (const state of this.symbols) {
      live(state.book, VALIDITY[state.status] ?? "unknown");
      live(state.trades, "valid");
      live(state.bbo, "valid");
    }
  }

  /** Why the writer counts as stopped now, or null while it is live (docs/protocol.md, "Stale rings"). */
  private writerProblem(reader: RingReader, now: number): string | null {
    const state = reader.state();
    if (state === RingState.Closed) return "writer_closed";
    if (state === RingState.Initializing) return "writer_starting";
    // A newer generation is in place: the next poll switches to it; until then nothing changes.
    if (state === RingState.Retired) return this.stale;
    const age = reader.heartbeatAgeMs(now);
    if (writerGone(reader.writerPid, age)) return "writer_gone";
    return age > this.staleMs ? "no_heartbeat" : null;
  }

  private setStale(reason: string | null): void {
    this.stale = reason;
    for (const topic of this.allTopics()) topic.staleReason = reason;
  }

  /** The writer's pid as the ring's header gives it (meaningful in the writer's PID namespace). */
  writerPid(): number {
    return this.reader?.writerPid ?? 0;
  }

  /** The path holds another file now (a writer restarted without retiring ours, or it was replaced). */
  checkReplaced(): void {
    if (this.reader?.replaced()) this.switchGeneration();
  }

  bookStates(): ReadonlyArray<{
    symbol: string;
    status: BookValidity;
    /** This ring's book topic is the one served under its name. */
    served: boolean;
    /** The checks that guard the book now, as the ring's entry says. */
    integrity: BookCheck[];
    publishSec: number;
    publishNsec: number;
  }> {
    return this.symbols.map((s) => ({
      symbol: s.info.symbol,
      status: this.shownValidity(s),
      served: s.book.serving,
      integrity: this.integrityOf(s),
      publishSec: s.publishSec,
      publishNsec: s.publishNsec,
    }));
  }

  /** The checks that guard a symbol's book now; null when this ring has no such symbol. */
  bookIntegrity(symbol: string): BookCheck[] | null {
    const state = this.symbols.find((s) => s.info.symbol === symbol);
    return state ? this.integrityOf(state) : null;
  }

  private integrityOf(state: SymbolState): BookCheck[] {
    return integrityChecks(this.reader?.integrity(state.info.id) ?? 0);
  }

  /** A book's state as clients are told it now: "stale" while the writer is stopped, else the ring's word. */
  private shownValidity(state: SymbolState): BookValidity {
    return this.stale !== null ? "stale" : (VALIDITY[state.status] ?? "unknown");
  }

  /** A consistent book at the last batch boundary, `depth` levels a side, as a snapshot message. */
  bookSnapshot(symbol: string, depth: number): string | null {
    const state = this.symbols.find((s) => s.info.symbol === symbol);
    if (!state) return null;
    return this.snapshotText(state, state.book.position, this.shownValidity(state), depth);
  }

  record(r: RecordView): void {
    this.live = r.seq >= this.liveFrom;
    if (this.live) this.sightings.look(this.reader!.writerNextSeq(), r.seq);
    const type = r.type;
    if (type === RecordType.ConnectionStatus) {
      this.onConnectionStatus(r);
    } else if (r.symbolId < this.symbols.length) {
      const state = this.symbols[r.symbolId]!;
      if (r.seq <= state.skipThrough) {
        // Already in the entry this symbol started from.
      } else if (type === RecordType.Trade) this.onTrade(state, r);
      else this.onBookRecord(state, r);
    }
    if ((r.flags & RecordFlag.BatchEnd) !== 0) this.endBatch();
  }

  /** Replaces a symbol's book with its latest-book entry; false if the entry could not be copied. */
  private takeEntry(reader: RingReader, state: SymbolState, copy: BookCopy): boolean {
    if (!reader.readBook(state.info.id, copy)) return false;
    state.bids.clear();
    state.asks.clear();
    for (let i = 0; i < copy.bidCount; i++) state.bids.set(copy.bidPrices[i]!, copy.bidSizes[i]!);
    for (let i = 0; i < copy.askCount; i++) state.asks.set(copy.askPrices[i]!, copy.askSizes[i]!);
    state.status = copy.status;
    state.skipThrough = copy.lastSeq;
    state.exchangeSec = copy.exchangeSec;
    state.exchangeNsec = copy.exchangeNsec;
    state.publishSec = copy.publishSec;
    state.publishNsec = copy.publishNsec;
    return true;
  }

  gap(fromSeq: number, lost: number): void {
    this.outlet.lost(this.path, lost);
    const reader = this.reader;
    if (reader === null) return;
    // What was lost is unknown: every topic starts again at its latest-book entry, and reading
    // goes on after the lost records.
    this.startAtEntries(reader, true, `lost ${lost} records from ring seq ${fromSeq}`);
  }

  private onTrade(state: SymbolState, r: RecordView): void {
    const topic = state.trades;
    const seq = topic.position + 1;
    const text = tradeMessage(topic.name, seq, r, state.info.priceDecimals, state.info.sizeDecimals);
    topic.record(seq, text);
    this.emit(topic, text, r.publishSec, r.publishNsec);
  }

  private onBookRecord(state: SymbolState, r: RecordView): void {
    if (!state.touched) {
      state.touched = true;
      state.cleared = false;
      state.batchLevels = false;
      state.batchStatus = state.status;
      this.touched.push(state);
    }
    state.exchangeSec = r.exchangeSec;
    state.exchangeNsec = r.exchangeNsec;
    state.publishSec = r.publishSec;
    state.publishNsec = r.publishNsec;
    switch (r.type) {
      case RecordType.BookLevel:
        state.batchLevels = true;
        ((r.flags & RecordFlag.Side) !== 0 ? state.pendingAsks : state.pendingBids).set(r.price, r.size);
        break;
      case RecordType.BookClear:
        state.batchLevels = true;
        state.cleared = true;
        state.pendingBids.clear();
        state.pendingAsks.clear();
        state.batchStatus = BookStatus.Valid;
        break;
      case RecordType.BookStatus: {
        state.batchStatus = r.aux;
        // One message per status record, told at once: the batch's book changes follow.
        this.sendStatus(
          state.book,
          VALIDITY[r.aux] ?? "unknown",
          reasonText(r.price),
          r.publishSec,
          r.publishNsec,
        );
        break;
      }
    }
  }

  private onConnectionStatus(r: RecordView): void {
    const topic = this.statusTopic;
    this.connection = CONNECTION[r.aux] ?? "disconnected";
    // The record carries its own count (in size): one the starting position already holds is old.
    if (topic === null || r.size <= topic.position) return;
    this.sendStatus(topic, this.connection, reasonText(r.price), r.publishSec, r.publishNsec);
  }

  private endBatch(): void {
    // Runs once a record when each trade is its own batch, where no book was touched: left at
    // once, the broadcaster stopped for over 20 us in half as many record handlings at 100 k
    // trades/s as when it set up the loop each time (interleaved runs; docs/shm-format.md).
    if (this.touched.length === 0) return;
    for (const state of this.touched) this.flush(state);
    this.touched.length = 0;
  }

  /**
   * Applies a symbol's batch. A batch with levels makes exactly one book message (a delta, even
   * an empty one, or a snapshot after a resync), as the writer counts it.
   */
  private flush(state: SymbolState): void {
    state.touched = false;
    if (!state.batchLevels) {
      state.status = state.batchStatus;
      return;
    }
    const wasValid = state.status === BookStatus.Valid;
    const deltaBids: Level[] = [];
    const deltaAsks: Level[] = [];
    if (state.cleared) {
      const oldBids = sideMap(state.bids);
      const oldAsks = sideMap(state.asks);
      state.bids.clear();
      state.asks.clear();
      for (const [price, size] of state.pendingBids) state.bids.set(price, size);
      for (const [price, size] of state.pendingAsks) state.asks.set(price, size);
      if (wasValid) {
        diffInto(oldBids, state.bids, deltaBids);
        diffInto(oldAsks, state.asks, deltaAsks);
      }
    } else {
      applyInto(state.bids, state.pendingBids, deltaBids);
      applyInto(state.asks, state.pendingAsks, deltaAsks);
    }
    state.pendingBids.clear();
    state.pendingAsks.clear();
    state.status = state.batchStatus;
    const book = state.book;
    const seq = book.position + 1;
    if (state.cleared && !wasValid) {
      // A fresh book after a resync or a writer start: the one time a subscriber gets it whole.
      // Kept for resume, so it says what the ring says, whatever this broadcaster thinks now.
      const text = this.snapshotText(state, seq, VALIDITY[state.status] ?? "unknown");
      book.record(seq, text);
      this.emit(book, text, state.publishSec, state.publishNsec);
    } else {
      const text = encodeDelta(
        book.name,
        seq,
        epochMicros(state.exchangeSec, state.exchangeNsec),
        epochMicros(state.publishSec, state.publishNsec),
        deltaBids,
        deltaAsks,
      );
      book.record(seq, text);
      this.emit(book, text, state.publishSec, state.publishNsec, fullBookBytes(state));
    }
    this.publishBbo(state);
    state.cleared = false;
  }

  /** A bbo message when the best bid or ask (price or size) moved, as the writer counts them. */
  private publishBbo(state: SymbolState): void {
    const previousBid = state.bestBid;
    const previousAsk = state.bestAsk;
    this.rememberBest(state);
    const topic = state.bbo;
    if (sameLevel(previousBid, state.bestBid) && sameLevel(previousAsk, state.bestAsk)) return;
    const seq = topic.position + 1;
    const text = bboText(topic, state, seq);
    topic.record(seq, text);
    this.emit(topic, text, state.publishSec, state.publishNsec);
  }

  private rememberBest(state: SymbolState): void {
    state.bestBid = state.bids.best();
    state.bestAsk = state.asks.best();
  }

  /** A status message, the topic's next. */
  private sendStatus(
    topic: Topic,
    status: StatusState,
    reason: string,
    publishSec: number,
    publishNsec: number,
    seq = topic.position + 1,
  ): void {
    const text = encodeStatus(topic.name, seq, 0, epochMicros(publishSec, publishNsec), status, reason);
    topic.record(seq, text);
    this.emit(topic, text, publishSec, publishNsec);
  }

  /** Hands a message of the record being read to the outlet, with its commit time if it is live. */
  private emit(topic: Topic, text: string, publishSec: number, publishNsec: number, deltaOf?: number): void {
    if (this.live)
      this.outlet.publishLive(topic, text, publishSec, publishNsec, this.sightings.atMs, deltaOf);
    else this.outlet.publish(topic, text, deltaOf);
  }

  /** A book snapshot at seq: the book as it is after the topic's message `seq`, in state `status`. */
  private snapshotText(
    state: SymbolState,
    seq: number,
    status: BookValidity,
    depth = Number.MAX_SAFE_INTEGER,
  ): string {
    return encodeSnapshot(
      state.book.name,
      seq,
      epochMicros(state.exchangeSec, state.exchangeNsec),
      epochMicros(state.publishSec, state.publishNsec),
      this.exchange,
      state.info.symbol,
      status,
      state.info.priceDecimals,
      state.info.sizeDecimals,
      state.bids.levels(depth),
      state.asks.levels(depth),
    );
  }

  private connectionText(seq: number): string | null {
    const topic = this.statusTopic;
    if (topic === null) return null;
    return encodeStatus(topic.name, seq, 0, 0, this.connection, "current");
  }

  /**
   * The writer restarted: finish the old generation, then follow the new one. Each topic gets a
   * "restarted" status under the seq the new writer kept for it (one past the old count, so the
   * stream goes on without a hole), then the new writer's messages. A "stale" that the old
   * generation had ends with it; the new writer is judged afresh.
   */
  private switchGeneration(): void {
    const old = this.reader;
    if (old === null) return;
    while (old.poll(this, this.view, 65536) > 0) {}
    let reader: RingReader;
    try {
      reader = RingReader.open(this.path, 1);
    } catch {
      return; // the new file is not in place yet: the next poll tries again
    }
    if (reader.generation === this.generation && !old.replaced()) {
      reader.close();
      return;
    }
    old.close();
    const previous = new Set<Topic>(this.allTopics());
    this.reader = reader;
    this.generation = reader.generation;
    this.touched.length = 0;
    this.buildSymbols(reader);
    this.setStale(null);
    const copy = reader.newBookCopy();
    const restart = (topic: Topic | null, base: number) => {
      if (topic === null || !previous.has(topic)) return;
      const reason = `ring generation ${this.generation}`;
      // A base that does not follow on (the counts could not be carried) sets the position.
      if (base !== topic.position + 1) topic.reset(base - 1);
      this.sendStatus(topic, "restarted", reason, 0, 0);
    };
    restart(this.statusTopic, reader.connectionBase());
    for (const state of this.symbols) {
      if (!reader.readBook(state.info.id, copy)) continue;
      restart(state.book, copy.bookBase);
      restart(state.trades, copy.tradeBase);
      restart(state.bbo, copy.bboBase);
    }
    const kept = new Set<Topic>(this.allTopics());
    for (const topic of previous) if (!kept.has(topic)) this.directory.release(this, topic);
    this.startReading(reader, true, `ring generation ${this.generation} already wrapped`);
    this.checkWriter();
    this.outlet.topicsChanged();
  }

  close(): void {
    for (const topic of this.allTopics()) this.directory.release(this, topic);
    this.reader?.close();
    this.reader = null;
  }
}

function bboText(topic: Topic, state: SymbolState, seq: number): string {
  return encodeBbo(
    topic.name,
    seq,
    epochMicros(state.exchangeSec, state.exchangeNsec),
    epochMicros(state.publishSec, state.publishNsec),
    state.bestBid,
    state.bestAsk,
  );
}

/** Starts a topic at `position`, keeping its history if it is already there (it carried on). */
function continueAt(topic: Topic | null, position: number): void {
  if (topic !== null && topic.position !== position) topic.reset(position);
}

function sameLevel(a: Level | null, b: Level | null): boolean {
  return a === b || (a !== null && b !== null && a[0] === b[0] && a[1] === b[1]);
}

function sideMap(side: SortedLevels): Map<number, number> {
  const map = new Map<number, number>();
  for (let i = 0; i < side.count; i++) map.set(side.prices[i]!, side.sizes[i]!);
  return map;
}

/** Levels that differ between an old side and the new one, removals as size 0. */
function diffInto(old: Map<number, number>, now: SortedLevels, out: Level[]): void {
  const present = new Set(now.prices);
  for (const [price] of old) if (!present.has(price)) out.push(now.level(price, 0));
  for (let i = 0; i < now.count; i++) {
    const price = now.prices[i]!;
    const size = now.sizes[i]!;
    if (old.get(price) !== size) out.push(now.level(price, size));
  }
}

/** Applies a batch's level changes to a side, collecting those that changed something. */
function applyInto(side: SortedLevels, pending: Map<number, number>, out: Level[]): void {
  for (const [price, size] of pending) {
    const before = side.count;
    side.set(price, size);
    if (size === 0 && side.count === before) continue; // deleting a level that was not there
    out.push(side.level(price, size));
  }
}

/** What this book would cost as a snapshot message: the alternative deltas are measured against. */
function fullBookBytes(state: SymbolState): number {
  return 200 + state.bids.jsonBytes + state.asks.jsonBytes;
}

/** A trade record's message, its topic's `seq`th. */
export function tradeMessage(
  topic: string,
  seq: number,
  r: RecordView,
  priceDecimals: number,
  sizeDecimals: number,
): string {
  const side =
    (r.flags & RecordFlag.SideUnknown) !== 0 ? "unknown" : (r.flags & RecordFlag.Side) !== 0 ? "sell" : "buy";
  return encodeTrade(
    topic,
    seq,
    epochMicros(r.exchangeSec, r.exchangeNsec),
    epochMicros(r.publishSec, r.publishNsec),
    formatScaledTrimmed(r.price, priceDecimals),
    formatScaledTrimmed(r.size, sizeDecimals),
    side,
    r.aux === 0 ? "" : String(r.aux),
  );
}
