// Fault injection for one venue: one-shot faults waiting for the next matching frame or request,
// stalls with an end time, and counts of what was asked for and what was actually carried out.
// Each venue names the kinds it can inject (its folder's simulator.ts); the engine carries out
// disconnect, stall and garbage itself, the venue every other kind.

/** A fault's name ("drop-frame"); src/simulator/index.ts types them from the venues' lists. */
export type FaultKind = string;

export interface FaultSpec<Kind extends string = FaultKind> {
  readonly kind: Kind;
  /**
   * Stall length; Retry-After (rate-limit, ban); the delay before a server-shutdown closes; for a
   * venue-wide disconnect, how long new connections are refused (HTTP 503).
   */
  readonly durationMs?: number;
}

export class FaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FaultError";
  }
}

/** Matches every symbol. */
const ANY = "*";

export class FaultBook {
  private readonly pending = new Map<string, number>();
  private readonly stalls = new Map<string, number>();
  readonly injected: Record<string, number> = {};
  readonly applied: Record<string, number> = {};
  private readonly durations = new Map<FaultKind, number>();

  /** Queues a one-shot fault (or starts a stall) for `symbol`, or for every symbol. */
  add(kind: FaultKind, symbol: string | undefined, durationMs: number, nowMs: number): void {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
    this.durations.set(kind, durationMs);
    const key = `${kind} ${symbol ?? ANY}`;
    if (kind === "stall") {
      this.stalls.set(symbol ?? ANY, nowMs + durationMs);
      this.applied.stall = (this.applied.stall ?? 0) + 1;
      return;
    }
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  /** Consumes one waiting `kind` fault for this symbol (or for any symbol) and counts it. */
  take(kind: FaultKind, symbol: string = ANY): boolean {
    for (const key of [`${kind} ${symbol}`, `${kind} ${ANY}`]) {
      const count = this.pending.get(key) ?? 0;
      if (count > 0) {
        if (count === 1) this.pending.delete(key);
        else this.pending.set(key, count - 1);
        this.applied[kind] = (this.applied[kind] ?? 0) + 1;
        return true;
      }
    }
    return false;
  }

  /** The duration given with the latest `kind` fault (Retry-After of rate-limit and ban). */
  lastDuration(kind: FaultKind): number {
    return this.durations.get(kind) ?? 0;
  }

  /** Whether the venue as a whole is stalled. */
  venueStalled(nowMs: number): boolean {
    return (this.stalls.get(ANY) ?? 0) > nowMs;
  }

  /** Whether this symbol's market is stalled (itself or the whole venue). */
  stalled(symbol: string, nowMs: number): boolean {
    return (this.stalls.get(symbol) ?? 0) > nowMs || this.venueStalled(nowMs);
  }
}
