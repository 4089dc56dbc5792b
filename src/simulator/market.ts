// The synthetic market of one symbol on one venue: an exact L2 book (scaled integers), a random
// walk of its inside through level inserts, deletes and trades, and the venue's update and trade
// ids. Venue servers turn its changes into frames; the sequence of changes depends only on the seed.
import type { Instrument } from "./instruments.ts";
import type { Random } from "./random.ts";

export type Side = "bid" | "ask";

/** One absolute level after a change: size 0 means the level is gone. */
export interface LevelChange {
  readonly side: Side;
  readonly price: number;
  readonly size: number;
}

export interface Trade {
  readonly id: number;
  readonly price: number;
  readonly size: number;
  /** The aggressor: a buy lifts the best ask, a sell hits the best bid. */
  readonly taker: "buy" | "sell";
  readonly timeMs: number;
}

/** One market operation: the book changes it made (one venue update id) and the trade, if any. */
export interface MarketEvent {
  readonly updateId: number;
  readonly changes: readonly LevelChange[];
  readonly trade: Trade | undefined;
}

/** One side of the synthetic market's book, best level first. */
export class MarketSide {
  /** Prices, best first (descending for bids, ascending for asks). */
  private readonly prices: number[] = [];
  private readonly sizes = new Map<number, number>();

  constructor(readonly side: Side) {}

  get count(): number {
    return this.prices.length;
  }

  priceAt(index: number): number | undefined {
    return this.prices[index];
  }

  sizeOf(price: number): number {
    return this.sizes.get(price) ?? 0;
  }

  /** Whether `a` is a better price than `b` on this side. */
  better(a: number, b: number): boolean {
    return this.side === "bid" ? a > b : a < b;
  }

  /** Sets a level's absolute size; 0 deletes it. */
  set(price: number, size: number): void {
    const had = this.sizes.has(price);
    if (size === 0) {
      if (!had) return;
      this.sizes.delete(price);
      this.prices.splice(this.indexOf(price), 1);
      return;
    }
    this.sizes.set(price, size);
    if (!had) this.prices.splice(this.indexOf(price), 0, price);
  }

  /** Index of `price`, or where it would be inserted. */
  indexOf(price: number): number {
    let lo = 0;
    let hi = this.prices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.better(this.prices[mid]!, price)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The best `depth` levels as [price, size] pairs. */
  top(depth: number): [number, number][] {
    const n = Math.min(depth, this.prices.length);
    const levels: [number, number][] = new Array(n);
    for (let i = 0; i < n; i++) {
      const price = this.prices[i]!;
      levels[i] = [price, this.sizes.get(price)!];
    }
    return levels;
  }

  clear(): void {
    this.prices.length = 0;
    this.sizes.clear();
  }
}

export interface MarketOptions {
  /** Levels each side keeps (the book's depth). */
  readonly levels: number;
  /** Share of operations that are trades, in [0, 1]. */
  readonly tradeShare: number;
  /** First venue update id minus one. */
  readonly firstUpdateId: number;
  /** First trade id minus one. */
  readonly firstTradeId: number;
  /** When the market opens: the trade history (for trade snapshots) ends then. */
  readonly openedMs: number;
}

const RECENT_TRADES = 50;

export class Market {
  readonly bids = new MarketSide("bid");
  readonly asks = new MarketSide("ask");
  /** Id of the last update made (Binance's u, a level-change counter elsewhere). */
  updateId: number;
  lastTradeId: number;
  /** The latest trades, oldest first, for trade snapshots. */
  readonly recentTrades: Trade[] = [];
  private readonly minLevels: number;

  constructor(
    readonly instrument: Instrument,
    private readonly random: Random,
    private readonly options: MarketOptions,
  ) {
    this.updateId = options.firstUpdateId;
    this.lastTradeId = options.firstTradeId;
    this.minLevels = Math.max(10, Math.floor(options.levels / 2));
    this.seedBook();
    // A trade history, one a second up to the opening, so trade snapshots are never empty.
    for (let i = RECENT_TRADES; i > 0; i--) this.trade([], options.openedMs - i * 1_000);
  }

  side(side: Side): MarketSide {
    return side === "bid" ? this.bids : this.asks;
  }

  /** Runs one operation: a trade with probability tradeShare, else a book update. */
  next(nowMs: number): MarketEvent {
    const changes: LevelChange[] = [];
    let trade: Trade | undefined;
    if (this.random.chance(this.options.tradeShare)) trade = this.trade(changes, nowMs);
    if (trade === undefined) this.update(changes);
    this.keepDepth(changes, "bid");
    this.keepDepth(changes, "ask");
    this.updateId++;
    return { updateId: this.updateId, changes, trade };
  }

