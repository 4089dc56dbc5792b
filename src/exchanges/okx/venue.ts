// OKX v5 public WebSocket: instruments from REST (instId, tickSz, lotSz, state), then `books`
// (the venue's 400-level view: a snapshot, then updates) and `trades` (side is the taker's) on one
// connection. A book is exact by its seqId chain: an update applies only when its prevSeqId is
// the last applied seqId (steps vary), seqId == prevSeqId carries no change, and a seqId below
// the last one is the venue resetting its sequence. Wherever OKX sends a checksum it is verified;
// 0 or none means "not sent". A break, a reset or a mismatch invalidates that instrument alone
// and resubscribes it alone. OKX closes a connection that pushed nothing for 30 s, so the runtime
// sends the text `ping` after 15 s without a frame (it answers `pong`). docs/exchanges/okx.md.
import type { OrderBook } from "../../book/order-book.ts";
import { DecimalParseError, decimalsOfIncrement, parseScaled, parseScaledAt } from "../../market/decimal.ts";
import { StatusReason, type SymbolSpec } from "../../shm/layout.ts";
import { arr, FrameError, isObject, type JsonObject, num, str } from "../json.ts";
import { epochMillisInto } from "../timestamps.ts";
import {
  type Endpoints,
  type RestClient,
  type StreamHandle,
  type StreamPlan,
  splitSymbol,
  TradeSide,
  UnknownSymbolError,
  type Venue,
  type VenueContext,
  type VenueDefinition,
} from "../venue.ts";
import { isPlainDecimal, OkxChecksum } from "./checksum.ts";

/** Levels a side of OKX's `books` channel holds. */
export const OKX_BOOK_LEVELS = 400;
/** OKX closes a connection that pushed nothing for 30 s: the text ping goes out well before. */
const KEEPALIVE = { idleMs: 15_000, text: "ping" } as const;
/** A ping at 15 s is answered at once: nothing at all for 25 s means the link is dead. */
const WATCHDOG_MS = 25_000;
/** OKX refuses a request whose channels exceed 64 KB: stay well under it. */
const MAX_REQUEST_BYTES = 60_000;
/** A resync is two requests (unsubscribe, subscribe) of the 480 an hour a connection may send. */
const RESYNC_REQUESTS = 2;
/** OKX's notice that it will close the connection for a service upgrade. */
const SERVICE_UPGRADE_NOTICE = "64008";

/** One SPOT instrument from /api/v5/public/instruments. */
export interface OkxInstrument {
  readonly instId: string;
  readonly baseCcy: string;
  readonly quoteCcy: string;
  readonly tickSz: string;
  readonly lotSz: string;
  readonly state: string;
}

/** Reads the instruments answer; throws naming OKX's error when it refused. */
export function parseInstruments(body: unknown): OkxInstrument[] {
  if (!isObject(body)) throw new FrameError("okx instruments answer is not an object");
  if (body.code !== "0") throw new Error(`okx refused the instruments request: ${body.code} ${body.msg}`);
  const out: OkxInstrument[] = [];
  for (const entry of arr(body, "data") ?? []) {
    if (!isObject(entry)) continue;
    const instId = str(entry, "instId");
    const baseCcy = str(entry, "baseCcy");
    const quoteCcy = str(entry, "quoteCcy");
    const tickSz = str(entry, "tickSz");
    const lotSz = str(entry, "lotSz");
    const state = str(entry, "state");
    if (instId && baseCcy && quoteCcy && tickSz && lotSz && state) {
      out.push({ instId, baseCcy, quoteCcy, tickSz, lotSz, state });
    }
  }
  return out;
}

