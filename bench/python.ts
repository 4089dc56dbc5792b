// Python reader benchmark: what alphapulse_shm costs per record, and the hop latency from the
// TypeScript RingWriter to a Python reader in another process, on the shared CLOCK_REALTIME.
//
//   bun bench/python.ts            (the last stdout line is the JSON result)
//
// It runs itself as the paced writer (`--paced-writer DIR NAME spin|sleep RATE SECONDS`) next to
// bench/python_reader.py, so writer and reader are separate processes, each on its own core.
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { RecordFlag, RecordType } from "../src/shm/layout.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";

const READER = path.join(import.meta.dir, "python_reader.py");
const PYTHON = process.env.PYTHON ?? "python3";
const SYMBOLS = [{ venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }];
const DECODE_RECORDS = 200_000;
/** Two loads: a spin-paced writer at 20k records/s (two spinning processes on two cores, the
 * worst case here), and a writer that sleeps 1 ms between records (the reader spins alone). */
const HOP_RUNS = [
  { pacing: "spin", rate: 20_000, seconds: 3, warmup: 5_000 },
  { pacing: "sleep", rate: 1_000, seconds: 4, warmup: 300 },
] as const;
const TARGET_US = 10;

function openWriter(dir: string, name: string, capacity: number): RingWriter {
  return RingWriter.create({ dir, name, exchange: "bench", capacity, bookDepth: 1, symbols: SYMBOLS });
}

/** Trades as fast as possible into a ring that does not lap: the decode input. */
function writeBurst(dir: string): string {
  const writer = openWriter(dir, "decode", 262_144);
  writer.setFrameTimes(1, 2, 3, 4);
  for (let i = 0; i < DECODE_RECORDS; i++) {
    writer.append(RecordType.Trade, RecordFlag.BatchEnd | (i & 1), 0, 450_000 + (i % 1000), 1 + i, i);
  }
  writer.close();
  return writer.path;
}

/** One trade per batch, `rate` per second for `seconds`: spin-paced, or 1 ms sleeps ("sleep"). */
async function pacedWriter(
  dir: string,
  name: string,
  pacing: string,
  rate: number,
  seconds: number,
): Promise<void> {
  const writer = openWriter(dir, name, 65_536);
  writer.startHeartbeat();
  const interval = 1e9 / rate;
  const total = rate * seconds;
  let due = Bun.nanoseconds();
  for (let i = 0; i < total; i++) {
    if (pacing === "sleep") {
      await Bun.sleep(1);
    } else {
      due += interval;
      while (Bun.nanoseconds() < due) {
        // spin: a timer cannot pace 20k records/s; the reader spins on the other core
      }
      if (i % 10_000 === 0) await Bun.sleep(0); // let the heartbeat timer run
    }
    writer.setFrameTimes(0, 0, 0, 0);
    writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 450_000 + (i % 1000), 100_000_000, i);
  }
  writer.close();
  console.log(JSON.stringify({ written: total }));
}

/** Starts a command whose last stdout line is JSON; `result` is that JSON once it exits 0. */
function spawnJson(command: string[]): { child: Bun.Subprocess; result: Promise<unknown> } {
  const child = Bun.spawn(command, { stdout: "pipe", stderr: "inherit" });
  const result = (async () => {
    const out = await new Response(child.stdout).text();
    const code = await child.exited;
    if (code !== 0) throw new Error(`${command.join(" ")} exited ${code}`);
    return JSON.parse(out.trim().split("\n").at(-1) ?? "");
  })();
  return { child, result };
}

interface DecodeResult {
  records: number;
  pollNsPerRecord: number;
  withExactTextNsPerRecord: number;
  bulkNsPerRecord: number | null;
}

interface HopResult {
  samples: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
  gaps: number;
  clockStalls: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync("/dev/shm/ap-test-python-bench-");
  try {
    const decode = (await spawnJson([PYTHON, READER, "decode", writeBurst(dir)]).result) as DecodeResult;
    console.log(
      `decode: ${decode.pollNsPerRecord} ns/record to poll and decode, ${decode.withExactTextNsPerRecord} ns/record with exact decimal text, ${decode.bulkNsPerRecord ?? "(no numpy)"} ns/record in bulk (numpy)`,
    );
    const us = (ns: number) => Math.round(ns / 10) / 100;
    const hops: Record<string, number | string | boolean>[] = [];
    for (const run of HOP_RUNS) {
      const ringPath = path.join(dir, `hop-${run.pacing}.ring`);
      const reader = spawnJson([PYTHON, READER, "hop", ringPath, String(run.warmup)]);
      const writer = spawnJson([
        process.execPath,
        import.meta.path,
        "--paced-writer",
        dir,
        `hop-${run.pacing}`,
        run.pacing,
        String(run.rate),
        String(run.seconds),
      ]);
      // A writer that fails leaves the reader waiting on a live ring: stop it rather than hang.
      const failed = writer.result.catch((error: unknown) => {
        reader.child.kill();
        throw error;
      });
      const [hop] = (await Promise.all([reader.result, failed])) as [HopResult, unknown];
      console.log(
        `hop TS writer -> Python reader, ${run.pacing}-paced writer at ${run.rate}/s: p50 ${us(hop.p50Ns)} us, p90 ${us(hop.p90Ns)} us, p99 ${us(hop.p99Ns)} us, p99.9 ${us(hop.p999Ns)} us, max ${us(hop.maxNs)} us over ${hop.samples} records (${hop.gaps} gaps, ${hop.clockStalls} writer clock stalls)`,
      );
      hops.push({
        pacing: run.pacing,
        ratePerSec: run.rate,
        samples: hop.samples,
        p50Us: us(hop.p50Ns),
        p90Us: us(hop.p90Ns),
        p99Us: us(hop.p99Ns),
        p999Us: us(hop.p999Ns),
        maxUs: us(hop.maxNs),
        gaps: hop.gaps,
        writerClockStalls: hop.clockStalls,
        p99UnderTarget: hop.clockStalls === 0 && hop.p99Ns < TARGET_US * 1000,
      });
    }
    console.log(
      JSON.stringify({
        bench: "python",
        python: PYTHON,
        decodeNsPerRecord: decode.pollNsPerRecord,
        withExactTextNsPerRecord: decode.withExactTextNsPerRecord,
        bulkNsPerRecord: decode.bulkNsPerRecord,
        targetUs: TARGET_US,
        hop: hops,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--paced-writer") {
  const [dir = "", name = "", pacing = "", rate = "", seconds = ""] = process.argv.slice(3);
  await pacedWriter(dir, name, pacing, Number(rate), Number(seconds));
} else {
  await main();
}
