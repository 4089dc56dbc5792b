// One active collector per venue, against real nats-server and the simulator: two collectors
// per venue open exactly the connections one collector opens; a SIGKILLed leader is replaced
// within the lease TTL plus 2 s, the books are exact again and every topic's messages go on
// through a `restarted` notice without a hole; a writer with a stale view of the stream is
// refused by the fence, and a paused leader that wakes up after losing the lease is fenced out
// and exits.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import type { FabricConfig } from "../src/fabric/config.ts";
import { connectFabric } from "../src/fabric/link.ts";
import { FabricStats } from "../src/fabric/metrics.ts";
import { HEADER, venueNames } from "../src/fabric/names.ts";
import { FabricPublisher } from "../src/fabric/publisher.ts";
import { log } from "../src/log.ts";
import { RecordFlag, RecordType } from "../src/shm/layout.ts";
import { RingReader } from "../src/shm/ring-reader.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { startTestBroadcaster } from "./support/broadcaster.ts";
import { FabricStack, waitUntil } from "./support/fabric-stack.ts";
import { NatsCluster } from "./support/nats.ts";
import { ringBooks } from "./support/ring-records.ts";
import { expectRingsEqualTruth } from "./support/ring-truth.ts";

const SYMBOLS = ["BTC-USD", "ETH-USD"];
const DEPTH = 10;
const TTL_MS = 3_000;

let nats: NatsCluster;
let simulator: Simulator;
let stack: FabricStack;

beforeAll(async () => {
  nats = await NatsCluster.start(1);
  simulator = startSimulator({
    symbols: SYMBOLS,
    seed: 13,
    updatesPerSecond: 40,
    tradesPerSecond: 5,
    bookLevels: 300,
  });
  stack = new FabricStack("lease", nats, simulator, SYMBOLS, DEPTH, { FABRIC_LEASE_TTL_MS: String(TTL_MS) });
});

afterAll(async () => {
  await stack.stop();
  await simulator.stop();
  await nats.stop();
});

