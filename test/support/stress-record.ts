// The stress tests' record pattern: every field is a function of the sequence, so a reader can
// tell a torn or misattributed record from a good one by recomputing it.
import { RecordFlag, RecordType } from "../../src/shm/layout.ts";
import type { RecordView } from "../../src/shm/ring-reader.ts";

export const STRESS_SYMBOLS = 3;

export function expectedPrice(seq: number): number {
  return seq * 3 + 1;
}
export function expectedSize(seq: number): number {
  return (seq * 7919) % 1_000_003;
}
export function expectedAux(seq: number): number {
  return seq * 13 + 5;
}
export function expectedSymbol(seq: number): number {
  return seq % STRESS_SYMBOLS;
}
export function expectedExchangeSec(seq: number): number {
  return seq % 1_000_000;
}

export const STRESS_TYPE = RecordType.Trade;
export const STRESS_FLAGS = RecordFlag.BatchEnd;

/** True when every field of the record is what the writer wrote for its sequence. */
export function recordIsIntact(r: RecordView): boolean {
  return (
    r.type === STRESS_TYPE &&
    r.flags === STRESS_FLAGS &&
    r.symbolId === expectedSymbol(r.seq) &&
    r.price === expectedPrice(r.seq) &&
    r.size === expectedSize(r.seq) &&
    r.aux === expectedAux(r.seq) &&
    r.exchangeSec === expectedExchangeSec(r.seq) &&
    r.exchangeNsec === r.seq % 1_000_000_000
  );
}