/** Maps BASE-QUOTE symbols to live OKX spot instruments; throws UnknownSymbolError naming a missing one. */
export function mapOkxSymbols(
  symbols: readonly string[],
  instruments: readonly OkxInstrument[],
): SymbolSpec[] {
  return symbols.map((symbol) => {
    const { base, quote } = splitSymbol("okx", symbol);
    const instrument = instruments.find((i) => i.baseCcy === base && i.quoteCcy === quote);
    if (!instrument) throw new UnknownSymbolError("okx", symbol, "not among OKX's spot instruments");
    if (instrument.state !== "live") {
      throw new UnknownSymbolError("okx", symbol, `its state is "${instrument.state}", not "live"`);
    }
    return {
      venueSymbol: instrument.instId,
      symbol,
      priceDecimals: decimalsOfIncrement(instrument.tickSz),
      sizeDecimals: decimalsOfIncrement(instrument.lotSz),
    };
  });
}

export const okx: VenueDefinition = {
  name: "okx",
  defaultWsUrl: "wss://ws.okx.com:8443/ws/v5/public",
  defaultRestUrl: "https://www.okx.com",
  defaultDepth: 100,
  // A books update's levels are all in the venue's new 400-level view: it inserts at most 400 a
  // side before its deletes; the book is cut back to the view after each message.
  bookLevels: (viewDepth) => Math.max(viewDepth, 2 * OKX_BOOK_LEVELS),
  replayStream: "okx",
  // The trades channel may aggregate fills: its tradeId is the last of them, so ids jump.
  sequentialTradeIds: false,
  // OKX allows 3 new connections a second per IP.
  connectionsPerSecond: 1,
  // Resubscribes, in requests: 480 subscribe/unsubscribe a connection may send an hour; 450 here.
  requestBudget: { capacity: 40, perSecond: 0.125 },
  async resolveSymbols(symbols: readonly string[], endpoints: Endpoints, rest: RestClient) {
    const body = await rest.getJson(`${endpoints.restUrl}/api/v5/public/instruments?instType=SPOT`);
    return mapOkxSymbols(symbols, parseInstruments(body));
  },
  create: (context) => new OkxVenue(context),
};

class OkxVenue implements Venue {
  readonly streams: readonly StreamPlan[];
  private readonly ids = new Map<string, number>();
  /** Per symbol, the text after BOOKS_HEAD up to the action: `BTC-USDT"},"action":"`. */
  private readonly bookHeads: string[];
  /** Symbol id of the last books frame read in place. */
  private lastBookId = 0;
  private readonly checksums: OkxChecksum[];
  /** The seqId each book last applied; NaN when its messages carry none. */
  private readonly lastSeq: Float64Array;
  /** What guards each book now, as last reported to the counters (1: on). */
  private readonly checksummed: Uint8Array;
  private readonly sequenced: Uint8Array;
  private readonly staged = new StagedBook();
  private readonly time = new Uint32Array(2);
  private stream: StreamHandle | null = null;
  /**
   * Connections open: two while a rollover's old one still delivers. Both carry the same messages
   * (seqIds are the venue's, not the connection's), so then a message already applied is skipped.
   */
  private connections = 0;

  constructor(private readonly context: VenueContext) {
    for (const symbol of context.symbols) this.ids.set(symbol.venueSymbol, symbol.id);
    this.bookHeads = context.symbols.map((s) => `${s.venueSymbol}${ACTION_HEAD}`);
    const n = context.symbols.length;
    this.checksums = context.symbols.map((s) => new OkxChecksum(s.priceDecimals, s.sizeDecimals));
    this.lastSeq = new Float64Array(n).fill(Number.NaN);
    // Today's venue sends seqIds on every books message and checksum 0: the chain guards a book
    // until a message says otherwise.
    this.checksummed = new Uint8Array(n);
    this.sequenced = new Uint8Array(n).fill(1);
    for (const symbol of context.symbols) context.counters.guardedBy(symbol.id, "sequence", true);
    this.streams = [
      { name: "okx", url: context.wsUrl, watchdogMs: WATCHDOG_MS, maxLifetimeMs: 0, keepalive: KEEPALIVE },
    ];
  }

  onOpen(stream: StreamHandle): void {
    this.stream = stream;
    this.connections++;
    const args = this.context.symbols.flatMap((s) => [
      { channel: "books", instId: s.venueSymbol },
      { channel: "trades", instId: s.venueSymbol },
    ]);
    for (const request of requests("subscribe", args)) stream.send(request);
  }

