// The shared clock: CLOCK_REALTIME as (seconds, nanoseconds) pairs. Bun's own clocks start at
// zero in each process, so every timestamp that crosses a process boundary comes from here.
import { realtimeInto } from "./libc.ts";

const scratch = new Uint32Array(2);

/** Nanoseconds from (sec, nsec) to now on the shared clock: exact for spans under 104 days. */
export function nanosSince(sec: number, nsec: number): number {
  realtimeInto(scratch, 0);
  return (scratch[0]! - sec) * 1e9 + (scratch[1]! - nsec);
}

export { realtimeInto };
