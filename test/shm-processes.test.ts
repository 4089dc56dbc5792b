// The ring across real processes on a real /dev/shm file: one writer at full speed into a small
// ring and two readers that get lapped, then a writer killed with SIGKILL and restarted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { RecordView, RingReader } from "../src/shm/ring-reader.ts";
import { recordIsIntact } from "./support/stress-record.ts";
import { waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-shmproc-${process.pid}`;
const SUPPORT = `${import.meta.dir}/support`;

beforeAll(() => mkdirSync(DIR, { recursive: true }));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

interface ReaderReport {
  delivered: number;
  lost: number;
  bad: number;
  outOfOrder: number;
  gaps: number;
  position: number;
}

test("10 million records, one writer, two lapped readers: nothing torn, every loss counted exactly", async () => {
  const count = 10_000_000;
  const path = `${DIR}/stress.ring`;
  const writer = Bun.spawn(
    ["bun", `${SUPPORT}/stress-writer.ts`, DIR, "stress", "1024", String(count), "0"],
    {
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  await waitFor("the ring file", () => existsSync(path), { intervalMs: 5 });
  const readers = [0, 1].map(() =>
    Bun.spawn(["bun", `${SUPPORT}/stress-reader.ts`, path, String(count)], {
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  const reports = await Promise.all(
    readers.map(async (reader) => {
      const output = await new Response(reader.stdout).text();
      expect(await reader.exited).toBe(0);
      return JSON.parse(output.trim().split("\n").pop() ?? "{}") as ReaderReport;
    }),
  );
  expect(await writer.exited).toBe(0);
  for (const report of reports) {
    expect(report.bad).toBe(0);
    expect(report.outOfOrder).toBe(0);
    expect(report.delivered + report.lost).toBe(count);
    expect(report.position).toBe(count + 1);
    // A 1024-slot ring written at full speed laps its readers: the test must exercise that path.
    expect(report.gaps).toBeGreaterThan(0);
    expect(report.delivered).toBeGreaterThan(1024);
  }
}, 240_000);

test("a writer killed with SIGKILL mid-stream and restarted: the reader re-attaches and continues", async () => {
  const path = `${DIR}/crash.ring`;
  const start = () =>
    Bun.spawn(["bun", `${SUPPORT}/stress-writer.ts`, DIR, "crash", "4096", "0", "20000"], {
      stdout: "ignore",
      stderr: "inherit",
    });
  const first = start();
  await waitFor("the first ring", () => existsSync(path), { intervalMs: 5 });
  let reader = RingReader.open(path, 1);
  const view = new RecordView();
  let delivered = 0;
  let bad = 0;
  const sink = {
    record(r: RecordView) {
      delivered++;
      if (!recordIsIntact(r)) bad++;
    },
    gap() {},
  };
  await waitFor(
    "records from the first writer",
    () => {
      reader.poll(sink, view);
      return delivered > 2000;
    },
    { intervalMs: 5 },
  );
  first.kill("SIGKILL");
  await first.exited;
  reader.poll(sink, view);
  const firstGeneration = reader.generation;
  const fromFirst = delivered;
  expect(reader.replaced()).toBe(false); // a dead writer's file stays until someone replaces it

  const second = start();
  try {
    await waitFor("the new generation to replace the old file", () => reader.replaced(), { intervalMs: 5 });
    reader.close();
    reader = RingReader.open(path, 1);
    expect(reader.generation).toBe(firstGeneration + 1);
    const seqsAfter: number[] = [];
    await waitFor(
      "records from the restarted writer",
      () => {
        reader.poll(
          {
            record(r) {
              sink.record(r);
              seqsAfter.push(r.seq);
            },
            gap() {},
          },
          view,
        );
        return seqsAfter.length > 2000;
      },
      { intervalMs: 5 },
    );
    expect(seqsAfter[0]).toBe(1);
    expect(seqsAfter.every((s, i) => s === i + 1)).toBe(true);
    expect(delivered).toBeGreaterThan(fromFirst);
    expect(bad).toBe(0);
  } finally {
    second.kill("SIGKILL");
    await second.exited;
    reader.close();
  }
}, 60_000);
