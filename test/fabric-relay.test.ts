// Relays against real nats-server and a leader on the simulator: two relays hold the leader's
// records under the leader's sequences, with its topic counts and books; one started late
// starts from the books and then agrees; with NATS stopped for 10 s the leader's ring never
// stops, the relays' rings go stale, and afterwards they go on without a hole (or report one).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RingReader } from "../src/shm/ring-reader.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { type FabricProcess, FabricStack, waitUntil } from "./support/fabric-stack.ts";
import { NatsCluster } from "./support/nats.ts";
import { readRecords, ringBooks } from "./support/ring-records.ts";
import { expectRingsEqualTruth } from "./support/ring-truth.ts";

const SYMBOLS = ["BTC-USD", "ETH-USD"];
const DEPTH = 10;
const STALE_MS = 2_000;

let nats: NatsCluster;
let simulator: Simulator;
let stack: FabricStack;
let leader: FabricProcess;
let early: FabricProcess[];

beforeAll(async () => {
  nats = await NatsCluster.start(1);
  simulator = startSimulator({
    symbols: SYMBOLS,
    seed: 21,
    updatesPerSecond: 60,
    tradesPerSecond: 10,
    bookLevels: 300,
  });
  // A lease that outlives a 10 s NATS outage.
  stack = new FabricStack("relay", nats, simulator, SYMBOLS, DEPTH, {
    FABRIC_LEASE_TTL_MS: "20000",
    FABRIC_STALE_MS: String(STALE_MS),
    FABRIC_BOOKS_INTERVAL_MS: "1000",
  });
  leader = await stack.collector("leader", "kraken");
  early = [await stack.relay("relay-1", "kraken"), await stack.relay("relay-2", "kraken")];
  for (const p of [leader, ...early])
    await waitUntil(
      `${p.name} ready`,
      () => p.ready(),
      30_000,
      () => stack.logs(),
    );
});

afterAll(async () => {
  await stack.stop();
  await simulator.stop();
  await nats.stop();
});

/** The copy's records are the leader's, seq for seq, from the copy's first record to the leader's end. */
function expectSameRecords(copy: FabricProcess, from: FabricProcess = leader): void {
  const theirs = readRecords(from.ring, "oldest");
  const ours = readRecords(copy.ring, "oldest");
  const first = RingReader.open(copy.ring, "latest");
  const firstSeq = first.firstSeq();
  first.close();
  const end = Math.max(...theirs.lines.keys());
  expect(ours.gaps).toEqual([]);
  expect(Math.max(...ours.lines.keys())).toBe(end);
  let compared = 0;
  for (let seq = Math.max(firstSeq, Math.min(...theirs.lines.keys())); seq <= end; seq++, compared++) {
    if (ours.lines.get(seq) !== theirs.lines.get(seq)) {
      throw new Error(
        `${copy.name} record ${seq}: ${ours.lines.get(seq)} but the leader's is ${theirs.lines.get(seq)}`,
      );
    }
  }
  if (compared <= 100) console.log(stack.logs());
  expect(compared).toBeGreaterThan(100);
}

/** Books, topic counts and status counts the same as the leader's. */
function expectSameBooks(copy: FabricProcess): void {
  const strip = (r: ReturnType<typeof ringBooks>) => ({
    books: r.books,
    connection: r.connection,
    next: r.next,
  });
  expect(strip(ringBooks(copy.ring))).toEqual(strip(ringBooks(leader.ring)));
}

/** Holds the venue still (a stall), waits for the copies to catch up, then runs `check`. */
async function whileQuiet(copies: FabricProcess[], check: () => void): Promise<void> {
  await expectRingsEqualTruth(
    simulator,
    "kraken",
    [leader.ring, ...copies.map((c) => c.ring)],
    SYMBOLS,
    DEPTH,
  );
  simulator.inject("kraken", { kind: "stall", durationMs: 3_000 });
  await Bun.sleep(600);
  await waitUntil("copies reach the leader's end", () =>
    copies.every((c) => ringBooks(c.ring).next === ringBooks(leader.ring).next),
  );
  check();
  await Bun.sleep(2_600);
}

describe("relays", () => {
  test("two relays hold the leader's records, counts and books", async () => {
    await Bun.sleep(4_000);
    await whileQuiet(early, () => {
      for (const relay of early) {
        expectSameRecords(relay);
        expectSameBooks(relay);
      }
    });
  }, 60_000);

  test("a relay started late starts from the books and agrees with one that ran from the start", async () => {
    const late = await stack.relay("relay-late", "kraken");
    await waitUntil(
      "late relay current",
      () => late.ready(),
      30_000,
      () => stack.logs(),
    );
    expect(ringBooks(late.ring).firstSeq).toBeGreaterThan(1);
    await Bun.sleep(2_000);
    await whileQuiet([late, early[0]!], () => {
      expectSameRecords(late, early[0]);
      expectSameBooks(late);
    });
  }, 60_000);

  test("NATS stopped for 10 s: the leader's ring never stops, relays go stale, then go on without a hole", async () => {
    const node = nats.nodes[0]!;
    const before = ringBooks(leader.ring).next;
    await node.kill("SIGKILL");
    const stoppedAt = Date.now();
    let staleSeen = 0;
    let leaderNext = before;
    while (Date.now() - stoppedAt < 10_000) {
      await Bun.sleep(1_000);
      const ring = RingReader.open(leader.ring, "latest");
      expect(ring.heartbeatAgeMs()).toBeLessThan(1_000);
      expect(ring.writerNextSeq()).toBeGreaterThan(leaderNext);
      leaderNext = ring.writerNextSeq();
      ring.close();
      for (const relay of early) {
        const copy = RingReader.open(relay.ring, "latest");
        if (copy.heartbeatAgeMs() > STALE_MS && !(await relay.ready())) staleSeen++;
        copy.close();
      }
    }
    expect(staleSeen).toBeGreaterThan(4);
    node.start();
    await nats.waitHealthy();
    for (const relay of early)
      await waitUntil(
        `${relay.name} current again`,
        () => relay.ready(),
        40_000,
        () => stack.logs(),
      );
    expect(await leader.metric("alphapulse_fabric_leader")).toBe(1);
    expect(await leader.metric("alphapulse_fabric_publish_errors_total")).toBeGreaterThan(0);
    await whileQuiet(early, () => {
      for (const relay of early) {
        expectSameRecords(relay);
        expectSameBooks(relay);
      }
    });
    for (const relay of early)
      if ((await relay.metric("alphapulse_fabric_relay_gaps_total")) > 0) console.log(stack.logs());
    for (const relay of early) expect(await relay.metric("alphapulse_fabric_relay_gaps_total")).toBe(0);
    expect(await leader.metric("alphapulse_fabric_dropped_records_total")).toBe(0);
    console.log(
      `NATS outage: the leader's ring went on from ${before} to ${leaderNext} records; publish retries ${await leader.metric(
        "alphapulse_fabric_publish_retries_total",
      )}`,
    );
  }, 120_000);
});
