// How the ring hub waits for the next record between poll rounds: a named, chosen policy (the
// shape of Agrona's IdleStrategy) instead of timers buried in the loop. The hub polls, then
// hands the strategy the records it read and the next round to schedule.
//   busy-spin: never sleeps (a whole core, lowest latency).
//   sleeping:  (the default) spin for spinMicros after the last record (on a busy core a
//              process that sleeps waits for the core again at each wake-up), then sleep in
//              the event loop on a fine tick for parkMillis: a timerfd expiring every
//              TICK_MICROS, which the event loop waits on as on a socket, so clients and timers
//              run meanwhile and a record after a short pause waits about 0.15 ms, not up to the
//              1.1 ms after which Bun fires its timers (setTimeout(0) too). Only a ring quiet for
//              longer sleeps on 1 ms timers.
//   backoff:   spin for spinMicros, then park: each turn sleeps PARK_MICROS in the kernel and
//              polls again, for parkMillis; only then 1 ms timer sleeps. A park blocks the event
//              loop, so client sockets, timers and anything else on the loop wait in 50 us steps
//              while parked: an explicit choice for a broadcaster with a core to itself.
// A spin stays inside one event-loop turn for up to SPIN_SLICE_MICROS, probing the rings (a
// load of each ring's cursor). A record found is polled at once, in the same turn: going back
// to the event loop first ran the timers that fell due during the spin (housekeeping of 40 to
// 300 us) before the poll, most of the pick-up tail left (measured). A slice that ends empty
// lets the loop run. Spinning one setImmediate per probe instead allocated an Immediate every
// microsecond: ten eden collections a second, each pausing the broadcaster about 1 ms. After a
// round that read records, and in the turn after it, the loop runs at once: uWS writes the
// round's messages only then.
// A futex on the ring's commit word would wake a reader exactly, but the wait would block the
// event loop that also serves the clients, so it needs a thread of its own and a writer change.
import { armTimerFd, closeFile, openTimerFd, sleepMicros } from "../shm/libc.ts";

export const IDLE_STRATEGIES = ["sleeping", "backoff", "busy-spin"] as const;
export type IdleStrategyName = (typeof IDLE_STRATEGIES)[number];

export interface IdleSettings {
  readonly idleStrategy: IdleStrategyName;
  /** Polling without a pause for this long after the last record read. */
  readonly spinMicros: number;
  /** Fine-tick sleeps (sleeping) or kernel parks (backoff) for this long before timer sleeps. */
  readonly parkMillis: number;
}

/**
 * The longest a spin keeps the event loop waiting: a client's message or a timer waits at most
 * this long while the hub spins, and an Immediate is allocated once per slice, not per probe.
 */
const SPIN_SLICE_MICROS = 100;
/** One park: long enough to give the core away, short against the 1 ms a timer costs. */
const PARK_MICROS = 50;
/**
 * The fine tick: a record waits about half of it, plus some 40 us from the expiry to the poll.
 * Each tick costs a wake-up of the event loop (20 to 40 us of CPU on the 2-core VM measured:
 * 10 to 20% of a core at 200 us), paid only while parked.
 */
const TICK_MICROS = 200;

export interface IdleStrategy {
  readonly name: IdleStrategyName;
  /** Schedules `next` after a poll round that read `read` records. */
  idle(read: number, next: () => void): void;
  /** Releases what it holds (a timer, a file descriptor) once the hub has stopped polling. */
  close(): void;
}

/** `recordsWaiting`: whether any ring holds a record the hub has not read (cheap: called in spins). */
export function idleStrategy(settings: IdleSettings, recordsWaiting: () => boolean): IdleStrategy {
  switch (settings.idleStrategy) {
    case "busy-spin": {
      const spin = new TurnSpin(recordsWaiting);
      return {
        name: "busy-spin",
        idle: (read, next) => spin.scheduleNext(read, SPIN_SLICE_MICROS, next),
        close: () => {},
      };
    }
    case "sleeping":
      return new Backoff("sleeping", settings, recordsWaiting, new FineTick());
    case "backoff":
      return new Backoff("backoff", settings, recordsWaiting, null);
  }
}