  onClose(_stream: StreamHandle, replaced: boolean): void {
    this.connections = Math.max(0, this.connections - 1);
    // A newer connection carries every book on: it delivers the same seqId chains.
    if (replaced) return;
    this.stream = null;
    for (const symbol of this.context.symbols) {
      this.context.sink.invalidate(symbol.id, StatusReason.Disconnected);
    }
  }

  resync(symbolId: number): void {
    const symbol = this.context.symbols[symbolId];
    if (!symbol) return;
    this.context.counters.resync(symbolId);
    this.context.budget.schedule(RESYNC_REQUESTS, () => {
      const stream = this.stream;
      if (stream === null || this.context.sink.isValid(symbolId)) return;
      const arg = [{ channel: "books", instId: symbol.venueSymbol }];
      stream.send(requests("unsubscribe", arg)[0]!);
      stream.send(requests("subscribe", arg)[0]!);
    });
  }

  onFrame(stream: StreamHandle, text: string): void {
    if (this.fastBook(text)) return;
    const counters = this.context.counters;
    if (text === "pong") {
      counters.message("pong");
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      this.dropBook(this.bookIdOf(text));
      throw error;
    }
    if (!isObject(message)) throw new FrameError("not a JSON object");
    if (typeof message.event === "string") {
      this.onEvent(stream, message.event, message);
      return;
    }
    const arg = message.arg;
    const data = arr(message, "data");
    if (isObject(arg) && data !== undefined) {
      const channel = String(arg.channel);
      if (channel === "books") this.onBooks(arg, message, data);
      else if (channel === "trades") this.onTrades(arg, data);
      else counters.message(channel);
      return;
    }
    counters.parseError("unknown_type", "neither an event nor channel data", text);
  }

  private onEvent(stream: StreamHandle, event: string, message: JsonObject): void {
    this.context.counters.message(event);
    if (event === "error") {
      this.context.log.throttled("warn", `okx-error-${message.code}`, "okx refused a request", {
        code: message.code,
        msg: message.msg,
      });
    } else if (event === "notice") {
      this.context.log.warn("okx notice", { code: message.code, msg: message.msg });
      if (message.code === SERVICE_UPGRADE_NOTICE) stream.rollover("okx service upgrade notice");
    }
  }

  private onBooks(arg: JsonObject, message: JsonObject, data: unknown[]): void {
    const id = this.ids.get(str(arg, "instId") ?? "");
    if (id === undefined) {
      this.context.counters.message("books");
      return;
    }
    const action = message.action;
    if (action !== "snapshot" && action !== "update") throw new FrameError(`books action ${String(action)}`);
    for (const entry of data) {
      try {
        this.stageEntry(id, entry);
      } catch (error) {
        this.dropBook(id);
        throw error;
      }
      this.applyBook(id, action === "snapshot");
    }
  }

  /** Stages one parsed books entry (the JSON.parse path); throws if it is not one. */
  private stageEntry(id: number, entry: unknown): void {
    if (!isObject(entry)) throw new FrameError("books entry is not an object");
    const asks = arr(entry, "asks");
    const bids = arr(entry, "bids");
    if (asks === undefined || bids === undefined) throw new FrameError("books entry without asks/bids");
    const symbol = this.context.symbols[id]!;
    const staged = this.staged;
    staged.reset();
    staged.stageParsed(asks, true, symbol.priceDecimals, symbol.sizeDecimals);
    staged.stageParsed(bids, false, symbol.priceDecimals, symbol.sizeDecimals);
    const ts = str(entry, "ts");
    staged.timeMs = ts !== undefined && /^\d{1,15}$/.test(ts) ? Number(ts) : -1;
    staged.checksum = num(entry, "checksum") ?? 0;
    staged.seqId = num(entry, "seqId") ?? Number.NaN;
    staged.prevSeqId = num(entry, "prevSeqId") ?? Number.NaN;
  }

