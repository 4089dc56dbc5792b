// The exact L2 order book: price levels as scaled integers (src/market/decimal.ts), absolute
// sizes, size 0 deletes. Each side is one sorted pair of typed arrays with the best level at
// the END, so the frequent changes near the top shift few elements and nothing is allocated
// per level.

/**
 * One side. Keys are prices for bids and negated prices for asks, kept ascending, so "better"
 * is always "greater key" and both sides share one code path.
 */
export class OrderBookSide {
  private keys: Float64Array;
  private sizes: Float64Array;
  private n = 0;
  /**
   * Best rank changed since the published view last caught up (0 = best level); levels better
   * than it are untouched, so the view diff starts there. Infinity when nothing changed.
   */
  changedFrom = 0;

  constructor(
    readonly isAsk: boolean,
    /** Levels kept at most: the worst ones fall off beyond it. */
    readonly maxLevels: number,
    initialCapacity = 64,
  ) {
    const capacity = Math.max(4, Math.min(initialCapacity, maxLevels + 1));
    this.keys = new Float64Array(capacity);
    this.sizes = new Float64Array(capacity);
  }

  get count(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
    this.changedFrom = 0;
  }

  /** Price of the level `rank` places from the best (0 = best). */
  priceAt(rank: number): number {
    const key = this.keys[this.n - 1 - rank]!;
    return this.isAsk ? -key : key;
  }

  sizeAt(rank: number): number {
    return this.sizes[this.n - 1 - rank]!;
  }

  /** Size at `price`, 0 when absent. */
  sizeOf(price: number): number {
    const at = this.find(this.isAsk ? -price : price);
    return at >= 0 ? this.sizes[at]! : 0;
  }

  /** Sets the absolute size at `price` (0 deletes); returns the size it had (0 if absent). */
  set(price: number, size: number): number {
    if (!(price > 0) || !(size >= 0)) throw new RangeError(`bad level: price ${price}, size ${size}`);
    const key = this.isAsk ? -price : price;
    const at = this.find(key);
    if (at >= 0) {
      const previous = this.sizes[at]!;
      const rank = this.n - 1 - at;
      if (rank < this.changedFrom) this.changedFrom = rank;
      if (size === 0) {
        this.keys.copyWithin(at, at + 1, this.n);
        this.sizes.copyWithin(at, at + 1, this.n);
        this.n--;
      } else {
        this.sizes[at] = size;
      }
      return previous;
    }
    if (size === 0) return 0;
    const insertAt = -at - 1;
    const rank = this.n - insertAt;
    if (rank < this.changedFrom) this.changedFrom = rank;
    if (this.n === this.keys.length) this.grow();
    this.keys.copyWithin(insertAt + 1, insertAt, this.n);
    this.sizes.copyWithin(insertAt + 1, insertAt, this.n);
    this.keys[insertAt] = key;
    this.sizes[insertAt] = size;
    this.n++;
    if (this.n > this.maxLevels) this.truncate(this.maxLevels);
    return 0;
  }

  /** Keeps only the best `depth` levels. */
  truncate(depth: number): void {
    if (this.n <= depth) return;
    if (depth < this.changedFrom) this.changedFrom = depth;
    const drop = this.n - depth;
    this.keys.copyWithin(0, drop, this.n);
    this.sizes.copyWithin(0, drop, this.n);
    this.n = depth;
  }

  /** Copies the best `max` levels, best first, into the arrays; returns how many. */
  topInto(prices: Float64Array, sizes: Float64Array, max: number): number {
    return this.ranksInto(prices, sizes, 0, max);
  }

  /** Copies ranks from..max-1 (as far as they exist) to the same indexes; returns the end rank. */
  ranksInto(prices: Float64Array, sizes: Float64Array, from: number, max: number): number {
    const end = Math.min(max, this.n);
    const sign = this.isAsk ? -1 : 1;
    for (let rank = from, at = this.n - 1 - from; rank < end; rank++, at--) {
      prices[rank] = sign * this.keys[at]!;
      sizes[rank] = this.sizes[at]!;
    }
    return end;
  }

  /** Index of `key`, or -(insertion point) - 1 when absent. Searches from the top first. */
  private find(key: number): number {
    const keys = this.keys;
    let lo = 0;
    let hi = this.n - 1;
    // Most updates touch the first levels: check the best few before bisecting.
    for (let i = hi, stop = Math.max(0, hi - 4); i >= stop; i--) {
      const k = keys[i]!;
      if (k === key) return i;
      if (k < key) return -(i + 1) - 1;
    }
    hi = Math.max(0, hi - 5);
    if (this.n === 0) return -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid]!;
      if (k < key) lo = mid + 1;
      else if (k > key) hi = mid - 1;
      else return mid;
    }
    return -lo - 1;
  }

  private grow(): void {
    const capacity = Math.min(this.keys.length * 2, this.maxLevels + 1);
    const keys = new Float64Array(capacity);
    const sizes = new Float64Array(capacity);
    keys.set(this.keys.subarray(0, this.n));
    sizes.set(this.sizes.subarray(0, this.n));
    this.keys = keys;
    this.sizes = sizes;
  }
}

export class OrderBook {
  readonly bids: OrderBookSide;
  readonly asks: OrderBookSide;

  constructor(maxLevels: number) {
    this.bids = new OrderBookSide(false, maxLevels);
    this.asks = new OrderBookSide(true, maxLevels);
  }

  side(isAsk: boolean): OrderBookSide {
    return isAsk ? this.asks : this.bids;
  }

  clear(): void {
    this.bids.clear();
    this.asks.clear();
  }

  truncate(depth: number): void {
    this.bids.truncate(depth);
    this.asks.truncate(depth);
  }
}
