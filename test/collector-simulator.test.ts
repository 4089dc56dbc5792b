// The collector as a real process against the built-in simulator over real WebSockets, one
// venue at a time, with every fault the simulator can inject on that venue. After each fault:
// it was detected (the matching metric moved), only the affected symbol resynced, the
// collector became ready again, and during a quiet moment (a short injected stall) the books a
// separate reader process reads from the ring equal the simulator's true books. A broadcaster
// over the rings says in REST what guards each book, as the collector's metric does.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { EXCHANGE_NAMES, type ExchangeName } from "../src/exchanges/registry.ts";
import { type FaultKind, type Simulator, startSimulator } from "../src/simulator/index.ts";
import { startTestBroadcaster } from "./support/broadcaster.ts";
import { collectorReady, integrityReadings, metricSum, metricSumIn } from "./support/collector-readings.ts";
import { type CollectorProcess, ModeProcess, startCollectorProcess } from "./support/mode-process.ts";
import { dumpRing, expectRingsEqualTruth } from "./support/ring-truth.ts";
import { waitFor } from "./support/wait.ts";

const SYMBOLS = ["BTC-USD", "ETH-USD"];
const DEPTH = 10;
const DIR = `/dev/shm/ap-test-collector-sim-${process.pid}`;

let simulator: Simulator;

beforeAll(() => {
  simulator = startSimulator({
    hostname: "127.0.0.1",
    symbols: SYMBOLS,
    seed: 7,
    updatesPerSecond: 40,
    tradesPerSecond: 5,
    bookLevels: 300,
  });
});

afterAll(async () => {
  await simulator.stop();
  rmSync(DIR, { recursive: true, force: true });
});

/** How the waits on a collector's HTTP endpoints poll; a resync can take a while on a loaded machine. */
const POLL = { timeoutMs: 45_000, intervalMs: 50 };

class Collector {
  readonly ring: string;

  private constructor(
    readonly venue: ExchangeName,
    private readonly started: CollectorProcess,
  ) {
    this.ring = `${DIR}/${venue}.ring`;
  }

  static async start(venue: ExchangeName): Promise<Collector> {
    const started = await startCollectorProcess(venue, simulator.urls, {
      SYMBOLS: SYMBOLS.join(","),
      BOOK_DEPTH: String(DEPTH),
      SHARED_MEMORY_PATH: DIR,
    });
    return new Collector(venue, started);
  }

  /** http://127.0.0.1:port of its /ready and /metrics. */
  get metrics(): string {
    return this.started.metrics;
  }

  ready(): Promise<boolean> {
    return collectorReady(this.metrics);
  }

  /** Sum of a metric's samples whose labels include every given pair. */
  metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return metricSum(this.metrics, name, labels);
  }

  async stop(): Promise<void> {
    await this.started.process.stop();
  }
}

/** The collector's ring books equal the simulator's true books, DEPTH levels a side. */
function expectRingEqualsTruth(collector: Collector): Promise<void> {
  return expectRingsEqualTruth(simulator, collector.venue, [collector.ring], SYMBOLS, DEPTH);
}

interface FaultCase {
  readonly kind: FaultKind;
  readonly durationMs?: number;
  /** Metrics whose sum must grow: the fault was seen. */
  readonly detectedBy: [string, Record<string, string>][];
  /** The fault concerns BTC-USD alone: ETH-USD must not resync. */
  readonly symbolOnly: boolean;
  /** Nothing may resync at all (a make-before-break rollover). */
  readonly seamless?: boolean;
}

const BTC = { symbol: "BTC-USD" };