  /** The instrument a books frame is for, read from its head; undefined if the text is not one. */
  private bookIdOf(text: string): number | undefined {
    if (!text.startsWith(BOOKS_HEAD)) return undefined;
    const idEnd = text.indexOf('"', BOOKS_HEAD.length);
    return idEnd < 0 ? undefined : this.ids.get(text.slice(BOOKS_HEAD.length, idEnd));
  }

  /** A books message for this book could not be read: the book misses it, so it resyncs. */
  private dropBook(id: number | undefined): void {
    if (id === undefined) return;
    this.context.sink.invalidate(id, StatusReason.BadData);
    this.resync(id);
  }

  /**
   * Books frames are nearly all of the traffic and JSON.parse would cost more than the rest of the
   * path: a single-instrument books frame in OKX's exact compact layout is read in place. Every
   * level is read and checked before the book is touched; anything else (spaces, other key order,
   * an unknown instrument, an odd value) returns false and takes the JSON.parse path, which decides.
   */
  private fastBook(text: string): boolean {
    if (!text.startsWith(BOOKS_HEAD)) return false;
    // Books frames come in runs per instrument: the last one's id is tried before a lookup.
    let id: number | undefined = this.lastBookId;
    let head = this.bookHeads[id];
    if (head === undefined || !text.startsWith(head, BOOKS_HEAD.length)) {
      id = this.bookIdOf(text);
      if (id === undefined) return false;
      head = this.bookHeads[id]!;
      if (!text.startsWith(head, BOOKS_HEAD.length)) return false;
      this.lastBookId = id;
    }
    let at = BOOKS_HEAD.length + head.length;
    let isSnapshot: boolean;
    if (text.startsWith(UPDATE_HEAD, at)) {
      isSnapshot = false;
      at += UPDATE_HEAD.length;
    } else if (text.startsWith(SNAPSHOT_HEAD, at)) {
      isSnapshot = true;
      at += SNAPSHOT_HEAD.length;
    } else {
      return false;
    }
    const symbol = this.context.symbols[id]!;
    const staged = this.staged;
    staged.reset();
    at = staged.readBoth(text, at, symbol.priceDecimals, symbol.sizeDecimals);
    if (at < 0 || !staged.readTail(text, at)) return false;
    this.applyBook(id, isSnapshot);
    return true;
  }

  /** Applies the staged books message to the book by the seqId rules, then verifies its checksum. */
  private applyBook(id: number, isSnapshot: boolean): void {
    const { sink, counters } = this.context;
    const staged = this.staged;
    const sequenced = !Number.isNaN(staged.seqId) && !Number.isNaN(staged.prevSeqId);
    this.reportGuards(id, sequenced, staged.checksum !== 0);
    const verdict = isSnapshot ? this.snapshotVerdict(id, sequenced) : this.updateVerdict(id, sequenced);
    counters.message(verdict);
    if (verdict !== "books") {
      if (verdict === "books_sequence_reset" || verdict === "books_sequence_gap") this.breakChain(id);
      return;
    }
    if (staged.timeMs >= 0) {
      epochMillisInto(staged.timeMs, this.time);
      sink.exchangeTime(this.time[0]!, this.time[1]!);
    }
    let book: OrderBook;
    if (isSnapshot) {
      book = sink.snapshot(id);
      this.checksums[id]!.reset();
    } else {
      book = sink.book(id)!;
    }
    staged.applyTo(book, this.checksums[id]!);
    book.truncate(OKX_BOOK_LEVELS);
    this.lastSeq[id] = sequenced ? staged.seqId : Number.NaN;
    if (staged.checksum !== 0 && this.checksums[id]!.of(book) !== staged.checksum) {
      counters.checksumMismatch(id);
      sink.invalidate(id, StatusReason.ChecksumMismatch);
      this.resync(id);
      return;
    }
    sink.changed(id, sequenced ? staged.seqId : 0);
  }

