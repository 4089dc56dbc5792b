// Test support: a ring's books as another process reads them, against the simulator's true
// books. The venue is stalled briefly so the truth holds still, and the ring must equal it
// (every book valid) before the stall ends.
import { expect } from "bun:test";
import type { SimulatedVenueName } from "../../src/exchanges/simulators.ts";
import type { Simulator } from "../../src/simulator/index.ts";

const ROOT = `${import.meta.dir}/../..`;

export interface RingBook {
  readonly status: string;
  readonly venueSeq: number;
  readonly bids: string[][];
  readonly asks: string[][];
}

/** What a separate process reads from the ring right now. */
export async function dumpRing(ring: string, depth: number): Promise<Record<string, RingBook>> {
  const child = Bun.spawn(["bun", "test/support/ring-book-dump.ts", ring, String(depth)], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "inherit",
  });
  const text = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  return JSON.parse(text);
}

/**
 * Stalls the venue so its true book holds still, then requires that every ring's books, read by
 * another process, equal it (and are valid) before the stall ends.
 */
export async function expectRingsEqualTruth(
  simulator: Simulator,
  venue: SimulatedVenueName,
  rings: readonly string[],
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
  let pending = [...rings];
  while (Date.now() < until) {
    const still: string[] = [];
    for (const ring of pending) {
      const books = await dumpRing(ring, depth);
      const mismatch = symbols.find((symbol) => {
        const truth = simulator.trueBook(venue, symbol, depth);
        const ours = books[symbol]!;
        return (
          ours.status !== "Valid" ||
          JSON.stringify([ours.bids, ours.asks]) !== JSON.stringify([truth.bids, truth.asks])
        );
      });
      if (mismatch === undefined) continue;
      still.push(ring);
      last = `${ring} ${mismatch}: ring ${JSON.stringify(books[mismatch])} truth ${JSON.stringify(simulator.trueBook(venue, mismatch, depth))}`;
    }
    pending = still;
    if (pending.length === 0) return afterStall();
  }
  throw new Error(`ring never equalled the true book during the stall: ${last}`);
}
