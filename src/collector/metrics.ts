// The collector's Prometheus series. The alert rules and the dashboard use these names: do not
// rename them. Hot-path counts live in plain fields (CollectorCounters, Publisher, connections) and
// are copied into the series at scrape time, so a frame never pays for a label lookup.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { BookIntegrity, BookStatus, type SymbolInfo } from "../shm/layout.ts";
import type { ManagedConnection } from "./connection.ts";
import type { CollectorCounters } from "./counters.ts";
import type { Publisher } from "./publisher.ts";
import type { HttpRest } from "./rest.ts";

/** Latest samples the p99 gauge looks at. */
const LATENCY_SAMPLES = 4096;
const LATENCY_BUCKETS_SECONDS = [
  5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2,
];

export interface CollectorMetricsSources {
  readonly exchange: string;
  readonly symbols: readonly SymbolInfo[];
  readonly counters: CollectorCounters;
  readonly publisher: Publisher;
  readonly connections: readonly ManagedConnection[];
  readonly rest: HttpRest;
}

/**
 * The latency histogram, counted in plain arrays on the hot path (prom-client's observe costs
 * about 300 ns, more than the rest of a trade frame's ingest) and handed to the registry only
 * when scraped. One series, labelled by exchange.
 */
class PlainHistogram extends Histogram<string> {
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    private readonly histogramName: string,
    private readonly histogramHelp: string,
    private readonly bounds: readonly number[],
    private readonly seriesLabels: Record<string, string>,
    registers: Registry[],
  ) {
    super({
      name: histogramName,
      help: histogramHelp,
      buckets: [...bounds],
      labelNames: Object.keys(seriesLabels),
      registers,
    });
    this.counts = new Float64Array(bounds.length);
  }

  record(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  /** What prom-client's registry reads to print a histogram (absent from its typings). */
  async getForPromString() {
    const name = this.histogramName;
    const labels = this.seriesLabels;
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i]!;
      values.push({ value: cumulative, labels: { le: bound, ...labels }, metricName: `${name}_bucket` });
    });
    values.push({ value: this.count, labels: { le: "+Inf", ...labels }, metricName: `${name}_bucket` });
    values.push({ value: this.sum, labels, metricName: `${name}_sum` });
    values.push({ value: this.count, labels, metricName: `${name}_count` });
    return { name, help: this.histogramHelp, type: "histogram", values, aggregator: "sum" };
  }
}

/** A Counter fed from running totals: each scrape adds what the total gained since the last. */
class TotalCounter {
  private readonly added = new Map<string, number>();
  constructor(readonly counter: Counter<string>) {}

  set(labels: Record<string, string>, total: number): void {
    const key = Object.values(labels).join("\u0000");
    const before = this.added.get(key) ?? 0;
    if (total > before) this.counter.inc(labels, total - before);
    else if (before === 0) this.counter.inc(labels, 0); // show the series at 0
    this.added.set(key, Math.max(before, total));
  }
}

export class CollectorMetrics {
  private readonly latencyHistogram: PlainHistogram;
  private readonly latencySamples = new Float64Array(LATENCY_SAMPLES);
  private latencyCount = 0;

  constructor(registry: Registry, sources: CollectorMetricsSources) {
    const registers = [registry];
    registerTotals(registers, sources);
    registerStates(registers, sources);
    const { exchange } = sources;
    const samples = this.latencySamples;
    const metrics = this;
    new Gauge({
      name: "alphapulse_shared_memory_latency_microseconds",
      help: "Recent p99 from frame receipt to record published in the ring, microseconds.",
      labelNames: ["exchange"],
      registers,
      collect() {
        const n = Math.min(metrics.latencyCount, LATENCY_SAMPLES);
        if (n === 0) return;
        const sorted = samples.slice(0, n).sort();
        this.set({ exchange }, sorted[Math.min(n - 1, Math.floor(n * 0.99))]!);
      },
    });
    // The gauge's name (and unit) is fixed by the alert rules; the histogram of the same
    // measure follows Prometheus's conventions: seconds, its own name.
    this.latencyHistogram = new PlainHistogram(
      "alphapulse_shared_memory_publish_latency_seconds",
      "Frame receipt to record published in the ring, seconds.",
      LATENCY_BUCKETS_SECONDS,
      { exchange },
      registers,
    );
  }

  /** Publisher hook: one batch went out `latencyNs` after its frame arrived. */
  readonly published = (latencyNs: number): void => {
    this.latencySamples[this.latencyCount++ % LATENCY_SAMPLES] = latencyNs / 1000;
    this.latencyHistogram.record(latencyNs / 1e9);
  };
}

