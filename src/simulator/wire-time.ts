// Timestamps as the venues write them: RFC3339 with microseconds (Kraken, Coinbase trade times),
// with nanoseconds (Coinbase envelopes), from the wall clock. Not src/shm/clock.ts: its FFI
// realtimeInto returns a frozen time once JSC's DFG JIT compiles a hot caller (measured here), and
// wire timestamps only need to be close to real time, not comparable across processes.

/** Wall-clock time as whole seconds and nanoseconds (sub-microsecond digits are not meaningful). */
function now(): [number, number] {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.min(999_999_999, Math.floor((ms - seconds * 1000) * 1e6))];
}

/** RFC3339 UTC with `digits` fractional digits (6 or 9), e.g. 2026-08-12T19:27:48.098821Z. */
export function rfc3339(digits: 6 | 9): string {
  const [seconds, nanos] = now();
  const whole = new Date(seconds * 1000).toISOString().slice(0, 19);
  const fraction = String(nanos).padStart(9, "0").slice(0, digits);
  return `${whole}.${fraction}Z`;
}

/** RFC3339 with microseconds for a millisecond epoch time (trade times). */
export function rfc3339OfMs(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}
