// `bun bench shm`: cross-process hop latency of the shared-memory ring at 100k records/s (writer
// woken every 1 ms, reader busy-polling in its own process), the maximum sustained rate with one writer
// and one reader, and the same records over a Unix domain socket for comparison. A plain C writer
// and reader doing the same work (shm-reference.c) run before and after the ring, when a C compiler
// is present: the ring's tail is judged against theirs, from the same minutes. A real broadcaster's
// pick-up on the same ring follows, and then a bare reader that builds each record's message as the
// broadcaster does: what the runtime itself costs a reader that makes a string a record, to tell
// the broadcaster's share of its pick-up tail from the runtime's. JSON line last.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { realtimeInto } from "../src/shm/clock.ts";
import { RecordFlag, RecordType } from "../src/shm/layout.ts";
import { sleepMicros } from "../src/shm/libc.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";
import { broadcasterEnv } from "../test/support/broadcaster.ts";
import { FROM_SOURCE, startBroadcasterProcess } from "../test/support/mode-process.ts";
import { httpStatus, waitFor } from "../test/support/wait.ts";
import {
  bucketCountsUs,
  bucketQuantilesUs,
  bucketsSince,
  HOP_BUCKETS_US,
  round,
  STALL_US,
  scrapeHistogram,
} from "./stats.ts";

const RATE = Number(process.env.SHM_BENCH_RATE ?? 100_000);
const SECONDS = Number(process.env.SHM_BENCH_SECONDS ?? 4);
// Records not counted at the start of each latency run (ring and C): 2 s, by which the bench's
// own pacing loop, compiled on a JIT thread once it has run for about 1.2 s, is at its top tier.
const WARMUP = RATE * 2;
const THROUGHPUT_RECORDS = Number(process.env.SHM_BENCH_RECORDS ?? 20_000_000);
const DIR = `/dev/shm/alphapulse-bench-${process.pid}`;
const PEER = `${import.meta.dir}/shm-peer.ts`;
const REFERENCE_SOURCE = `${import.meta.dir}/shm-reference.c`;

type Peer = ReturnType<typeof spawnPeer>;

function spawnPeer(args: string[]) {
  const child = Bun.spawn(["bun", PEER, ...args], { stdout: "pipe", stderr: "inherit" });
  const lines = readLines(child.stdout);
  return {
    child,
    next: () => lines.next().then((r) => JSON.parse(String(r.value)) as Record<string, number>),
  };
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk);
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
    }
  }
}

/**
 * Calls `writeOne` RATE times a second for `total` records, the C writer's way: wakes every 1 ms,
 * writes what is due, and blocks in a 1 ms nanosleep (no spinning, no event loop). Awaiting a
 * timer instead allocated a promise per wake-up: 3 to 5 eden collections of this process per
 * measured window, with their helper threads waking on a 2-core box where the reader spins.
 */
function paced(total: number, writeOne: () => void): void {
  const start = performance.now();
  let written = 0;
  while (written < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * RATE) / 1000));
    while (written < due) {
      writeOne();
      written++;
    }
    sleepMicros(1000);
  }
}

function newWriter(name: string, capacity: number, dir = DIR): RingWriter {
  return RingWriter.create({
    dir,
    name,
    exchange: "bench",
    capacity,
    bookDepth: 1,
    symbols: [{ venueSymbol: "BTCUSDT", symbol: "BTC-USDT", priceDecimals: 2, sizeDecimals: 8 }],
  });
}

/**
 * The ring's hop at RATE, read by a bench reader: alone ("ring-latency"), or building each
 * record's message as the broadcaster does ("ring-latency-messages").
 */
async function ringLatency(role: "ring-latency" | "ring-latency-messages") {
  const total = RATE * SECONDS + WARMUP;
  const writer = newWriter("latency", 1 << 16);
  const peer: Peer = spawnPeer([role, writer.path, String(total), String(WARMUP)]);
  await peer.next(); // ready
  paced(total, () => {
    writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 6_500_000, 1_000, writer.nextSeq);
  });
  const result = await peer.next();
  writer.close();
  return result;
}

const PICKUP_HISTOGRAM = "alphapulse_broadcast_pickup_latency_seconds";

