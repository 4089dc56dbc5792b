// Two "nodes", each a relay and a broadcaster over its own ring folder, fed by one leader through
// real nats-server: clients on the two nodes receive byte-identical messages under the same seqs,
// the books equal the simulator's truth, and a client that leaves node A and resumes on node B
// gets exactly the messages it missed, with no snapshot and no duplicate. A relay killed and
// started again takes up its ring: its clients see the ring stale, then live, with no gap, no
// snapshot and no restart, and the ring keeps the leader's records.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Broadcaster } from "../src/broadcast/main.ts";
import { RingReader } from "../src/shm/ring-reader.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { startTestBroadcaster } from "./support/broadcaster.ts";
import { type FabricProcess, FabricStack, waitUntil } from "./support/fabric-stack.ts";
import { NatsCluster } from "./support/nats.ts";
import { readRecords } from "./support/ring-records.ts";
import { expectRingsEqualTruth } from "./support/ring-truth.ts";

const SYMBOLS = ["BTC-USD", "ETH-USD"];
const DEPTH = 10;
const TOPICS = SYMBOLS.flatMap((s) => [`book.kraken.${s}`, `trades.kraken.${s}`, `bbo.kraken.${s}`]);

interface Node {
  relay: FabricProcess;
  readonly broadcaster: Broadcaster;
  readonly port: number;
}

/** A WebSocket client keeping every message's raw text, by topic and seq. */
class Client {
  readonly socket: WebSocket;
  readonly texts: { topic: string; seq: number; type: string; text: string }[] = [];
  readonly opened: Promise<unknown>;

  constructor(port: number) {
    this.socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    this.opened = new Promise((resolve) => {
      this.socket.onopen = resolve;
    });
    this.socket.onmessage = (event) => {
      const text = String(event.data);
      const message = JSON.parse(text) as { topic?: string; seq?: number; type: string };
      if (message.topic !== undefined && message.seq !== undefined) {
        this.texts.push({ topic: message.topic, seq: message.seq, type: message.type, text });
      }
    };
  }

  async subscribe(resume?: Record<string, number>): Promise<void> {
    await this.opened;
    this.socket.send(JSON.stringify({ op: "subscribe", topics: TOPICS, ...(resume ? { resume } : {}) }));
  }

  /** The last seq received on each topic. */
  positions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.texts) out[m.topic] = m.seq;
    return out;
  }

  byTopic(topic: string): Map<number, string> {
    return new Map(this.texts.filter((m) => m.topic === topic).map((m) => [m.seq, m.text]));
  }
}

let nats: NatsCluster;
let simulator: Simulator;
let stack: FabricStack;
const nodes: Node[] = [];

beforeAll(async () => {
  nats = await NatsCluster.start(1);
  simulator = startSimulator({
    symbols: SYMBOLS,
    seed: 41,
    updatesPerSecond: 40,
    tradesPerSecond: 10,
    bookLevels: 300,
  });
  stack = new FabricStack("nodes", nats, simulator, SYMBOLS, DEPTH);
  const leader = await stack.collector("leader", "kraken");
  await waitUntil(
    "leader ready",
    () => leader.ready(),
    30_000,
    () => stack.logs(),
  );
  for (const name of ["node-a", "node-b"]) {
    const relay = await stack.relay(name, "kraken");
    await waitUntil(
      `${name} current`,
      () => relay.ready(),
      30_000,
      () => stack.logs(),
    );
    const broadcaster = startTestBroadcaster(relay.dir);
    nodes.push({ relay, broadcaster, port: broadcaster.server.port! });
  }
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.broadcaster.stop()));
  await stack.stop();
  await simulator.stop();
  await nats.stop();
});

/** Both nodes' relay rings hold the simulator's books exactly. */
function relayRingsEqualTruth(): Promise<void> {
  return expectRingsEqualTruth(
    simulator,
    "kraken",
    nodes.map((n) => n.relay.ring),
    SYMBOLS,
    DEPTH,
  );
}

