// Kraken's book checksum (PROTOCOLS.md 1.3): CRC-32 of the top 10 asks (low to high) then the
// top 10 bids (high to low), each level as price then qty with the dot and leading zeros
// removed. At the instrument's precision that text is exactly the scaled integer, so the
// book's scaled values are printed as they are. Printing 40 numbers per update dominated the
// cost, so each level's text is kept and reused while the level (or its neighbour, after a
// shift by one) is unchanged.
import type { BookSide, OrderBook } from "../../book/order-book.ts";

const CHECKSUM_LEVELS = 10;
const SLOTS = CHECKSUM_LEVELS * 2;

export class KrakenChecksum {
  private prices = new Float64Array(SLOTS).fill(Number.NaN);
  private sizes = new Float64Array(SLOTS).fill(Number.NaN);
  private texts: string[] = new Array<string>(SLOTS).fill("");
  private nextPrices = new Float64Array(SLOTS).fill(Number.NaN);
  private nextSizes = new Float64Array(SLOTS).fill(Number.NaN);
  private nextTexts: string[] = new Array<string>(SLOTS).fill("");
  private slot = 0;
  private text = "";

  /** The checksum Kraken would send for this book. */
  of(book: OrderBook): number {
    this.slot = 0;
    this.text = "";
    this.appendSide(book.asks);
    this.appendSide(book.bids);
    for (let i = this.slot; i < SLOTS; i++) this.nextPrices[i] = Number.NaN;
    const prices = this.prices;
    const sizes = this.sizes;
    const texts = this.texts;
    this.prices = this.nextPrices;
    this.sizes = this.nextSizes;
    this.texts = this.nextTexts;
    this.nextPrices = prices;
    this.nextSizes = sizes;
    this.nextTexts = texts;
    return Bun.hash.crc32(this.text);
  }

  private appendSide(side: BookSide): void {
    for (let rank = 0, n = Math.min(CHECKSUM_LEVELS, side.count); rank < n; rank++) {
      const price = side.priceAt(rank);
      const size = side.sizeAt(rank);
      const slot = this.slot++;
      const text = this.cached(slot, price, size) ?? `${price}${size}`;
      this.nextPrices[slot] = price;
      this.nextSizes[slot] = size;
      this.nextTexts[slot] = text;
      this.text += text;
    }
  }

  /** The text this level had last time at this slot or one beside it, if unchanged. */
  private cached(slot: number, price: number, size: number): string | undefined {
    for (let at = Math.max(0, slot - 1), end = Math.min(SLOTS - 1, slot + 1); at <= end; at++) {
      if (this.prices[at] === price && this.sizes[at] === size) return this.texts[at];
    }
    return undefined;
  }
}
