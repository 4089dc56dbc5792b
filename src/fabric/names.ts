// The fabric's names on NATS, in one place: each venue's stream and subjects, the headers its
// messages carry, the lease bucket. docs/fabric.md describes what travels under each.

/** The JetStream KV bucket holding one lease per venue (key = the exchange). */
export const LEASE_BUCKET = "alphapulse_leases";

/** Message headers. The Nats-* ones are JetStream's own. */
export const HEADER = {
  /** The leader generation a message belongs to (1, 2, ...). */
  generation: "Ap-Generation",
  /** The message's number within its generation: 0 the claim, 1 the generation message, ... */
  index: "Ap-Index",
  /** Books: the last ring sequence the entries describe. */
  ringSeq: "Ap-Ring-Seq",
  /** Generation: levels per side in each entry. */
  bookDepth: "Ap-Book-Depth",
  /** The status topic's count before the generation, and (books) through Ap-Ring-Seq. */
  connectionBase: "Ap-Connection-Base",
  connectionCount: "Ap-Connection-Count",
  /** Claim: who took the lease. */
  holder: "Ap-Holder",
  /** The fence: the stream's last sequence must be this, or the message is refused. */
  expectedLastSeq: "Nats-Expected-Last-Sequence",
} as const;

export interface VenueNames {
  readonly exchange: string;
  readonly stream: string;
  /** Ring batches: one message = one batch of 64-byte records, the last flagged BATCH_END. */
  readonly records: string;
  /** Every latest-book entry at one batch boundary: a starting point (the last one is read directly). */
  readonly books: string;
  /** A generation's symbol table and first entries. */
  readonly generation: string;
  /** A new leader's first message: fences the old one out before it reads the stream's end. */
  readonly claim: string;
  /** Core NATS, not in the stream: the leader's liveness and ring position, four times a second. */
  readonly beat: string;
  /** The stream's subjects. */
  readonly subjects: readonly string[];
}

export function venueNames(exchange: string): VenueNames {
  const prefix = `alphapulse.${exchange}`;
  const records = `${prefix}.records`;
  const books = `${prefix}.books`;
  const generation = `${prefix}.generation`;
  const claim = `${prefix}.claim`;
  return {
    exchange,
    stream: `ALPHAPULSE_${exchange.toUpperCase()}`,
    records,
    books,
    generation,
    claim,
    beat: `${prefix}.beat`,
    subjects: [records, books, generation, claim],
  };
}
