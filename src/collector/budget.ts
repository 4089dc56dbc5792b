// The request budget: a token bucket that queues snapshot requests and resubscribes, so a
// burst of resyncs is spread out instead of tripping the venue's rate limit. A 429 or 418
// pauses it until the venue's Retry-After has passed.

import type { RequestBudget } from "../exchanges/venue.ts";

export class TokenBucket implements RequestBudget {
  private tokens: number;
  private last = Date.now();
  private pausedUntil = 0;
  private readonly queue: { weight: number; run: () => void }[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    /** Most units that can be spent at once. */
    private readonly capacity: number,
    /** Units regained per second. */
    private readonly perSecond: number,
  ) {
    this.tokens = capacity;
  }

  schedule(weight: number, run: () => void): void {
    this.queue.push({ weight: Math.min(weight, this.capacity), run });
    this.drain();
  }

  /** Stops spending until `untilMs` (epoch ms): the venue said to back off. */
  pause(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
    this.tokens = 0;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  private drain(): void {
    if (this.timer) return;
    const now = Date.now();
    if (now >= this.pausedUntil) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    }
    this.last = now;
    while (this.queue.length > 0 && now >= this.pausedUntil && this.tokens >= this.queue[0]!.weight) {
      const next = this.queue.shift()!;
      this.tokens -= next.weight;
      next.run();
    }
    if (this.queue.length === 0) return;
    const need = this.queue[0]!.weight - this.tokens;
    const waitMs = Math.max(
      now < this.pausedUntil ? this.pausedUntil - now : 0,
      (need / this.perSecond) * 1000,
      5,
    );
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, waitMs);
    this.timer.unref?.();
  }
}
