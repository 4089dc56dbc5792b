// The broadcaster's Prometheus metrics. Names are fixed: alert rules are written against them.
// Hot-path counters are resolved to their label children once, here.
import { Counter, Gauge, type Registry } from "prom-client";
import { LatencyHistogram } from "../health/latency-histogram.ts";
import { CHANNELS, type Channel } from "../protocol/topics.ts";

/** The broadcaster's metric labels, the same in every fan-out worker so that their metrics merge. */
export const BROADCAST_LABELS = { service: "alphapulse", mode: "broadcast" };

type ChannelCounter = ReturnType<Counter["labels"]>;
type ChannelGauge = ReturnType<Gauge["labels"]>;

/** What the rings say at scrape time, from the ring hub. */
interface MetricSources {
  ringLag: () => Array<{ ring: string; lag: number }>;
  rings: () => number;
  ringWriters: () => Array<{ ring: string; stale: boolean; served: number }>;
}

/**
 * Over fan-out workers, counters and histograms of deliveries and clients, and the client and
 * subscription gauges, add up (prom-client's default aggregation). What is about a ring, which
 * every worker reads on its own and alike (lag, gaps, lost records, stale, topics served and
 * taken over), takes the worst worker ("max"): ten topics taken over by two workers are still
 * ten. The compression ratio takes the average.
 */
export class BroadcastMetrics {
  readonly clients: Gauge;
  readonly subscriptions: Gauge;
  /** The subscriptions gauge's children: a subscribe or a close touches them without a label lookup. */
  readonly subscriptionsBy: Record<Channel, ChannelGauge>;
  readonly slowWarnings: Counter;
  readonly slowDisconnects: Counter;
  /**
   * Bytes queued for clients known to be behind, at the slow-client policy's last check: a plain
   * number its timer stores, exported when Prometheus scrapes (prom-client's `set` cost some
   * 15 us on that timer's cold path, 20 times a second).
   */
  unsentBytes = 0;
  readonly clientErrors: Counter;
  /** Live records only: ring commit to the broadcaster's reader seeing the record committed. */
  readonly pickupLatency: LatencyHistogram;
  /** Live records only: ring commit to the message handed to uWebSockets for every subscriber (at the poll turn's end). */
  readonly fanoutLatency: LatencyHistogram;
  readonly ringGaps: Counter;
  readonly ringLost: Counter;
  /** Topics a ring took over from another (by the ring that took them). */
  readonly ownerChanges: Counter;
  readonly messagesSent: Record<Channel, ChannelCounter>;
  readonly bytesSent: Record<Channel, ChannelCounter>;
  /** Bytes sent as deltas, and what the same updates would have cost as snapshots. */
  deltaBytes = 0;
  deltaAsSnapshotBytes = 0;
  /** Those two totals at past scrapes: the ratio is over the last minute, not since start. */
  private readonly deltaSamples: Array<{ at: number; deltas: number; snapshots: number }> = [
    { at: Date.now(), deltas: 0, snapshots: 0 },
  ];

  constructor(registry: Registry, sources: MetricSources) {
    const registers = [registry];
    this.clients = new Gauge({
      name: "alphapulse_broadcast_clients_connected",
      help: "WebSocket clients connected now",
      registers,
    });
    this.subscriptions = new Gauge({
      name: "alphapulse_broadcast_subscriptions",
      help: "Topic subscriptions now, by channel",
      labelNames: ["channel"],
      registers,
    });
    const messages = new Counter({
      name: "alphapulse_broadcast_messages_sent_total",
      help: "Messages delivered to clients (one per subscriber), by channel",
      labelNames: ["channel"],
      registers,
    });
    const bytes = new Counter({
      name: "alphapulse_broadcast_bytes_sent_total",
      help: "Bytes delivered to clients before compression, by channel",
      labelNames: ["channel"],
      registers,
    });
    this.subscriptionsBy = byChannel((channel) => this.subscriptions.labels(channel));
    this.messagesSent = byChannel((channel) => messages.labels(channel));
    this.bytesSent = byChannel((channel) => bytes.labels(channel));
    this.slowWarnings = new Counter({
      name: "alphapulse_broadcast_slow_client_warnings_total",
      help: "Slow-consumer warnings sent to clients whose send buffer grew past the warning level",
      registers,
    });
    this.slowDisconnects = new Counter({
      name: "alphapulse_broadcast_slow_client_disconnects_total",
      help: "Clients closed (code 4008) because they could not keep up",
      registers,
    });
    this.clientErrors = new Counter({
      name: "alphapulse_broadcast_client_errors_total",
      help: "Error frames sent to clients, by code",
      labelNames: ["code"],
      registers,
    });
    // Timed on every live message: a histogram whose observe allocates nothing.
    this.pickupLatency = new LatencyHistogram(
      "alphapulse_broadcast_pickup_latency_seconds",
      "Live records: time from the collector committing a record to the ring to the broadcaster's reader seeing it committed (the hop; building and handing over its message follow)",
      LATENCY_BUCKETS,
      registers,
    );
    this.fanoutLatency = new LatencyHistogram(
      "alphapulse_broadcast_fanout_latency_seconds",
      "Live records: time from the collector committing a record to the ring to its message being released to uWebSockets for every subscriber of the topic (the end of the poll turn, after which uWebSockets writes it)",
      LATENCY_BUCKETS,
      registers,
    );
    this.ringGaps = new Counter({
      name: "alphapulse_broadcast_ring_gaps_total",
      help: "Times the broadcaster was lapped by a ring writer and lost records",
      labelNames: ["ring"],
      registers,
      aggregator: "max",
    });
    this.ringLost = new Counter({
      name: "alphapulse_broadcast_ring_records_lost_total",
      help: "Ring records overwritten before the broadcaster read them",
      labelNames: ["ring"],
      registers,
      aggregator: "max",
    });
    this.ownerChanges = new Counter({
      name: "alphapulse_broadcast_topic_owner_changes_total",
      help: "Topics a ring took over from another ring whose writer stopped or whose file went, by the ring that took them",
      labelNames: ["ring"],
      registers,
      aggregator: "max",
    });
    ringWriterGauges(registers, sources.ringWriters);
    this.scrapedGauges(registers, sources);
    for (const channel of CHANNELS) this.subscriptionsBy[channel].set(0);
  }

