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
