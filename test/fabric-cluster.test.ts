// The fabric on a three-node nats-server cluster, the stream replicated three ways: SIGKILL the
// node leading the stream while the leader publishes. A new stream leader takes seconds (4-9 s
// on 2.9.10) and publishes stall meanwhile; the collector buffers and sends again, keeps its
// lease, and the relays (whose consumers may die with the node) end with exactly the leader's
// records: nothing lost, nothing twice.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { venueNames } from "../src/fabric/names.ts";
import { RingReader } from "../src/shm/ring-reader.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { type FabricProcess, FabricStack, waitUntil } from "./support/fabric-stack.ts";
import { NatsCluster } from "./support/nats.ts";
import { readRecords, ringBooks } from "./support/ring-records.ts";
import { expectRingsEqualTruth } from "./support/ring-truth.ts";

const SYMBOLS = ["BTC-USD", "ETH-USD"];
const DEPTH = 10;

let nats: NatsCluster;
let simulator: Simulator;
let stack: FabricStack;

beforeAll(async () => {
  nats = await NatsCluster.start(3);
  simulator = startSimulator({
    symbols: SYMBOLS,
    seed: 31,
    updatesPerSecond: 50,
    tradesPerSecond: 10,
    bookLevels: 300,
  });
  // A lease TTL above the time a KV stream needs to elect a new leader (NOTES: under ~10 s can lapse).
  stack = new FabricStack("cluster", nats, simulator, SYMBOLS, DEPTH, {
    FABRIC_LEASE_TTL_MS: "15000",
    FABRIC_BOOKS_INTERVAL_MS: "1000",
  });
});

afterAll(async () => {
  await stack.stop();
  await simulator.stop();
  await nats.stop();
});

async function streamLeader(): Promise<string> {
  const nc = await connect({ servers: nats.nodes.filter((n) => n.process !== null).map((n) => n.url) });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(venueNames("kraken").stream);
    expect(info.config.num_replicas).toBe(3);
    return info.cluster?.leader ?? "";
  } finally {
    await nc.close();
  }
}

describe("a three-node cluster, stream replicated three ways", () => {
  test("SIGKILL the stream's leader node: the lease holds, relays lose and repeat nothing", async () => {
    const leader = await stack.collector("leader", "kraken");
    await waitUntil(
      "leader ready",
      () => leader.ready(),
      40_000,
      () => stack.logs(),
    );
    const standby = await stack.collector("standby", "kraken");
    const relays: FabricProcess[] = [
      await stack.relay("relay-1", "kraken"),
      await stack.relay("relay-2", "kraken"),
    ];
    for (const p of [standby, ...relays])
      await waitUntil(
        `${p.name} ready`,
        () => p.ready(),
        40_000,
        () => stack.logs(),
      );
    await Bun.sleep(3_000);
    const victim = nats.node(await streamLeader());
    const before = ringBooks(leader.ring).next;
    await victim.kill("SIGKILL");
    const killedAt = Date.now();
    // Stalled publishes leave the copies behind the leader's beats; wait until both have
    // caught up again (and at least past the moment a stall would have begun).
    await Bun.sleep(3_000);
    for (const relay of relays) {
      await waitUntil(
        `${relay.name} current again`,
        async () =>
          (await relay.ready()) && (await relay.metric("alphapulse_fabric_relay_lag_records")) === 0,
        60_000,
        () => stack.logs(),
      );
    }
    const recoveredMs = Date.now() - killedAt;
    expect(await leader.metric("alphapulse_fabric_leader")).toBe(1);
    expect(await standby.metric("alphapulse_fabric_leader")).toBe(0);
    expect(leader.proc.exitCode).toBeNull();
    await expectRingsEqualTruth(
      simulator,
      "kraken",
      [leader.ring, ...relays.map((r) => r.ring)],
      SYMBOLS,
      DEPTH,
    );
    simulator.inject("kraken", { kind: "stall", durationMs: 3_000 });
    await Bun.sleep(600);
    await waitUntil("relays reach the leader's end", () =>
      relays.every((r) => ringBooks(r.ring).next === ringBooks(leader.ring).next),
    );
    const theirs = readRecords(leader.ring, "oldest");
    const end = ringBooks(leader.ring).next - 1;
    expect(end).toBeGreaterThan(before);
    for (const relay of relays) {
      const reader = RingReader.open(relay.ring, "latest");
      const first = reader.firstSeq();
      reader.close();
      const ours = readRecords(relay.ring, "oldest");
      expect(ours.gaps).toEqual([]);
      // Every record the leader wrote from the relay's start (before the kill) to its end, once.
      expect(first).toBeLessThan(before);
      expect([...ours.lines.keys()]).toEqual(Array.from({ length: end - first + 1 }, (_, i) => first + i));
      for (let seq = first; seq <= end; seq++) expect(ours.lines.get(seq)).toBe(theirs.lines.get(seq)!);
      expect(await relay.metric("alphapulse_fabric_relay_gaps_total")).toBe(0);
      expect(await relay.metric("alphapulse_fabric_relay_skipped_records_total")).toBe(0);
      expect(ringBooks(relay.ring).books).toEqual(ringBooks(leader.ring).books);
    }
    expect(await leader.metric("alphapulse_fabric_dropped_records_total")).toBe(0);
    console.log(
      `stream leader ${victim.name} killed: relays current again after ${recoveredMs} ms; publish errors ${await leader.metric(
        "alphapulse_fabric_publish_errors_total",
      )}, messages sent again ${await leader.metric("alphapulse_fabric_publish_retries_total")}, consumers reopened ${
        (await relays[0]!.metric("alphapulse_fabric_relay_consumer_restarts_total")) +
        (await relays[1]!.metric("alphapulse_fabric_relay_consumer_restarts_total"))
      }`,
    );
  }, 180_000);
});
