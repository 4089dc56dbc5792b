// How the ring hub waits for the next record between poll rounds: a named, chosen policy (the
// shape of Agrona's IdleStrategy) instead of timers buried in the loop. The hub polls, then
// hands the strategy the records it read and the next round to schedule.
//   busy-spin: the next round on the next event-loop turn, always (a whole core, lowest latency).
//   sleeping:  (the default) spin for spinMicros after the last record, then 1 ms timer sleeps.
//              Bun's timers fire after about 1.1 ms, so the first record after a pause waits
//              up to that long.
//   backoff:   spin for spinMicros, then park: each turn sleeps PARK_MICROS in the kernel and
//              polls again, for parkMillis; only then 1 ms timer sleeps. A record after a short
//              pause waits about 0.1 ms instead of 1 ms, for a fifth of a core while parked; but
//              a park blocks the event loop (a timer wait does not), so client sockets, timers
//              and anything else on the loop wait in 50 us steps while parked. Not the default
//              for that reason: an explicit choice for a broadcaster with a core to itself.
// A futex on the ring's commit word would wake a reader exactly, but the wait would block the
// event loop that also serves the clients, so it needs a thread of its own and a writer change.
import { sleepMicros } from "../shm/libc.ts";

export const IDLE_STRATEGIES = ["sleeping", "backoff", "busy-spin"] as const;
export type IdleStrategyName = (typeof IDLE_STRATEGIES)[number];

export interface IdleSettings {
  readonly idleStrategy: IdleStrategyName;
  /** Polling without a pause for this long after the last record read. */
  readonly spinMicros: number;
  /** backoff: parking (short kernel sleeps between polls) for this long before timer sleeps. */
  readonly parkMillis: number;
}

/** One park: long enough to give the core away, short against the 1 ms a timer costs. */
const PARK_MICROS = 50;

export interface IdleStrategy {
  readonly name: IdleStrategyName;
  /** Schedules `next` after a poll round that read `read` records. */
  idle(read: number, next: () => void): void;
}

export function idleStrategy(settings: IdleSettings): IdleStrategy {
  switch (settings.idleStrategy) {
    case "busy-spin":
      return { name: "busy-spin", idle: (_read, next) => setImmediate(next) };
    case "sleeping":
      return new Backoff("sleeping", settings.spinMicros, 0);
    case "backoff":
      return new Backoff("backoff", settings.spinMicros, settings.parkMillis);
  }
}

/** Spin, then (if parkMillis) park, then sleep on a timer; any record starts it over. */
class Backoff implements IdleStrategy {
  private lastRead = performance.now();

  constructor(
    readonly name: IdleStrategyName,
    private readonly spinMicros: number,
    private readonly parkMillis: number,
  ) {}

  idle(read: number, next: () => void): void {
    const now = performance.now();
    if (read > 0) this.lastRead = now;
    const idleMs = now - this.lastRead;
    if (idleMs * 1000 < this.spinMicros) {
      setImmediate(next);
    } else if (idleMs < this.spinMicros / 1000 + this.parkMillis) {
      sleepMicros(PARK_MICROS);
      setImmediate(next);
    } else {
      setTimeout(next, 1);
    }
  }
}
