// The text of every message the broadcaster sends, built in one place. Data messages are on the
// fan-out path: their encoders take the fields as they are and concatenate, allocating nothing but
// the text. Field order is fixed (clients may rely on `type` and `topic` coming first).
import type { BookValidity, EpochMicros, ErrorCode, Level, StatusState, TradeMessage } from "./messages.ts";
import type { RequestId } from "./requests.ts";

/** A shared-clock time (seconds, nanoseconds) as the wire's whole epoch microseconds. */
export function epochMicros(sec: number, nsec: number): EpochMicros {
  return sec * 1_000_000 + Math.floor(nsec / 1000);
}

/** The whole book (or its best `depth` levels) as of `seq`. */
export function encodeSnapshot(
  topic: string,
  seq: number,
  ts: EpochMicros,
  pt: EpochMicros,
  exchange: string,
  symbol: string,
  status: BookValidity,
  priceDecimals: number,
  sizeDecimals: number,
  bids: readonly Level[],
  asks: readonly Level[],
): string {
  return `{"type":"snapshot","topic":"${topic}","seq":${seq},"ts":${ts},"pt":${pt},"exchange":"${exchange}","symbol":"${symbol}","status":"${status}","decimals":[${priceDecimals},${sizeDecimals}],"bids":${JSON.stringify(bids)},"asks":${JSON.stringify(asks)}}`;
}

/** The levels that changed (size "0" removes one). */
export function encodeDelta(
  topic: string,
  seq: number,
  ts: EpochMicros,
  pt: EpochMicros,
  bids: readonly Level[],
  asks: readonly Level[],
): string {
  return `{"type":"delta","topic":"${topic}","seq":${seq},"ts":${ts},"pt":${pt},"bids":${JSON.stringify(bids)},"asks":${JSON.stringify(asks)}}`;
}

export function encodeTrade(
  topic: string,
  seq: number,
  ts: EpochMicros,
  pt: EpochMicros,
  price: string,
  size: string,
  side: TradeMessage["side"],
  id: string,
): string {
  return `{"type":"trade","topic":"${topic}","seq":${seq},"ts":${ts},"pt":${pt},"price":"${price}","size":"${size}","side":"${side}","id":"${id}"}`;
}

export function encodeBbo(
  topic: string,
  seq: number,
  ts: EpochMicros,
  pt: EpochMicros,
  bid: Level | null,
  ask: Level | null,
): string {
  return `{"type":"bbo","topic":"${topic}","seq":${seq},"ts":${ts},"pt":${pt},"bid":${JSON.stringify(bid)},"ask":${JSON.stringify(ask)}}`;
}

export function encodeStatus(
  topic: string,
  seq: number,
  ts: EpochMicros,
  pt: EpochMicros,
  status: StatusState,
  reason: string,
): string {
  return `{"type":"status","topic":"${topic}","seq":${seq},"ts":${ts},"pt":${pt},"status":"${status}","reason":${JSON.stringify(reason)}}`;
}

/**
 * A status the broadcaster sends on its own, at the topic's position `seq` (it is no record of the
 * ring, so it is not counted, not kept for resume, and another broadcaster may not send it): a
 * "gap" or "restarted" (a ring switch) sets the client's position to it; "stale", and the status
 * that ends it (reason "writer_live"), restate the state there (docs/protocol.md, "Sequences").
 */
export function encodeNotice(topic: string, seq: number, status: StatusState, reason: string): string {
  return encodeStatus(topic, seq, 0, 0, status, reason);
}

export function encodeSubscribeAck(
  topics: readonly string[],
  seqs: Readonly<Record<string, number>>,
  resumed: readonly string[],
  id: RequestId | undefined,
): string {
  return `{"type":"ack","op":"subscribe","topics":${JSON.stringify(topics)},"seqs":${JSON.stringify(seqs)},"resumed":${JSON.stringify(resumed)}${idField(id)}}`;
}

export function encodeUnsubscribeAck(topics: readonly string[], id: RequestId | undefined): string {
  return `{"type":"ack","op":"unsubscribe","topics":${JSON.stringify(topics)}${idField(id)}}`;
}

export function encodePong(time: EpochMicros, id: RequestId | undefined): string {
  return `{"type":"pong","time":${time}${idField(id)}}`;
}

export function encodeError(code: ErrorCode, message: string, id: RequestId | undefined): string {
  return `{"type":"error","code":"${code}","message":${JSON.stringify(message)}${idField(id)}}`;
}

/** The one warning there is: the client's unsent bytes passed the warning level. */
export function encodeSlowConsumerWarning(message: string, bufferedBytes: number): string {
  return `{"type":"warning","code":"slow_consumer","message":${JSON.stringify(message)},"bufferedBytes":${bufferedBytes}}`;
}

function idField(id: RequestId | undefined): string {
  return id === undefined ? "" : `,"id":${JSON.stringify(id)}`;
}