/**
 * The same paced trades into a ring that a real `alphapulse broadcast` process follows: one
 * worker, busy-spin (it polls without pause, as the bench reader does), no client subscribed, so
 * its pick-up is the ring hop plus building each trade's message. Its histogram is scraped after
 * the warm-up and once the last record is read: the measured window's quantiles, from buckets.
 */
async function broadcasterPickup() {
  const dir = `${DIR}/broadcast`;
  mkdirSync(dir);
  const writer = newWriter("pickup", 1 << 16, dir);
  const env = broadcasterEnv(dir, { BROADCAST_WORKERS: "1", BROADCAST_IDLE_STRATEGY: "busy-spin" });
  const broadcaster = await startBroadcasterProcess(env, FROM_SOURCE);
  try {
    await waitFor("the broadcaster", async () => (await httpStatus(`${broadcaster.metrics}/ready`)) === 200);
    const trade = () => {
      // The pacing loop never yields to the event loop: the writer's heartbeat is beaten here.
      if (writer.nextSeq % 1024 === 0) writer.heartbeat();
      writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 6_500_000, 1_000, writer.nextSeq);
    };
    paced(WARMUP, trade);
    const before = await scrapeHistogram(broadcaster.metrics, PICKUP_HISTOGRAM);
    paced(RATE * SECONDS, trade);
    await Bun.sleep(100); // the last records are read
    const window = bucketsSince(await scrapeHistogram(broadcaster.metrics, PICKUP_HISTOGRAM), before);
    const [p50, p99] = bucketQuantilesUs(window, [0.5, 0.99]);
    // Records per bucket, as the ring's and C's `hist`, against the histogram's own bounds.
    return { count: window.at(-1)?.[1] ?? 0, p50_us: p50!, p99_us: p99!, hist: bucketCountsUs(window) };
  } finally {
    await broadcaster.process.stop();
    writer.close();
  }
}

/** Compiles the C reference with `cc -O2`; null (and says why) when there is no compiler. */
function buildReference(): string | null {
  const cc = Bun.which("cc");
  if (cc === null) {
    console.error(
      "no C compiler (cc) on PATH: the C reference is skipped and no ratio against it is reported",
    );
    return null;
  }
  const binary = `${DIR}/shm-reference`;
  const built = Bun.spawnSync([cc, "-O2", "-o", binary, REFERENCE_SOURCE], { stderr: "pipe" });
  if (built.exitCode !== 0) {
    console.error(
      `cc -O2 ${REFERENCE_SOURCE} failed, the C reference is skipped:\n${built.stderr.toString()}`,
    );
    return null;
  }
  return binary;
}

/** The C writer and reader at the same rate, for the same records, on the same ring shape. */
async function referenceLatency(binary: string) {
  const total = RATE * SECONDS + WARMUP;
  const child = Bun.spawn([binary, `${DIR}/reference.ring`, String(total), String(WARMUP), String(RATE)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const output = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`${binary} failed`);
  return JSON.parse(output.trim().split("\n").pop() ?? "") as Record<string, number>;
}

async function ringThroughput() {
  const capacity = 1 << 16;
  const writer = newWriter("throughput", capacity);
  const feedbackPath = `${DIR}/reader-position`;
  writeFileSync(feedbackPath, Buffer.alloc(8));
  const readerPosition = new Float64Array(Bun.mmap(feedbackPath).buffer, 0, 1);
  const peer = spawnPeer(["ring-throughput", writer.path, String(THROUGHPUT_RECORDS), feedbackPath]);
  // Back-pressure: never get more than most of a ring ahead of the reader, so nothing is lost.
  const limit = capacity - 8192;
  for (let i = 1; i <= THROUGHPUT_RECORDS; i++) {
    if ((i & 1023) === 0) {
      while (i - readerPosition[0]! > limit) await Bun.sleep(0);
    }
    writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, i, 1_000, i);
  }
  const result = await peer.next();
  writer.close();
  return result;
}