/** Every registered venue's faults, as its simulator injects them and its collector sees them. */
const FAULTS: Record<ExchangeName, FaultCase[]> = {
  kraken: [
    {
      kind: "corrupt-checksum",
      detectedBy: [["alphapulse_checksum_mismatches_total", BTC]],
      symbolOnly: true,
    },
    {
      kind: "drop-frame",
      detectedBy: [
        ["alphapulse_checksum_mismatches_total", BTC],
        ["alphapulse_trade_id_gaps_total", BTC],
      ],
      symbolOnly: true,
    },
    { kind: "garbage", detectedBy: [["alphapulse_parse_errors_total", {}]], symbolOnly: false },
    { kind: "disconnect", detectedBy: [["alphapulse_reconnects_total", {}]], symbolOnly: false },
    {
      kind: "stall",
      durationMs: 7_000,
      detectedBy: [["alphapulse_reconnects_total", {}]],
      symbolOnly: false,
    },
  ],
  binance: [
    { kind: "skip-sequence", detectedBy: [["alphapulse_sequence_gaps_total", BTC]], symbolOnly: true },
    {
      kind: "drop-frame",
      detectedBy: [
        ["alphapulse_sequence_gaps_total", BTC],
        ["alphapulse_trade_id_gaps_total", BTC],
      ],
      symbolOnly: true,
    },
    { kind: "garbage", detectedBy: [["alphapulse_parse_errors_total", {}]], symbolOnly: false },
    { kind: "disconnect", detectedBy: [["alphapulse_reconnects_total", {}]], symbolOnly: false },
    {
      kind: "server-shutdown",
      detectedBy: [["alphapulse_messages_received_total", { type: "serverShutdown" }]],
      symbolOnly: true,
      seamless: true,
    },
  ],
  coinbase: [
    { kind: "skip-sequence", detectedBy: [["alphapulse_sequence_gaps_total", BTC]], symbolOnly: true },
    {
      kind: "drop-frame",
      detectedBy: [
        ["alphapulse_sequence_gaps_total", BTC],
        ["alphapulse_messages_received_total", { type: "trades_sequence_gap" }],
      ],
      symbolOnly: true,
    },
    { kind: "garbage", detectedBy: [["alphapulse_parse_errors_total", {}]], symbolOnly: false },
    { kind: "disconnect", detectedBy: [["alphapulse_reconnects_total", {}]], symbolOnly: false },
    {
      kind: "stall",
      durationMs: 7_000,
      detectedBy: [["alphapulse_reconnects_total", {}]],
      symbolOnly: false,
    },
  ],
  // The shared simulator sends OKX's checksum 0, as the live venue: the seqId chain guards alone
  // (test/collector-okx.test.ts runs it with checksums on).
  okx: [
    { kind: "skip-sequence", detectedBy: [["alphapulse_sequence_gaps_total", BTC]], symbolOnly: true },
    { kind: "sequence-reset", detectedBy: [["alphapulse_sequence_gaps_total", BTC]], symbolOnly: true },
    { kind: "drop-frame", detectedBy: [["alphapulse_sequence_gaps_total", BTC]], symbolOnly: true },
    { kind: "garbage", detectedBy: [["alphapulse_parse_errors_total", {}]], symbolOnly: false },
    { kind: "disconnect", detectedBy: [["alphapulse_reconnects_total", {}]], symbolOnly: false },
    {
      kind: "server-shutdown",
      detectedBy: [["alphapulse_messages_received_total", { type: "notice" }]],
      symbolOnly: true,
      seamless: true,
    },
  ],
};

/**
 * What guards each venue's books here: Kraken's checksum; the update sequence of the others (the
 * shared simulator sends OKX's checksum 0, as the live venue does).
 */
const INTEGRITY: Record<ExchangeName, string[]> = {
  kraken: ["checksum"],
  binance: ["sequence"],
  coinbase: ["sequence"],
  okx: ["sequence"],
};

