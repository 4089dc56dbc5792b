// The ring file's byte layout: every offset, size and code that docs/shm-format.md describes.
// Writers and readers (TypeScript here, Python in python/alphapulse_shm) share only this format.

export const MAGIC = "APULSERG";
export const FORMAT_VERSION = 2;
const PAGE = 4096;

/** Header field byte offsets (little-endian). */
export const H = {
  magic: 0, // 8 ASCII bytes
  version: 8, // u32
  state: 12, // u32, RingState
  generation: 16, // u32
  writerPid: 20, // u32
  capacity: 24, // u32 slots, power of two
  slotSize: 28, // u32 = SLOT_SIZE
  symbolCount: 32, // u32
  bookDepth: 36, // u32 levels per side in each latest-book entry
  bookStride: 40, // u32 bytes per latest-book entry
  symbolsOffset: 48, // u64
  booksOffset: 56, // u64
  slotsOffset: 64, // u64
  fileSize: 72, // u64
  createdSec: 80, // u32
  createdNsec: 84, // u32
  heartbeatMs: 88, // i64 ms since the Unix epoch, atomic
  nextSeq: 96, // f64 holding an integer: the sequence the writer will write next (committed = nextSeq - 1)
  exchange: 104, // 16 ASCII bytes, NUL padded
  connectionBase: 120, // f64 integer: status-topic messages before this generation's first record
  connectionCount: 128, // f64 integer: status-topic messages through the last connection record
  firstSeq: 136, // f64 integer: the oldest sequence this file holds (0 from writers before it: 1)
  // A copy of another ring (a relay's): where it stands, so a restarted relay can take it up again.
  settledSeq: 192, // f64 integer: every entry's counts are exact through this sequence (or a later lastSeq)
  sourceCreatedMs: 200, // f64 integer: creation time of the stream copied (ms since the epoch; 0: none)
  sourceGeneration: 208, // f64 integer: the copied ring's generation
  sourceSeq: 216, // f64 integer: the last stream sequence whose message this file holds entirely
  size: PAGE,
} as const;

export enum RingState {
  Initializing = 1,
  Live = 2,
  Closed = 3, // the writer stopped cleanly; the data stays readable
  Retired = 4, // a newer generation replaced this file at the same path: re-open the path
}

export const SYMBOL_ENTRY_SIZE = 64;
export const SYMBOL_NAME_BYTES = 24;
/** Symbol entry field offsets. */
export const S = {
  id: 0, // u16
  priceDecimals: 2, // u8
  sizeDecimals: 3, // u8
  venueSymbol: 8, // 24 ASCII bytes
  symbol: 32, // 24 ASCII bytes, normalized BASE-QUOTE
} as const;

/** Latest-book entry: a seqlocked header, then `depth` bid levels, then `depth` ask levels. */
export const B = {
  version: 0, // i32 seqlock word: odd while the writer is inside
  status: 4, // u32 BookStatus
  bidCount: 8, // u32
  askCount: 12, // u32
  lastSeq: 16, // i64 ring sequence of the last record this book reflects
  exchangeSec: 24, // u32
  exchangeNsec: 28, // u32
  publishSec: 32, // u32
  publishNsec: 36, // u32
  venueSeq: 40, // i64 the venue's own update id or sequence, 0 if none
  // Topic message counts through lastSeq, and before this generation's first record (the bases
  // never change): every broadcaster numbers a topic's messages from these, without holes.
  bookCount: 48, // i64
  tradeCount: 56, // i64
  bboCount: 64, // i64
  bookBase: 72, // i64
  tradeBase: 80, // i64
  bboBase: 88, // i64
  integrity: 96, // u32 BookIntegrity bits: the checks that guard the book now
  levels: 128, // then (price i64, size i64) pairs
  header: 128,
} as const;
export const LEVEL_SIZE = 16;

/**
 * What guards a book's exactness, as bits of a latest-book entry's integrity word: the venue's
 * checksum over its book, and the venue's update sequence (gaps detected).
 */