describe("two relay+broadcaster nodes", () => {
  test("clients on both nodes get byte-identical messages under the same seqs; books equal the truth", async () => {
    const a = new Client(nodes[0]!.port);
    const b = new Client(nodes[1]!.port);
    await Promise.all([a.subscribe(), b.subscribe()]);
    await Bun.sleep(5_000);
    await relayRingsEqualTruth();
    let compared = 0;
    for (const topic of TOPICS) {
      const ours = a.byTopic(topic);
      const theirs = b.byTopic(topic);
      for (const [seq, text] of ours) {
        // The first message of each is the starting state (a snapshot or the current bbo), sent when each subscribed.
        const other = theirs.get(seq);
        if (other === undefined || a.texts.find((m) => m.topic === topic)!.seq === seq) continue;
        if (b.texts.find((m) => m.topic === topic)!.seq === seq) continue;
        expect(text).toBe(other);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(200);
    a.socket.close();
    b.socket.close();
  }, 60_000);

  test("a client that leaves node A resumes on node B with exactly what it missed", async () => {
    const watcher = new Client(nodes[0]!.port);
    const mover = new Client(nodes[0]!.port);
    await Promise.all([watcher.subscribe(), mover.subscribe()]);
    await Bun.sleep(2_000);
    mover.socket.close();
    const left = mover.positions();
    await Bun.sleep(1_500);
    const resumed = new Client(nodes[1]!.port);
    await resumed.subscribe(left);
    await Bun.sleep(2_000);
    for (const topic of TOPICS) {
      const got = resumed.texts.filter((m) => m.topic === topic);
      expect(got.length).toBeGreaterThan(0);
      // No snapshot, no gap.
      expect(got.filter((m) => m.type === "snapshot" || m.text.includes('"status":"gap"'))).toEqual([]);
      const truth = watcher.byTopic(topic);
      if (topic.startsWith("bbo.")) {
        // A bbo topic keeps only its current value (docs/protocol.md): that (stamped with the
        // book's latest times, so compared without them), then what follows.
        const levels = (text: string) => {
          const { ts: _ts, pt: _pt, ...rest } = JSON.parse(text) as Record<string, unknown>;
          return rest;
        };
        for (const m of got) if (truth.has(m.seq)) expect(levels(m.text)).toEqual(levels(truth.get(m.seq)!));
        for (const m of got.slice(1)) if (truth.has(m.seq)) expect(m.text).toBe(truth.get(m.seq)!);
        expect(got[0]!.seq).toBeGreaterThan(left[topic]!);
        expect(got.map((m) => m.seq)).toEqual(got.map((_, i) => got[0]!.seq + i));
      } else {
        for (const m of got) if (truth.has(m.seq)) expect(m.text).toBe(truth.get(m.seq)!);
        // The messages after the one it had, in order, without a hole.
        expect(got.map((m) => m.seq)).toEqual(got.map((_, i) => left[topic]! + 1 + i));
      }
    }
    watcher.socket.close();
    resumed.socket.close();
  }, 60_000);

  for (const signal of ["SIGKILL", "SIGTERM"] as const)
    test(`a relay stopped by ${signal} and started again continues its ring: no restart, no gap, no snapshot`, async () => {
      const node = nodes[0]!;
      const client = new Client(node.port);
      const watcher = new Client(nodes[1]!.port);
      await Promise.all([client.subscribe(), watcher.subscribe()]);
      await Bun.sleep(1_500);
      const generation = RingReader.open(node.relay.ring, "latest").generation;
      node.relay.kill(signal);
      await node.relay.proc.exited;
      await Bun.sleep(1_500); // the leader goes on publishing
      node.relay = await stack.relay("node-a", "kraken");
      await waitUntil(
        "node-a current again",
        () => node.relay.ready(),
        30_000,
        () => stack.logs(),
      );
      await Bun.sleep(2_000);
      expect(node.relay.output()).toContain("continuing the ring a previous relay left");
      const ring = RingReader.open(node.relay.ring, "latest");
      expect(ring.generation).toBe(generation);
      ring.close();
      let stale = 0;
      for (const topic of TOPICS) {
        const got = client.texts.filter((m) => m.topic === topic);
        expect(got.filter((m) => /"status":"(gap|restarted)"/.test(m.text))).toEqual([]);
        expect(got.slice(1).filter((m) => m.type === "snapshot")).toEqual([]);
        stale += got.filter((m) => m.text.includes('"status":"stale"')).length;
        // Each message after the first either restates the position (a notice) or is the next.
        const seqs = got.map((m) => m.seq).filter((seq, i) => i === 0 || seq !== got[i - 1]!.seq);
        expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
        // The watcher's first message is its starting state, not what the client got at that seq.
        const truth = watcher.byTopic(topic);
        truth.delete(watcher.texts.find((m) => m.topic === topic)?.seq ?? -1);
        let compared = 0;
        for (const m of got.slice(1)) {
          if (m.type === "status" || !truth.has(m.seq) || topic.startsWith("bbo.")) continue;
          expect(m.text).toBe(truth.get(m.seq)!);
          compared++;
        }
        if (topic.startsWith("book.")) expect(compared).toBeGreaterThan(20);
      }
      expect(stale).toBeGreaterThan(0);
      // The continued ring holds the leader's records with no hole (node B holds the same).
      const ours = readRecords(node.relay.ring, "oldest");
      const theirs = readRecords(nodes[1]!.relay.ring, "oldest");
      expect(ours.gaps).toEqual([]);
      let same = 0;
      for (const [seq, line] of ours.lines) {
        const other = theirs.lines.get(seq);
        if (other === undefined) continue;
        expect(line).toBe(other);
        same++;
      }
      expect(same).toBeGreaterThan(500);
      await relayRingsEqualTruth();
      client.socket.close();
      watcher.socket.close();
    }, 90_000);
});
