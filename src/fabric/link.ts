// The fabric's NATS connection for one venue: connects (and keeps reconnecting, so a process may
// start before NATS does), makes sure the venue's stream and the lease bucket exist with the
// configured limits, and hands out the JetStream clients. `collect` with NATS_URL and `relay`
// both start here.
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import type { FabricConfig } from "./config.ts";
import { LEASE_BUCKET, type VenueNames } from "./names.ts";

export interface FabricLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: VenueNames;
  /** The lease bucket, created with this TTL if it is not there. */
  leases(ttlMs: number): Promise<KV>;
  close(): Promise<void>;
}

/** Connects to NATS and makes sure the venue's stream exists; `name` labels the connection. */
export async function connectFabric(
  config: FabricConfig,
  names: VenueNames,
  log: Logger,
  name: string,
): Promise<FabricLink> {
  const nc = await connect({
    servers: config.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 5_000,
    maxPingOut: 3,
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
        log.warn("nats connection", {
          status: status.type,
          server: "server" in status ? status.server : undefined,
        });
      }
    }
  })();
  const jsm = await retrying("JetStream", log, () => jetstreamManager(nc));
  const js = jetstream(nc);
  const replicas = config.replicas === 0 ? (nc.info?.cluster === undefined ? 1 : 3) : config.replicas;
  await ensureStream(jsm, streamConfig(config, names, replicas), log);
  return {
    nc,
    js,
    jsm,
    names,
    async leases(ttlMs) {
      const kvm = new Kvm(nc);
      // create() opens the bucket as it is when it exists (its TTL included).
      return retrying("the lease bucket", log, () =>
        kvm.create(LEASE_BUCKET, { ttl: ttlMs, history: 1, replicas }),
      );
    },
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}

type StreamSettings = Partial<StreamConfig> & { name: string };

function streamConfig(config: FabricConfig, names: VenueNames, replicas: number): StreamSettings {
  const maxAgeMs = config.maxAgeSeconds * 1000;
  return {
    name: names.stream,
    subjects: [...names.subjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(maxAgeMs),
    max_bytes: config.maxBytes,
    num_replicas: replicas,
    // No rollup headers: on nats-server 2.9 a rollup (a purge of one subject) moves every
    // consumer still behind it past all the messages in between, so a relay catching up skipped
    // batches (seen in the tests here). The last books and generation messages are read by
    // subject instead, and older ones leave with the stream's limits.
    // The fence is the expected last sequence, not message ids: a short window is enough.
    duplicate_window: nanos(Math.min(maxAgeMs, 10_000)),
  };
}

/**
 * Creates the stream, or brings an existing one to the configured limits (replicas stay as
 * they are: changing them is an operator's decision).
 */
async function ensureStream(jsm: JetStreamManager, wanted: StreamSettings, log: Logger): Promise<void> {
  const name = wanted.name;
  await retrying(`the stream ${name}`, log, async () => {
    const info = await jsm.streams.info(name).catch((error: unknown) => {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return null;
      throw error;
    });
    if (info === null) {
      await jsm.streams.add(wanted);
      log.info("stream created", { stream: name, replicas: wanted.num_replicas });
      return;
    }
    const current = info.config;
    if (current.max_age !== wanted.max_age || current.max_bytes !== wanted.max_bytes) {
      await jsm.streams.update(name, {
        max_age: wanted.max_age,
        max_bytes: wanted.max_bytes,
        subjects: wanted.subjects,
      });
      log.info("stream limits updated", { stream: name });
    }
    if (current.num_replicas !== wanted.num_replicas) {
      log.warn("stream replicas differ from the setting; left as they are", {
        stream: name,
        replicas: current.num_replicas,
        wanted: wanted.num_replicas,
      });
    }
  });
}

/**
 * Runs a JetStream setup step until it succeeds: a cluster just formed, or electing a leader,
 * times requests out for a few seconds. Gives up (throws) after half a minute.
 */
async function retrying<T>(what: string, log: Logger, step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= 60) throw error;
      log.throttled("warn", `setup:${what}`, `cannot set up ${what} yet; retrying`, { attempt, error });
      await Bun.sleep(500);
    }
  }
}
