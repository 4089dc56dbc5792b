// The delta compression ratio the LowCompressionRatio alert reads covers the last minute, so a
// regression shows within minutes instead of being diluted by the bytes of a long uptime.
import { expect, test } from "bun:test";
import { Registry } from "prom-client";
import { BroadcastMetrics } from "../src/broadcast/metrics.ts";

test("the compression ratio is over the last minute of scrapes, 1 when no deltas were sent", () => {
  const metrics = new BroadcastMetrics(new Registry(), {
    ringLag: () => [],
    rings: () => 0,
    ringWriters: () => [],
  });
  const start = Date.now();
  expect(metrics.recentCompressionRatio(start + 1_000)).toBe(1);
  metrics.deltaBytes += 300;
  metrics.deltaAsSnapshotBytes += 10_000;
  expect(metrics.recentCompressionRatio(start + 15_000)).toBeCloseTo(0.97, 10);
  // A bad minute: deltas as big as half the book. Since start it would read 0.8; the window says 0.5.
  metrics.deltaBytes += 5_000;
  metrics.deltaAsSnapshotBytes += 10_000;
  expect(metrics.recentCompressionRatio(start + 80_000)).toBeCloseTo(0.5, 10);
  // A quiet minute after it: nothing sent, nothing to flag.
  expect(metrics.recentCompressionRatio(start + 150_000)).toBe(1);
});
