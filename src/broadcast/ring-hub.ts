// Every ring under SHARED_MEMORY_PATH for the broadcaster: finds ring files (also ones that
// appear later), follows each, owns the topic registry, and polls them in rounds, waiting
// between rounds as the configured idle strategy says.
// It numbers its poll rounds: what is built from ring state stays valid within one.
//
// Several rings may carry the same topic (two collectors of one exchange, each with its own
// RING_NAME). Every ring's follower keeps its own stream of each of its topics; one of them is
// served under the name. A topic stays with the ring that serves it while that ring's writer is
// live, and moves to a live ring when it stops; a move is told to subscribers as "restarted",
// then the new ring's state (docs/protocol.md, "Which ring serves a topic").
import { readdirSync } from "node:fs";
import type { Logger } from "../log.ts";
import { encodeNotice } from "../protocol/encode.ts";
import { ClockBridge } from "../shm/clock.ts";
import { RING_SUFFIX } from "../shm/layout.ts";
import { ModificationTime } from "../shm/libc.ts";
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
 * What the hub reads of the broadcaster's settings: the idle strategy's; burstMicros, how long
 * a poll that found records keeps reading before it lets the messages go; staleMs, a ring whose
 * writer's heartbeat is older than this counts as stopped.
 */
type RingHubConfig = Pick<
  BroadcastConfig,
  | "sharedMemoryPath"
  | "historyLimit"
  | "idleStrategy"
  | "spinMicros"
  | "parkMillis"
  | "burstMicros"
  | "staleMs"
>;

/** Records one follower handles per poll before the loop lets the event loop run. */
const POLL_BATCH = 4096;
/** How often the directory is looked at for new, removed and replaced rings. */
const SCAN_INTERVAL_MS = 500;
/** A directory changed this recently may change again within the same mtime tick: listed anyway. */
const RECENT_CHANGE_MS = 1_000;

