// `bun bench fabric`: the fabric's throughput, hop latency and failover, on loopback nats-server
// (the one installed; file storage). Leader and relay are separate processes (bench/fabric-peer.ts).
// - Records/s from a leader's ring writer through the venue's stream into a relay's ring, 16
//   records a batch (the publisher joins batches queued together into one message), one node and
//   three replicas on three nodes; the same over core NATS (one message a batch, no stream, no
//   acknowledgements) is the baseline.
// - Hop latency, leader ring commit to relay ring commit, at 20 k batches/s: JetStream, and core
//   NATS as the floor.
// - Failover: the leading collector SIGKILLed (simulator feed, lease TTL 3 s), to the first record
//   of the new leader's generation in a relay's ring.
// Prints one JSON line last.
import { rmSync } from "node:fs";
import { RingReader } from "../src/shm/ring-reader.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { FabricStack } from "../test/support/fabric-stack.ts";
import { NatsCluster } from "../test/support/nats.ts";
import { round } from "./stats.ts";

const DIR = `/dev/shm/ap-bench-fabric-${process.pid}`;
const THROUGHPUT_BATCHES = 187_500; // 3 M records
const RECORDS_PER_BATCH = 16;
const LATENCY_RATE = 20_000; // batches/s
const LATENCY_BATCHES = 100_000; // 5 s
const LATENCY_RECORDS_PER_BATCH = 4;
const LEASE_TTL_MS = 3_000;

type Line = Record<string, unknown>;

/** A bench/fabric-peer.ts process: its JSON lines as they come. */
class Peer {
  private readonly lines: Line[] = [];
  readonly proc: Bun.Subprocess<"ignore", "pipe", "inherit">;

  constructor(args: string[]) {
    const proc = Bun.spawn(["bun", `${import.meta.dir}/fabric-peer.ts`, ...args], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    });
    this.proc = proc;
    void (async () => {
      let buffer = "";
      for await (const chunk of proc.stdout) {
        buffer += new TextDecoder().decode(chunk);
        let newline = buffer.indexOf("\n");
        while (newline >= 0) {
          const text = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (text.startsWith("{")) this.lines.push(JSON.parse(text));
          newline = buffer.indexOf("\n");
        }
      }
    })();
  }

  async line(test: (line: Line) => boolean, timeoutMs = 240_000): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(test);
      if (found) return found;
      if (Date.now() > deadline || this.proc.exitCode !== null)
        throw new Error(`peer ${this.proc.pid} gave no such line`);
      await Bun.sleep(20);
    }
  }
}

/** One leader and one relay over `transport`; returns their final lines. */
async function run(
  transport: "jetstream" | "core",
  urls: string,
  batches: number,
  perBatch: number,
  rate: number,
) {
  const dir = `${DIR}/${transport}-${batches}-${rate}-${Date.now()}`;
  const relay = new Peer(["relay", transport, urls, dir, String(batches * perBatch)]);
  await relay.line((l) => l.ready === true);
  const leader = new Peer(["leader", transport, urls, dir, String(batches), String(perBatch), String(rate)]);
  const led = await leader.line((l) => l.doneAt !== undefined);
  const copied = await relay.line((l) => l.lastAt !== undefined);
  await Promise.all([leader.proc.exited, relay.proc.exited]);
  rmSync(dir, { recursive: true, force: true });
  return { led, copied };
}

async function throughput(transport: "jetstream" | "core", urls: string) {
  const { led, copied } = await run(transport, urls, THROUGHPUT_BATCHES, RECORDS_PER_BATCH, 0);
  const seconds = ((copied.lastAt as number) - (led.startedAt as number)) / 1000;
  const records = copied.records as number;
  return {
    records,
    // CPU each side spent per ring batch (start-up included): what the rate costs, whatever the load.
    leader_cpu_us_per_batch: round(led.cpuUsPerBatch as number, 1),
    relay_cpu_us_per_batch: round(copied.cpuUsPerBatch as number, 1),
    delivered: round(records / (THROUGHPUT_BATCHES * RECORDS_PER_BATCH)),
    seconds: round(seconds),
    records_per_s: Math.round(records / seconds),
    messages: copied.messages as number,
    records_per_message: round(records / (copied.messages as number), 1),
  };
}