  /** Tells the counters when what guards the book changed: a checksum comes and goes with the venue. */
  private reportGuards(id: number, sequenced: boolean, checksummed: boolean): void {
    const counters = this.context.counters;
    if (this.sequenced[id] !== (sequenced ? 1 : 0)) {
      this.sequenced[id] = sequenced ? 1 : 0;
      counters.guardedBy(id, "sequence", sequenced);
    }
    if (this.checksummed[id] !== (checksummed ? 1 : 0)) {
      this.checksummed[id] = checksummed ? 1 : 0;
      counters.guardedBy(id, "checksum", checksummed);
    }
  }

  /**
   * What to do with a snapshot: apply it ("books"), unless a rollover's two connections both
   * sent one and the book is already at or past it ("books_duplicate").
   */
  private snapshotVerdict(id: number, sequenced: boolean): string {
    const last = this.lastSeq[id]!;
    const behind =
      sequenced && this.connections > 1 && this.context.sink.isValid(id) && this.staged.seqId <= last;
    return behind ? "books_duplicate" : "books";
  }

  /**
   * What to do with an update, by the seqId rules: apply it ("books"); skip it while the book waits
   * for a snapshot ("books_waiting"), when it carries no change ("books_no_change") or when the
   * other connection of a rollover already delivered it ("books_duplicate"); or break the chain
   * ("books_sequence_gap", "books_sequence_reset").
   */
  private updateVerdict(id: number, sequenced: boolean): string {
    if (!this.context.sink.isValid(id)) return "books_waiting";
    const last = this.lastSeq[id]!;
    if (!sequenced || Number.isNaN(last)) return "books";
    const { seqId, prevSeqId } = this.staged;
    if (prevSeqId === last) {
      if (seqId < last) return "books_sequence_reset";
      return seqId === prevSeqId ? "books_no_change" : "books";
    }
    if (seqId <= last && this.connections > 1) return "books_duplicate";
    return seqId < last ? "books_sequence_reset" : "books_sequence_gap";
  }

  /** The seqId chain broke (or the venue reset it): this book waits for a fresh snapshot. */
  private breakChain(id: number): void {
    const { sink, counters } = this.context;
    counters.sequenceGap(id);
    sink.invalidate(id, StatusReason.SequenceGap);
    this.resync(id);
  }

  private onTrades(arg: JsonObject, data: unknown[]): void {
    const { sink, counters } = this.context;
    counters.message("trades");
    const channelInstId = str(arg, "instId");
    for (const trade of data) {
      if (!isObject(trade)) throw new FrameError("trade is not an object");
      const id = this.ids.get(str(trade, "instId") ?? channelInstId ?? "");
      if (id === undefined) continue;
      const symbol = this.context.symbols[id]!;
      const price = str(trade, "px");
      const size = str(trade, "sz");
      if (price === undefined || size === undefined) throw new FrameError("trade without px/sz");
      const ts = str(trade, "ts");
      if (ts !== undefined && /^\d{1,15}$/.test(ts)) {
        epochMillisInto(Number(ts), this.time);
        sink.exchangeTime(this.time[0]!, this.time[1]!);
      }
      const side =
        trade.side === "buy" ? TradeSide.Buy : trade.side === "sell" ? TradeSide.Sell : TradeSide.Unknown;
      const tradeId = str(trade, "tradeId") ?? "";
      sink.trade(
        id,
        parseScaled(price, symbol.priceDecimals),
        parseScaled(size, symbol.sizeDecimals),
        side,
        /^[1-9]\d{0,14}$/.test(tradeId) ? Number(tradeId) : 0,
      );
    }
  }
}

/** Subscribe or unsubscribe requests for `args`, split so none exceeds OKX's request size. */
function requests(op: "subscribe" | "unsubscribe", args: { channel: string; instId: string }[]): string[] {
  const out: string[] = [];
  let batch: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (batch.length > 0) out.push(`{"op":"${op}","args":[${batch.join(",")}]}`);
    batch = [];
    bytes = 0;
  };
  for (const arg of args) {
    const text = JSON.stringify(arg);
    if (bytes + text.length > MAX_REQUEST_BYTES) flush();
    batch.push(text);
    bytes += text.length + 1;
  }
  flush();
  return out;
}

