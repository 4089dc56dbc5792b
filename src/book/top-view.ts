// The published top-N view of a book and its diff: the ring carries each book as its best N
// levels per side, so after every frame only the changes of that view are emitted (a level
// pushed out of the view as size 0, a level shifted into it with its size).
import type { OrderBook, OrderBookSide } from "./order-book.ts";

/** Receives the view's changed levels, one absolute level at a time. */
export interface LevelSink {
  level(isAsk: boolean, price: number, size: number): void;
}

/** The view's levels on one side, best first. */
export class ViewSide {
  readonly prices: Float64Array;
  readonly sizes: Float64Array;
  count = 0;

  constructor(depth: number) {
    this.prices = new Float64Array(depth);
    this.sizes = new Float64Array(depth);
  }
}

export class TopView {
  readonly bids: ViewSide;
  readonly asks: ViewSide;
  private readonly next: ViewSide;

  constructor(readonly depth: number) {
    this.bids = new ViewSide(depth);
    this.asks = new ViewSide(depth);
    this.next = new ViewSide(depth);
  }

  /** Forgets the published view (after a BookClear). */
  clear(): void {
    this.bids.count = 0;
    this.asks.count = 0;
  }

  /** Emits every level of the book's view (a snapshot) and makes it the published view. */
  emitAll(book: OrderBook, sink: LevelSink): void {
    this.emitSideAll(book.bids, this.bids, sink);
    this.emitSideAll(book.asks, this.asks, sink);
  }

  /** Emits how the book's view differs from the published one, then publishes it. */
  emitDiff(book: OrderBook, sink: LevelSink): void {
    this.diffSide(book.bids, this.bids, sink);
    this.diffSide(book.asks, this.asks, sink);
  }

  private emitSideAll(side: OrderBookSide, view: ViewSide, sink: LevelSink): void {
    view.count = side.topInto(view.prices, view.sizes, this.depth);
    side.changedFrom = Number.POSITIVE_INFINITY;
    for (let i = 0; i < view.count; i++) sink.level(side.isAsk, view.prices[i]!, view.sizes[i]!);
  }

  private diffSide(side: OrderBookSide, view: ViewSide, sink: LevelSink): void {
    // Ranks better than the first changed one are the same in both views: start there.
    const from = Math.min(side.changedFrom, view.count);
    side.changedFrom = Number.POSITIVE_INFINITY;
    if (from >= this.depth) return;
    const next = this.next;
    const isAsk = side.isAsk;
    const newCount = side.ranksInto(next.prices, next.sizes, from, this.depth);
    const oldCount = view.count;
    const oldPrices = view.prices;
    const oldSizes = view.sizes;
    const newPrices = next.prices;
    const newSizes = next.sizes;
    // Both lists are best first; "better" is higher for bids, lower for asks.
    let i = from;
    let j = from;
    while (i < oldCount && j < newCount) {
      const oldPrice = oldPrices[i]!;
      const newPrice = newPrices[j]!;
      if (oldPrice === newPrice) {
        if (oldSizes[i] !== newSizes[j]) sink.level(isAsk, newPrice, newSizes[j]!);
        i++;
        j++;
      } else if (isAsk ? oldPrice < newPrice : oldPrice > newPrice) {
        sink.level(isAsk, oldPrice, 0);
        i++;
      } else {
        sink.level(isAsk, newPrice, newSizes[j]!);
        j++;
      }
    }
    for (; i < oldCount; i++) sink.level(isAsk, oldPrices[i]!, 0);
    for (; j < newCount; j++) sink.level(isAsk, newPrices[j]!, newSizes[j]!);
    for (let k = from; k < newCount; k++) {
      oldPrices[k] = newPrices[k]!;
      oldSizes[k] = newSizes[k]!;
    }
    view.count = newCount;
  }
}
