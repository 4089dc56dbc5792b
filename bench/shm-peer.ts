// The reading side of bench/shm.ts, in its own process: a ring reader that busy-polls (the one
// spinning process allowed on a 2-core box), alone or building each record's message as the
// broadcaster does, or a Unix-socket server driven by its event loop. Prints its measurements as
// one JSON line.
import { mmap } from "bun";
import { tradeMessage } from "../src/broadcast/ring-follower.ts";
import { Sightings } from "../src/broadcast/sightings.ts";
import { Topic } from "../src/broadcast/topic.ts";
import { ClockBridge, nanosSince, realtimeInto } from "../src/shm/clock.ts";
import { RecordView, RingReader } from "../src/shm/ring-reader.ts";
import { latencySummaryUs, tailShape } from "./stats.ts";

const [role = "", target = "", countText = "0", extra = ""] = process.argv.slice(2);
const count = Number(countText);

/** A broadcaster's default history of a topic's last messages (BROADCAST_HISTORY). */
const HISTORY = 1024;

/**
 * The broadcaster's own work on a trade, without the broadcaster: its message built as the
 * follower builds it and kept in a topic's history. A bare runtime process making one message
 * string a record: the pick-up it could have, to judge the broadcaster's against.
 */
function tradeMessages(): (record: RecordView) => void {
  const topic = new Topic({ channel: "trades", exchange: "bench", symbol: "BTC-USDT" }, HISTORY);
  topic.reset(0);
  return (r) => {
    const seq = topic.position + 1;
    topic.record(seq, tradeMessage(topic.name, seq, r, 2, 8));
  };
}

/**
 * Measures every record's hop: writer publish time to this process seeing it. The clock is read
 * once after each poll and charged to every record that poll returned (conservative for all but
 * the last), so that timing does not slow the reader down.
 */
function measureRingLatency(path: string, count: number, warmup: number) {
  const reader = RingReader.open(path, 1);
  // Written through once now: its pages fault in here, not inside the measured window.
  const samples = new Float64Array(count).fill(1);
  const publishSec = new Float64Array(64);
  const publishNsec = new Float64Array(64);
  let batch = 0;
  let lost = 0;
  const view = new RecordView();
  const sink = {
    record(r: RecordView) {
      publishSec[batch] = r.publishSec;
      publishNsec[batch++] = r.publishNsec;
    },
    gap(_from: number, k: number) {
      lost += k;
    },
  };
  const now = new Uint32Array(2);
  console.log(JSON.stringify({ ready: true }));
  let seen = 0;
  while (seen + lost < count) {
    batch = 0;
    if (reader.poll(sink, view, 64) === 0) continue;
    realtimeInto(now, 0);
    // Every record is timed the same way from the first: a branch first taken when the warm-up
    // ends would send the compiled loop back to the interpreter inside the measured window.
    for (let i = 0; i < batch; i++) {
      samples[seen++] = (now[0]! - publishSec[i]!) * 1e9 + (now[1]! - publishNsec[i]!);
    }
  }
  const measured = samples.subarray(Math.min(warmup, seen), seen);
  const shape = tailShape(measured); // before the summary sorts the samples
  return { lost, ...latencySummaryUs(measured), ...shape };
}

/**
 * The hop of a reader that does `work` on each record as it reads it, timed as the broadcaster
 * times its pick-up: with its Sightings (before each record the writer's cursor is loaded, and a
 * record counts as seen at the first load that covered it), and each poll's commits put on this
 * process's clock from one reading of the shared clock, as the ring hub does per poll round. A
 * stall in `work` delays seeing only the records committed during it.
 */
function measureSightedLatency(path: string, count: number, warmup: number, work: (r: RecordView) => void) {
  const reader = RingReader.open(path, 1);
  const samples = new Float64Array(count).fill(1);
  const sightings = new Sightings();
  const clock = new ClockBridge();
  let clockRead = false; // this poll's
  let seen = 0;
  let lost = 0;
  const sink = {
    record(r: RecordView) {
      sightings.look(reader.writerNextSeq(), r.seq);
      if (!clockRead) {
        clock.read();
        clockRead = true;
      }
      samples[seen++] = sightings.atMs * 1e6 - clock.localNs(r.publishSec, r.publishNsec);
      work(r);
    },
    gap(_from: number, k: number) {
      lost += k;
    },
  };
  const view = new RecordView();
  console.log(JSON.stringify({ ready: true }));
  while (seen + lost < count) {
    clockRead = false;
    reader.poll(sink, view, 64);
  }
  const measured = samples.subarray(Math.min(warmup, seen), seen);
  const shape = tailShape(measured);
  return { lost, ...latencySummaryUs(measured), ...shape };
}

if (role === "ring-latency") {
  console.log(JSON.stringify(measureRingLatency(target, count, Number(extra))));
} else if (role === "ring-latency-messages") {
  console.log(JSON.stringify(measureSightedLatency(target, count, Number(extra), tradeMessages())));
} else if (role === "ring-throughput") {
  // Count records as fast as possible, publishing our position so the writer never laps us.
  const reader = RingReader.open(target, 1);
  const position = new Float64Array(mmap(extra).buffer, 0, 1);
  const view = new RecordView();
  let n = 0;
  let lost = 0;
  let checksum = 0;
  const sink = {
    record(r: RecordView) {
      checksum += r.price;
      n++;
    },
    gap(_from: number, k: number) {
      lost += k;
    },
  };
  let started = 0;
  while (n + lost < count) {
    if (reader.poll(sink, view, 4096) > 0) {
      if (started === 0) started = performance.now();
      position[0] = reader.position;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ records: n, lost, seconds, rate_per_s: Math.round(n / seconds), checksum }));
} else if (role === "uds-latency") {
  // The alternative a user would pick: the same 64-byte records over a Unix domain socket.
  const samples = new Float64Array(count);
  let n = 0;
  let pending = Buffer.alloc(0);
  const server = Bun.listen({
    unix: target,
    socket: {
      data(_socket, chunk) {
        pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
        let at = 0;
        for (; at + 64 <= pending.length; at += 64) {
          samples[n++] = nanosSince(pending.readUInt32LE(at + 48), pending.readUInt32LE(at + 52));
        }
        pending = pending.subarray(at);
        if (n >= count) {
          console.log(JSON.stringify(latencySummaryUs(samples.subarray(0, n))));
          server.stop(true);
          process.exit(0);
        }
      },
    },
  });
  console.log(JSON.stringify({ listening: target }));
} else {
  throw new Error(`unknown role ${role}`);
}