const BOOKS_HEAD = '{"arg":{"channel":"books","instId":"';
const ACTION_HEAD = '"},"action":"';
const UPDATE_HEAD = 'update","data":[{"asks":[';
const SNAPSHOT_HEAD = 'snapshot","data":[{"asks":[';

/** One books message: its levels and fields, held until the whole message has been read and checked. */
class StagedBook {
  count = 0;
  prices = new Float64Array(1024);
  sizes = new Float64Array(1024);
  asks = new Uint8Array(1024);
  /** The venue's "price:size" of levels not written in plain form, by staged index (rarely any). */
  readonly texts = new Map<number, string>();
  /** Exchange time in epoch milliseconds, -1 if none. */
  timeMs = -1;
  /** 0 when OKX sent none (or sent 0: not computed). */
  checksum = 0;
  /** NaN when absent. */
  seqId = Number.NaN;
  prevSeqId = Number.NaN;
  /** Scratch for integers read in place. */
  private readonly value = new Float64Array(1);

  reset(): void {
    this.count = 0;
    if (this.texts.size > 0) this.texts.clear();
    this.timeMs = -1;
    this.checksum = 0;
    this.seqId = Number.NaN;
    this.prevSeqId = Number.NaN;
  }

  /** Stages parsed `[px, sz, ...]` levels (the JSON.parse path). */
  stageParsed(levels: unknown[], isAsk: boolean, priceDecimals: number, sizeDecimals: number): void {
    for (const level of levels) {
      if (!Array.isArray(level) || typeof level[0] !== "string" || typeof level[1] !== "string") {
        throw new FrameError("books level is not [px, sz, ...]");
      }
      const px: string = level[0];
      const sz: string = level[1];
      const plain = isPlainDecimal(px, 0, px.length) && isPlainDecimal(sz, 0, sz.length);
      this.push(
        isAsk,
        parseScaled(px, priceDecimals),
        parseScaled(sz, sizeDecimals),
        plain ? null : `${px}:${sz}`,
      );
    }
  }

  /**
   * Reads `...],"bids":[...]` from just after the asks' "["; returns where the bids end, or -1 if
   * the text is not exactly that or a number is not exact at its precision (the JSON.parse path
   * then reports it).
   */
  readBoth(text: string, at: number, priceDecimals: number, sizeDecimals: number): number {
    try {
      const asksEnd = this.read(text, at, true, priceDecimals, sizeDecimals);
      if (asksEnd < 0 || !text.startsWith(',"bids":[', asksEnd)) return -1;
      return this.read(text, asksEnd + 9, false, priceDecimals, sizeDecimals);
    } catch (error) {
      if (error instanceof DecimalParseError) return -1;
      throw error;
    }
  }