async function latency(transport: "jetstream" | "core", urls: string) {
  const { copied } = await run(transport, urls, LATENCY_BATCHES, LATENCY_RECORDS_PER_BATCH, LATENCY_RATE);
  // Where the tail comes from: the spread of hops, and the worst hop of each 100 ms above 10 ms.
  console.error(transport, "hop histogram (ms)", copied.histogramMs, "stalls", copied.stallsOver10Ms);
  return {
    ...(copied.latency as { p50_us: number; p99_us: number; count: number }),
    messages: copied.messages as number,
  };
}

async function failover(): Promise<number> {
  const nats = await NatsCluster.start(1);
  const simulator = startSimulator({
    symbols: ["BTC-USD", "ETH-USD"],
    updatesPerSecond: 50,
    tradesPerSecond: 10,
  });
  const stack = new FabricStack("bench", nats, simulator, ["BTC-USD", "ETH-USD"], 10, {
    FABRIC_LEASE_TTL_MS: String(LEASE_TTL_MS),
    LOG_LEVEL: "error",
  });
  try {
    const a = await stack.collector("a", "kraken");
    await stack.collector("b", "kraken");
    const relay = await stack.relay("relay", "kraken");
    for (const p of [a, relay]) while (!(await p.ready())) await Bun.sleep(100);
    const leader = await stack.leader("kraken");
    await Bun.sleep(2_000);
    const generation = RingReader.open(relay.ring, "latest").generation;
    leader.kill("SIGKILL");
    const killedAt = Date.now();
    for (;;) {
      try {
        const ring = RingReader.open(relay.ring, "latest");
        const next = ring.generation > generation ? ring.writerNextSeq() : 0;
        ring.close();
        if (next > 1) return Date.now() - killedAt;
      } catch {
        // between two generations
      }
      if (Date.now() - killedAt > 60_000) throw new Error("no new leader's record within 60 s");
      await Bun.sleep(5);
    }
  } finally {
    await stack.stop();
    await simulator.stop();
    await nats.stop();
  }
}

async function withCluster<T>(nodes: 1 | 3, work: (urls: string) => Promise<T>): Promise<T> {
  const nats = await NatsCluster.start(nodes);
  try {
    return await work(nats.urls);
  } finally {
    await nats.stop();
  }
}

const r1 = await withCluster(1, (urls) => throughput("jetstream", urls));
console.error("jetstream r1", r1);
const core = await withCluster(1, (urls) => throughput("core", urls));
console.error("core", core);
const r3 = await withCluster(3, (urls) => throughput("jetstream", urls));
console.error("jetstream r3", r3);
const hopJetstream = await withCluster(1, (urls) => latency("jetstream", urls));
const hopCore = await withCluster(1, (urls) => latency("core", urls));
console.error("latency", { jetstream: hopJetstream, core: hopCore });
const failoverMs = await failover();
rmSync(DIR, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bench: "fabric",
    throughput: {
      records_per_batch: RECORDS_PER_BATCH,
      jetstream_file_r1: r1,
      core_nats_baseline: core,
      jetstream_file_r3_three_nodes: r3,
      r1_vs_core: round(r1.records_per_s / core.records_per_s),
      goal_records_per_s: 1_000_000,
      goal_met: r1.records_per_s >= 1_000_000,
    },
    hop_latency_at_20k_batches_per_s: {
      records_per_batch: LATENCY_RECORDS_PER_BATCH,
      jetstream_file_r1: hopJetstream,
      core_nats_baseline: hopCore,
      p50_vs_core: round(hopJetstream.p50_us / hopCore.p50_us),
      p99_vs_core: round(hopJetstream.p99_us / hopCore.p99_us),
      goal_met: hopJetstream.p50_us <= 2_000 && hopJetstream.p99_us <= 20_000,
    },
    failover: {
      ms: failoverMs,
      lease_ttl_ms: LEASE_TTL_MS,
      goal_ms: LEASE_TTL_MS + 2_000,
      goal_met: failoverMs <= LEASE_TTL_MS + 2_000,
    },
  }),
);
