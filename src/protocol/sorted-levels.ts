// One side of a book as the wire carries it: levels as scaled integers at the symbol's decimals,
// sorted best first, handed out as wire levels (exact decimal strings). The broadcaster keeps
// the ring's top-N view in it, the SDK its local book. It tracks what the side costs in a
// snapshot message (the broadcaster's delta compression ratio compares deltas with that).
import { formatScaledTrimmed } from "../market/decimal.ts";
import type { Level } from "./messages.ts";

export class SortedLevels {
  prices: number[] = [];
  sizes: number[] = [];
  /** Bytes this side's levels take in a snapshot message, kept as levels change. */
  jsonBytes = 0;

  constructor(
    /** Bids sort high to low, asks low to high. */
    readonly descending: boolean,
    readonly priceDecimals: number,
    readonly sizeDecimals: number,
  ) {}

  get count(): number {
    return this.prices.length;
  }

  clear(): void {
    this.prices = [];
    this.sizes = [];
    this.jsonBytes = 0;
  }

  /** Sets a level's absolute size; 0 removes it. */
  set(price: number, size: number): void {
    const at = this.indexOf(price);
    const found = at < this.prices.length && this.prices[at] === price;
    if (size === 0) {
      if (!found) return;
      this.jsonBytes -= this.levelBytes(price, this.sizes[at]!);
      this.prices.splice(at, 1);
      this.sizes.splice(at, 1);
      return;
    }
    if (found) {
      this.jsonBytes += this.levelBytes(price, size) - this.levelBytes(price, this.sizes[at]!);
      this.sizes[at] = size;
      return;
    }
    this.jsonBytes += this.levelBytes(price, size);
    this.prices.splice(at, 0, price);
    this.sizes.splice(at, 0, size);
  }

  /** A price and size at this side's decimals as a wire level. */
  level(price: number, size: number): Level {
    return [formatScaledTrimmed(price, this.priceDecimals), formatScaledTrimmed(size, this.sizeDecimals)];
  }

  /** The best `depth` levels (all by default), best first. */
  levels(depth = Number.MAX_SAFE_INTEGER): Level[] {
    const count = Math.min(depth, this.prices.length);
    const out: Level[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = this.level(this.prices[i]!, this.sizes[i]!);
    return out;
  }

  /** The best level, or null on an empty side. */
  best(): Level | null {
    return this.prices.length > 0 ? this.level(this.prices[0]!, this.sizes[0]!) : null;
  }

  /** Where `price` is or would go (binary search). */
  private indexOf(price: number): number {
    const prices = this.prices;
    let lo = 0;
    let hi = prices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = prices[mid]!;
      if (this.descending ? p > price : p < price) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `["price","size"],` costs digits plus decimal points plus 8 bytes of punctuation. */
  private levelBytes(price: number, size: number): number {
    return scaledTextLength(price, this.priceDecimals) + scaledTextLength(size, this.sizeDecimals) + 8;
  }
}

/** An upper bound on formatScaledTrimmed's length, without building the string. */
function scaledTextLength(value: number, decimals: number): number {
  const digits = value === 0 ? 1 : Math.floor(Math.log10(Math.abs(value))) + 1;
  return Math.max(digits, decimals + 1) + (decimals > 0 ? 1 : 0) + (value < 0 ? 1 : 0);
}