  /**
   * Reads `["px","sz","0","n"],...]` at `at` (just after the "["); returns where it ends, or -1.
   * Beyond px and sz a level may hold any number of digit strings (liquidated orders, orders).
   */
  private read(
    text: string,
    at: number,
    isAsk: boolean,
    priceDecimals: number,
    sizeDecimals: number,
  ): number {
    if (text.charCodeAt(at) === 93 /* ] */) return at + 1;
    for (;;) {
      if (text.charCodeAt(at) !== 91 /* [ */ || text.charCodeAt(at + 1) !== 34 /* " */) return -1;
      const pxAt = at + 2;
      const pxEnd = text.indexOf('"', pxAt);
      if (pxEnd < 0 || !text.startsWith('","', pxEnd)) return -1;
      const szAt = pxEnd + 3;
      const szEnd = text.indexOf('"', szAt);
      if (szEnd < 0) return -1;
      at = szEnd + 1;
      while (text.charCodeAt(at) === 44 /* , */) {
        if (text.charCodeAt(at + 1) !== 34) return -1;
        at += 2;
        for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at));
        if (text.charCodeAt(at) !== 34) return -1;
        at++;
      }
      if (text.charCodeAt(at) !== 93) return -1;
      const plain = isPlainDecimal(text, pxAt, pxEnd) && isPlainDecimal(text, szAt, szEnd);
      this.push(
        isAsk,
        parseScaledAt(text, pxAt, pxEnd, priceDecimals),
        parseScaledAt(text, szAt, szEnd, sizeDecimals),
        plain ? null : `${text.slice(pxAt, pxEnd)}:${text.slice(szAt, szEnd)}`,
      );
      const next = text.charCodeAt(at + 1);
      if (next === 93) return at + 2;
      if (next !== 44) return -1;
      at += 2;
    }
  }

  /**
   * Reads `,"ts":"<ms>"` then any of `,"checksum":N`, `,"prevSeqId":N`, `,"seqId":N`, then the
   * closing `}]}` at the very end; false if the text is anything else.
   */
  readTail(text: string, at: number): boolean {
    if (!text.startsWith(',"ts":"', at)) return false;
    at = readInteger(text, at + 7, this.value);
    if (at < 0 || text.charCodeAt(at) !== 34) return false;
    this.timeMs = this.value[0]!;
    at++;
    let seen = 0;
    for (;;) {
      // The name's first letter says which of the keys it can be: one comparison per field.
      const first = text.charCodeAt(at + 2);
      const field = first === 99 /* c */ ? 0 : first === 112 /* p */ ? 1 : first === 115 /* s */ ? 2 : -1;
      if (field < 0 || !text.startsWith(TAIL_KEYS[field]!, at)) break;
      if ((seen & (1 << field)) !== 0) return false;
      seen |= 1 << field;
      at = readInteger(text, at + TAIL_KEYS[field]!.length, this.value);
      if (at < 0) return false;
      const value = this.value[0]!;
      if (field === 0) this.checksum = value;
      else if (field === 1) this.prevSeqId = value;
      else this.seqId = value;
    }
    return at === text.length - 3 && text.endsWith("}]}");
  }

  /**
   * Applies the levels in the message's order. The checksum is told each level (what it must look
   * at again, and how the venue spelled it) when this message's checksum is to be verified or a
   * spelling is at stake; otherwise only that the book changed.
   */
  applyTo(book: OrderBook, checksum: OkxChecksum): void {
    const texts = this.texts.size > 0 ? this.texts : null;
    const report = this.checksum !== 0 || texts !== null || checksum.hasTexts;
    if (!report) checksum.forget();
    for (let i = 0; i < this.count; i++) {
      const isAsk = this.asks[i] === 1;
      const price = this.prices[i]!;
      const size = this.sizes[i]!;
      book.side(isAsk).set(price, size);
      if (report) checksum.level(isAsk, price, size === 0 || texts === null ? null : (texts.get(i) ?? null));
    }
  }

  private push(isAsk: boolean, price: number, size: number, text: string | null): void {
    if (this.count === this.prices.length) this.grow();
    const i = this.count++;
    this.prices[i] = price;
    this.sizes[i] = size;
    this.asks[i] = isAsk ? 1 : 0;
    if (text !== null) this.texts.set(i, text);
  }

  private grow(): void {
    const n = this.prices.length * 2;
    const prices = new Float64Array(n);
    const sizes = new Float64Array(n);
    const asks = new Uint8Array(n);
    prices.set(this.prices);
    sizes.set(this.sizes);
    asks.set(this.asks);
    this.prices = prices;
    this.sizes = sizes;
    this.asks = asks;
  }
}

/** The keys a books entry may carry after its ts (their names start c, p, s). */
const TAIL_KEYS = [',"checksum":', ',"prevSeqId":', ',"seqId":'];

/**
 * Reads an optionally negative integer of at most 15 digits at `at` into out[0]; returns where it
 * ends, or -1 if there is none.
 */
function readInteger(text: string, at: number, out: Float64Array): number {
  const negative = text.charCodeAt(at) === 45; /* - */
  if (negative) at++;
  const start = at;
  let value = 0;
  for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at))
    value = value * 10 + (c - 48);
  if (at === start || at - start > 15) return -1;
  out[0] = negative ? -value : value;
  return at;
}
