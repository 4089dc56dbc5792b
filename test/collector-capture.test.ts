// Capture and replay, with real processes: a collector records its session against the
// simulator (CAPTURE_PATH), then `alphapulse replay` feeds those files through the same venue
// adapter into a second ring. The replayed ring ends with exactly the live ring's books.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { CaptureFile, parseCapture } from "../src/collector/capture.ts";
import { EXCHANGE_NAMES, type ExchangeName } from "../src/exchanges/registry.ts";
import { type FaultKind, type Simulator, startSimulator } from "../src/simulator/index.ts";
import { startCollectorProcess } from "./support/mode-process.ts";
import { REPO_ROOT } from "./support/ops-source-settings.ts";
import { dumpRing } from "./support/ring-truth.ts";
import { httpStatus, waitFor } from "./support/wait.ts";

const SYMBOLS = ["BTC-USD", "ETH-USD"];
const DIR = `/dev/shm/ap-test-collector-capture-${process.pid}`;

let simulator: Simulator;
beforeAll(() => {
  simulator = startSimulator({
    hostname: "127.0.0.1",
    symbols: SYMBOLS,
    seed: 3,
    bookLevels: 200,
  });
});
afterAll(async () => {
  await simulator.stop();
  rmSync(DIR, { recursive: true, force: true });
});

/**
 * Per registered venue: a fault that makes it resync (so the capture holds one), and how many
 * capture files its session writes (one per connection, plus the REST answers where it has REST).
 */
const CAPTURES: Record<ExchangeName, { readonly resyncFault: FaultKind; readonly files: number }> = {
  kraken: { resyncFault: "corrupt-checksum", files: 1 },
  binance: { resyncFault: "skip-sequence", files: 2 },
  coinbase: { resyncFault: "skip-sequence", files: 4 },
  okx: { resyncFault: "skip-sequence", files: 2 },
};

describe("capture and replay", () => {
  for (const venue of EXCHANGE_NAMES) {
    test(`${venue}: replaying the capture rebuilds the live ring's final books exactly`, async () => {
      const captureDir = `${DIR}/${venue}-capture`;
      const env = {
        EXCHANGE: venue,
        SYMBOLS: SYMBOLS.join(","),
        BOOK_DEPTH: "10",
        SHARED_MEMORY_PATH: DIR,
      };
      const collector = await startCollectorProcess(venue, simulator.urls, {
        ...env,
        CAPTURE_PATH: captureDir,
      });
      const ready = async () => (await httpStatus(`${collector.metrics}/ready`)) === 200;
      try {
        await waitFor("ready", ready, { timeoutMs: 30_000, intervalMs: 50 });
        // Some live traffic, including a resync, goes into the capture.
        simulator.inject(venue, CAPTURES[venue].resyncFault, "BTC-USD");
        await Bun.sleep(2_000);
        await waitFor("ready again", ready, { timeoutMs: 30_000, intervalMs: 50 });
      } finally {
        expect(await collector.process.stop()).toBe(0);
      }
      const live = await dumpRing(`${DIR}/${venue}.ring`, 10);

      const files = readdirSync(captureDir).map((f) => `${captureDir}/${f}`);
      // One file per connection, plus the REST answers where the venue has REST.
      expect(files.length).toBe(CAPTURES[venue].files);
      for (const file of files) {
        for (const line of readFileSync(file, "utf8").split("\n")) {
          if (line === "") continue;
          expect(line).toMatch(
            /^(\d+\.\d{6}: .|\S+ <-> \d+\.\d{6}$|\S+ <- \d+\.\d{6}: .|\S+ -> \d+\.\d{6}: .)/,
          );
        }
      }

      const replay = Bun.spawn(["bun", "src/main.ts", "replay", ...files], {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env, LOG_LEVEL: "error", RING_NAME: `${venue}-replayed` },
        stdout: "pipe",
        stderr: "inherit",
      });
      const output = await new Response(replay.stdout).text();
      expect(await replay.exited).toBe(0);
      const summary = JSON.parse(output.trim().split("\n").at(-1)!) as {
        frames: number;
        parseErrors: number;
        validBooks: string[];
      };
      expect(summary.frames).toBeGreaterThan(20);
      expect(summary.parseErrors).toBe(0);
      expect(summary.validBooks).toEqual(SYMBOLS);
      expect(await dumpRing(`${DIR}/${venue}-replayed.ring`, 10)).toEqual(live);
    }, 90_000);
  }
});

describe("capture files", () => {
  test("rotate by size and read back line for line", () => {
    const dir = `${DIR}/rotation`;
    const file = new CaptureFile(dir, "kraken-kraken", 1_000);
    file.connect("ws://127.0.0.1:1/kraken/v2", 1.5);
    for (let i = 0; i < 50; i++) file.frame(1_700_000_000 + i / 1000, `{"channel":"heartbeat","n":${i}}`);
    file.close();
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(1);
    const entries = files.flatMap((f) => parseCapture(readFileSync(`${dir}/${f}`, "utf8")));
    expect(entries[0]).toEqual({ kind: "connect", epoch: 1.5, url: "ws://127.0.0.1:1/kraken/v2" });
    const frames = entries.filter((e) => e.kind === "frame");
    expect(frames.map((e) => (e.kind === "frame" ? JSON.parse(e.text).n : -1))).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
  });
});
