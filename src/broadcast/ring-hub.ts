// Every ring under SHARED_MEMORY_PATH for the broadcaster: finds ring files (also ones that
// appear later), follows each, owns the topic registry, and polls them in rounds, waiting
// between rounds as the configured idle strategy says.
// It numbers its poll rounds: what is built from ring state stays valid within one.
import { readdirSync } from "node:fs";
import type { Logger } from "../log.ts";
import { realtimeInto } from "../shm/clock.ts";
import { RING_SUFFIX, RingState } from "../shm/layout.ts";
import type { BroadcastConfig } from "./config.ts";
import { type IdleStrategy, idleStrategy } from "./idle-strategy.ts";
import type { BroadcastMetrics } from "./metrics.ts";
import { type MessageOutlet, RingFollower, type TopicDirectory } from "./ring-follower.ts";
import { Topic } from "./topic.ts";

/** Hands a built message to every subscriber of its topic; returns how many got it. */
export interface Fanout {
  send(topic: Topic, text: string): number;
  topicsChanged(): void;
}

/**
 * What the hub reads of the broadcaster's settings: the idle strategy's, and burstMicros, how
 * long a poll that found records keeps reading before it lets the messages go.
 */
export type RingHubConfig = Pick<
  BroadcastConfig,
  "sharedMemoryPath" | "historyLimit" | "idleStrategy" | "spinMicros" | "parkMillis" | "burstMicros"
>;

/** Records one follower handles per poll before the loop lets the event loop run. */
const POLL_BATCH = 4096;
/** How often the directory is listed for new, removed and replaced rings. */
const SCAN_INTERVAL_MS = 500;

export class RingHub implements TopicDirectory, MessageOutlet {
  readonly topics = new Map<string, Topic>();
  private readonly owners = new Map<Topic, RingFollower>();
  readonly followers = new Map<string, RingFollower>();
  private readonly failing = new Set<string>();
  private fanout: Fanout | null = null;
  private scanTimer: ReturnType<typeof setInterval> | null = null;
  private running = false;
  private readonly idle: IdleStrategy;
  /**
   * The shared clock, read once per poll round (at its first live message, so the many empty
   * rounds of a spin never pay for it), beside the process's own clock then: a live message's
   * latencies are measured against it, never with a shared-clock read per record.
   */
  private readonly roundClock = new Uint32Array(2);
  private roundStartedAt = 0;
  private clockRound = -1;
  /**
   * Bumped before and after every poll round and scan: ring-derived state (books, topic
   * positions) changes only inside them, so anything built from it between two of them stays
   * valid while this number does not move.
   */
  round = 0;

  constructor(
    private readonly config: RingHubConfig,
    private readonly log: Logger,
    private readonly metrics: BroadcastMetrics,
  ) {
    this.idle = idleStrategy(config);
  }

  /** Attaches every ring there now (reading what they hold), then keeps polling. */
  start(fanout: Fanout): void {
    this.fanout = fanout;
    this.scan();
    this.scanTimer = setInterval(() => this.scan(), SCAN_INTERVAL_MS);
    this.running = true;
    this.loop();
  }

  stop(): void {
    this.running = false;
    if (this.scanTimer) clearInterval(this.scanTimer);
    for (const follower of this.followers.values()) follower.close();
    this.followers.clear();
  }

  /** Drains what every ring holds right now (tests and startup use it). */
  drain(): number {
    let total = 0;
    for (;;) {
      const read = this.pollAll();
      total += read;
      if (read === 0) return total;
    }
  }

  private readonly loop = (): void => {
    if (!this.running) return;
    let read = this.pollAll();
    if (read > 0 && this.config.burstMicros > 0) {
      // A writer's burst often spans several polls: read on until it pauses, so the burst's
      // messages go out in one event-loop turn, where uWS writes each client's share at once.
      let lastRead = performance.now();
      while (read < POLL_BATCH * 4 && (performance.now() - lastRead) * 1000 < this.config.burstMicros) {
        const more = this.pollAll();
        if (more > 0) {
          read += more;
          lastRead = performance.now();
        }
      }
    }
    this.idle.idle(read, this.loop);
  };

  private pollAll(): number {
    this.round++;
    let read = 0;
    for (const follower of this.followers.values()) {
      try {
        read += follower.poll(POLL_BATCH);
      } catch (error) {
        this.log.throttled("error", `poll:${follower.path}`, "ring poll failed", {
          ring: follower.path,
          error,
        });
      }
    }
    this.round++;
    return read;
  }

  /** Finds new ring files, drops removed ones, and checks known ones for a new generation. */
  scan(): void {
    this.round++;
    try {
      this.scanRings();
    } finally {
      this.round++;
    }
  }