  /** Gauges computed when Prometheus scrapes: unsent bytes, the compression ratio and what the rings say. */
  private scrapedGauges(registers: Registry[], sources: MetricSources): void {
    const self = this;
    new Gauge({
      name: "alphapulse_broadcast_unsent_bytes",
      help: "Bytes queued in the broadcaster for clients known to be behind, not yet taken by their sockets (at the last check; each client is read at least once a second)",
      registers,
      collect() {
        this.set(self.unsentBytes);
      },
    });
    new Gauge({
      name: "alphapulse_delta_compression_ratio",
      help: "1 - bytes sent as deltas / bytes the same updates would cost as full snapshots, over the last minute",
      registers,
      aggregator: "average",
      collect() {
        this.set(self.recentCompressionRatio(Date.now()));
      },
    });
    new Gauge({
      name: "alphapulse_broadcast_ring_read_lag_records",
      help: "Records a ring's writer has committed that the broadcaster has not read yet",
      labelNames: ["ring"],
      registers,
      aggregator: "max",
      collect() {
        this.reset();
        for (const { ring, lag } of sources.ringLag()) this.labels(ring).set(lag);
      },
    });
    new Gauge({
      name: "alphapulse_broadcast_rings_attached",
      help: "Ring files the broadcaster follows",
      registers,
      aggregator: "max",
      collect() {
        this.set(sources.rings());
      },
    });
  }

  /**
   * The compression ratio since the newest scrape at least a minute old (since start before
   * that), so the alert sees a regression within minutes, not diluted by hours of uptime.
   * 1 when no deltas were sent in the window.
   */
  recentCompressionRatio(now: number): number {
    const samples = this.deltaSamples;
    while (samples.length > 1 && now - samples[1]!.at >= COMPRESSION_WINDOW_MS) samples.shift();
    const base = samples[0]!;
    samples.push({ at: now, deltas: this.deltaBytes, snapshots: this.deltaAsSnapshotBytes });
    const snapshots = this.deltaAsSnapshotBytes - base.snapshots;
    return snapshots === 0 ? 1 : 1 - (this.deltaBytes - base.deltas) / snapshots;
  }
}

const COMPRESSION_WINDOW_MS = 60_000;

/** Per ring: whether its writer counts as stopped, and how many topics it serves. */
function ringWriterGauges(
  registers: Registry[],
  ringWriters: () => Array<{ ring: string; stale: boolean; served: number }>,
): void {
  new Gauge({
    name: "alphapulse_broadcast_ring_stale",
    help: "1 while a ring's writer counts as stopped (no heartbeat for BROADCAST_STALE_MS, process gone, or closed), else 0",
    labelNames: ["ring"],
    registers,
    aggregator: "max",
    collect() {
      this.reset();
      for (const { ring, stale } of ringWriters()) this.labels(ring).set(stale ? 1 : 0);
    },
  });
  new Gauge({
    name: "alphapulse_broadcast_ring_topics_served",
    help: "Topics a ring serves now (0 when other rings serve all of its topics)",
    labelNames: ["ring"],
    registers,
    aggregator: "max",
    collect() {
      this.reset();
      for (const { ring, served } of ringWriters()) this.labels(ring).set(served);
    },
  });
}

/**
 * Seconds. Roughly log-spaced from 1 us to 10 ms, at most 2x apart below 25 us and 1.5x above,
 * so a p99 anywhere between 2 us and 5 ms falls inside a narrow bucket: a quiet ring hop
 * (a few us) and a loaded fan-out (ms) alike. The tail up to 5 s keeps a saturated
 * broadcaster's p99 readable instead of past the last bucket.
 */
const LATENCY_BUCKETS = [
  0.000001, 0.0000015, 0.000002, 0.000003, 0.000005, 0.0000075, 0.00001, 0.000015, 0.000025, 0.00005,
  0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
  0.01, 0.05, 0.25, 1, 5,
];

function byChannel<T>(make: (channel: Channel) => T): Record<Channel, T> {
  return { book: make("book"), trades: make("trades"), bbo: make("bbo"), status: make("status") };
}
