// One active collector per venue: a key in a JetStream KV bucket whose TTL makes a dead holder's
// claim lapse. The holder renews it every fifth of the TTL with a compare-and-set on the
// revision it wrote, so a renewal after someone else took the key fails; it counts the lease
// lost when a renewal fails that way or when none succeeded for most of a TTL (the key may
// have lapsed and been taken). A standby tries to create the key until it can.
import { hostname } from "node:os";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../log.ts";

export interface LeaseOptions {
  readonly kv: KV;
  /** The key: the exchange. */
  readonly key: string;
  /** Who asks: shown to operators in the key's value and in the claim message. */
  readonly holder: string;
  readonly ttlMs: number;
  readonly log: Logger;
  /** Called once when the lease is lost (taken by another holder, or lapsed). */
  readonly onLost: (reason: string) => void;
}

/** A holder id for this process: host, pid and a random part (two processes never share one). */
export function holderId(): string {
  return `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

export class Lease {
  private revision = 0;
  /** When the last successful write was sent: the key cannot lapse before that plus the TTL. */
  private confirmedAt = 0;
  private renewTimer: ReturnType<typeof setInterval> | null = null;
  private renewing = false;
  /** When the last renewal was sent (successful or not). */
  private renewedAt = 0;
  private lost = false;
  private stopped = false;

  constructor(private readonly options: LeaseOptions) {}

  get held(): boolean {
    return this.revision > 0 && !this.lost;
  }

  /**
   * Waits until this process holds the lease (polling every few hundred ms), then keeps it.
   * False if release() was called first (the process is stopping).
   */
  async acquire(): Promise<boolean> {
    const { kv, key, log } = this.options;
    const pollMs = Math.min(500, Math.max(50, this.options.ttlMs / 10));
    let waitingLogged = false;
    while (!this.stopped) {
      const sentAt = Date.now();
      try {
        const revision = await kv.create(key, this.value());
        if (this.stopped) {
          await kv.delete(key, { previousSeq: revision }).catch(() => {});
          return false;
        }
        this.revision = revision;
        this.confirmedAt = sentAt;
        this.renewedAt = sentAt;
        log.info("lease acquired", { key, holder: this.options.holder, ttlMs: this.options.ttlMs });
        this.renewTimer = setInterval(() => this.tick(), Math.min(250, this.options.ttlMs / 10));
        return true;
      } catch (error) {
        if (!waitingLogged) {
          log.info("standing by: the lease is held", { key, holder: await this.currentHolder(), error });
          waitingLogged = true;
        }
      }
      await Bun.sleep(pollMs);
    }
    return false;
  }

  /** The holder named in the key now, if any (for logs). */
  async currentHolder(): Promise<string | null> {
    try {
      const entry = await this.options.kv.get(this.options.key);
      return entry === null || entry.operation !== "PUT" ? null : entry.string();
    } catch {
      return null;
    }
  }

  /**
   * Lost once nothing was confirmed for nine tenths of the TTL (a tenth's margin for the
   * server's own clock and expiry timer); renewed every fifth of it.
   */
  private tick(): void {
    const since = Date.now() - this.confirmedAt;
    if (since >= this.options.ttlMs * 0.9) this.lose("not renewed within its TTL");
    else if (Date.now() - this.renewedAt >= this.options.ttlMs / 5) void this.renew();
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.lost || this.stopped) return;
    this.renewing = true;
    const sentAt = Date.now();
    this.renewedAt = sentAt;
    try {
      this.revision = await this.options.kv.update(this.options.key, this.value(), this.revision);
      this.confirmedAt = sentAt;
    } catch (error) {
      // A refused compare-and-set means someone else wrote the key: it is theirs now.
      const taken = error instanceof Error && /wrong last sequence/i.test(error.message);
      if (taken) this.lose("taken by another holder");
      else this.options.log.warn("lease renewal failed", { key: this.options.key, error });
    } finally {
      this.renewing = false;
    }
  }

  private lose(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.options.log.warn("lease lost", { key: this.options.key, reason });
    this.options.onLost(reason);
  }

  /** Lets the lease go at once (only if still ours), so a standby takes over without waiting out the TTL. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (!this.held) return;
    try {
      await this.options.kv.delete(this.options.key, { previousSeq: this.revision });
      this.options.log.info("lease released", { key: this.options.key });
    } catch (error) {
      this.options.log.warn("lease release failed: it lapses after its TTL", {
        key: this.options.key,
        error,
      });
    }
    this.revision = 0;
  }

  private value(): string {
    return JSON.stringify({
      holder: this.options.holder,
      pid: process.pid,
      host: hostname(),
      at: Date.now(),
    });
  }
}
