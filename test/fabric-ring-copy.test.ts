// A relay's copy of a ring, without NATS: every batch the leader's writer commits is taken as
// bytes (the writer's observer), carried as the fabric's messages carry it, and applied to a
// second ring by the relay's RingCopy. The copy must hold the same records under the same
// sequences, the same topic counts and the same books, and says what guards each book as the
// leader does; a copy that starts from the books, or jumps over records it never got, must show
// its readers the hole as lost records.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { RingCopy } from "../src/fabric/ring-copy.ts";
import {
  booksMessage,
  decodeBooks,
  decodeGeneration,
  generationMessage,
  leaderHeaders,
} from "../src/fabric/wire.ts";
import { log } from "../src/log.ts";
import {
  BookIntegrity,
  BookStatus,
  ConnectionState,
  SLOT_SIZE,
  StatusReason,
  type SymbolSpec,
} from "../src/shm/layout.ts";
import { RingReader } from "../src/shm/ring-reader.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { readRecords, ringBooks } from "./support/ring-records.ts";

const DIR = `/dev/shm/ap-test-fabric-copy-${process.pid}`;
const SYMBOLS: SymbolSpec[] = [
  { venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 },
  { venueSymbol: "ETH/USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 8 },
];
const DEPTH = 10;

beforeAll(() => mkdirSync(DIR, { recursive: true }));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

/** A leader ring with an observer that keeps each committed batch's bytes, as the publisher sends them. */
function leader(name: string) {
  const feed = new TestFeed(DIR, name, "kraken", SYMBOLS, DEPTH, 1 << 14);
  const batches: { first: number; body: Uint8Array }[] = [];
  feed.writer.observe({
    committed(first, last) {
      const body = new Uint8Array((last - first + 1) * SLOT_SIZE);
      feed.writer.copyRecords(first, last - first + 1, body);
      batches.push({ first, body });
    },
  });
  const h = leaderHeaders(1, 1, 0);
  const shape = decodeGeneration("generation", h, generationMessage(feed.writer, h));
  return { feed, batches, shape };
}

/** A realistic stretch of venue traffic: snapshots, deltas, trades, a resync, connection status. */
function traffic(feed: TestFeed, random: () => number, rounds: number): void {
  const mids = [600_000, 300_000];
  feed.connection(ConnectionState.Connected, StatusReason.None);
  for (const id of [0, 1]) feed.randomSnapshot(id, random, mids[id]!, 1, 30, 5_000_000);
  for (let i = 0; i < rounds; i++) {
    const id = i % 2;
    const roll = random();
    if (roll < 0.6) feed.randomUpdate(id, random, mids[id]!, 1);
    else if (roll < 0.95)
      feed.trade(
        id,
        mids[id]! + Math.floor(random() * 10),
        1 + Math.floor(random() * 1e6),
        random() < 0.5,
        i + 1,
      );
    else if (roll < 0.98) {
      feed.invalidate(id, BookStatus.Invalid, StatusReason.ChecksumMismatch);
      feed.randomSnapshot(id, random, mids[id]!, 1, 30, 5_000_000);
    } else feed.connection(ConnectionState.Reconnecting, StatusReason.Stale);
  }
}

describe("a relay's copy of a ring", () => {
  test("records, sequences, topic counts and books equal the leader's", () => {
    const { feed, batches, shape } = leader("whole");
    traffic(feed, seededRandom(11), 3000);
    const copy = new RingCopy({ dir: DIR, name: "whole-copy", exchange: "kraken", capacity: 1 << 12, log });
    copy.begin(shape, null, { createdMs: 0, seq: 0 });
    for (const batch of batches) expect(copy.applyRecords("records", batch.body)).toBe("applied");
    // Delivered again: recognised, not applied twice.
    expect(copy.applyRecords("records", batches.at(-1)!.body)).toBe("duplicate");
    feed.writer.anchorAll();
    copy.writer!.anchorAll();
    const original = readRecords(`${DIR}/whole.ring`, "oldest");
    const copied = readRecords(`${DIR}/whole-copy.ring`, "oldest");
    expect(copied.gaps).toEqual([]);
    expect(copied.lines.size).toBe(4095);
    for (const [seq, line] of copied.lines) expect(line).toBe(original.lines.get(seq)!);
    expect(ringBooks(`${DIR}/whole-copy.ring`)).toEqual(ringBooks(`${DIR}/whole.ring`));
    for (const id of [0, 1]) expect(copy.writer!.counts(id)).toEqual(feed.writer.counts(id));
    copy.close();
    feed.close();
  });

  test("messages of several batches copy as the batches one by one would, also after part of one went in: counts and books per batch", () => {
    const { feed, batches, shape } = leader("joined");
    const random = seededRandom(23);
    traffic(feed, random, 3000);
    // As the publisher joins batches queued together: runs of 1 to 40 whole batches per message.
    const messages: Uint8Array[] = [];
    /** A first part of each message: its first two batches (its first, of two), in bytes. */
    const partBytes: number[] = [];
    for (let i = 0; i < batches.length; ) {
      const run = batches.slice(i, i + 1 + Math.floor(random() * 40));
      const body = new Uint8Array(run.reduce((n, b) => n + b.body.length, 0));
      let at = 0;
      for (const batch of run) {
        body.set(batch.body, at);
        at += batch.body.length;
      }
      messages.push(body);
      partBytes.push(
        run.slice(0, Math.max(1, Math.min(2, run.length - 1))).reduce((n, b) => n + b.body.length, 0),
      );
      i += run.length;
    }
    expect(messages.length).toBeLessThan(batches.length / 5);
    const copy = new RingCopy({ dir: DIR, name: "joined-copy", exchange: "kraken", capacity: 1 << 14, log });
    copy.begin(shape, null, { createdMs: 0, seq: 0 });
    messages.forEach((body, i) => {
      // Some messages come again after their first batch went in (a relay killed in between
      // and started again): the rest of the message goes on at the copy's end.
      const partly = i % 5 === 0 && partBytes[i]! < body.length;
      if (partly) expect(copy.applyRecords("records", body.subarray(0, partBytes[i]!))).toBe("applied");
      expect(copy.applyRecords("records", body)).toBe("applied");
      if (partly) expect(copy.applyRecords("records", body.subarray(0, partBytes[i]!))).toBe("duplicate");
    });
    expect(copy.applyRecords("records", messages.at(-1)!)).toBe("duplicate");
    // A message must end where a batch ends.
    const long = batches.find((b) => b.body.length > SLOT_SIZE)!.body;
    expect(() => copy.applyRecords("records", long.subarray(0, SLOT_SIZE))).toThrow(/BATCH_END/);
    feed.writer.anchorAll();
    copy.writer!.anchorAll();
    const original = readRecords(`${DIR}/joined.ring`, "oldest");
    const copied = readRecords(`${DIR}/joined-copy.ring`, "oldest");
    expect(copied.gaps).toEqual([]);
    for (const [seq, line] of copied.lines) expect(line).toBe(original.lines.get(seq)!);
    expect(ringBooks(`${DIR}/joined-copy.ring`)).toEqual(ringBooks(`${DIR}/joined.ring`));
    // The bbo count moves once per batch that changes the best prices, as the leader's did.
    for (const id of [0, 1]) expect(copy.writer!.counts(id)).toEqual(feed.writer.counts(id));
    copy.close();
    feed.close();
  });

  test("a copy started from the books, and one that jumps a hole, show the hole and then agree", () => {
    const { feed, batches, shape } = leader("holes");
    const random = seededRandom(5);
    traffic(feed, random, 800);
    const h = leaderHeaders(1, 2, 0);
    const books = decodeBooks("books", h, booksMessage(feed.writer, h)!, shape);
    const boundary = books.start.firstSeq - 1;
    traffic(feed, random, 800);
    // Late: starts at the books.
    const late = new RingCopy({ dir: DIR, name: "late", exchange: "kraken", capacity: 1 << 14, log });
    late.begin(shape, books, { createdMs: 0, seq: 0 });
    // Missed: has the first 100 batches, misses the rest up to the books, then jumps to them.
    const missed = new RingCopy({ dir: DIR, name: "missed", exchange: "kraken", capacity: 1 << 14, log });
    missed.begin(shape, null, { createdMs: 0, seq: 0 });
    for (const batch of batches.slice(0, 100)) missed.applyRecords("records", batch.body);
    const hole = missed.nextSeq;
    expect(missed.applyRecords("records", batches.find((b) => b.first > boundary)!.body)).toBe("hole");
    expect(missed.applyBooks(books)).toBe(boundary + 1 - hole);
    for (const batch of batches) {
      if (batch.first <= boundary) continue;
      expect(late.applyRecords("records", batch.body)).toBe("applied");
      expect(missed.applyRecords("records", batch.body)).toBe("applied");
    }
    const original = readRecords(`${DIR}/holes.ring`, "oldest");
    const fromLate = readRecords(`${DIR}/late.ring`, 1);
    expect(fromLate.gaps).toEqual([[1, boundary]]);
    const fromMissed = readRecords(`${DIR}/missed.ring`, 1);
    expect(fromMissed.gaps).toEqual([[hole, boundary + 1 - hole]]);
    for (const sink of [fromLate, fromMissed]) {
      for (let seq = boundary + 1; seq < feed.writer.nextSeq; seq++)
        expect(sink.lines.get(seq)).toBe(original.lines.get(seq)!);
    }
    expect(RingReader.open(`${DIR}/late.ring`, "oldest").position).toBe(boundary + 1);
    feed.writer.anchorAll();
    for (const copy of [late, missed]) {
      copy.writer!.anchorAll();
      for (const id of [0, 1]) expect(copy.writer!.counts(id)).toEqual(feed.writer.counts(id));
      const theirs = ringBooks(`${DIR}/holes.ring`);
      const ours = ringBooks(copy.writer!.path);
      expect(ours.books.map((b) => [b.status, b.bids, b.asks, b.counts])).toEqual(
        theirs.books.map((b) => [b.status, b.bids, b.asks, b.counts]),
      );
      expect(ours.connection).toEqual(theirs.connection);
      copy.close();
    }
    feed.close();
  });

  test("what guards each book reaches the copy: in the entries it starts from, then in each books message", () => {
    const { feed, batches, shape } = leader("integrity");
    const both = BookIntegrity.checksum | BookIntegrity.sequence;
    feed.writer.setIntegrity(0, both);
    feed.writer.setIntegrity(1, BookIntegrity.sequence);
    const random = seededRandom(3);
    traffic(feed, random, 200);
    const h = leaderHeaders(1, 2, 0);
    const first = decodeBooks("books", h, booksMessage(feed.writer, h)!, shape);
    const copy = new RingCopy({
      dir: DIR,
      name: "integrity-copy",
      exchange: "kraken",
      capacity: 1 << 12,
      log,
    });
    copy.begin(shape, first, { createdMs: 0, seq: 0 });
    const integrity = () => {
      const reader = RingReader.open(copy.writer!.path, "latest");
      const words = [0, 1].map((id) => reader.integrity(id));
      reader.close();
      return words;
    };
    expect(integrity()).toEqual([both, BookIntegrity.sequence]);
    // The venue stops sending its checksum: no record says so, the next books message does.
    feed.writer.setIntegrity(0, BookIntegrity.sequence);
    traffic(feed, random, 200);
    for (const batch of batches) {
      if (batch.first >= first.start.firstSeq)
        expect(copy.applyRecords("records", batch.body)).toBe("applied");
    }
    const later = leaderHeaders(1, 3, 0);
    expect(copy.applyBooks(decodeBooks("books", later, booksMessage(feed.writer, later)!, shape))).toBe(0);
    expect(integrity()).toEqual([BookIntegrity.sequence, BookIntegrity.sequence]);
    copy.close();
    feed.close();
  });
});
