// One ring's stream of one topic: its position (the seq of its last message), a bounded history
// of the messages it sent (for resume and REST), how to build a subscriber's starting state (a
// book snapshot, the latest bbo), and whether the ring behind it has stopped. Each ring follower
// keeps its own; the hub serves one of them under each topic name (see ring-hub.ts).
import { encodeNotice } from "../protocol/encode.ts";
import { type Channel, type TopicParts, topicName } from "../protocol/topics.ts";

/** The seq of a topic position not known to this broadcaster (it attached mid-stream). */
export const UNKNOWN_POSITION = -1;

export class Topic {
  readonly name: string;
  /** Seq of the last message sent on this topic (the next one is position + 1), or where the history starts. */
  position = UNKNOWN_POSITION;
  /** The oldest seq a resume may name: `position` when the history was last empty. */
  private base = UNKNOWN_POSITION;
  /** Seqs up to this one may name a message of a stream this one replaced: no resume from them. */
  private ambiguousThrough = UNKNOWN_POSITION;
  private readonly seqs: number[] = [];
  private readonly texts: string[] = [];
  private start = 0;
  /** Builds the text a new subscriber starts from (snapshot, latest bbo), if the topic has one. */
  initial: (() => string | null) | null = null;
  /** Set by the hub: this stream is the one served under the topic's name; only its messages go out. */
  serving = false;
  /** Why the ring behind this stream stopped (its writer is gone or silent), or null while it is live. */
  staleReason: string | null = null;

  constructor(
    readonly parts: TopicParts,
    private readonly historyLimit: number,
  ) {
    this.name = topicName(parts.channel, parts.exchange, parts.symbol);
  }

  get channel(): Channel {
    return this.parts.channel;
  }

  /** Starts a new stream at a known (or unknown) position: earlier history cannot be resumed. */
  reset(position: number): void {
    this.position = position;
    this.base = position;
    this.seqs.length = 0;
    this.texts.length = 0;
    this.start = 0;
  }

  /**
   * Makes this stream the one served in place of another, whose messages were numbered up to
   * `replaced` by its own ring's counts: it goes on from its own position, and since a seq at or
   * below `replaced` may name a message of either stream, no resume from one is honoured.
   */
  replace(replaced: number): void {
    this.reset(this.position);
    this.ambiguousThrough = Math.max(this.ambiguousThrough, replaced);
  }

  /** The notice that the ring behind the topic stopped (its data is as of the position, and old); null while it is live. */
  staleNotice(): string | null {
    return this.staleReason === null
      ? null
      : encodeNotice(this.name, this.position, "stale", this.staleReason);
  }

  /** Records a sent message. Latest-value topics keep only the last one. */
  record(seq: number, text: string): void {
    this.position = seq;
    if (this.seqs.length - this.start >= this.historyLimit) {
      this.base = this.seqs[this.start]!;
      this.start++;
      // Compact now and then instead of shifting on every message.
      if (this.start >= this.historyLimit) {
        this.seqs.splice(0, this.start);
        this.texts.splice(0, this.start);
        this.start = 0;
      }
    }
    this.seqs.push(seq);
    this.texts.push(text);
  }

  /**
   * The messages sent after `seq`, if this topic can account for everything since it: `seq` is
   * its start position or the seq of a message it still holds. Null means a gap.
   */
  since(seq: number): string[] | null {
    if (seq <= this.ambiguousThrough) return null;
    if (seq === this.position) return [];
    if (seq === this.base && seq !== UNKNOWN_POSITION) return this.texts.slice(this.start);
    const seqs = this.seqs;
    let lo = this.start;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= seqs.length || seqs[lo] !== seq) return null;
    return this.texts.slice(lo + 1);
  }

  /** The newest `limit` messages, oldest first. */
  recent(limit: number): string[] {
    return this.texts.slice(Math.max(this.start, this.texts.length - limit));
  }
}
