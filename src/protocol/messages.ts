// What the broadcaster sends: every server message's type, the error and close codes, and the
// `followsOn` rule a client checks each data message's seq with. Their texts are built by
// encode.ts. Timestamps are whole epoch microseconds on the shared clock.
import type { RequestId } from "./requests.ts";

/** Microseconds since the Unix epoch, always a whole number on the wire (finer digits are cut off). */
export type EpochMicros = number;

/** [price, size] as exact decimal strings. */
export type Level = [string, string];

/**
 * A book's state: as the collector marks it, or "stale" while its ring's writer has stopped (the
 * levels are as of the last message, and old).
 */
export const BOOK_VALIDITIES = ["valid", "invalid", "resyncing", "unknown", "stale"] as const;
export type BookValidity = (typeof BOOK_VALIDITIES)[number];

export function isBookValidity(status: string): status is BookValidity {
  return (BOOK_VALIDITIES as readonly string[]).includes(status);
}

export interface AckMessage {
  readonly type: "ack";
  readonly op: "subscribe" | "unsubscribe";
  readonly id?: RequestId;
  /** Concrete topics this op added or removed. */
  readonly topics: string[];
  /**
   * For subscribe: each new topic's current position, the seq of its last message (the next
   * is one more). Resumed topics are absent here: they continue from the client's own seq.
   */
  readonly seqs?: Record<string, number>;
  /** Topics resumed with nothing missed (their missed messages, if any, follow the ack). */
  readonly resumed?: string[];
}

export interface PongMessage {
  readonly type: "pong";
  readonly id?: RequestId;
  /** Server time. */
  readonly time: EpochMicros;
}

export type ErrorCode =
  | "bad_json"
  | "bad_request"
  | "unknown_op"
  | "bad_topic"
  | "too_many_topics"
  | "frame_too_large"
  | "rate_limited";

export interface ErrorMessage {
  readonly type: "error";
  readonly code: ErrorCode;
  readonly message: string;
  readonly id?: RequestId;
}

export interface WarningMessage {
  readonly type: "warning";
  readonly code: "slow_consumer";
  readonly message: string;
  readonly bufferedBytes: number;
}

/** Fields every data message carries. */
interface DataMessageBase {
  readonly topic: string;
  /**
   * The topic's message count: each message is the last one's seq + 1, identical on every
   * broadcaster. Position messages (see `followsOn`) set it instead.
   */
  readonly seq: number;
  /** Exchange time of the underlying update (0 if the venue gives none). */
  readonly ts: EpochMicros;
  /** When the collector published it to shared memory (the shared clock). */
  readonly pt: EpochMicros;
}

export interface SnapshotMessage extends DataMessageBase {
  readonly type: "snapshot";
  readonly exchange: string;
  readonly symbol: string;
  readonly status: BookValidity;
  /** Decimals of price and size on this symbol. */
  readonly decimals: [number, number];
  readonly bids: Level[];
  readonly asks: Level[];
}

export interface DeltaMessage extends DataMessageBase {
  readonly type: "delta";
  /** Changed levels; size "0" removes the level. */
  readonly bids: Level[];
  readonly asks: Level[];
}

export interface TradeMessage extends DataMessageBase {
  readonly type: "trade";
  readonly price: string;
  readonly size: string;
  /** The aggressor's side. */
  readonly side: "buy" | "sell" | "unknown";
  /** The venue's trade id, "" if it gives none. */
  readonly id: string;
}

/** Best bid and ask: a latest-value stream (each one replaces the last). */
export interface BboMessage extends DataMessageBase {
  readonly type: "bbo";
  readonly bid: Level | null;
  readonly ask: Level | null;
}

export type StatusState = BookValidity | "gap" | "restarted" | "connected" | "disconnected" | "reconnecting";

export interface StatusMessage extends DataMessageBase {
  readonly type: "status";
  readonly status: StatusState;
  readonly reason: string;
}

export type DataMessage = SnapshotMessage | DeltaMessage | TradeMessage | BboMessage | StatusMessage;
export type ServerMessage = AckMessage | PongMessage | ErrorMessage | WarningMessage | DataMessage;

/**
 * Response header of the WebSocket upgrade naming the fan-out worker (1..BROADCAST_WORKERS) that
 * serves the connection; absent from a single-threaded broadcaster. For operators and tests:
 * every worker sends the same seqs, so a client never needs it.
 */
export const WORKER_HEADER = "x-alphapulse-worker";

/** Close codes the server uses besides the standard ones (1001 going away, 1009 too big). */
export const CloseCode = {
  GoingAway: 1001,
  TooBig: 1009,
  SlowConsumer: 4008,
  RateLimited: 4029,
} as const;

/**
 * Whether `message` follows a topic whose last seq was `last` (undefined or negative: not yet
 * known) without a hole. Every message is the last one's seq + 1, except a snapshot (the whole
 * book as of its seq), a bbo (the latest value) and a status that says the stream broke ("gap")
 * or the collector restarted ("restarted"), which set the position; a message whose seq equals
 * the last restates the state there (a subscribe's starting venue status, a "stale" notice and
 * the status that ends it).
 */
export function followsOn(message: DataMessage, last: number | undefined): boolean {
  if (last === undefined || last < 0) return true;
  if (message.seq === last + 1 || message.seq === last) return true;
  return (
    message.type === "snapshot" ||
    message.type === "bbo" ||
    (message.type === "status" && (message.status === "gap" || message.status === "restarted"))
  );
}
