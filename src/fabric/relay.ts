// The relay: follows a venue's stream into a local ring (RingCopy), so broadcasters, `inspect`
// and the Python reader on any node read the leader's records under the leader's sequences.
// It starts from the consistent starting point (the generation's latest books, or its first
// entries), follows with an ordered consumer, and reopens that consumer itself when it goes
// silent while the stream holds more (a consumer can die quietly with the node that held it).
// The ring's heartbeat says how current the copy is, not that this process runs: it is stamped
// with the time of the leader's last beat whose ring position the copy had reached, so a copy
// that falls behind or loses the leader goes stale for its readers. A relay started again takes
// up the ring its predecessor left when it can go on from there (RingCopy.resume): its readers
// see the writer stale, then live again, with no restart and no hole.
import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import type { Subscription } from "@nats-io/transport-node";
import type { Readiness } from "../health/server.ts";
import type { Logger } from "../log.ts";
import type { FabricConfig } from "./config.ts";
import type { FabricLink } from "./link.ts";
import type { FabricStats } from "./metrics.ts";
import { RingCopy } from "./ring-copy.ts";
import {
  type BooksMessage,
  decodeBooks,
  decodeGeneration,
  type GenerationMessage,
  generationOf,
} from "./wire.ts";

export interface RelayOptions {
  readonly link: FabricLink;
  readonly dir: string;
  readonly ringName: string;
  readonly capacity: number;
  readonly config: FabricConfig;
  readonly stats: FabricStats;
  readonly log: Logger;
}

interface Beat {
  readonly at: number;
  readonly generation: number;
  readonly committed: number;
}

const TICK_MS = 100;
/**
 * Messages the consumer may hold undelivered: with records messages of at most 64 KiB, 8 MiB of
 * the relay's memory while it catches up. A count, not nats.js's max_bytes: a pull whose bytes
 * run short of the next message ends in a 409 that nats.js answers by waiting for missed
 * heartbeats, which stalled the bench's relay for 3 s (its watchdog) in three of four runs.
 */
const CONSUME_MESSAGES = 128;

export class Relay {
  readonly copy: RingCopy;
  /** The last stream sequence handled. */
  private applied = 0;
  /** The stream's creation time (ms since the epoch): names it in the ring's header. */
  private streamCreatedMs = 0;
  /** Bumped for each consumer: deliveries of an older one are ignored. */
  private consumerToken = 0;
  private closeConsumer: (() => void) | null = null;
  private lastDelivery = 0;
  private lastStreamCheck = 0;
  private startingOver: Promise<void> | null = null;
  private readonly beats: Beat[] = [];
  private lastBeat: Beat | null = null;
  /** When the copy was last as far as the leader's ring (ms since the epoch; 0: never). */
  private currentAt = 0;
  private stampedAt = 0;
  private readonly startedAt = Date.now();
  private beatSubscription: Subscription | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private readonly waiters: { seq: number; resolve: () => void }[] = [];

  constructor(private readonly options: RelayOptions) {
    this.copy = new RingCopy({
      dir: options.dir,
      name: options.ringName,
      exchange: options.link.names.exchange,
      capacity: options.capacity,
      log: options.log,
    });
  }

  async start(): Promise<void> {
    const { link } = this.options;
    this.beatSubscription = link.nc.subscribe(link.names.beat, {
      callback: (_error, msg) => this.onBeat(msg.string()),
    });
    this.timer = setInterval(() => this.tick(), TICK_MS);
    await this.startOver("start");
  }

