// The leader's side of the fabric. Every batch its ring commits goes to the venue's stream as
// the ring's own 64-byte records: batches committed in one turn of the event loop, or while the
// window is full, share one message (whole batches, up to RECORDS_MESSAGE_BYTES), since each
// message costs about the same whatever it carries. Messages are published without waiting for
// each acknowledgement: up to a window of them are in flight, replies come to one inbox. Every
// message is fenced with the stream sequence its predecessor must have (the claim's sequence
// plus its index, since this leader is the stream's only writer), so nothing lands out of
// order, twice, or after another leader's claim. A refusal or a late acknowledgement makes the
// publisher ask the stream where it stands and send again from there; meanwhile batches wait
// in memory (a stream leader election stalls publishes for seconds). The ring never waits:
// past the buffer limit batches are dropped and a books message after them tells relays where
// to start again, an explicit gap. It also publishes the books every FABRIC_BOOKS_INTERVAL_MS
// and a beat (core NATS) four times a second.
import { createInbox, Empty, headers, type Msg, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import { bookStride, SLOT_SIZE, SYMBOL_ENTRY_SIZE } from "../shm/layout.ts";
import type { BatchObserver, RingWriter } from "../shm/ring-writer.ts";
import type { FabricConfig } from "./config.ts";
import type { FabricLink } from "./link.ts";
import type { FabricStats } from "./metrics.ts";
import { HEADER } from "./names.ts";
import { booksMessage, generationMessage, generationOf, intHeader, leaderHeaders } from "./wire.ts";

/** Where a new leader's generation begins: its number and its claim's stream sequence. */
export interface Claim {
  readonly generation: number;
  readonly seq: number;
}

const TICK_MS = 50;
const BEAT_MS = 250;
/** A records message grows to this many bytes (1024 records) before the next one starts. */
const RECORDS_MESSAGE_BYTES = 64 * 1024;

/**
 * Fences the stream for a new generation: publishes the claim right after the stream's last
 * message (expected last sequence), so no earlier leader can write after it, and returns it.
 * The generation is one past the last one the stream has seen claimed or begun.
 */
export async function claimStream(link: FabricLink, holder: string, log: Logger): Promise<Claim> {
  const { jsm, js, names } = link;
  for (let attempt = 1; ; attempt++) {
    try {
      const last = (await jsm.streams.info(names.stream)).state.last_seq;
      let generation = 0;
      for (const subject of [names.generation, names.claim]) {
        const message = await jsm.streams.getMessage(names.stream, { last_by_subj: subject });
        if (message) generation = Math.max(generation, generationOf(subject, message.header));
      }
      const h = headers();
      h.set(HEADER.generation, String(generation + 1));
      h.set(HEADER.index, "0");
      h.set(HEADER.holder, holder);
      h.set(HEADER.expectedLastSeq, String(last));
      const ack = await js.publish(names.claim, Empty, { headers: h });
      log.info("stream claimed", { generation: generation + 1, seq: ack.seq });
      return { generation: generation + 1, seq: ack.seq };
    } catch (error) {
      // Refused: a message landed after the last one we saw (the old leader's last few); look again.
      log.throttled("warn", "claim", "cannot claim the stream yet; retrying", { attempt, error });
      await Bun.sleep(Math.min(1_000, 50 * attempt));
    }
  }
}

interface Outgoing {
  readonly index: number;
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly headers: ReturnType<typeof headers>;
  /** performance.now() when sent in the current epoch. */
  sentAt: number;
}

export interface FabricPublisherOptions {
  readonly link: FabricLink;
  readonly writer: RingWriter;
  readonly claim: Claim;
  readonly config: FabricConfig;
  readonly stats: FabricStats;
  readonly log: Logger;
  /** Another writer is in the stream after this leader's messages: it must stop. */
  readonly onFenced: (reason: string) => void;
}

type Mode = "sending" | "resyncing" | "stopped";

export class FabricPublisher implements BatchObserver {
  private readonly items: (Outgoing | undefined)[] = [];
  /** items[head] has index ackedThrough + 1. */
  private head = 0;
  private ackedThrough = 0;
  private nextIndex = 1;
  private sendCursor = 1;
  /** Bumped at each resync: acknowledgements of earlier sends are ignored. */
  private epoch = 0;
  private mode: Mode = "sending";
  private bufferedBytes = 0;
  /** Batches are being dropped (buffer full) until a books message can follow them. */
  private dropping = false;
  private nextBooksAt = 0;
  private nextBeatAt = 0;
  /** Records of committed batches not in a message yet: the next records message's body. */
  private open = new Uint8Array(RECORDS_MESSAGE_BYTES);
  private openBytes = 0;
  /** RECORDS_MESSAGE_BYTES, or less when the server's max_payload is smaller. */
  private messageBytes = RECORDS_MESSAGE_BYTES;
  private pumpQueued = false;
  private readonly inbox = createInbox();
  private subscription: Subscription | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly options: FabricPublisherOptions) {}

  /** Publishes the generation message, then every batch the ring commits from now on. */
  begin(): void {
    const { link, writer } = this.options;
    const generationBytes = writer.symbols.length * (SYMBOL_ENTRY_SIZE + bookStride(writer.bookDepth));
    const maxPayload = link.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    if (generationBytes > maxPayload) {
      throw new Error(
        `${writer.symbols.length} symbols at book depth ${writer.bookDepth} make ${generationBytes}-byte messages, more than the NATS server's max_payload (${maxPayload}): fewer symbols per venue, a lower BOOK_DEPTH, or a larger max_payload`,
      );
    }
    // Room for the headers; whole records.
    const room = Math.floor((maxPayload - 1024) / SLOT_SIZE) * SLOT_SIZE;
    this.messageBytes = Math.max(SLOT_SIZE, Math.min(RECORDS_MESSAGE_BYTES, room));
    this.subscription = link.nc.subscribe(`${this.inbox}.>`, { callback: (_error, msg) => this.onAck(msg) });
    this.enqueue(link.names.generation, (h) => generationMessage(writer, h));
    writer.observe(this);
    this.nextBooksAt = performance.now() + this.options.config.booksIntervalMs;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.pump();
  }

  /** A batch the ring committed (inside its append): copied now, sent when the window allows. */
  committed(firstSeq: number, lastSeq: number): void {
    if (this.mode === "stopped") return;
    const count = lastSeq - firstSeq + 1;
    const bytes = count * SLOT_SIZE;
    if (this.dropping || this.bufferedBytes + bytes > this.options.config.bufferBytes) {
      if (!this.dropping) {
        this.options.log.error(
          "publish buffer full: dropping batches until the stream takes messages again",
          {
            bufferedBytes: this.bufferedBytes,
          },
        );
      }
      this.dropping = true;
      this.options.stats.droppedRecords += count;
      return;
    }
    if (this.openBytes > 0 && this.openBytes + bytes > this.messageBytes) this.seal();
    if (this.openBytes + bytes > this.open.length) {
      // One batch larger than a message: a message of its own.
      const grown = new Uint8Array(this.openBytes + bytes);
      grown.set(this.open.subarray(0, this.openBytes));
      this.open = grown;
    }
    this.options.writer.copyRecords(firstSeq, count, this.open, this.openBytes);
    this.openBytes += bytes;
    this.bufferedBytes += bytes;
    // Sent once the current turn has committed what it will: batches of one turn share a message.
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(() => {
        this.pumpQueued = false;
        this.pump();
      });
    }
  }

  /** Waits until everything enqueued is acknowledged, at most `timeoutMs`; true if it was. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const pending = () => this.ackedThrough < this.nextIndex - 1 || this.openBytes > 0;
    while (pending() && this.mode !== "stopped") {
      if (performance.now() > deadline) return false;
      await Bun.sleep(10);
    }
    return !pending();
  }

  stop(): void {
    this.mode = "stopped";
    this.options.writer.observe(null);
    if (this.timer) clearInterval(this.timer);
    this.subscription?.unsubscribe();
  }

  /**
   * Adds a message with the next index after the open records; `build` fills the body and its
   * own headers (null: skip).
   */
  private enqueue(subject: string, build: (h: Outgoing["headers"]) => Uint8Array | null): boolean {
    const { claim } = this.options;
    if (this.openBytes > 0) this.seal();
    const h = leaderHeaders(claim.generation, this.nextIndex, claim.seq + this.nextIndex - 1);
    const payload = build(h);
    if (payload === null) return false;
    this.bufferedBytes += payload.length;
    this.push(subject, payload, h);
    this.pump();
    return true;
  }

  /** The open records become the next message (their bytes are already counted as buffered). */
  private seal(): void {
    const { claim, link } = this.options;
    const h = leaderHeaders(claim.generation, this.nextIndex, claim.seq + this.nextIndex - 1);
    // A full buffer becomes the message as it is (no copy); a small body is copied out of it.
    const full = this.openBytes * 2 >= this.open.length;
    this.push(
      link.names.records,
      full ? this.open.subarray(0, this.openBytes) : this.open.slice(0, this.openBytes),
      h,
    );
    if (full) this.open = new Uint8Array(RECORDS_MESSAGE_BYTES);
    this.openBytes = 0;
  }

  private push(subject: string, payload: Uint8Array, headers: Outgoing["headers"]): void {
    this.items.push({ index: this.nextIndex++, subject, payload, headers, sentAt: 0 });
  }

  private item(index: number): Outgoing {
    return this.items[this.head + index - this.ackedThrough - 1]!;
  }

  /** Sends what the window allows; with room left, the open records become a message and go too. */
  private pump(): void {
    if (this.mode !== "sending") return;
    const nc = this.options.link.nc;
    const window = this.options.config.publishWindow;
    for (;;) {
      const limit = Math.min(this.nextIndex - 1, this.ackedThrough + window);
      while (this.sendCursor <= limit) {
        const item = this.item(this.sendCursor);
        item.sentAt = performance.now();
        try {
          nc.publish(item.subject, item.payload, {
            headers: item.headers,
            reply: `${this.inbox}.${this.epoch}.${item.index}`,
          });
        } catch (error) {
          this.options.log.throttled("warn", "publish", "publish failed", { error });
          void this.resync("refused");
          return;
        }
        this.sendCursor++;
      }
      if (this.openBytes === 0 || this.nextIndex - 1 >= this.ackedThrough + window) return;
      this.seal();
    }
  }

  private onAck(msg: Msg): void {
    const subject = msg.subject;
    const dot = subject.lastIndexOf(".");
    const epochDot = subject.lastIndexOf(".", dot - 1);
    if (Number(subject.slice(epochDot + 1, dot)) !== this.epoch || this.mode !== "sending") return;
    const index = Number(subject.slice(dot + 1));
    let ack: { seq?: number; error?: { err_code?: number; description?: string } };
    try {
      ack = msg.json();
    } catch {
      ack = { error: { description: `no acknowledgement (status ${msg.headers?.code ?? "?"})` } };
    }
    if (ack.error !== undefined || ack.seq !== this.options.claim.seq + index) {
      this.options.log.throttled("warn", "refused", "the stream refused a message; asking where it stands", {
        index,
        error: ack.error,
        seq: ack.seq,
      });
      void this.resync("refused");
      return;
    }
    // The fence keeps our messages contiguous: this one stored means every one before it is.
    if (index > this.ackedThrough) this.release(index);
    this.pump();
  }

  private release(through: number): void {
    const stats = this.options.stats;
    for (let index = this.ackedThrough + 1; index <= through; index++) {
      this.bufferedBytes -= this.items[this.head]!.payload.length;
      this.items[this.head++] = undefined;
      stats.publishedMessages++;
    }
    this.ackedThrough = through;
    if (this.sendCursor <= through) this.sendCursor = through + 1;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  private tick(): void {
    const now = performance.now();
    const { stats, config } = this.options;
    stats.bufferedBytes = this.bufferedBytes;
    if (this.mode === "stopped") return;
    if (this.mode === "sending" && this.sendCursor > this.ackedThrough + 1) {
      if (now - this.item(this.ackedThrough + 1).sentAt > config.ackTimeoutMs) void this.resync("timeout");
    }
    // A dropped stretch ends only with a books message the stream accepts after it.
    const recovered = this.dropping && this.mode === "sending" && this.bufferedBytes < config.bufferBytes / 2;
    if (now >= this.nextBooksAt || recovered) {
      if (this.enqueue(this.options.link.names.books, (h) => booksMessage(this.options.writer, h))) {
        this.nextBooksAt = now + config.booksIntervalMs;
        if (recovered) {
          this.dropping = false;
          this.options.log.warn(
            "publishing again after dropped batches: relays start again from these books",
          );
        }
      }
    }
    if (now >= this.nextBeatAt) {
      this.nextBeatAt = now + BEAT_MS;
      this.beat();
    }
  }

  /** The leader's liveness and ring position, for relays to judge how current they are. */
  private beat(): void {
    const { link, writer, claim } = this.options;
    const body = JSON.stringify({ generation: claim.generation, committed: writer.nextSeq - 1 });
    try {
      link.nc.publish(link.names.beat, body);
    } catch {
      // Not connected: relays see no beat and report stale, which is the truth.
    }
  }

  /** Asks the stream which of our messages it holds and sends again from the first it lacks. */
  private async resync(kind: string): Promise<void> {
    if (this.mode !== "sending") return;
    this.mode = "resyncing";
    this.epoch++;
    const { stats, log } = this.options;
    stats.publishError(kind);
    for (let attempt = 1; this.mode === "resyncing"; attempt++) {
      try {
        const stored = await this.storedThrough();
        if (stored === null) return this.fenced("another writer's message follows ours in the stream");
        if (stored < this.ackedThrough) return this.fenced("the stream lost messages it had acknowledged");
        stats.publishRetries += Math.max(0, this.sendCursor - 1 - stored);
        this.release(stored);
        this.sendCursor = stored + 1;
        this.mode = "sending";
        log.info("publishing again", { from: stored + 1, attempt });
        this.pump();
        return;
      } catch (error) {
        log.throttled("warn", "resync", "cannot reach the stream; batches wait in memory", {
          attempt,
          bufferedBytes: this.bufferedBytes,
          error,
        });
        await Bun.sleep(Math.min(1_000, 50 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  /** The index of our last message in the stream, or null when the last one is not ours. */
  private async storedThrough(): Promise<number | null> {
    const { jsm, names } = this.options.link;
    const { claim } = this.options;
    const last = (await jsm.streams.info(names.stream)).state.last_seq;
    const index = last - claim.seq;
    if (index < 0 || index >= this.nextIndex) return null;
    const message = await jsm.streams.getMessage(names.stream, { seq: last });
    // Only max_age removes a stream's last message, and no one wrote after it: it was ours.
    if (message === null) return index;
    const ours =
      generationOf(message.subject, message.header) === claim.generation &&
      intHeader(message.subject, message.header, HEADER.index) === index;
    return ours ? index : null;
  }

  private fenced(reason: string): void {
    this.options.stats.publishError("fenced");
    this.options.log.error("fenced out of the stream: this process no longer leads", { reason });
    this.stop();
    this.options.onFenced(reason);
  }
}