/** The running totals (frames, errors, gaps, resyncs, trades, records, REST), as counters. */
function registerTotals(registers: Registry[], sources: CollectorMetricsSources): void {
  const { exchange, symbols, counters, publisher, connections, rest } = sources;
  const total = (name: string, help: string, labelNames: string[], fill: (c: TotalCounter) => void) => {
    let wrapper: TotalCounter | null = null;
    const counter: Counter<string> = new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        wrapper ??= new TotalCounter(counter);
        fill(wrapper);
      },
    });
  };
  const perSymbol = (values: Float64Array) => (c: TotalCounter) => {
    for (const s of symbols) c.set({ exchange, symbol: s.symbol }, values[s.id]!);
  };
  total(
    "alphapulse_messages_received_total",
    "Frames received, by message type.",
    ["exchange", "type"],
    (c) => {
      for (const [type, n] of counters.messages) c.set({ exchange, type }, n);
    },
  );
  total(
    "alphapulse_parse_errors_total",
    "Frames not understood (malformed, unknown_type, oversized, bad_decimal).",
    ["exchange", "kind"],
    (c) => {
      for (const [kind, n] of counters.parseErrors) c.set({ exchange, kind }, n);
    },
  );
  total(
    "alphapulse_reconnects_total",
    "Connection drops followed by a reconnect.",
    ["exchange", "connection"],
    (c) => {
      for (const conn of connections) c.set({ exchange, connection: conn.name }, conn.reconnects);
    },
  );
  total(
    "alphapulse_checksum_mismatches_total",
    "Book checksums that did not match.",
    ["exchange", "symbol"],
    perSymbol(counters.checksumMismatches),
  );
  total(
    "alphapulse_sequence_gaps_total",
    "Sequence gaps detected.",
    ["exchange", "symbol"],
    perSymbol(counters.sequenceGaps),
  );
  total(
    "alphapulse_book_resyncs_total",
    "Per-symbol book resyncs started.",
    ["exchange", "symbol"],
    perSymbol(counters.resyncs),
  );
  total(
    "alphapulse_trade_duplicates_total",
    "Trades dropped as already seen.",
    ["exchange", "symbol"],
    (c) => {
      for (const s of symbols) c.set({ exchange, symbol: s.symbol }, publisher.trades[s.id]!.duplicates);
    },
  );
  total(
    "alphapulse_trade_id_gaps_total",
    "Trade ids skipped (venues with sequential ids).",
    ["exchange", "symbol"],
    (c) => {
      for (const s of symbols) c.set({ exchange, symbol: s.symbol }, publisher.trades[s.id]!.missing);
    },
  );
  total("alphapulse_ring_records_written_total", "Records written to the ring.", ["exchange"], (c) =>
    c.set({ exchange }, publisher.recordsWritten),
  );
  total(
    "alphapulse_rest_requests_total",
    "REST requests by result (status code or error).",
    ["exchange", "result"],
    (c) => {
      for (const [result, n] of rest.results) c.set({ exchange, result }, n);
    },
  );
}

/** What holds now, per book and per connection, as gauges. */
function registerStates(registers: Registry[], sources: CollectorMetricsSources): void {
  const { exchange, symbols, counters, publisher, connections } = sources;
  new Gauge({
    name: "alphapulse_book_valid",
    help: "1 while the symbol's book is valid, else 0.",
    labelNames: ["exchange", "symbol"],
    registers,
    collect() {
      for (const s of symbols) {
        this.set({ exchange, symbol: s.symbol }, publisher.status[s.id] === BookStatus.Valid ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: "alphapulse_book_integrity",
    help: "1 while the check (checksum, sequence) guards the symbol's book, else 0.",
    labelNames: ["exchange", "symbol", "check"],
    registers,
    collect() {
      for (const [check, bit] of Object.entries(BookIntegrity)) {
        for (const s of symbols) {
          this.set({ exchange, symbol: s.symbol, check }, (counters.integrity[s.id]! & bit) === 0 ? 0 : 1);
        }
      }
    },
  });
  new Gauge({
    name: "alphapulse_connected",
    help: "1 while the connection is open.",
    labelNames: ["exchange", "connection"],
    registers,
    collect() {
      for (const conn of connections) this.set({ exchange, connection: conn.name }, conn.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: "alphapulse_last_message_age_seconds",
    help: "Seconds since the connection's last frame.",
    labelNames: ["exchange", "connection"],
    registers,
    collect() {
      const now = Date.now();
      for (const conn of connections) {
        const age = conn.lastFrameAt === 0 ? -1 : (now - conn.lastFrameAt) / 1000;
        this.set({ exchange, connection: conn.name }, age);
      }
    },
  });
}