  private scanRings(): void {
    let names: string[];
    try {
      names = readdirSync(this.config.sharedMemoryPath);
    } catch (error) {
      this.log.throttled("warn", "scan", "cannot list the shared-memory directory", {
        dir: this.config.sharedMemoryPath,
        error,
      });
      return;
    }
    const present = new Set(names);
    for (const [path, follower] of this.followers) {
      if (present.has(path.slice(path.lastIndexOf("/") + 1))) continue;
      // Removed (not replaced): its topics go quiet; subscribers keep them in case it returns.
      follower.close();
      this.followers.delete(path);
      this.log.info("ring removed", { ring: path });
    }
    for (const name of names) {
      if (!name.endsWith(RING_SUFFIX)) continue;
      const path = `${this.config.sharedMemoryPath.replace(/\/+$/, "")}/${name}`;
      const known = this.followers.get(path);
      if (known) {
        known.checkReplaced();
        continue;
      }
      const follower = new RingFollower(path, this, this);
      try {
        follower.attach();
        this.followers.set(path, follower);
        this.failing.delete(path);
        follower.poll(Number.MAX_SAFE_INTEGER);
        this.log.info("ring attached", {
          ring: path,
          exchange: follower.exchange,
          generation: follower.generation,
        });
      } catch (error) {
        follower.close();
        if (!this.failing.has(path)) this.log.warn("cannot attach ring", { ring: path, error });
        this.failing.add(path);
      }
    }
  }

  claim(owner: RingFollower, parts: Topic["parts"]): Topic | null {
    const probe = new Topic(parts, this.config.historyLimit);
    const existing = this.topics.get(probe.name);
    if (existing) {
      const current = this.owners.get(existing);
      if (current === owner) return existing;
      if (current !== undefined) {
        this.log.throttled("warn", `claim:${probe.name}`, "two rings publish the same topic; ignoring one", {
          topic: probe.name,
          kept: current.path,
          ignored: owner.path,
        });
        return null;
      }
      this.owners.set(existing, owner);
      return existing;
    }
    const topic = parts.channel === "bbo" ? new Topic(parts, 1) : probe;
    this.topics.set(topic.name, topic);
    this.owners.set(topic, owner);
    return topic;
  }

  release(owner: RingFollower, topic: Topic): void {
    if (this.owners.get(topic) === owner) this.owners.delete(topic);
  }

  publish(topic: Topic, text: string, committedSec: number, committedNsec: number, deltaOf?: number): void {
    const fanout = this.fanout;
    if (fanout === null) return;
    // Commit to now on the shared clock, from the round's one reading of it and the process's
    // clock since: just before and just after uWS takes the message for every subscriber.
    if (committedSec !== 0 && this.clockRound !== this.round) {
      this.clockRound = this.round;
      realtimeInto(this.roundClock, 0);
      this.roundStartedAt = performance.now();
    }
    const pickedAt = performance.now();
    const receivers = fanout.send(topic, text);
    const metrics = this.metrics;
    if (committedSec !== 0) {
      const pickupNs =
        (this.roundClock[0]! - committedSec) * 1e9 +
        (this.roundClock[1]! - committedNsec) +
        (pickedAt - this.roundStartedAt) * 1e6;
      metrics.pickupLatency.observe(Math.max(0, pickupNs) / 1e9);
      if (receivers > 0) {
        const handedNs = pickupNs + (performance.now() - pickedAt) * 1e6;
        metrics.fanoutLatency.observe(Math.max(0, handedNs) / 1e9);
      }
    }
    if (receivers === 0) return;
    const channel = topic.channel;
    metrics.messagesSent[channel].inc(receivers);
    metrics.bytesSent[channel].inc(receivers * text.length);
    if (deltaOf !== undefined) {
      metrics.deltaBytes += receivers * text.length;
      metrics.deltaAsSnapshotBytes += receivers * Math.max(deltaOf, text.length);
    }
  }

  lost(ring: string, records: number): void {
    this.metrics.ringGaps.labels(ring).inc();
    this.metrics.ringLost.labels(ring).inc(records);
    this.log.throttled("warn", `lost:${ring}`, "broadcaster was lapped by the ring writer", {
      ring,
      records,
    });
  }

  topicsChanged(): void {
    this.fanout?.topicsChanged();
  }

  /** True when every ring is attached, live and beating. */
  freshness(maxHeartbeatAgeMs: number): { ready: boolean; reason?: string } {
    if (this.followers.size === 0)
      return { ready: false, reason: `no ring in ${this.config.sharedMemoryPath}` };
    for (const follower of this.followers.values()) {
      const state = follower.ringState();
      if (state !== RingState.Live) {
        return {
          ready: false,
          reason: `${follower.path} is ${state === null ? "closed" : RingState[state]}`,
        };
      }
      const age = follower.heartbeatAgeMs();
      if (age > maxHeartbeatAgeMs)
        return { ready: false, reason: `${follower.path} heartbeat is ${age} ms old` };
    }
    return { ready: true };
  }

  ringLag(): Array<{ ring: string; lag: number }> {
    return [...this.followers.values()].map((f) => ({ ring: f.path, lag: f.lag() }));
  }

  ownerOf(topic: Topic): RingFollower | undefined {
    return this.owners.get(topic);
  }
}
