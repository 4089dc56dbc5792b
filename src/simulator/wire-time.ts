// Timestamps as the venues write them, from the shared CLOCK_REALTIME: RFC3339 with microseconds
// (Kraken, Coinbase trade times), with nanoseconds (Coinbase envelopes), and epoch milliseconds.
import { realtimeInto } from "../shm/clock.ts";

const now = new Uint32Array(2);

/** RFC3339 UTC with `digits` fractional digits (6 or 9), e.g. 2026-08-12T19:27:48.098821Z. */
export function rfc3339(digits: 6 | 9): string {
  realtimeInto(now, 0);
  const seconds = now[0]!;
  const nanos = now[1]!;
  const whole = new Date(seconds * 1000).toISOString().slice(0, 19);
  const fraction = String(nanos).padStart(9, "0").slice(0, digits);
  return `${whole}.${fraction}Z`;
}

/** Coinbase's heartbeat current_time, e.g. "2026-04-07 14:30:10.000000000+00:00". */
export function spacedTime(): string {
  const text = rfc3339(9);
  return `${text.slice(0, 10)} ${text.slice(11, -1)}+00:00`;
}

/** RFC3339 with microseconds for a millisecond epoch time (trade times). */
export function rfc3339OfMs(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}