/**
 * The in-turn spin. It probes until a record is waiting or `micros` have passed, allocating
 * nothing, but never in the turn right after one that read records: uWS writes a round's
 * messages when the event loop runs, which a turn scheduled from I/O or a timer precedes.
 */
class TurnSpin {
  private roundJustRead = false;
  private pollingNow = false;

  constructor(private readonly recordsWaiting: () => boolean) {}

  /**
   * Called at the end of a poll round that read `read` records: spins, then runs `next` now if
   * a record is waiting (once: a round that finds nothing to read despite that goes through the
   * event loop), else in the next turn.
   */
  scheduleNext(read: number, micros: number, next: () => void): void {
    if (!this.spin(read, micros) || this.pollingNow) {
      setImmediate(next);
      return;
    }
    this.pollingNow = true;
    try {
      next();
    } finally {
      this.pollingNow = false;
    }
  }

  /** Whether a record is waiting, after spinning for up to `micros` (not after a reading round). */
  private spin(read: number, micros: number): boolean {
    if (read > 0 || this.roundJustRead) {
      this.roundJustRead = read > 0;
      return false;
    }
    const until = performance.now() + micros / 1000;
    do if (this.recordsWaiting()) return true;
    while (performance.now() < until);
    return false;
  }
}

/** Spin, then park (a fine tick, or kernel sleeps without one), then 1 ms timers; any record starts it over. */
class Backoff implements IdleStrategy {
  private lastRead = performance.now();
  private timer: ReturnType<typeof setTimeout> | null = null;

  private readonly spinMicros: number;
  private readonly parkMillis: number;
  private readonly spin: TurnSpin;

  constructor(
    readonly name: IdleStrategyName,
    settings: IdleSettings,
    recordsWaiting: () => boolean,
    private readonly tick: FineTick | null,
  ) {
    this.spinMicros = settings.spinMicros;
    this.parkMillis = settings.parkMillis;
    this.spin = new TurnSpin(recordsWaiting);
  }

  idle(read: number, next: () => void): void {
    const now = performance.now();
    if (read > 0) this.lastRead = now;
    const idleMs = now - this.lastRead;
    if (idleMs * 1000 < this.spinMicros) {
      this.spin.scheduleNext(read, Math.min(SPIN_SLICE_MICROS, this.spinMicros - idleMs * 1000), next);
    } else if (idleMs < this.spinMicros / 1000 + this.parkMillis) {
      if (this.tick !== null) {
        if (!this.tick.wait(next)) this.timer = setTimeout(next, 1);
      } else {
        sleepMicros(PARK_MICROS);
        setImmediate(next);
      }
    } else {
      this.tick?.stop();
      this.timer = setTimeout(next, 1);
    }
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.tick?.close();
  }
}

/**
 * A timerfd read through the event loop: `wait(next)` runs `next` once the timer, armed for one
 * expiry TICK_MICROS after the first wait, expires (nothing is armed while the hub spins).
 */
class FineTick {
  private fd = -1;
  private armed = false;
  private waiting: (() => void) | null = null;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;

  /** False when no timerfd can be had (out of descriptors): the caller sleeps on a timer instead. */
  wait(next: () => void): boolean {
    if (!this.armed) {
      try {
        if (this.fd < 0) this.open();
        armTimerFd(this.fd, TICK_MICROS);
      } catch {
        return false; // tried again at the next wait; the histograms show the slower pick-up
      }
      this.armed = true;
    }
    this.waiting = next;
    return true;
  }

  private open(): void {
    const fd = openTimerFd();
    try {
      this.reader = Bun.file(fd).stream().getReader();
    } catch (error) {
      closeFile(fd);
      throw error;
    }
    this.fd = fd;
    void this.expiries(this.reader);
  }

  stop(): void {
    if (!this.armed) return;
    armTimerFd(this.fd, 0);
    this.armed = false;
  }

  close(): void {
    this.waiting = null;
    const reader = this.reader;
    this.reader = null;
    if (this.fd >= 0) {
      this.stop();
      void reader?.cancel().catch(() => {});
      closeFile(this.fd);
      this.fd = -1;
    }
  }

  private async expiries(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    try {
      while (!(await reader.read()).done) {
        this.armed = false;
        const next = this.waiting;
        this.waiting = null;
        next?.();
      }
    } catch {
      // closed: nothing waits any more
    }
  }
}
