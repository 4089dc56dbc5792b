// One side of `bun bench fabric`, in its own process: a leader that writes ring batches as fast as
// the stream takes them (or at a set rate) and publishes them, or a relay that copies them into a
// ring and times each batch from the leader's commit (the publish time in its records) to its own.
// Transport "jetstream" is the fabric itself (FabricPublisher, Relay); "core" sends the same
// messages over core NATS into the same ring copy: the baseline.
//
//   bun bench/fabric-peer.ts leader <jetstream|core> URLS DIR BATCHES RECORDS_PER_BATCH RATE
//   bun bench/fabric-peer.ts relay <jetstream|core> URLS DIR EXPECTED_RECORDS
// RATE is batches per second, 0 = as fast as the stream takes them. Each prints JSON lines.
import { connect } from "@nats-io/transport-node";
import type { FabricConfig } from "../src/fabric/config.ts";
import { connectFabric } from "../src/fabric/link.ts";
import { FabricStats } from "../src/fabric/metrics.ts";
import { venueNames } from "../src/fabric/names.ts";
import { claimStream, FabricPublisher } from "../src/fabric/publisher.ts";
import { Relay } from "../src/fabric/relay.ts";
import { RingCopy } from "../src/fabric/ring-copy.ts";
import { decodeGeneration, generationMessage, leaderHeaders } from "../src/fabric/wire.ts";
import { Logger } from "../src/log.ts";
import { nanosSince, realtimeInto } from "../src/shm/clock.ts";
import { RecordFlag, RecordType } from "../src/shm/layout.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";
import { latencySummaryUs } from "./stats.ts";

const [role, transport, urls = "", dir = "", ...rest] = process.argv.slice(2);
const log = new Logger("error");
const names = venueNames("bench");
const CORE_SUBJECT = "bench.core.records";
const CORE_GENERATION = "bench.core.generation";
const CAPACITY = 1 << 20;
/** Hop-latency histogram bucket bounds, ms (the last bucket is everything above). */
const BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100];

const config: FabricConfig = {
  servers: urls.split(","),
  leaseTtlMs: 15_000,
  publishWindow: 4096,
  bufferBytes: 1 << 30,
  ackTimeoutMs: 5_000,
  booksIntervalMs: 2_000,
  maxAgeSeconds: 3_600,
  maxBytes: 8 << 30,
  replicas: 0,
  staleMs: 2_000,
  relayIdleMs: 3_000,
};

function say(fields: Record<string, unknown>): void {
  console.log(JSON.stringify(fields));
}

function nowMs(): number {
  const t = new Uint32Array(2);
  realtimeInto(t, 0);
  return t[0]! * 1000 + t[1]! / 1e6;
}

