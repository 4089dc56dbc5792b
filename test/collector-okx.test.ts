// The OKX collector as a real process against the simulator over real WebSockets, where the shared
// run of test/collector-simulator.test.ts (checksum 0, depth 10) does not reach: with real
// checksums on, the ring's books equal the true books 50 levels deep (past the 25 a checksum
// covers), what guards each book is reported (metric and a broadcaster's REST), every OKX fault is detected (corrupt-checksum, and a
// rate-limit that refuses a resubscribe, included), only the instrument concerned resyncs and the
// books are exact again after; each trade reaches the ring once, also across a make-before-break
// rollover; and a quiet connection is kept open by the text ping.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { RecordType } from "../src/shm/layout.ts";
import { RecordView, RingReader } from "../src/shm/ring-reader.ts";
import { type FaultKind, type Simulator, startSimulator } from "../src/simulator/index.ts";
import { startTestBroadcaster } from "./support/broadcaster.ts";
import { collectorReady, integrityReadings, metricSum } from "./support/collector-readings.ts";
import { type CollectorProcess, startCollectorProcess } from "./support/mode-process.ts";
import { expectRingsEqualTruth } from "./support/ring-truth.ts";
import { waitFor } from "./support/wait.ts";

const SYMBOLS = ["BTC-USDT", "ETH-USDT"];
const DEPTH = 50;
const DIR = `/dev/shm/ap-test-collector-okx-${process.pid}`;
const BTC = { symbol: "BTC-USDT" };

afterAll(() => {
  rmSync(DIR, { recursive: true, force: true });
});

/** How the waits on a collector's HTTP endpoints poll; a resync can take a while on a loaded machine. */
const POLL = { timeoutMs: 45_000, intervalMs: 50 };

interface OkxCollector extends CollectorProcess {
  readonly ring: string;
}

/** `alphapulse collect` of OKX against `simulator`, its ring in a folder of its own under DIR. */
async function startOkxCollector(
  simulator: Simulator,
  name: string,
  symbols: readonly string[],
  depth: number,
): Promise<OkxCollector> {
  const dir = `${DIR}/${name}`;
  const started = await startCollectorProcess("okx", simulator.urls, {
    SYMBOLS: symbols.join(","),
    BOOK_DEPTH: String(depth),
    SHARED_MEMORY_PATH: dir,
  });
  return { ...started, ring: `${dir}/okx.ring` };
}

/** Every trade record in the ring: [symbol id, trade id]. */
function ringTrades(ring: string): [number, number][] {
  const reader = RingReader.open(ring, "oldest");
  const trades: [number, number][] = [];
  reader.poll(
    {
      record: (r) => {
        if (r.type === RecordType.Trade) trades.push([r.symbolId, r.aux]);
      },
      gap: () => {
        throw new Error("the test ring lapped its reader");
      },
    },
    new RecordView(),
  );
  reader.close();
  return trades;
}

interface FaultCase {
  readonly kind: FaultKind;
  /** Metrics whose sum must grow: the fault was seen. */
  readonly detectedBy: [string, Record<string, string>][];
  /** The fault concerns BTC-USDT alone: ETH-USDT must not resync. */
  readonly symbolOnly: boolean;
  /** Nothing may resync at all (a make-before-break rollover). */
  readonly seamless?: boolean;
  /** Injected right after the fault, to make it matter. */
  readonly also?: readonly FaultKind[];
}

async function runFault(simulator: Simulator, collector: OkxCollector, fault: FaultCase): Promise<void> {
  const detected = async () => {
    let sum = 0;
    for (const [name, labels] of fault.detectedBy) sum += await metricSum(collector.metrics, name, labels);
    return sum;
  };
  const before = await detected();
  const ethResyncs = await metricSum(collector.metrics, "alphapulse_book_resyncs_total", {
    symbol: "ETH-USDT",
  });
  const allResyncs = await metricSum(collector.metrics, "alphapulse_book_resyncs_total");
  const symbol = fault.symbolOnly ? "BTC-USDT" : undefined;
  simulator.inject("okx", fault.kind, symbol);
  for (const kind of fault.also ?? []) simulator.inject("okx", kind, symbol);
  await waitFor(`${fault.kind} detected`, async () => (await detected()) > before, POLL);
  await waitFor("ready again", () => collectorReady(collector.metrics), POLL);
  if (fault.symbolOnly) {
    expect(await metricSum(collector.metrics, "alphapulse_book_resyncs_total", { symbol: "ETH-USDT" })).toBe(
      ethResyncs,
    );
  }
  if (fault.seamless) {
    // Past the simulator's close of the old connection (5 s after its notice).
    await Bun.sleep(5_500);
    expect(await metricSum(collector.metrics, "alphapulse_book_resyncs_total")).toBe(allResyncs);
    expect(await metricSum(collector.metrics, "alphapulse_book_valid")).toBe(SYMBOLS.length);
  }
  await expectRingsEqualTruth(simulator, "okx", [collector.ring], SYMBOLS, DEPTH);
}

