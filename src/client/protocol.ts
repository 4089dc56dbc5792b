// The broadcaster's WebSocket wire protocol (docs/protocol.md): topic names, the frames a client
// sends and every message the server sends. Server, SDK, load generator and live page share it.

export const CHANNELS = ["book", "trades", "bbo", "status"] as const;
export type Channel = (typeof CHANNELS)[number];

/** "book.kraken.BTC-USD" split into its parts; `*` may stand for the exchange or the symbol. */
export interface TopicParts {
  readonly channel: Channel;
  readonly exchange: string;
  /** Empty for `status.<exchange>`, which carries the venue's connection state. */
  readonly symbol: string;
}

const NAME = /^(\*|[a-z0-9_-]{1,32})$/;
const SYMBOL = /^(\*|[A-Z0-9]{1,16}-[A-Z0-9]{1,16})$/;

/** Parses a topic (or a wildcard pattern); null when it is not one. */
export function parseTopic(topic: string): TopicParts | null {
  const parts = topic.split(".");
  const [channel, exchange, symbol] = parts;
  if (!(CHANNELS as readonly string[]).includes(channel ?? "") || exchange === undefined) return null;
  if (!NAME.test(exchange)) return null;
  if (channel === "status") return parts.length === 2 ? { channel, exchange, symbol: "" } : null;
  if (parts.length !== 3 || symbol === undefined || !SYMBOL.test(symbol)) return null;
  return { channel: channel as Channel, exchange, symbol };
}

export function topicName(channel: Channel, exchange: string, symbol: string): string {
  return channel === "status" ? `status.${exchange}` : `${channel}.${exchange}.${symbol}`;
}

export function isPattern(topic: string): boolean {
  return topic.includes("*");
}

/** True when the concrete `topic` matches `pattern` (which may hold `*` parts). */
export function topicMatches(pattern: TopicParts, topic: TopicParts): boolean {
  return (
    pattern.channel === topic.channel &&
    (pattern.exchange === "*" || pattern.exchange === topic.exchange) &&
    (pattern.symbol === "*" || pattern.symbol === topic.symbol)
  );
}

// ---- client to server ----

export interface SubscribeRequest {
  readonly op: "subscribe";
  readonly topics: readonly string[];
  /** Last seq seen per concrete topic: the server sends what was missed, or a gap status + snapshot. */
  readonly resume?: Readonly<Record<string, number>>;
  /** Echoed in the ack. */
  readonly id?: string | number;
}

export interface UnsubscribeRequest {
  readonly op: "unsubscribe";
  readonly topics: readonly string[];
  readonly id?: string | number;
}

export interface PingRequest {
  readonly op: "ping";
  readonly id?: string | number;
}

export type ClientRequest = SubscribeRequest | UnsubscribeRequest | PingRequest;

// ---- server to client ----

/** [price, size] as exact decimal strings. */
export type Level = [string, string];

export type BookValidity = "valid" | "invalid" | "resyncing" | "unknown";

export interface AckMessage {
  readonly type: "ack";
  readonly op: "subscribe" | "unsubscribe";
  readonly id?: string | number;
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
  readonly id?: string | number;
  /** Server time, epoch microseconds. */
  readonly time: number;
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
  readonly id?: string | number;
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
  /** Exchange time of the underlying update, epoch microseconds (0 if the venue gives none). */
  readonly ts: number;
  /** When the collector published it to shared memory, epoch microseconds (the shared clock). */
  readonly pt: number;
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
 * the last restates the state there (a subscribe's starting venue status).
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