export class RingHub implements TopicDirectory, MessageOutlet {
  /** The served topics by name: the stream of the ring that serves each (or served it last). */
  readonly topics = new Map<string, Topic>();
  /** The ring serving each served topic; a topic whose ring went keeps its name but has none. */
  private readonly owners = new Map<Topic, RingFollower>();
  /** Every ring's stream of each topic name, in the order the rings claimed them. */
  private readonly streams = new Map<string, Map<RingFollower, Topic>>();
  readonly followers = new Map<string, RingFollower>();
  /** The followers as an array, for every poll round and the idle spin's probe (iterating an array allocates nothing). */
  private followerList: RingFollower[] = [];
  private readonly failing = new Set<string>();
  private readonly directoryMtime: ModificationTime;
  /** The directory's mtime (ms) at the last look; -1 before the first. */
  private lastMtimeMs = -1;
  private fanout: Fanout | null = null;
  private scanTimer: ReturnType<typeof setInterval> | null = null;
  private running = false;
  private readonly idle: IdleStrategy;
  /**
   * The shared clock, read once per poll round (at its first live message, so the many empty
   * rounds of a spin never pay for it), beside the process's own clock then: a live record's
   * commit time is put on the process's clock with it, never with a shared-clock read per record.
   */
  private readonly roundClock = new ClockBridge();
  private clockRound = -1;
  /**
   * Commit times (on the process's clock, ns) of the live messages handed to uWS in this
   * event-loop turn. Bun's server.publish only queues: uWS writes to the subscribers once the
   * turn returns to the event loop, so fan-out latency is observed then (releaseTimed).
   */
  private readonly handedCommits: number[] = [];
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
    this.idle = idleStrategy(config, this.recordsWaiting);
    this.directoryMtime = new ModificationTime(config.sharedMemoryPath);
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
    this.fanout = null; // closing the followers must not tell subscribers their rings went
    if (this.scanTimer) clearInterval(this.scanTimer);
    this.idle.close();
    for (const follower of this.followers.values()) follower.close();
    this.followers.clear();
    this.followerList = [];
  }

  /** Drains what every ring holds right now (tests and startup use it). */
  drain(): number {
    let total = 0;
    for (;;) {
      const read = this.pollAll();
      total += read;
      if (read === 0) break;
    }
    this.releaseTimed();
    return total;
  }

  /** Whether any ring holds a record not read yet: one load of each ring's cursor. */
  private readonly recordsWaiting = (): boolean => {
    const list = this.followerList;
    for (let i = 0; i < list.length; i++) if (list[i]!.lag() > 0) return true;
    return false;
  };

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
    this.releaseTimed();
    this.idle.idle(read, this.loop);
  };

  /** The turn's messages go to uWS, which writes them once the turn ends: their fan-out latency. */
  private releaseTimed(): void {
    const commits = this.handedCommits;
    if (commits.length === 0) return;
    const nowNs = performance.now() * 1e6;
    for (const committedAt of commits) {
      this.metrics.fanoutLatency.observe(Math.max(0, nowNs - committedAt) / 1e9);
    }
    commits.length = 0;
  }

  private pollAll(): number {
    this.round++;
    let read = 0;
    for (const follower of this.followerList) {
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

  /**
   * Finds new ring files, drops removed ones, checks known ones for a new generation, judges
   * every ring's writer, and moves topics off rings whose writer stopped.
   */
  scan(): void {
    this.round++;
    try {
      this.scanRings();
      this.checkWriters();
      this.settleOwners();
    } finally {
      this.round++;
    }
    this.releaseTimed(); // a replaced ring's last records are read here
  }

  private scanRings(): void {
    if (this.failing.size === 0 && !this.directoryMayHaveChanged()) return;
    this.findRings();
    this.followerList = [...this.followers.values()];
  }

  /**
   * Whether the directory may hold a ring created, removed or renamed over since the last
   * listing: each moves its mtime. Listing it and checking every ring's inode cost 160-250 us of
   * the event loop twice a second; reading the mtime costs a few. A change in the same clock tick
   * as the last listing keeps the mtime, so a recent mtime is listed again.
   */
  private directoryMayHaveChanged(): boolean {
    let mtimeMs: number;
    try {
      mtimeMs = this.directoryMtime.read();
    } catch {
      return true; // listing it says why
    }
    const changed = mtimeMs !== this.lastMtimeMs || Date.now() - mtimeMs < RECENT_CHANGE_MS;
    this.lastMtimeMs = mtimeMs;
    return changed;
  }

  private findRings(): void {
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
      const follower = new RingFollower(path, this, this, this.config.staleMs);
      try {
        follower.attach();
        this.followers.set(path, follower);
        this.failing.delete(path);
        follower.poll(Number.MAX_SAFE_INTEGER);
        this.log.info("ring attached", {
          ring: path,
          exchange: follower.exchange,
          generation: follower.generation,
          writer: follower.stale ?? "live",
        });
      } catch (error) {
        follower.close();
        if (!this.failing.has(path)) this.log.warn("cannot attach ring", { ring: path, error });
        this.failing.add(path);
      }
    }
  }

  claim(owner: RingFollower, parts: Topic["parts"]): Topic {
    const fresh = new Topic(parts, parts.channel === "bbo" ? 1 : this.config.historyLimit);
    let streams = this.streams.get(fresh.name);
    if (streams === undefined) {
      streams = new Map();
      this.streams.set(fresh.name, streams);
    }
    const known = streams.get(owner);
    if (known !== undefined) return known;
    streams.set(owner, fresh);
    return fresh;
  }

  release(owner: RingFollower, topic: Topic): void {
    const streams = this.streams.get(topic.name);
    if (streams?.get(owner) !== topic) return;
    streams.delete(owner);
    if (streams.size === 0) this.streams.delete(topic.name);
    if (this.owners.get(topic) !== owner) return;
    // Subscribers keep the name: another ring may take it on (settleOwners), or this one return.
    this.owners.delete(topic);
    topic.staleReason = "ring_removed";
    this.publish(topic, topic.staleNotice()!);
    topic.serving = false;
  }

  /** Judges every ring's writer (each tells its subscribers when it stops or beats again). */
  private checkWriters(): void {
    const now = Date.now();
    for (const follower of this.followers.values()) follower.checkWriter(now);
  }

  writerChanged(ring: RingFollower): void {
    if (ring.stale === null) {
      this.log.info("ring writer is live again", { ring: ring.path });
      return;
    }
    this.log.warn(
      "ring writer stopped: its topics are stale until it beats again or a live ring serves them",
      {
        ring: ring.path,
        exchange: ring.exchange,
        reason: ring.stale,
        heartbeatAgeMs: ring.heartbeatAgeMs(),
        writerPid: ring.writerPid(),
      },
    );
  }

  /**
   * Gives each topic name its ring: the one serving it while its writer is live; else the first
   * live ring that has the topic; else, for a name nobody serves, the first ring that has it.
   */
  private settleOwners(): void {
    const moves = new Map<string, { ring: string; from: string; topics: number }>();
    for (const [name, streams] of this.streams) {
      const served = this.topics.get(name);
      const owner = served === undefined ? undefined : this.owners.get(served);
      if (owner !== undefined && owner.stale === null) continue;
      let next: RingFollower | undefined;
      for (const follower of streams.keys()) {
        if (follower.stale !== null) continue;
        next = follower;
        break;
      }
      if (next === undefined && owner === undefined) next = streams.keys().next().value;
      if (next === undefined || next === owner) continue;
      this.serve(streams.get(next)!, next, served);
      if (served === undefined) continue;
      const from = owner?.path ?? "(removed)";
      const move = moves.get(`${from} ${next.path}`) ?? { ring: next.path, from, topics: 0 };
      move.topics++;
      moves.set(`${from} ${next.path}`, move);
    }
    for (const move of moves.values()) this.log.warn("ring took over topics", move);
  }

  /**
   * Serves `topic` (the stream of `ring`) under its name. When it replaces another ring's stream,
   * the topic goes on at this ring's count: subscribers get "restarted" at that position (it
   * sets theirs), then the starting state as for a new subscriber; neither stream's messages
   * from before can be resumed (see Topic.replace).
   */
  private serve(topic: Topic, ring: RingFollower, previous: Topic | undefined): void {
    if (previous !== undefined) {
      previous.serving = false;
      this.owners.delete(previous);
    }
    topic.serving = true;
    this.topics.set(topic.name, topic);
    this.owners.set(topic, ring);
    if (previous === undefined) return;
    this.metrics.ownerChanges.labels(ring.path).inc();
    const name = ring.path.slice(ring.path.lastIndexOf("/") + 1);
    topic.replace(previous.position);
    this.publish(topic, encodeNotice(topic.name, topic.position, "restarted", `ring ${name}`));
    const initial = topic.initial?.();
    if (initial) this.publish(topic, initial);
    const stale = topic.staleNotice();
    if (stale !== null) this.publish(topic, stale);
  }

  publish(topic: Topic, text: string, deltaOf?: number): void {
    this.hand(topic, text, deltaOf);
  }

  publishLive(
    topic: Topic,
    text: string,
    committedSec: number,
    committedNsec: number,
    pickedUpAtMs: number,
    deltaOf?: number,
  ): void {
    const receivers = this.hand(topic, text, deltaOf);
    if (receivers < 0) return;
    // The commit on the process's clock, from the round's one reading of the shared clock.
    if (this.clockRound !== this.round) {
      this.clockRound = this.round;
      this.roundClock.read();
    }
    const committedAtNs = this.roundClock.localNs(committedSec, committedNsec);
    this.metrics.pickupLatency.observe(Math.max(0, pickedUpAtMs * 1e6 - committedAtNs) / 1e9);
    if (receivers > 0) this.handedCommits.push(committedAtNs);
  }

  /** Hands a message to its topic's subscribers and counts it: how many got it, -1 if the topic is not served. */
  private hand(topic: Topic, text: string, deltaOf: number | undefined): number {
    const fanout = this.fanout;
    if (fanout === null || !topic.serving) return -1;
    const receivers = fanout.send(topic, text);
    if (receivers === 0) return 0;
    const metrics = this.metrics;
    const channel = topic.channel;
    metrics.messagesSent[channel].inc(receivers);
    metrics.bytesSent[channel].inc(receivers * text.length);
    if (deltaOf !== undefined) {
      metrics.deltaBytes += receivers * text.length;
      metrics.deltaAsSnapshotBytes += receivers * Math.max(deltaOf, text.length);
    }
    return receivers;
  }

  lost(ring: string, records: number): void {
    this.metrics.ringGaps.labels(ring).inc();
    this.metrics.ringLost.labels(ring).inc(records);
    this.log.throttled("warn", `lost:${ring}`, "broadcaster was lapped by the ring writer", {
      ring,
      records,
    });
  }

  /** A ring attached or moved to a new generation: serve its new topics, and tell wildcard subscribers. */
  topicsChanged(): void {
    this.settleOwners();
    this.fanout?.topicsChanged();
  }

  /**
   * Ready when a ring is attached and every ring that serves topics has a live writer (as of the
   * last scan). A stopped ring whose topics other rings serve does not count.
   */
  freshness(): { ready: boolean; reason?: string } {
    if (this.followers.size === 0)
      return { ready: false, reason: `no ring in ${this.config.sharedMemoryPath}` };
    for (const follower of new Set(this.owners.values())) {
      if (follower.stale === null) continue;
      return {
        ready: false,
        reason: `${follower.path} serves topics but its writer stopped (${follower.stale}, heartbeat ${follower.heartbeatAgeMs()} ms old)`,
      };
    }
    return { ready: true };
  }

  ringLag(): Array<{ ring: string; lag: number }> {
    return [...this.followers.values()].map((f) => ({ ring: f.path, lag: f.lag() }));
  }

  /** Each ring's writer state and how many topics it serves, for the metrics. */
  ringWriters(): Array<{ ring: string; stale: boolean; served: number }> {
    const served = new Map<RingFollower, number>();
    for (const owner of this.owners.values()) served.set(owner, (served.get(owner) ?? 0) + 1);
    return [...this.followers.values()].map((f) => ({
      ring: f.path,
      stale: f.stale !== null,
      served: served.get(f) ?? 0,
    }));
  }

  ownerOf(topic: Topic): RingFollower | undefined {
    return this.owners.get(topic);
  }
}
