// The shared clock: CLOCK_REALTIME as (seconds, nanoseconds) pairs. Bun's own clocks start at
// zero in each process, so every timestamp that crosses a process boundary comes from here.
import { realtimeInto } from "./libc.ts";

const scratch = new Uint32Array(2);

/** Nanoseconds from (sec, nsec) to now on the shared clock: exact for spans under 104 days. */
export function nanosSince(sec: number, nsec: number): number {
  realtimeInto(scratch, 0);
  return (scratch[0]! - sec) * 1e9 + (scratch[1]! - nsec);
}

/**
 * Shared-clock times on this process's clock. `read` takes one reading of the shared clock
 * together with this process's own (performance.now()); shared times then convert against it,
 * so a poll's records cost one clock call, not one each.
 */
export class ClockBridge {
  private readonly shared = new Uint32Array(2);
  private localMs = 0;

  read(): void {
    realtimeInto(this.shared, 0);
    this.localMs = performance.now();
  }

  /** A shared-clock time (sec, nsec) on this process's clock, in nanoseconds, as of the last `read`. */
  localNs(sec: number, nsec: number): number {
    return this.localMs * 1e6 - ((this.shared[0]! - sec) * 1e9 + (this.shared[1]! - nsec));
  }
}

export { realtimeInto };