  /** Resolves once every stream message up to `seq` is applied; false after `timeoutMs`. */
  async appliedThrough(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= seq) return true;
    let resolve = () => {};
    const reached = new Promise<void>((r) => {
      resolve = r;
    });
    this.waiters.push({ seq, resolve });
    const timeout = Bun.sleep(timeoutMs).then(() => false);
    return Promise.race([reached.then(() => true), timeout]);
  }

  /** Stops following and closes the ring (its state becomes closed; the data stays readable). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.consumerToken++;
    this.closeConsumer?.();
    this.beatSubscription?.unsubscribe();
    this.copy.close();
    // A standby that now leads copies nothing: no lag to report.
    this.options.stats.relayLagRecords = 0;
    this.options.stats.relayLagSeconds = 0;
  }

  readiness(): Readiness {
    const ageMs = Date.now() - this.currentAt;
    if (this.copy.writer === null) return { ready: false, reason: "no generation to copy yet" };
    if (ageMs > this.options.config.staleMs) {
      return { ready: false, reason: `the copy was last current ${ageMs} ms ago` };
    }
    return { ready: true };
  }

  /**
   * From the starting point: the last generation message and, when it belongs to the same
   * generation, the last books message. A copy already in that generation jumps to the books only
   * if they are past its end, else it carries on from where it is.
   */
  private startOver(reason: string): Promise<void> {
    this.startingOver ??= this.findStart(reason).finally(() => {
      this.startingOver = null;
    });
    return this.startingOver;
  }

  private async findStart(reason: string): Promise<void> {
    const { link, log, stats } = this.options;
    const { jsm, names } = link;
    this.consumerToken++;
    this.closeConsumer?.();
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        const info = await jsm.streams.info(names.stream);
        this.streamCreatedMs = Date.parse(info.created);
        const generationMsg = await jsm.streams.getMessage(names.stream, { last_by_subj: names.generation });
        if (generationMsg === null) {
          // No leader has begun yet: follow from the stream's end and copy what comes.
          this.applied = info.state.last_seq;
          await this.openConsumer();
          return;
        }
        const shape = decodeGeneration(generationMsg.subject, generationMsg.header, generationMsg.data);
        const booksMsg = await jsm.streams.getMessage(names.stream, { last_by_subj: names.books });
        let books: BooksMessage | null = null;
        if (
          booksMsg &&
          booksMsg.seq > generationMsg.seq &&
          generationOf(booksMsg.subject, booksMsg.header) === shape.generation
        ) {
          books = decodeBooks(booksMsg.subject, booksMsg.header, booksMsg.data, shape);
        }
        const from = books === null ? generationMsg.seq : booksMsg!.seq;
        // A ring taken up goes on from its own last message, not from the books past it.
        const resumed = this.copy.writer === null && this.resume(shape, info.state.first_seq);
        if (this.copy.generation !== shape.generation) {
          this.copy.begin(shape, books, { createdMs: this.streamCreatedMs, seq: from });
          this.applied = from;
          stats.generation = shape.generation;
          log.info("copying", {
            reason,
            generation: shape.generation,
            fromRecord: this.copy.nextSeq,
            streamSeq: from,
          });
        } else if (!resumed && books !== null && books.start.firstSeq > this.copy.nextSeq) {
          this.noteHole(this.copy.applyBooks(books));
          this.markApplied(from);
        }
        await this.openConsumer();
        return;
      } catch (error) {
        log.throttled("warn", "start-over", "cannot read the stream's starting point; retrying", {
          reason,
          attempt,
          error,
        });
        await Bun.sleep(Math.min(1_000, 100 * attempt));
      }
    }
  }

  /** At start: takes up the ring a previous relay left here (true), or says why it cannot. */
  private resume(shape: GenerationMessage, streamFirstSeq: number): boolean {
    const { log, stats } = this.options;
    const result = this.copy.resume(shape, this.streamCreatedMs, streamFirstSeq);
    if ("seq" in result) {
      this.applied = result.seq;
      stats.generation = shape.generation;
      log.info("continuing the ring a previous relay left", {
        generation: shape.generation,
        fromRecord: this.copy.nextSeq,
        streamSeq: result.seq,
      });
      return true;
    }
    if (result.why !== null) {
      log.warn("cannot continue the ring a previous relay left: a new local generation", { why: result.why });
    }
    return false;
  }

  private async openConsumer(): Promise<void> {
    const { js, names } = this.options.link;
    const token = ++this.consumerToken;
    this.closeConsumer?.();
    const consumer = await js.consumers.get(names.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.applied + 1,
    });
    if (token !== this.consumerToken) return;
    const messages = await consumer.consume({
      max_messages: CONSUME_MESSAGES,
      callback: (message) => {
        if (token !== this.consumerToken) return;
        this.lastDelivery = Date.now();
        this.handle(message);
      },
    });
    this.lastDelivery = Date.now();
    this.closeConsumer = () => {
      void messages.close().catch(() => {});
    };
  }

  private handle(message: JsMsg): void {
    if (message.seq <= this.applied) {
      this.options.stats.relayRedelivered++;
      return;
    }
    const { names } = this.options.link;
    try {
      const subject = message.subject;
      if (subject === names.records) {
        if (!this.sameGeneration(message)) return;
        const result = this.copy.applyRecords(subject, message.data);
        if (result === "duplicate") this.options.stats.relayRedelivered++;
        else if (result === "hole") {
          this.options.log.throttled(
            "warn",
            "hole",
            "records past the copy's end: waiting for the leader's books",
            {
              streamSeq: message.seq,
              applied: this.applied,
              copyNext: this.copy.nextSeq,
            },
          );
        }
      } else if (subject === names.books) {
        if (!this.sameGeneration(message)) return;
        this.noteHole(
          this.copy.applyBooks(decodeBooks(subject, message.headers, message.data, this.copy.shape!)),
        );
      } else if (subject === names.generation) {
        const shape = decodeGeneration(subject, message.headers, message.data);
        if (shape.generation > this.copy.generation) {
          this.copy.begin(shape, null, { createdMs: this.streamCreatedMs, seq: message.seq });
          this.options.stats.generation = shape.generation;
          this.options.log.info("copying a new generation", { generation: shape.generation });
        }
      } else if (subject === names.claim) {
        this.options.log.info("a collector claimed the stream: a new generation follows", {
          generation: generationOf(subject, message.headers),
        });
      }
    } catch (error) {
      this.options.log.error("cannot apply a stream message; starting over", {
        seq: message.seq,
        subject: message.subject,
        error,
      });
      void this.startOver("a message could not be applied");
      return;
    }
    this.markApplied(message.seq);
    this.wake();
  }

  /** Every stream message through `seq` is handled; the ring's header says so after its records. */
  private markApplied(seq: number): void {
    this.applied = seq;
    this.copy.appliedThrough(seq);
  }

  /**
   * True when the message belongs to the generation being copied. One of a later generation
   * whose generation message this copy never saw (rolled up) sends it back to the starting point.
   */
  private sameGeneration(message: JsMsg): boolean {
    const generation = generationOf(message.subject, message.headers);
    if (generation === this.copy.generation) return true;
    if (generation > this.copy.generation) {
      void this.startOver(`a message of generation ${generation} while copying ${this.copy.generation}`);
      return false;
    }
    this.markApplied(message.seq);
    return false;
  }

  private noteHole(skipped: number): void {
    if (skipped === 0) return;
    const { stats, log } = this.options;
    stats.relayGaps++;
    stats.relaySkippedRecords += skipped;
    log.warn("the copy missed records: it goes on from the leader's books (readers see a gap)", {
      skipped,
      from: this.copy.nextSeq,
    });
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.applied >= this.waiters[i]!.seq) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  private onBeat(text: string): void {
    let beat: Beat;
    try {
      const parsed = JSON.parse(text) as { generation: number; committed: number };
      beat = { at: Date.now(), generation: Number(parsed.generation), committed: Number(parsed.committed) };
    } catch {
      return;
    }
    this.lastBeat = beat;
    if (this.beats.length >= 64) this.beats.shift();
    this.beats.push(beat);
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    const { stats, config } = this.options;
    const copied = this.copy.nextSeq - 1;
    // The copy is current as of the latest beat whose position it has reached.
    while (this.beats.length > 0) {
      const beat = this.beats[0]!;
      if (beat.generation === this.copy.generation && copied >= beat.committed) this.currentAt = beat.at;
      else if (now - beat.at <= config.staleMs && beat.generation >= this.copy.generation) break;
      this.beats.shift();
    }
    const writer = this.copy.writer;
    // A relay started again recounts only the records after the point settled here.
    writer?.settle();
    if (writer !== null && this.currentAt > this.stampedAt) {
      writer.heartbeat(this.currentAt);
      this.stampedAt = this.currentAt;
    }
    const beat = this.lastBeat;
    stats.relayLagRecords =
      beat === null
        ? 0
        : beat.generation === this.copy.generation
          ? Math.max(0, beat.committed - copied)
          : beat.committed;
    stats.relayLagSeconds = (now - (this.currentAt || this.startedAt)) / 1000;
    this.watch(now);
  }

  /** Reopens a consumer that delivered nothing for FABRIC_RELAY_IDLE_MS while the stream has more. */
  private watch(now: number): void {
    const idleMs = this.options.config.relayIdleMs;
    if (this.startingOver !== null || now - this.lastDelivery < idleMs || now - this.lastStreamCheck < idleMs)
      return;
    this.lastStreamCheck = now;
    const { jsm, names } = this.options.link;
    void jsm.streams
      .info(names.stream)
      .then(async (info) => {
        if (info.state.last_seq <= this.applied || this.stopped || this.startingOver !== null) return;
        this.options.stats.relayConsumerRestarts++;
        this.options.log.warn("the consumer went silent while the stream holds more; reopening it", {
          applied: this.applied,
          streamLast: info.state.last_seq,
        });
        await this.openConsumer();
      })
      .catch((error: unknown) => {
        this.options.log.throttled("warn", "watch", "cannot check the stream", { error });
      });
  }
}