describe("one active collector per venue", () => {
  test("two collectors per venue: the simulator sees one collector's connections per venue", async () => {
    // Coinbase: one level2 connection per product and one for trades. Kraken's symbols are
    // resolved over one more, short connection (its instrument channel); the others' over REST.
    const expected = { kraken: 1, binance: 1, coinbase: SYMBOLS.length + 1 } as const;
    const resolving = { kraken: 1, binance: 0, coinbase: 0 } as const;
    for (const venue of ["kraken", "binance", "coinbase"] as const) {
      await stack.collector(`${venue}-a`, venue);
      await stack.collector(`${venue}-b`, venue);
    }
    for (const venue of ["kraken", "binance", "coinbase"] as const) {
      const leader = await stack.leader(venue);
      await waitUntil(
        `${venue} leader ready`,
        () => leader.ready(),
        30_000,
        () => stack.logs(),
      );
    }
    // Two lease TTLs later the standbys still stand by.
    await Bun.sleep(2 * TTL_MS);
    const venues = simulator.stats().venues;
    for (const venue of ["kraken", "binance", "coinbase"] as const) {
      expect({ venue, open: venues[venue].connections, ever: venues[venue].connectionsTotal }).toEqual({
        venue,
        open: expected[venue],
        ever: expected[venue] + resolving[venue],
      });
      const collectors = stack.processes.filter((p) => p.venue === venue);
      const leaders = await Promise.all(collectors.map((p) => p.metric("alphapulse_fabric_leader")));
      expect(leaders.sort()).toEqual([0, 1]);
    }
    // The other venues' collectors are not needed from here on.
    for (const p of stack.processes.filter((p) => p.venue !== "kraken")) p.kill("SIGTERM");
  }, 90_000);

  test("SIGKILL the leader: a standby leads within TTL + 2 s, books exact, topic seqs go on through restarted", async () => {
    const relay = await stack.relay("kraken-relay", "kraken");
    await waitUntil(
      "relay current",
      () => relay.ready(),
      30_000,
      () => stack.logs(),
    );
    const broadcaster = startTestBroadcaster(relay.dir);
    const trades: { seq: number; type: string; status?: string }[] = [];
    const socket = new WebSocket(broadcaster.ws);
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as {
        type: string;
        topic?: string;
        seq: number;
        status?: string;
      };
      if (message.topic === "trades.kraken.BTC-USD") trades.push(message);
    };
    await new Promise((resolve) => {
      socket.onopen = resolve;
    });
    socket.send(JSON.stringify({ op: "subscribe", topics: ["trades.kraken.BTC-USD"] }));
    try {
      const leader = await stack.leader("kraken");
      await waitUntil("trades flow to the client", () => trades.length >= 3, 20_000);
      const before = RingReader.open(relay.ring, "latest");
      leader.kill("SIGKILL");
      const killedAt = Date.now();
      await leader.proc.exited;
      const standby = await stack.leader("kraken", TTL_MS + 5_000);
      const tookMs = Date.now() - killedAt;
      expect(tookMs).toBeLessThanOrEqual(TTL_MS + 2_000);
      await waitUntil(
        "new leader ready",
        () => standby.ready(),
        30_000,
        () => stack.logs(),
      );
      await waitUntil(
        "relay copies the new generation",
        () => relay.ready(),
        30_000,
        () => stack.logs(),
      );
      // The relay's old generation, as it ended, and its new one: every count goes on by one.
      const old = before.newBookCopy();
      expect(before.replaced()).toBe(true);
      const oldCounts = before.symbols.map((s) => {
        expect(before.readBook(s.id, old)).toBe(true);
        return [old.bookCount + 1, old.tradeCount + 1, old.bboCount + 1];
      });
      const oldConnections = before.connectionCount();
      before.close();
      for (const ring of [relay.ring, standby.ring]) {
        const now = ringBooks(ring);
        expect(now.books.map((b) => b.counts.slice(3))).toEqual(oldCounts);
        expect(now.connection[0]).toBe(oldConnections + 1);
      }
      await expectRingsEqualTruth(simulator, "kraken", [standby.ring, relay.ring], SYMBOLS, DEPTH);
      // The client's trades topic: no hole, one restarted notice where the generations meet.
      await waitUntil(
        "trades after the failover",
        () => trades.some((m) => m.status === "restarted") && trades.at(-1)!.type === "trade",
        20_000,
      );
      const seqs = trades.map((m) => m.seq);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(trades.filter((m) => m.status === "restarted").length).toBe(1);
      console.log(`failover: a standby led ${tookMs} ms after the leader's SIGKILL (TTL ${TTL_MS} ms)`);
    } finally {
      socket.close();
      await broadcaster.stop();
    }
  }, 120_000);

  test("a writer with a stale view of the stream is refused by the fence", async () => {
    const names = venueNames("kraken");
    const nc = await connect({ servers: nats.urls });
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const last = (await jsm.streams.info(names.stream)).state.last_seq;
      const h = headers();
      h.set(HEADER.generation, "1");
      h.set(HEADER.index, "99");
      h.set(HEADER.expectedLastSeq, String(last - 1));
      const refused = await js.publish(names.records, new Uint8Array(64), { headers: h }).then(
        () => "stored",
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/wrong last sequence/);
      // A claimer that saw the stream empty (expected last sequence 0) is refused as well.
      const claim = headers();
      claim.set(HEADER.generation, "1");
      claim.set(HEADER.index, "0");
      claim.set(HEADER.expectedLastSeq, "0");
      const lateFirstClaim = await js.publish(names.claim, new Uint8Array(0), { headers: claim }).then(
        () => "stored",
        (error: Error) => error.message,
      );
      expect(lateFirstClaim).toMatch(/wrong last sequence/);
      // The publisher itself, as a deposed leader holding an old claim: fenced out, nothing stored.
      const dir = `${stack.dir}/stale-writer`;
      const writer = RingWriter.create({
        dir,
        name: "kraken",
        exchange: "kraken",
        capacity: 1024,
        bookDepth: DEPTH,
        symbols: [{ venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }],
      });
      const link = await connectFabric(
        { ...fabricDefaults(), servers: [nats.urls.split(",")[0]!] },
        names,
        log,
        "stale writer",
      );
      let fenced = "";
      const stats = new FabricStats();
      const publisher = new FabricPublisher({
        link,
        writer,
        claim: { generation: 1, seq: 1 },
        config: fabricDefaults(),
        stats,
        log,
        onFenced: (reason) => {
          fenced = reason;
        },
      });
      publisher.begin();
      writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 1, 1, 1);
      await waitUntil("the stale publisher is fenced out", () => fenced !== "", 10_000);
      expect(fenced).toMatch(/another writer/);
      expect(stats.publishedMessages).toBe(0);
      const end = (await jsm.streams.info(names.stream)).state.last_seq;
      for (let seq = last + 1; seq <= end; seq++) {
        const message = await jsm.streams.getMessage(names.stream, { seq });
        if (message !== null) expect(message.header.get(HEADER.generation)).not.toBe("1");
      }
      publisher.stop();
      writer.close();
      await link.close();
    } finally {
      await nc.close();
    }
  }, 60_000);

  test("a paused leader that lost its lease is fenced out when it wakes, and exits", async () => {
    const names = venueNames("kraken");
    const spare = await stack.collector("kraken-spare", "kraken");
    await waitUntil(
      "spare stands by",
      () => spare.ready(),
      30_000,
      () => stack.logs(),
    );
    const paused = await stack.leader("kraken");
    paused.kill("SIGSTOP");
    const next = await stack.leader("kraken", TTL_MS * 3);
    expect(next).not.toBe(paused);
    await waitUntil(
      "new leader ready",
      () => next.ready(),
      30_000,
      () => stack.logs(),
    );
    const nc = await connect({ servers: nats.urls });
    try {
      const jsm = await jetstreamManager(nc);
      const claim = (await jsm.streams.getMessage(names.stream, { last_by_subj: names.claim }))!;
      const generation = claim.header.get(HEADER.generation);
      paused.kill("SIGCONT");
      const code = await Promise.race([paused.proc.exited, Bun.sleep(15_000).then(() => "still running")]);
      expect(code).toBe(3);
      // Nothing after the new leader's claim comes from the old one.
      const last = (await jsm.streams.info(names.stream)).state.last_seq;
      for (let seq = claim.seq + 1; seq <= last; seq++) {
        const message = await jsm.streams.getMessage(names.stream, { seq });
        if (message !== null) expect(message.header.get(HEADER.generation)).toBe(generation);
      }
      await waitUntil(
        "one kraken connection again",
        () => simulator.stats().venues.kraken.connections === 1,
        10_000,
      );
    } finally {
      await nc.close();
    }
  }, 90_000);
});

function fabricDefaults(): FabricConfig {
  return {
    servers: [],
    leaseTtlMs: TTL_MS,
    publishWindow: 64,
    bufferBytes: 1 << 20,
    ackTimeoutMs: 1_000,
    booksIntervalMs: 1_000,
    maxAgeSeconds: 3_600,
    maxBytes: 1 << 30,
    replicas: 1,
    staleMs: 2_000,
    relayIdleMs: 3_000,
  };
}
