// The allocation-free histogram must read exactly as prom-client's own: the same exposition for
// the same observations (bucket edges included), and the same sums when fan-out workers' metrics
// are merged.
import { expect, test } from "bun:test";
import { AggregatorRegistry, Histogram, Registry } from "prom-client";
import { LatencyHistogram } from "../src/health/latency-histogram.ts";

const BOUNDS = [0.000001, 0.0000025, 0.00001, 0.001, 0.5];
const OBSERVED = [0, 0.000001, 0.0000011, 0.0000025, 0.000003, 0.00001, 0.0009, 0.001, 0.2, 0.5, 0.7, 12];

function pair(labels: Record<string, string> = {}) {
  const ours = new Registry();
  const theirs = new Registry();
  ours.setDefaultLabels(labels);
  theirs.setDefaultLabels(labels);
  const histogram = new LatencyHistogram("latency_seconds", "a latency", BOUNDS, [ours]);
  const reference = new Histogram({
    name: "latency_seconds",
    help: "a latency",
    buckets: BOUNDS,
    registers: [theirs],
  });
  return { ours, theirs, histogram, reference };
}

test("the exposition is prom-client's for the same observations, bucket edges included", async () => {
  const { ours, theirs, histogram, reference } = pair({ service: "alphapulse" });
  expect(await ours.metrics()).toBe(await theirs.metrics()); // empty
  for (const value of OBSERVED) {
    histogram.observe(value);
    reference.observe(value);
  }
  const text = await ours.metrics();
  expect(text).toBe(await theirs.metrics());
  expect(text).toContain('latency_seconds_bucket{le="0.0000025",service="alphapulse"} 4');
  expect(text).toContain(`latency_seconds_count{service="alphapulse"} ${OBSERVED.length}`);
});

test("workers' histograms merge as prom-client's do: every bucket, the sum and the count add up", async () => {
  const workers = [pair(), pair()];
  workers.forEach(({ histogram, reference }, i) => {
    for (const value of OBSERVED.slice(i * 3)) {
      histogram.observe(value);
      reference.observe(value);
    }
  });
  const merged = async (registries: Registry[]) =>
    AggregatorRegistry.aggregate(await Promise.all(registries.map((r) => r.getMetricsAsJSON()))).metrics();
  const ours = await merged(workers.map((w) => w.ours));
  expect(ours).toBe(await merged(workers.map((w) => w.theirs)));
  expect(ours).toContain(`latency_seconds_count ${2 * OBSERVED.length - 3}`);
});
