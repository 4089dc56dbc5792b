// Kraken's book checksum (PROTOCOLS.md 1.3): CRC-32 of the top 10 asks (low to high) then the
// top 10 bids (high to low), each level as price then qty with the dot and leading zeros
// removed. At the instrument's precision that text is exactly the scaled integer, so the
// book's scaled values are printed as they are. The ASCII goes straight into a byte buffer
// (no strings), and each level's digits are kept and reused while the level (or its
// neighbour, after a shift by one) is unchanged: printing 40 numbers per update dominated.
import type { BookSide, OrderBook } from "../../book/order-book.ts";

const CHECKSUM_LEVELS = 10;
const SLOTS = CHECKSUM_LEVELS * 2;
/** Two scaled integers below 2^53: at most 16 digits each. */
const SLOT_BYTES = 32;

export class KrakenChecksum {
  private prices = new Float64Array(SLOTS).fill(Number.NaN);
  private sizes = new Float64Array(SLOTS).fill(Number.NaN);
  private lengths = new Uint8Array(SLOTS);
  private digits = new Uint8Array(SLOTS * SLOT_BYTES);
  private nextPrices = new Float64Array(SLOTS).fill(Number.NaN);
  private nextSizes = new Float64Array(SLOTS).fill(Number.NaN);
  private nextLengths = new Uint8Array(SLOTS);
  private nextDigits = new Uint8Array(SLOTS * SLOT_BYTES);
  private readonly text = new Uint8Array(SLOTS * SLOT_BYTES);
  private textLength = 0;
  private slot = 0;

  /** The checksum Kraken would send for this book. */
  of(book: OrderBook): number {
    this.slot = 0;
    this.textLength = 0;
    this.appendSide(book.asks);
    this.appendSide(book.bids);
    for (let i = this.slot; i < SLOTS; i++) this.nextPrices[i] = Number.NaN;
    const prices = this.prices;
    const sizes = this.sizes;
    const lengths = this.lengths;
    const digits = this.digits;
    this.prices = this.nextPrices;
    this.sizes = this.nextSizes;
    this.lengths = this.nextLengths;
    this.digits = this.nextDigits;
    this.nextPrices = prices;
    this.nextSizes = sizes;
    this.nextLengths = lengths;
    this.nextDigits = digits;
    return Bun.hash.crc32(this.text.subarray(0, this.textLength));
  }

  private appendSide(side: BookSide): void {
    const text = this.text;
    const next = this.nextDigits;
    for (let rank = 0, n = Math.min(CHECKSUM_LEVELS, side.count); rank < n; rank++) {
      const price = side.priceAt(rank);
      const size = side.sizeAt(rank);
      const slot = this.slot++;
      const base = slot * SLOT_BYTES;
      const cached = this.cachedSlot(slot, price, size);
      let length: number;
      if (cached >= 0) {
        length = this.lengths[cached]!;
        const from = cached * SLOT_BYTES;
        for (let i = 0; i < length; i++) next[base + i] = this.digits[from + i]!;
      } else {
        length = writeDigits(next, base, price);
        length += writeDigits(next, base + length, size);
      }
      this.nextPrices[slot] = price;
      this.nextSizes[slot] = size;
      this.nextLengths[slot] = length;
      let at = this.textLength;
      for (let i = 0; i < length; i++) text[at++] = next[base + i]!;
      this.textLength = at;
    }
  }

  /** The slot (this one or one beside it) that held this exact level last time, or -1. */
  private cachedSlot(slot: number, price: number, size: number): number {
    for (let at = Math.max(0, slot - 1), end = Math.min(SLOTS - 1, slot + 1); at <= end; at++) {
      if (this.prices[at] === price && this.sizes[at] === size) return at;
    }
    return -1;
  }
}

/** Writes a non-negative integer's decimal digits at `at`; returns how many. */
function writeDigits(out: Uint8Array, at: number, value: number): number {
  let count = 1;
  for (let rest = Math.floor(value / 10); rest > 0; rest = Math.floor(rest / 10)) count++;
  for (let i = count - 1, rest = value; i >= 0; i--) {
    const next = Math.floor(rest / 10);
    out[at + i] = 48 + (rest - next * 10);
    rest = next;
  }
  return count;
}
