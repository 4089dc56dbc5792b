// Test support: what a test reads from a collector process it started (mode-process.ts): its
// readiness and metrics over HTTP, the books another process reads from its ring, and the check
// that those books equal the simulator's true books during a quiet moment.
import { expect } from "bun:test";
import type { ExchangeName } from "../../src/exchanges/registry.ts";
import type { Simulator } from "../../src/simulator/index.ts";
import { REPO_ROOT } from "./ops-source-settings.ts";

/** Whether the collector whose metrics server is at `metrics` (http://host:port) answers /ready with 200. */
export async function collectorReady(metrics: string): Promise<boolean> {
  const response = await fetch(`${metrics}/ready`).catch(() => null);
  return response?.status === 200;
}

/** Sum of a metric's samples whose labels include every given pair, scraped now. */
export async function metricSum(
  metrics: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return metricSumIn(await (await fetch(`${metrics}/metrics`)).text(), name, labels);
}

/** Sum of a metric's samples whose labels include every given pair, in one scrape's text. */
export function metricSumIn(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

export interface RingBook {
  readonly status: string;
  readonly venueSeq: number;
  readonly bids: string[][];
  readonly asks: string[][];
}

/** What a separate process reads from the ring right now, `depth` levels a side, by symbol. */
export async function dumpRing(ring: string, depth: number): Promise<Record<string, RingBook>> {
  const child = Bun.spawn(["bun", "test/support/ring-book-dump.ts", ring, String(depth)], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "inherit",
  });
  const text = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  return JSON.parse(text);
}

/**
 * Stalls the venue briefly so the true book holds still, then requires that the ring's books,
 * read by another process, equal it (and are valid) before the stall ends.
 */
export async function expectRingEqualsTruth(
  simulator: Simulator,
  venue: ExchangeName,
  ring: string,
  symbols: readonly string[],
  depth: number,
): Promise<void> {
  const stallMs = 2_500;
  simulator.inject(venue, { kind: "stall", durationMs: stallMs });
  const stallEnds = Date.now() + stallMs;
  const until = stallEnds - 300;
  let last = "";
  // The next fault must not land inside this stall (the simulator drops what it would send).
  const afterStall = () => Bun.sleep(Math.max(0, stallEnds - Date.now() + 200));
  while (Date.now() < until) {
    const books = await dumpRing(ring, depth);
    const mismatch = symbols.find((symbol) => {
      const truth = simulator.trueBook(venue, symbol, depth);
      const ours = books[symbol]!;
      return (
        ours.status !== "Valid" ||
        JSON.stringify([ours.bids, ours.asks]) !== JSON.stringify([truth.bids, truth.asks])
      );
    });
    if (mismatch === undefined) return afterStall();
    last = `${mismatch}: ring ${JSON.stringify(books[mismatch])} truth ${JSON.stringify(simulator.trueBook(venue, mismatch, depth))}`;
  }
  throw new Error(`ring never equalled the true book during the stall: ${last}`);
}