async function udsLatency() {
  const total = RATE * SECONDS + WARMUP;
  const socketPath = `${DIR}/bench.sock`;
  const peer = spawnPeer(["uds-latency", socketPath, String(total)]);
  await peer.next(); // listening
  // Bun's socket.write may take only part of a buffer; the rest goes with the next record, or
  // on `drain` once the event loop runs again.
  let backlog = Buffer.alloc(0);
  const flush = (s: { write(data: Buffer): number }) => {
    const written = s.write(backlog);
    backlog = backlog.subarray(Math.max(0, written));
  };
  const socket = await Bun.connect({ unix: socketPath, socket: { data() {}, drain: flush } });
  const times = new Uint32Array(2);
  let seq = 0;
  paced(total, () => {
    const record = Buffer.alloc(64);
    record.writeUInt32LE(++seq, 8);
    realtimeInto(times, 0);
    record.writeUInt32LE(times[0]!, 48);
    record.writeUInt32LE(times[1]!, 52);
    backlog = backlog.length === 0 ? record : Buffer.concat([backlog, record]);
    flush(socket);
  });
  while (backlog.length > 0) {
    flush(socket);
    await Bun.sleep(1);
  }
  const result = await peer.next();
  socket.end();
  return result;
}

rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
try {
  console.error(
    `hist: records per hop bucket, up to ${HOP_BUCKETS_US.join(", ")} us and above; stalls: runs of records above ${STALL_US} us (stalled: records in them)`,
  );
  const reference = buildReference();
  const before = reference === null ? null : await referenceLatency(reference);
  if (before) console.error(`C reference hop at ${RATE}/s, before: ${JSON.stringify(before)}`);
  const ring = await ringLatency("ring-latency");
  console.error(`ring hop at ${RATE}/s: ${JSON.stringify(ring)}`);
  const after = reference === null ? null : await referenceLatency(reference);
  if (after) console.error(`C reference hop at ${RATE}/s, after: ${JSON.stringify(after)}`);
  // The reference's figures are the mean of its runs just before and just after the ring's.
  const cP50 = before && after ? round((before.p50_us! + after.p50_us!) / 2) : null;
  const cP99 = before && after ? round((before.p99_us! + after.p99_us!) / 2) : null;
  const pickup = await broadcasterPickup();
  console.error(`broadcaster pick-up at ${RATE}/s (its histogram): ${JSON.stringify(pickup)}`);
  const withMessages = await ringLatency("ring-latency-messages");
  console.error(`ring hop at ${RATE}/s, the reader building each message: ${JSON.stringify(withMessages)}`);
  const uds = await udsLatency();
  console.error(`unix socket hop at ${RATE}/s: ${JSON.stringify(uds)}`);
  const throughput = await ringThroughput();
  console.error(`ring throughput: ${JSON.stringify(throughput)}`);
  const p50Ratio = round(uds.p50_us! / ring.p50_us!, 1);
  const goals = {
    p50_le_0_5_us: ring.p50_us! <= 0.5,
    p99_le_5_us: ring.p99_us! <= 5,
    rate_ge_5m: throughput.rate_per_s! >= 5_000_000,
    p50_20x_below_uds: p50Ratio >= 20,
    p99_le_1_5x_c: cP99 === null ? null : ring.p99_us! <= 1.5 * cP99,
    p50_le_c: cP50 === null ? null : ring.p50_us! <= cP50,
    pickup_p99_le_1_5x_c: cP99 === null ? null : pickup.p99_us <= 1.5 * cP99,
  };
  console.log(
    JSON.stringify({
      bench: "shm",
      rate_per_s: RATE,
      p50_us: ring.p50_us,
      p90_us: ring.p90_us,
      p99_us: ring.p99_us,
      p999_us: ring.p999_us,
      max_us: ring.max_us,
      lost: ring.lost,
      max_rate_per_s: throughput.rate_per_s,
      uds_p50_us: uds.p50_us,
      uds_p99_us: uds.p99_us,
      uds_over_ring_p50: p50Ratio,
      c_p50_us: cP50,
      c_p99_us: cP99,
      p99_vs_c: cP99 === null ? null : round(ring.p99_us! / cP99, 2),
      c_runs_p99_us: before && after ? [before.p99_us, after.p99_us] : null,
      pickup_p50_us: pickup.p50_us,
      pickup_p99_us: pickup.p99_us,
      pickup_p99_vs_c: cP99 === null ? null : round(pickup.p99_us / cP99, 2),
      reader_with_messages_p50_us: withMessages.p50_us,
      reader_with_messages_p99_us: withMessages.p99_us,
      pickup_p99_vs_reader_with_messages: round(pickup.p99_us / withMessages.p99_us!, 2),
      goals,
    }),
  );
} finally {
  rmSync(DIR, { recursive: true, force: true });
}
