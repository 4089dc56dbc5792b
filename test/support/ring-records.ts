// Test support: what a ring holds, read in this process: every record as comparable text (all
// fields but the version word), the holes a reader reports, and every latest book with its
// topic counts. Used to check that copies of a ring hold exactly what the original does.
import { expect } from "bun:test";
import { RecordView, RingReader, type RingSink } from "../../src/shm/ring-reader.ts";

/** Every record a reader delivers, as text by sequence, and the holes it reports. */
export class RingRecords implements RingSink {
  readonly lines = new Map<number, string>();
  readonly gaps: [number, number][] = [];
  record(r: RecordView): void {
    this.lines.set(
      r.seq,
      [
        r.type,
        r.flags,
        r.symbolId,
        r.price,
        r.size,
        r.aux,
        r.exchangeSec,
        r.exchangeNsec,
        r.receiveSec,
        r.receiveNsec,
        r.publishSec,
        r.publishNsec,
      ].join(" "),
    );
  }
  gap(fromSeq: number, lost: number): void {
    this.gaps.push([fromSeq, lost]);
  }
}

/** Reads the ring at `path` from `from` to its end. */
export function readRecords(path: string, from: number | "oldest"): RingRecords {
  const reader = RingReader.open(path, from);
  const sink = new RingRecords();
  while (reader.poll(sink, new RecordView()) > 0) {}
  reader.close();
  return sink;
}

/** Every symbol's latest book (status, levels, counts and bases), the status counts and the cursor. */
export function ringBooks(path: string) {
  const reader = RingReader.open(path, "latest");
  const copy = reader.newBookCopy();
  const books = reader.symbols.map((s) => {
    expect(reader.readBook(s.id, copy)).toBe(true);
    return {
      symbol: s.symbol,
      status: copy.status,
      bids: Array.from(copy.bidPrices.subarray(0, copy.bidCount)).map((p, i) => [p, copy.bidSizes[i]]),
      asks: Array.from(copy.askPrices.subarray(0, copy.askCount)).map((p, i) => [p, copy.askSizes[i]]),
      counts: [copy.bookCount, copy.tradeCount, copy.bboCount, copy.bookBase, copy.tradeBase, copy.bboBase],
    };
  });
  const result = {
    generation: reader.generation,
    firstSeq: reader.firstSeq(),
    books,
    connection: [reader.connectionBase(), reader.connectionCount()],
    next: reader.writerNextSeq(),
  };
  reader.close();
  return result;
}