  /** Makes `n` levels a side around the start price, gaps of one or more ticks. */
  private seedBook(): void {
    const start = this.instrument.startPrice;
    const halfSpread = 1 + this.random.int(0, 2);
    let bid = start - halfSpread;
    let ask = start + halfSpread;
    for (let i = 0; i < this.options.levels; i++) {
      if (bid > 0) this.bids.set(bid, this.randomSize());
      this.asks.set(ask, this.randomSize());
      bid -= 1 + this.random.geometric(0.5);
      ask += 1 + this.random.geometric(0.5);
    }
  }

  private update(changes: LevelChange[]): void {
    const count = 1 + Math.min(3, this.random.geometric(0.6));
    for (let i = 0; i < count; i++) {
      const book = this.random.chance(0.5) ? this.bids : this.asks;
      const roll = this.random.float();
      if (roll < 0.45) this.resize(book, changes);
      else if (roll < 0.72) this.insert(book, changes);
      else if (book.count > this.minLevels) this.remove(book, changes);
      else this.insert(book, changes);
    }
  }

  private resize(book: MarketSide, changes: LevelChange[]): void {
    const price = book.priceAt(Math.min(this.random.geometric(0.15), book.count - 1));
    if (price === undefined) this.insert(book, changes);
    else this.apply(book, price, this.randomSize(), changes);
  }

  /** A new level near the top, or (sometimes) inside the spread, which moves the inside. */
  private insert(book: MarketSide, changes: LevelChange[]): void {
    const other = book === this.bids ? this.asks : this.bids;
    const best = book.priceAt(0);
    const otherBest = other.priceAt(0);
    const direction = book.side === "bid" ? 1 : -1;
    let price: number;
    if (best === undefined) {
      price = otherBest === undefined ? this.instrument.startPrice : otherBest - direction;
    } else if (otherBest !== undefined && Math.abs(otherBest - best) > 1 && this.random.chance(0.2)) {
      price = best + direction * this.random.int(1, Math.abs(otherBest - best) - 1);
    } else {
      const anchor = book.priceAt(Math.min(this.random.geometric(0.1), book.count - 1)) ?? best;
      price = anchor - direction * this.random.int(1, 3);
    }
    if (price <= 0) return;
    this.apply(book, price, this.randomSize(), changes);
  }

  private remove(book: MarketSide, changes: LevelChange[]): void {
    const price = book.priceAt(Math.min(this.random.geometric(0.2), book.count - 1));
    if (price !== undefined) this.apply(book, price, 0, changes);
  }

  /** The aggressor takes part or all of the opposite best level. */
  private trade(changes: LevelChange[], nowMs: number): Trade | undefined {
    const taker = this.random.chance(0.5) ? "buy" : "sell";
    const book = taker === "buy" ? this.asks : this.bids;
    const price = book.priceAt(0);
    if (price === undefined || book.count <= this.minLevels) return undefined;
    const available = book.sizeOf(price);
    const size = this.random.chance(0.3) ? available : Math.min(available, this.randomSize());
    this.apply(book, price, available - size, changes);
    const trade: Trade = { id: ++this.lastTradeId, price, size, taker, timeMs: nowMs };
    this.recentTrades.push(trade);
    if (this.recentTrades.length > RECENT_TRADES) this.recentTrades.shift();
    return trade;
  }

  /** Deletes the worst levels past the target depth, or adds levels below the worst. */
  private keepDepth(changes: LevelChange[], side: Side): void {
    const book = this.side(side);
    const target = this.options.levels;
    while (book.count > target + Math.max(2, target / 10)) {
      this.apply(book, book.priceAt(book.count - 1)!, 0, changes);
    }
    if (book.count < target && book.count > 0) {
      const worst = book.priceAt(book.count - 1)!;
      const price =
        side === "bid" ? worst - 1 - this.random.geometric(0.5) : worst + 1 + this.random.geometric(0.5);
      if (price > 0) this.apply(book, price, this.randomSize(), changes);
    }
  }

  private apply(book: MarketSide, price: number, size: number, changes: LevelChange[]): void {
    if (book.sizeOf(price) === size) return;
    book.set(price, size);
    changes.push({ side: book.side, price, size });
  }

  /**
   * A level size in size steps: mostly a few hundred to tens of thousands of quote units, and
   * sometimes dust (under 0.0001), which Kraken writes in exponent form.
   */
  private randomSize(): number {
    const decimals = this.instrument.sizeDecimals;
    if (decimals >= 8 && this.random.chance(0.03)) return this.random.int(1, 9_999);
    const notional = 10 ** (2 + this.random.float() * 2.7);
    const startQuote = this.instrument.startPrice / 10 ** this.instrument.priceDecimals;
    // A random draw, not a conversion of a given value: rounding it to whole steps is the point.
    return Math.max(1, Math.round((notional / startQuote) * 10 ** decimals));
  }
}