describe("okx collector against the simulator, checksums on", () => {
  let simulator: Simulator;
  let collector: OkxCollector;
  beforeAll(async () => {
    simulator = startSimulator({
      port: 0,
      symbols: SYMBOLS,
      seed: 21,
      updatesPerSecond: 40,
      tradesPerSecond: 5,
      bookLevels: 300,
      okx: { checksums: true },
    });
    collector = await startOkxCollector(simulator, "checksums", SYMBOLS, DEPTH);
    await waitFor("okx collector ready", () => collectorReady(collector.metrics), POLL);
  });
  afterAll(async () => {
    await collector.process.stop();
    await simulator.stop();
  });

  test("ring books equal the true books, 50 levels deep, each guarded by its checksum and its seqId chain", async () => {
    await expectRingsEqualTruth(simulator, "okx", [collector.ring], SYMBOLS, DEPTH);
    expect(await metricSum(collector.metrics, "alphapulse_checksum_mismatches_total")).toBe(0);
    expect(await metricSum(collector.metrics, "alphapulse_sequence_gaps_total")).toBe(0);
    for (const check of ["checksum", "sequence"]) {
      expect(await metricSum(collector.metrics, "alphapulse_book_integrity", { check })).toBe(SYMBOLS.length);
    }
    // A broadcaster over the ring says so in REST too.
    const broadcaster = startTestBroadcaster(`${DIR}/checksums`);
    try {
      const both = ["checksum", "sequence"];
      for (const symbol of SYMBOLS) {
        const read = () => integrityReadings(collector.metrics, broadcaster.http, "okx", symbol);
        await waitFor(`okx ${symbol} served`, async () => (await read()) !== null, POLL);
        expect(await read()).toEqual({ listed: both, book: both, metric: both });
      }
    } finally {
      await broadcaster.stop();
    }
  }, 60_000);

  // The seqId faults, garbage and disconnect run in the shared run (checksum 0); here what needs
  // checksums on, or a second fault, or this test's trade check after a rollover.
  const faults: FaultCase[] = [
    {
      kind: "corrupt-checksum",
      detectedBy: [["alphapulse_checksum_mismatches_total", BTC]],
      symbolOnly: true,
    },
    {
      // Both requests of the resubscribe a broken chain asks for are refused: the collector's
      // snapshot watchdog asks again 10 s later.
      kind: "rate-limit",
      also: ["rate-limit", "skip-sequence"],
      detectedBy: [["alphapulse_messages_received_total", { type: "error" }]],
      symbolOnly: true,
    },
    {
      kind: "server-shutdown",
      detectedBy: [["alphapulse_messages_received_total", { type: "notice" }]],
      symbolOnly: false,
      seamless: true,
    },
  ];
  for (const fault of faults) {
    const outcome = fault.seamless
      ? "nothing resyncs"
      : fault.symbolOnly
        ? "only BTC-USDT resyncs"
        : "recovers";
    test(
      `${fault.kind}: detected, ${outcome}, books exact after`,
      () => runFault(simulator, collector, fault),
      90_000,
    );
  }

  test("each trade reached the ring once, the rollover's overlap included", async () => {
    const trades = ringTrades(collector.ring);
    expect(trades.length).toBeGreaterThan(50);
    const keys = trades.map(([symbolId, id]) => `${symbolId}/${id}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(await metricSum(collector.metrics, "alphapulse_trade_duplicates_total")).toBeGreaterThan(0);
  });
});

describe("okx keepalive", () => {
  test("a connection with nothing to say is kept open by the text ping, answered by pong", async () => {
    const simulator = startSimulator({
      port: 0,
      symbols: ["BTC-USDT"],
      updatesPerSecond: 0,
      tradesPerSecond: 0,
    });
    const collector = await startOkxCollector(simulator, "keepalive", ["BTC-USDT"], 10);
    try {
      await waitFor("ready", () => collectorReady(collector.metrics), POLL);
      // OKX closes a connection that was sent nothing for 30 s; the collector pings after 15 s.
      await waitFor(
        "a pong",
        async () =>
          (await metricSum(collector.metrics, "alphapulse_messages_received_total", { type: "pong" })) > 0,
        { timeoutMs: 40_000, intervalMs: 100 },
      );
      await Bun.sleep(20_000);
      expect(await metricSum(collector.metrics, "alphapulse_reconnects_total")).toBe(0);
      expect(simulator.stats().venues.okx.details.idleClosed).toBe(0);
      expect(await collectorReady(collector.metrics)).toBe(true);
    } finally {
      await collector.process.stop();
      await simulator.stop();
    }
  }, 90_000);
});