export const BookIntegrity = { checksum: 1, sequence: 2 } as const;
export type BookCheck = keyof typeof BookIntegrity;

/** The checks an integrity word names, checksum first. */
export function integrityChecks(flags: number): BookCheck[] {
  const checks: BookCheck[] = [];
  if ((flags & BookIntegrity.checksum) !== 0) checks.push("checksum");
  if ((flags & BookIntegrity.sequence) !== 0) checks.push("sequence");
  return checks;
}

export function bookStride(depth: number): number {
  return B.header + depth * 2 * LEVEL_SIZE;
}

export const SLOT_SIZE = 64;
/** Record slot field offsets. */
export const R = {
  version: 0, // i32 seqlock word
  type: 4, // u8 RecordType
  flags: 5, // u8 RecordFlag bits
  symbolId: 6, // u16, NO_SYMBOL for connection-wide records
  seq: 8, // i64, starts at 1
  price: 16, // i64 scaled by the symbol's price decimals
  size: 24, // i64 scaled by the symbol's size decimals
  exchangeSec: 32,
  exchangeNsec: 36,
  receiveSec: 40,
  receiveNsec: 44,
  publishSec: 48,
  publishNsec: 52,
  aux: 56, // i64, meaning by type
} as const;

export const NO_SYMBOL = 0xffff;

export enum RecordType {
  /** price, size; flags Side = aggressor (0 buy, 1 sell); aux = venue trade id (0 if none). */
  Trade = 1,
  /** One absolute level: price, size (0 deletes); flags Side (0 bid, 1 ask), Snapshot; aux = venue seq. */
  BookLevel = 2,
  /** Empty the book: a snapshot follows in the same batch. */
  BookClear = 3,
  /** aux = BookStatus; price = StatusReason. */
  BookStatus = 4,
  /** symbolId = NO_SYMBOL; aux = ConnectionState; price = StatusReason; size = the writer's count of them. */
  ConnectionStatus = 5,
}

export const RecordFlag = {
  /** Trade: aggressor sold. Book: ask side. */
  Side: 1,
  /** Last record of a batch: readers apply a batch's book records together, at this record. */
  BatchEnd: 2,
  /** A level that belongs to a snapshot (after a BookClear). */
  Snapshot: 4,
  /** Trade: the venue does not say who the aggressor was. */
  SideUnknown: 8,
} as const;

export enum BookStatus {
  Unknown = 0,
  Valid = 1,
  Invalid = 2,
  Resyncing = 3,
}

export enum ConnectionState {
  Connected = 1,
  Disconnected = 2,
  Reconnecting = 3,
}

export enum StatusReason {
  None = 0,
  ChecksumMismatch = 1,
  SequenceGap = 2,
  Disconnected = 3,
  Stale = 4,
  Snapshot = 5,
  Shutdown = 6,
  BadData = 7,
}

export interface SymbolSpec {
  /** The venue's own name: "BTC/USD", "BTCUSDT", "BTC-USD". */
  readonly venueSymbol: string;
  /** Normalized BASE-QUOTE, upper case. */
  readonly symbol: string;
  readonly priceDecimals: number;
  readonly sizeDecimals: number;
}

export interface SymbolInfo extends SymbolSpec {
  readonly id: number;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Where each region starts for a ring of this shape. */
export function regionOffsets(capacity: number, symbolCount: number, depth: number) {
  const symbolsOffset = H.size;
  const booksOffset = alignUp(symbolsOffset + symbolCount * SYMBOL_ENTRY_SIZE, PAGE);
  const slotsOffset = alignUp(booksOffset + symbolCount * bookStride(depth), PAGE);
  const fileSize = slotsOffset + capacity * SLOT_SIZE;
  return { symbolsOffset, booksOffset, slotsOffset, fileSize };
}

export function ringPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}.ring`;
}

export const RING_SUFFIX = ".ring";
