// Kraken's book checksum (docs/exchanges/kraken.md): CRC-32 (zlib's) of the top 10 asks (low
// to high) then the top 10 bids (high to low), each level as price then qty with the dot and
// leading zeros removed. At the instrument's precision that text is exactly the scaled integer, so the
// text is never built: a level's digits go straight into a table-driven CRC (../crc32.ts).
//
// Most of an update's 20 levels are unchanged, only moved by a rank at most, so per level the
// CRC of its own text (from a zero register) and its length are kept. CRC is linear: feeding a
// text to register r gives crcAdvance(r, length) ^ crcFromZero(text), where crcAdvance is
// "feed `length` zero bytes", four table lookups. A kept level then costs that, a new level its
// digits; levels before the first changed one keep the register they had.
import type { OrderBook, OrderBookSide } from "../../book/order-book.ts";
import { crcAdvance, crcByte, digitsOf } from "../crc32.ts";

const CHECKSUM_LEVELS = 10;
const SLOTS = CHECKSUM_LEVELS * 2;
/** The checksum order's levels of one computation: each level and the CRC of its text. */
class LevelTexts {
  readonly prices = new Float64Array(SLOTS).fill(Number.NaN);
  readonly sizes = new Float64Array(SLOTS).fill(Number.NaN);
  /** CRC register after feeding the level's text to a zero register. */
  readonly crcs = new Int32Array(SLOTS);
  readonly lengths = new Int32Array(SLOTS);

  copy(to: number, from: LevelTexts, at: number): void {
    this.prices[to] = from.prices[at]!;
    this.sizes[to] = from.sizes[at]!;
    this.crcs[to] = from.crcs[at]!;
    this.lengths[to] = from.lengths[at]!;
  }
}

export class KrakenChecksum {
  private last = new LevelTexts();
  private next = new LevelTexts();
  /** registers[k]: the CRC register after the first k levels of the last text. */
  private readonly registers = new Int32Array(SLOTS + 1).fill(-1);
  /** Digits of one number, least significant first. */
  private readonly digits = new Uint8Array(16);
  /** Digits the last feedDigits fed. */
  private fed = 0;

  /** The checksum Kraken would send for this book. */
  of(book: OrderBook): number {
    const afterAsks = this.feedSide(book.asks, 0, true);
    const end = this.feedSide(book.bids, afterAsks & 0xff, afterAsks < 0x100) & 0xff;
    const next = this.next;
    for (let i = end; i < SLOTS; i++) next.prices[i] = Number.NaN;
    this.next = this.last;
    this.last = next;
    return ~this.registers[end]! >>> 0;
  }

  /**
   * Feeds one side's checksum levels from slot `first`; `unchanged` says every level before
   * matched the last text's. Returns the slot after the side, plus 0x100 once a level differed.
   */
  private feedSide(side: OrderBookSide, first: number, unchanged: boolean): number {
    const last = this.last;
    const next = this.next;
    const lastPrices = last.prices;
    const lastSizes = last.sizes;
    const registers = this.registers;
    const n = Math.min(CHECKSUM_LEVELS, side.count);
    let slot = first;
    for (let rank = 0; rank < n; rank++, slot++) {
      const price = side.priceAt(rank);
      const size = side.sizeAt(rank);
      // Same level at the same place after the same prefix: same register.
      if (unchanged && lastPrices[slot] === price && lastSizes[slot] === size) {
        next.copy(slot, last, slot);
        continue;
      }
      unchanged = false;
      // A kept level sits at its old slot or one beside it (a level came or went before it).
      let kept = -1;
      if (lastPrices[slot] === price && lastSizes[slot] === size) kept = slot;
      else if (lastPrices[slot + 1] === price && lastSizes[slot + 1] === size) kept = slot + 1;
      else if (slot > 0 && lastPrices[slot - 1] === price && lastSizes[slot - 1] === size) kept = slot - 1;
      if (kept >= 0) {
        next.copy(slot, last, kept);
      } else {
        next.prices[slot] = price;
        next.sizes[slot] = size;
        const priceCrc = this.feedDigits(0, price);
        const priceLength = this.fed;
        next.crcs[slot] = this.feedDigits(priceCrc, size);
        next.lengths[slot] = priceLength + this.fed;
      }
      registers[slot + 1] = crcAdvance(registers[slot]!, next.lengths[slot]!) ^ next.crcs[slot]!;
    }
    return unchanged ? slot : slot | 0x100;
  }

  /** Feeds a non-negative integer's decimal digits (most significant first) into `crc`; sets `fed`. */
  private feedDigits(crc: number, value: number): number {
    const digits = this.digits;
    let count = digitsOf(value, digits);
    this.fed = count;
    let c = crc;
    while (count > 0) c = crcByte(c, 48 + digits[--count]!);
    return c;
  }
}
