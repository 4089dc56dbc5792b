// Percentiles of latency samples, shared by the benchmarks that measure latency.

/** Sorts `samples` (ns) in place and returns the percentiles in microseconds. */
export function latencySummaryUs(samples: Float64Array) {
  samples.sort();
  const at = (q: number) => {
    if (samples.length === 0) return Number.NaN;
    const index = Math.min(samples.length - 1, Math.floor(q * samples.length));
    return round(samples[index]! / 1000);
  };
  return {
    count: samples.length,
    p50_us: at(0.5),
    p90_us: at(0.9),
    p99_us: at(0.99),
    p999_us: at(0.999),
    max_us: at(1),
  };
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Upper bounds (us) of the hop histogram buckets that bench shm prints for the ring and for C. */
export const HOP_BUCKETS_US = [0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 1000, 10000];
/** A record slower than this (us) belongs to a stall: one scheduler-sized event, not the shoulder. */
export const STALL_US = 20;

/**
 * The shape of a tail, from samples (ns) in arrival order: records per bucket (the last counts
 * those above every bound), and the stalls: runs of consecutive records above STALL_US, with
 * how many records they hold. Many records in few stalls is a process that did not run; a broad
 * shoulder is per-record cost.
 */
export function tailShape(samples: Float64Array) {
  const hist = new Array<number>(HOP_BUCKETS_US.length + 1).fill(0);
  let stalls = 0;
  let stalled = 0;
  let inStall = false;
  for (const ns of samples) {
    const us = ns / 1000;
    let b = 0;
    while (b < HOP_BUCKETS_US.length && us > HOP_BUCKETS_US[b]!) b++;
    hist[b]!++;
    const slow = us > STALL_US;
    if (slow && !inStall) stalls++;
    if (slow) stalled++;
    inStall = slow;
  }
  return { hist, stalls, stalled };
}

/** A Prometheus histogram as scraped: [upper bound in seconds, cumulative count], +Inf last. */
export type Buckets = ReadonlyArray<readonly [number, number]>;

/** One histogram's buckets from a /metrics page (`metrics`: http://host:port). */
export async function scrapeHistogram(metrics: string, name: string): Promise<Buckets> {
  const text = await (await fetch(`${metrics}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`, "gm"))].map(
    (m) => [m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])] as const,
  );
}

/** What a histogram counted between two scrapes of it. */
export function bucketsSince(after: Buckets, before: Buckets): Buckets {
  return after.map(([le, count], i) => [le, count - (before[i]?.[1] ?? 0)] as const);
}

/** Observations per bucket (not cumulative), against each bucket's upper bound in us (null: +Inf). */
export function bucketCountsUs(buckets: Buckets): Array<[number | null, number]> {
  return buckets.map(([le, count], i) => [
    le === Number.POSITIVE_INFINITY ? null : round(le * 1e6, 1),
    count - (buckets[i - 1]?.[1] ?? 0),
  ]);
}

/**
 * Quantiles of a histogram's buckets, interpolated linearly inside the bucket that holds each
 * (as PromQL's histogram_quantile does), in microseconds.
 */
export function bucketQuantilesUs(buckets: Buckets, quantiles: number[]): number[] {
  const total = buckets.at(-1)?.[1] ?? 0;
  return quantiles.map((q) => {
    const rank = q * total;
    const at = buckets.findIndex(([, count]) => count >= rank);
    if (total === 0 || at < 0) return Number.NaN;
    const [upper, count] = buckets[at]!;
    const [lower, below] = at === 0 ? [0, 0] : buckets[at - 1]!;
    if (upper === Number.POSITIVE_INFINITY) return round(lower * 1e6, 1);
    return round((lower + ((upper - lower) * (rank - below)) / Math.max(1, count - below)) * 1e6, 1);
  });
}
