// The fabric's Prometheus series. The publisher and the relay count in plain fields (a message
// must not pay for a label lookup) and the series read them at scrape time.
import { Counter, Gauge, type Registry } from "prom-client";

/** What the lease, the publisher and the relay of one venue count. */
export class FabricStats {
  /** 1 while this process holds the venue's lease. */
  leader = 0;
  /** The generation this process leads or copies (0: none yet). */
  generation = 0;
  publishedMessages = 0;
  /** Publishes refused or not acknowledged in time, by kind (refused, timeout, fenced). */
  readonly publishErrors = new Map<string, number>();
  /** Messages sent again after the stream said where it stood. */
  publishRetries = 0;
  /** Bytes held for publishing (sent and not acknowledged, or waiting). */
  bufferedBytes = 0;
  /** Records never published: the buffer was full (relays see an explicit gap). */
  droppedRecords = 0;
  /** Records the leader has committed that this relay's copy does not have yet. */
  relayLagRecords = 0;
  /** Seconds since this relay's copy was last as far as the leader's ring. */
  relayLagSeconds = 0;
  /** Messages delivered again that the copy already had (skipped). */
  relayRedelivered = 0;
  /** Records the copy never got (a hole it started again after, from the books). */
  relaySkippedRecords = 0;
  relayGaps = 0;
  /** Consumers reopened by the relay's watchdog (or after a NATS error). */
  relayConsumerRestarts = 0;

  publishError(kind: string): void {
    this.publishErrors.set(kind, (this.publishErrors.get(kind) ?? 0) + 1);
  }
}

/** Registers the fabric series of one venue, read from `stats` when scraped. */
export function registerFabricMetrics(registry: Registry, exchange: string, stats: FabricStats): void {
  const registers = [registry];
  const labels = { exchange };
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["exchange"],
      registers,
      collect() {
        this.set(labels, read());
      },
    });
  const total = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      labelNames: ["exchange"],
      registers,
      collect() {
        this.reset();
        this.inc(labels, read());
      },
    });
  gauge(
    "alphapulse_fabric_leader",
    "1 while this process holds the venue's lease and publishes it.",
    () => stats.leader,
  );
  gauge(
    "alphapulse_fabric_generation",
    "The fabric generation this process leads or copies.",
    () => stats.generation,
  );
  total(
    "alphapulse_fabric_published_messages_total",
    "Messages the stream acknowledged.",
    () => stats.publishedMessages,
  );
  new Counter({
    name: "alphapulse_fabric_publish_errors_total",
    help: "Publishes refused by the stream or not acknowledged in time, by kind (refused, timeout, fenced).",
    labelNames: ["exchange", "kind"],
    registers,
    collect() {
      this.reset();
      this.inc({ exchange, kind: "timeout" }, 0);
      for (const [kind, n] of stats.publishErrors) this.inc({ exchange, kind }, n);
    },
  });
  total(
    "alphapulse_fabric_publish_retries_total",
    "Messages published again after a refusal or a timeout.",
    () => stats.publishRetries,
  );
  gauge("alphapulse_fabric_publish_buffered_bytes", "Bytes held for publishing.", () => stats.bufferedBytes);
  total(
    "alphapulse_fabric_dropped_records_total",
    "Records never published because the buffer was full (relays see a gap).",
    () => stats.droppedRecords,
  );
  gauge(
    "alphapulse_fabric_relay_lag_records",
    "Records the leader committed that this copy lacks.",
    () => stats.relayLagRecords,
  );
  gauge(
    "alphapulse_fabric_relay_lag_seconds",
    "Seconds since this copy was last as far as the leader's ring.",
    () => stats.relayLagSeconds,
  );
  total(
    "alphapulse_fabric_relay_redelivered_total",
    "Messages delivered again and skipped.",
    () => stats.relayRedelivered,
  );
  total(
    "alphapulse_fabric_relay_skipped_records_total",
    "Records this copy never got.",
    () => stats.relaySkippedRecords,
  );
  total("alphapulse_fabric_relay_gaps_total", "Holes this copy started again after.", () => stats.relayGaps);
  total(
    "alphapulse_fabric_relay_consumer_restarts_total",
    "Consumers the relay reopened (silent, or failed).",
    () => stats.relayConsumerRestarts,
  );
}