for (const venue of EXCHANGE_NAMES) {
  describe(`collector against the simulator: ${venue}`, () => {
    let collector: Collector;
    beforeAll(async () => {
      collector = await Collector.start(venue);
      await waitFor(`${venue} collector ready`, () => collector.ready(), POLL);
    });
    afterAll(async () => {
      await collector.stop();
    });

    test("ring books equal the true books", async () => {
      await expectRingEqualsTruth(collector);
    }, 30_000);

    test("a broadcaster's REST says what guards each book, as the collector's metric does", async () => {
      const broadcaster = startTestBroadcaster(DIR);
      try {
        const expected = INTEGRITY[venue];
        for (const symbol of SYMBOLS) {
          const read = () => integrityReadings(collector.metrics, broadcaster.http, venue, symbol);
          await waitFor(`${venue} ${symbol} served`, async () => (await read()) !== null, POLL);
          expect(await read()).toEqual({ listed: expected, book: expected, metric: expected });
        }
      } finally {
        await broadcaster.stop();
      }
    }, 60_000);

    test("/metrics has every series the alert rules use", async () => {
      const text = await (await fetch(`${collector.metrics}/metrics`)).text();
      for (const name of [
        "alphapulse_messages_received_total",
        "alphapulse_parse_errors_total",
        "alphapulse_reconnects_total",
        "alphapulse_checksum_mismatches_total",
        "alphapulse_sequence_gaps_total",
        "alphapulse_book_resyncs_total",
        "alphapulse_book_valid",
        "alphapulse_book_integrity",
        "alphapulse_last_message_age_seconds",
        "alphapulse_ring_records_written_total",
        "alphapulse_shared_memory_latency_microseconds",
        "alphapulse_shared_memory_publish_latency_seconds_bucket",
      ]) {
        expect(text).toContain(`\n${name}{`);
      }
      expect(await collector.metric("alphapulse_book_valid")).toBe(SYMBOLS.length);
      // Every book says what guards it: its venue's checksum, its sequence, or both.
      for (const symbol of SYMBOLS) {
        expect(await collector.metric("alphapulse_book_integrity", { symbol })).toBeGreaterThanOrEqual(1);
      }
      expect(await collector.metric("alphapulse_shared_memory_latency_microseconds")).toBeGreaterThan(0);
      // Count and +Inf bucket from the same scrape: the collector keeps publishing between two.
      const observed = metricSumIn(text, "alphapulse_shared_memory_publish_latency_seconds_count");
      expect(observed).toBeGreaterThan(0);
      expect(
        metricSumIn(text, "alphapulse_shared_memory_publish_latency_seconds_bucket", { le: "+Inf" }),
      ).toBe(observed);
      // Prometheus's own linter, where installed (CI installs the prometheus package).
      if (Bun.which("promtool")) {
        const lint = Bun.spawn(["promtool", "check", "metrics"], {
          stdin: new Blob([text]),
          stdout: "pipe",
          stderr: "pipe",
        });
        const output = (await new Response(lint.stdout).text()) + (await new Response(lint.stderr).text());
        await lint.exited;
        // The alert rules name this gauge in microseconds, so it keeps its unit; all else must lint clean.
        const problems = output
          .split("\n")
          .filter(
            (line) =>
              line.trim() !== "" &&
              !line.startsWith("alphapulse_shared_memory_latency_microseconds use base unit"),
          );
        expect(problems).toEqual([]);
      }
    }, 30_000);

    for (const fault of FAULTS[venue]) {
      const outcome = fault.seamless
        ? "nothing resyncs"
        : fault.symbolOnly
          ? "only BTC-USD resyncs"
          : "recovers";
      test(`${fault.kind}: detected, ${outcome}, books exact after`, async () => {
        const detected = async () => {
          let sum = 0;
          for (const [name, labels] of fault.detectedBy) sum += await collector.metric(name, labels);
          return sum;
        };
        const before = await detected();
        const ethResyncs = await collector.metric("alphapulse_book_resyncs_total", { symbol: "ETH-USD" });
        const allResyncs = await collector.metric("alphapulse_book_resyncs_total");
        const spec =
          fault.durationMs === undefined
            ? { kind: fault.kind }
            : { kind: fault.kind, durationMs: fault.durationMs };
        const symbol =
          fault.kind === "stall" || fault.kind === "disconnect" || fault.kind === "garbage"
            ? undefined
            : "BTC-USD";
        simulator.inject(venue, spec, symbol);
        await waitFor(`${fault.kind} detected`, async () => (await detected()) > before, POLL);
        if (fault.kind === "stall") {
          // Reconnected inside the stall: no snapshot yet, so not ready, and /ready says why.
          const response = await fetch(`${collector.metrics}/ready`);
          expect(response.status).toBe(503);
          expect(((await response.json()) as { reason: string }).reason).toMatch(/not (valid|connected)/);
          // Readers see it too: the ring's latest-book entries are no longer marked valid.
          const books = await dumpRing(collector.ring, DEPTH);
          expect(SYMBOLS.map((symbol) => books[symbol]!.status)).toEqual(["Invalid", "Invalid"]);
        }
        await waitFor(`${venue} ready again`, () => collector.ready(), POLL);
        if (fault.symbolOnly) {
          expect(await collector.metric("alphapulse_book_resyncs_total", { symbol: "ETH-USD" })).toBe(
            ethResyncs,
          );
        }
        if (fault.seamless) {
          // Past the simulator's close of the old connection (5 s after its notice).
          await Bun.sleep(5_500);
          expect(await collector.metric("alphapulse_book_resyncs_total")).toBe(allResyncs);
          expect(await collector.metric("alphapulse_book_valid")).toBe(SYMBOLS.length);
        }
        await expectRingEqualsTruth(collector);
      }, 90_000);
    }

    if (venue === "binance") {
      for (const kind of ["rate-limit", "ban"] as const) {
        test(`${kind} on a snapshot: the collector waits out Retry-After and resyncs`, async () => {
          const status = kind === "rate-limit" ? "429" : "418";
          const refusals = await collector.metric("alphapulse_rest_requests_total", { result: status });
          simulator.inject(venue, { kind, durationMs: 2_000 }, "BTC-USD");
          simulator.inject(venue, "skip-sequence", "BTC-USD"); // forces a snapshot request
          await waitFor(
            `HTTP ${status} seen`,
            async () =>
              (await collector.metric("alphapulse_rest_requests_total", { result: status })) > refusals,
            POLL,
          );
          await waitFor("ready again", () => collector.ready(), POLL);
          expect(simulator.stats().venues.binance.details.retryAfterViolations ?? 0).toBe(0);
          await expectRingEqualsTruth(collector);
        }, 90_000);
      }
    }
  });
}

describe("collector start-up errors", () => {
  for (const venue of EXCHANGE_NAMES) {
    test(`${venue}: a symbol the venue does not list stops the collector with exit 2, naming it`, async () => {
      const urls = simulator.urls[venue];
      const collector = new ModeProcess(`${venue}-collector`, "collect", {
        EXCHANGE: venue,
        SYMBOLS: "BTC-USD,DOGE-EUR",
        EXCHANGE_WS_URL: urls.ws,
        EXCHANGE_REST_URL: "rest" in urls ? urls.rest : "",
        SHARED_MEMORY_PATH: DIR,
        METRICS_PORT: "0",
      });
      expect(await collector.finished()).toBe(2);
      expect(collector.output()).toContain("SYMBOLS");
      expect(collector.output()).toContain("DOGE-EUR");
    }, 30_000);
  }
});
