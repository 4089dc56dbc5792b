// Kraken's book checksum (PROTOCOLS.md 1.3): CRC-32 of the top 10 asks (low to high) then the
// top 10 bids (high to low), each level as price then qty with the dot and leading zeros
// removed. At the instrument's precision that text is exactly the scaled integer, so the
// book's scaled values are printed as they are. Printing 40 numbers per update dominated the
// cost, so the text is built as bytes in two alternating halves of one buffer: a level that is
// unchanged (at its slot or one beside it, after a shift) is copied from the previous text
// with one native copyWithin, and only new levels are printed.
import type { BookSide, OrderBook } from "../../book/order-book.ts";

const CHECKSUM_LEVELS = 10;
const SLOTS = CHECKSUM_LEVELS * 2;
/** Two scaled integers below 2^53: at most 16 digits each. */
const SLOT_BYTES = 32;
const HALF = SLOTS * SLOT_BYTES;

export class KrakenChecksum {
  private readonly bytes = new Uint8Array(HALF * 2);
  private prices = new Float64Array(SLOTS).fill(Number.NaN);
  private sizes = new Float64Array(SLOTS).fill(Number.NaN);
  private offsets = new Int32Array(SLOTS);
  private lengths = new Int32Array(SLOTS);
  private nextPrices = new Float64Array(SLOTS).fill(Number.NaN);
  private nextSizes = new Float64Array(SLOTS).fill(Number.NaN);
  private nextOffsets = new Int32Array(SLOTS);
  private nextLengths = new Int32Array(SLOTS);
  /** Where the text being built starts (0 or HALF) and where it has got to. */
  private base = 0;
  private at = 0;
  private slot = 0;

  /** The checksum Kraken would send for this book. */
  of(book: OrderBook): number {
    this.base = this.base === 0 ? HALF : 0;
    this.at = this.base;
    this.slot = 0;
    this.appendSide(book.asks);
    this.appendSide(book.bids);
    for (let i = this.slot; i < SLOTS; i++) this.nextPrices[i] = Number.NaN;
    const prices = this.prices;
    const sizes = this.sizes;
    const offsets = this.offsets;
    const lengths = this.lengths;
    this.prices = this.nextPrices;
    this.sizes = this.nextSizes;
    this.offsets = this.nextOffsets;
    this.lengths = this.nextLengths;
    this.nextPrices = prices;
    this.nextSizes = sizes;
    this.nextOffsets = offsets;
    this.nextLengths = lengths;
    return Bun.hash.crc32(this.bytes.subarray(this.base, this.at));
  }

  private appendSide(side: BookSide): void {
    const bytes = this.bytes;
    const prices = this.prices;
    const sizes = this.sizes;
    let at = this.at;
    for (let rank = 0, n = Math.min(CHECKSUM_LEVELS, side.count); rank < n; rank++) {
      const price = side.priceAt(rank);
      const size = side.sizeAt(rank);
      const slot = this.slot++;
      let cached = -1;
      for (let c = slot > 0 ? slot - 1 : 0, end = slot + 1 < SLOTS ? slot + 1 : slot; c <= end; c++) {
        if (prices[c] === price && sizes[c] === size) {
          cached = c;
          break;
        }
      }
      const start = at;
      if (cached >= 0) {
        const from = this.offsets[cached]!;
        const length = this.lengths[cached]!;
        bytes.copyWithin(at, from, from + length);
        at += length;
      } else {
        at += writeDigits(bytes, at, price);
        at += writeDigits(bytes, at, size);
      }
      this.nextPrices[slot] = price;
      this.nextSizes[slot] = size;
      this.nextOffsets[slot] = start;
      this.nextLengths[slot] = at - start;
    }
    this.at = at;
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
