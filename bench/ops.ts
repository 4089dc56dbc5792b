// `bun bench/ops.ts`: the operational figures docs/operations.md sets against the deployment
// targets, measured on the compiled binary with a simulator on loopback: start to
// /health and to /ready for a collector and a broadcaster (what a pod needs before a rollout moves
// on), /health response time under sequential load, the collector's receipt-to-ring p99 (its own
// histogram, as a bucket bound, over 10 steady seconds on a simulator at 50 updates/s per symbol),
// SIGTERM to exit, and the binary's size.
// Prints one JSON line last.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ModeProcess } from "../test/support/mode-process.ts";
import { OpsStack } from "../test/support/ops-stack.ts";
import { httpStatus, waitFor } from "../test/support/wait.ts";
import { latencySummaryUs, round } from "./stats.ts";

const REPO_ROOT = path.resolve(import.meta.dir, "..");
const HEALTH_REQUESTS = 2000;
const STEADY_MS = 10_000;

/** Cumulative buckets [le in us, count] of the collector's receipt-to-ring histogram, +Inf last. */
async function latencyBuckets(url: string): Promise<[number, number][]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const bucket = /^alphapulse_shared_memory_publish_latency_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$/gm;
  return [...text.matchAll(bucket)].map((match) => [
    match[1] === "+Inf" ? Number.POSITIVE_INFINITY : round(Number(match[1]) * 1e6, 1),
    Number(match[2]),
  ]);
}

async function msUntil200(process: ModeProcess, url: string, started: number): Promise<number> {
  await waitFor(
    `${process.name} ${url}`,
    async () => {
      if (process.proc.exitCode !== null) throw new Error(`${process.name} exited: ${process.output()}`);
      return (await httpStatus(url)) === 200;
    },
    { timeoutMs: 60_000, intervalMs: 2 },
  );
  return performance.now() - started;
}

const buildDir = mkdtempSync(path.join(tmpdir(), "ap-bench-ops-"));
const binary = path.join(buildDir, "alphapulse");
const build = Bun.spawnSync(["bun", "build", "--compile", "--minify", "src/main.ts", "--outfile", binary], {
  cwd: REPO_ROOT,
});
if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);

const stack = new OpsStack("bench", [binary]);
try {
  const simulator = await stack.startSimulator();

  // Each process binds port 0 and logs its port once it serves: the clock runs from the spawn.
  let started = performance.now();
  const collector = await stack.startCollector("kraken");
  const collectorUrl = collector.metrics;
  const collectorHealthMs = await msUntil200(collector.process, `${collectorUrl}/health`, started);
  const collectorReadyMs = await msUntil200(collector.process, `${collectorUrl}/ready`, started);

  started = performance.now();
  const broadcaster = await stack.startBroadcaster();
  const broadcasterReadyMs = await msUntil200(broadcaster.process, `${broadcaster.metrics}/ready`, started);

  const healthNs = new Float64Array(HEALTH_REQUESTS);
  for (let i = 0; i < HEALTH_REQUESTS; i++) {
    const t0 = performance.now();
    const response = await fetch(`${collectorUrl}/health`);
    await response.arrayBuffer();
    healthNs[i] = (performance.now() - t0) * 1e6;
  }
  const health = latencySummaryUs(healthNs);
  // The collector's own histogram of frame receipt to ring publish, over a steady window after start.
  const before = await latencyBuckets(collectorUrl);
  await Bun.sleep(STEADY_MS);
  const after = await latencyBuckets(collectorUrl);
  const steady = after.map(([le, count], i) => [le, count - (before[i]?.[1] ?? 0)] as const);
  const frames = steady.at(-1)?.[1] ?? 0;
  const p99Bucket = steady.find(([, count]) => count >= frames * 0.99)?.[0];

  started = performance.now();
  const broadcasterExit = await broadcaster.process.stop();
  const broadcasterStopMs = performance.now() - started;
  started = performance.now();
  const collectorExit = await collector.process.stop();
  const collectorStopMs = performance.now() - started;
  await simulator.process.stop();

  console.log(
    JSON.stringify({
      bench: "ops",
      binaryMiB: round(statSync(binary).size / 2 ** 20, 1),
      collectorStartToHealthMs: round(collectorHealthMs, 1),
      collectorStartToReadyMs: round(collectorReadyMs, 1),
      broadcasterStartToReadyMs: round(broadcasterReadyMs, 1),
      collectorSteadyFrames: frames,
      collectorReceiptToRingP99AtMostUs: p99Bucket ?? null,
      health: {
        requests: HEALTH_REQUESTS,
        p50_us: health.p50_us,
        p99_us: health.p99_us,
        max_us: health.max_us,
      },
      collectorSigtermToExitMs: round(collectorStopMs, 1),
      broadcasterSigtermToExitMs: round(broadcasterStopMs, 1),
      cleanExits: collectorExit === 0 && broadcasterExit === 0,
    }),
  );
} finally {
  await stack.stop();
  rmSync(buildDir, { recursive: true, force: true });
}
