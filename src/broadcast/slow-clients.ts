// The slow-client policy: fan-out never waits for a socket, so what a client has not taken yet
// queues in the broadcaster. Checked on a timer (off the fan-out path): a client past the warning
// level is warned once, past the close level closed with 4008; and all clients' unsent bytes
// together stay within the send budget, by closing the clients furthest behind first.
import type { Logger } from "../log.ts";
import { encodeSlowConsumerWarning } from "../protocol/encode.ts";
import { CloseCode } from "../protocol/messages.ts";
import type { BroadcastConfig } from "./config.ts";
import type { BroadcastMetrics } from "./metrics.ts";
import type { ClientConnection } from "./subscriptions.ts";

/** How often unsent bytes are checked. */
const SLOW_CHECK_MS = 50;

/** A client's socket as the policy sees it (Bun's ServerWebSocket is one). */
interface BufferedClient extends Pick<ClientConnection, "data" | "send" | "close"> {
  getBufferedAmount(): number;
}

type SlowClientLimits = Pick<BroadcastConfig, "slowWarnBytes" | "slowCloseBytes" | "sendBudgetBytes">;

export class SlowClientPolicy {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly limits: SlowClientLimits,
    private readonly metrics: BroadcastMetrics,
    private readonly log: Logger,
  ) {}

  /** Checks `clients` every SLOW_CHECK_MS until stop(). */
  start(clients: Iterable<BufferedClient>): void {
    this.timer = setInterval(() => this.check(clients), SLOW_CHECK_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check: warns, closes, and returns the unsent bytes of the clients left open. */
  check(clients: Iterable<BufferedClient>): number {
    const { slowWarnBytes, slowCloseBytes, sendBudgetBytes } = this.limits;
    let unsent = 0;
    const behind: Array<{ client: BufferedClient; buffered: number }> = [];
    for (const client of clients) {
      const buffered = client.getBufferedAmount();
      unsent += buffered;
      if (buffered < slowWarnBytes) continue;
      if (!client.data.warned) {
        // Warned first, even when already past the limit: the warning says why the close comes.
        client.data.warned = true;
        this.metrics.slowWarnings.inc();
        client.send(
          encodeSlowConsumerWarning(
            `you are ${buffered} bytes behind; past ${slowCloseBytes} the server closes with 4008`,
            buffered,
          ),
        );
      }
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
    this.metrics.unsentBytes.set(unsent);
    return unsent;
  }

  /** A client's socket took some of its backlog: once well under the warning level, it may be warned again. */
  drained(client: BufferedClient): void {
    if (client.data.warned && client.getBufferedAmount() < this.limits.slowWarnBytes / 2) {
      client.data.warned = false;
    }
  }

  private close(client: BufferedClient, buffered: number, reason: string): void {
    this.metrics.slowDisconnects.inc();
    this.log.throttled("warn", "slow-close", "closing a slow client", {
      client: client.data.id,
      buffered,
      reason,
    });
    client.close(CloseCode.SlowConsumer, reason);
  }
}
