// The slow-client policy: fan-out never waits for a socket, so what a client has not taken yet
// queues in the broadcaster. Checked on a timer (off the fan-out path): a client past the warning
// level is warned once, past the close level closed with 4008; and all clients' unsent bytes
// together stay within the send budget, by closing the clients furthest behind first.
//
// A check costs the clients that are behind, not all clients: reading a socket's unsent bytes is
// a call into uWS (80 to 100 ns), so reading 10,000 every tick held the event loop (and a poll
// round) back by about 0.5 ms, often 1 ms. Clients known to hold unsent bytes (seen so by a check,
// or by uWS's drain event) are watched, and read at every tick until their queue is empty; the
// others are swept a share per tick, so each client is still read at least once per sweep.
import type { Logger } from "../log.ts";
import { encodeSlowConsumerWarning } from "../protocol/encode.ts";
import { CloseCode } from "../protocol/messages.ts";
import type { BroadcastConfig } from "./config.ts";
import type { BroadcastMetrics } from "./metrics.ts";
import type { ClientConnection } from "./subscriptions.ts";

/** How often the watched clients and the sweep's share are checked. */
const SLOW_CHECK_MS = 50;
/** Every client is read at least once in this many checks (one second)... */
const SWEEP_CHECKS = 20;
/** ...and at least this many are swept per check (with fewer clients, all of them every check). */
const SWEEP_MIN_PER_CHECK = 256;

/** A client's socket as the policy sees it (Bun's ServerWebSocket is one). */
interface BufferedClient extends Pick<ClientConnection, "data" | "send" | "close"> {
  getBufferedAmount(): number;
}

type SlowClientLimits = Pick<BroadcastConfig, "slowWarnBytes" | "slowCloseBytes" | "sendBudgetBytes">;

export class SlowClientPolicy {
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Clients with unsent bytes at their last reading, or drained since: read at every check. */
  private readonly watched = new Set<BufferedClient>();
  /** The sweep: where in which set of clients the next check's share starts. */
  private sweepOf: ReadonlySet<BufferedClient> | null = null;
  private sweepCursor: Iterator<BufferedClient> | null = null;

  constructor(
    private readonly limits: SlowClientLimits,
    private readonly metrics: BroadcastMetrics,
    private readonly log: Logger,
  ) {}

  /** Checks `clients` every SLOW_CHECK_MS until stop(). */
  start(clients: ReadonlySet<BufferedClient>): void {
    this.timer = setInterval(() => this.check(clients), SLOW_CHECK_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * One check of the watched clients and the sweep's next share of `clients`: warns, closes, and
   * returns the unsent bytes of the watched clients left open (every client with unsent bytes
   * that a check has read since they began; the others had none at their last reading).
   */
  check(clients: ReadonlySet<BufferedClient>): number {
    this.sweep(clients);
    const { slowCloseBytes, sendBudgetBytes } = this.limits;
    let unsent = 0;
    const behind: Array<{ client: BufferedClient; buffered: number }> = [];
    for (const client of this.watched) {
      // A closed socket reads 0, so clients that went away leave here too.
      const buffered = client.getBufferedAmount();
      if (buffered === 0) {
        this.watched.delete(client);
        continue;
      }
      unsent += buffered;
      if (buffered < this.limits.slowWarnBytes) continue;
      if (!client.data.warned) this.warn(client, buffered);
      if (buffered >= slowCloseBytes) {
        this.close(client, buffered, "slow consumer: could not keep up");
        unsent -= buffered;
      } else {
        behind.push({ client, buffered });
      }
    }
    if (unsent > sendBudgetBytes && behind.length > 0) {
      // Many slow clients at once: the ones furthest behind go first, until the rest fit.
      behind.sort((a, b) => b.buffered - a.buffered);
      for (const { client, buffered } of behind) {
        this.close(client, buffered, "slow consumer: the server's send budget is spent");
        unsent -= buffered;
        if (unsent <= sendBudgetBytes) break;
      }
    }
    this.metrics.unsentBytes = unsent;
    return unsent;
  }

  /** Reads the sweep's next share of `clients` (each at most once) and watches those behind. */
  private sweep(clients: ReadonlySet<BufferedClient>): void {
    if (this.sweepOf !== clients) {
      this.sweepOf = clients;
      this.sweepCursor = null;
    }
    const share = Math.min(
      clients.size,
      Math.max(SWEEP_MIN_PER_CHECK, Math.ceil(clients.size / SWEEP_CHECKS)),
    );
    // A Set's iterator survives additions (read later in the sweep) and deletions (skipped).
    for (let read = 0; read < share; read++) {
      let step = this.sweepCursor?.next();
      if (step === undefined || step.done) {
        this.sweepCursor = clients.values();
        step = this.sweepCursor.next();
        if (step.done) return;
      }
      if (step.value.getBufferedAmount() > 0) this.watched.add(step.value);
    }
  }

  /**
   * uWS sent some of a client's backlog: the client is behind, so it is watched from the next
   * check on; once well under the warning level, it may be warned again.
   */
  drained(client: BufferedClient): void {
    this.watched.add(client);
    if (client.data.warned && client.getBufferedAmount() < this.limits.slowWarnBytes / 2) {
      client.data.warned = false;
    }
  }

  /** Warned first, even when already past the limit: the warning says why the close comes. */
  private warn(client: BufferedClient, buffered: number): void {
    client.data.warned = true;
    this.metrics.slowWarnings.inc();
    client.send(
      encodeSlowConsumerWarning(
        `you are ${buffered} bytes behind; past ${this.limits.slowCloseBytes} the server closes with 4008`,
        buffered,
      ),
    );
  }

  private close(client: BufferedClient, buffered: number, reason: string): void {
    this.watched.delete(client);
    this.metrics.slowDisconnects.inc();
    this.log.throttled("warn", "slow-close", "closing a slow client", {
      client: client.data.id,
      buffered,
      reason,
    });
    client.close(CloseCode.SlowConsumer, reason);
  }
}