async function leader(batches: number, perBatch: number, rate: number): Promise<void> {
  const writer = RingWriter.create({
    dir,
    name: "leader",
    exchange: "bench",
    capacity: CAPACITY,
    bookDepth: 1,
    symbols: [{ venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }],
  });
  const stats = new FabricStats();
  let finish: () => Promise<void>;
  if (transport === "jetstream") {
    const link = await connectFabric(config, names, log, "bench leader");
    const claim = await claimStream(link, "bench", log);
    const publisher = new FabricPublisher({
      link,
      writer,
      claim,
      config,
      stats,
      log,
      onFenced: () => process.exit(3),
    });
    publisher.begin();
    finish = async () => {
      await publisher.drain(120_000);
      publisher.stop();
      await link.close();
    };
  } else {
    const nc = await connect({ servers: config.servers });
    const h = leaderHeaders(1, 1, 0);
    nc.publish(CORE_GENERATION, generationMessage(writer, h), { headers: h });
    writer.observe({
      committed(first, last) {
        const body = new Uint8Array((last - first + 1) * 64);
        writer.copyRecords(first, last - first + 1, body);
        nc.publish(CORE_SUBJECT, body);
      },
    });
    finish = async () => {
      await nc.flush();
      await nc.close();
    };
  }
  const times = new Uint32Array(2);
  const startedAt = nowMs();
  let written = 0;
  const writeBatch = () => {
    realtimeInto(times, 0);
    writer.setFrameTimes(times[0]!, times[1]!, times[0]!, times[1]!);
    for (let r = 0; r < perBatch; r++) {
      writer.append(
        RecordType.Trade,
        r === perBatch - 1 ? RecordFlag.BatchEnd : 0,
        0,
        600_000 + r,
        1 + written,
        written,
      );
    }
    written++;
  };
  while (written < batches) {
    if (rate > 0) {
      const due = Math.min(batches, Math.floor(((nowMs() - startedAt) * rate) / 1000));
      while (written < due) writeBatch();
      await Bun.sleep(1);
    } else {
      for (let i = 0; i < 256 && written < batches; i++) writeBatch();
      // Let acknowledgements in; hold back while the stream is far behind.
      if (stats.bufferedBytes > 64 << 20) await Bun.sleep(2);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const wroteAt = nowMs();
  await finish();
  const cpu = process.cpuUsage();
  say({
    role,
    startedAt,
    wroteAt,
    doneAt: nowMs(),
    records: written * perBatch,
    cpuUsPerBatch: (cpu.user + cpu.system) / written,
    publishErrors: [...stats.publishErrors],
  });
  writer.close();
}

async function relay(expected: number): Promise<void> {
  let records = 0;
  let firstAt = 0;
  let lastAt = 0;
  const samples = new Float64Array(1 << 21);
  let sampled = 0;
  let messages = 0;
  const histogram = new Array<number>(BUCKETS_MS.length + 1).fill(0);
  const worst: number[] = [];
  /** Times each batch of a message just applied: from the publish time in its last record to now. */
  const timed = (apply: (subject: string, body: Uint8Array) => ReturnType<RingCopy["applyRecords"]>) => {
    return (subject: string, body: Uint8Array) => {
      const result = apply(subject, body);
      if (result !== "applied") return result;
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      for (let at = 0; at < body.byteLength; at += 64) {
        const batchEnd = (view.getUint8(at + 5) & RecordFlag.BatchEnd) !== 0;
        if (!batchEnd || sampled >= samples.length) continue;
        const ns = nanosSince(view.getUint32(at + 48, true), view.getUint32(at + 52, true));
        samples[sampled++] = ns;
        let bucket = 0;
        while (bucket < BUCKETS_MS.length && ns >= BUCKETS_MS[bucket]! * 1e6) bucket++;
        histogram[bucket]!++;
        // The worst hop of each 100 ms: periodic stalls show as evenly spaced peaks.
        const window = Math.floor((nowMs() - (firstAt || nowMs())) / 100);
        worst[window] = Math.max(worst[window] ?? 0, ns / 1e6);
      }
      records += body.byteLength / 64;
      messages++;
      lastAt = nowMs();
      if (firstAt === 0) firstAt = lastAt;
      return result;
    };
  };
  let stop: () => Promise<void>;
  if (transport === "jetstream") {
    const link = await connectFabric(config, names, log, "bench relay");
    const stats = new FabricStats();
    const follower = new Relay({ link, dir, ringName: "relay", capacity: CAPACITY, config, stats, log });
    const copy = follower.copy;
    copy.applyRecords = timed(copy.applyRecords.bind(copy));
    await follower.start();
    stop = async () => {
      follower.stop();
      await link.close();
    };
  } else {
    const nc = await connect({ servers: config.servers });
    const copy = new RingCopy({ dir, name: "relay", exchange: "bench", capacity: CAPACITY, log });
    const apply = timed(copy.applyRecords.bind(copy));
    nc.subscribe(CORE_GENERATION, {
      callback: (_e, m) =>
        copy.begin(decodeGeneration(m.subject, m.headers, m.data), null, { createdMs: 0, seq: 0 }),
    });
    nc.subscribe(CORE_SUBJECT, {
      callback: (_e, m) => {
        apply(m.subject, m.data);
      },
    });
    await nc.flush();
    stop = async () => {
      copy.close();
      await nc.close();
    };
  }
  say({ role, ready: true });
  const deadline = Date.now() + 180_000;
  while (records < expected && Date.now() < deadline) await Bun.sleep(5);
  const cpu = process.cpuUsage();
  say({
    role,
    firstAt,
    lastAt,
    records,
    messages,
    cpuUsPerBatch: (cpu.user + cpu.system) / Math.max(1, sampled),
    latency: latencySummaryUs(samples.subarray(0, sampled)),
    histogramMs: Object.fromEntries(
      histogram.map((n, i) => [i < BUCKETS_MS.length ? `<${BUCKETS_MS[i]}` : "more", n]),
    ),
    stallsOver10Ms: worst
      .flatMap((ms, i) => (ms > 10 ? [`${i * 100}ms:${Math.round(ms)}`] : []))
      .slice(0, 40),
  });
  await stop();
}

if (role === "leader") await leader(Number(rest[0]), Number(rest[1]), Number(rest[2]));
else if (role === "relay") await relay(Number(rest[0]));
else throw new Error(`unknown role ${role}`);
process.exit(0);
