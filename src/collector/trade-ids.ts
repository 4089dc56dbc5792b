// Trade deduplication by (venue, symbol, trade id) across reconnects and trade snapshots, and
// id-gap counting where ids are sequential. A sliding bitmap of the ids just below the highest
// seen answers "seen before?" in O(1) without allocating, whatever order trades arrive in
// (Coinbase sends a batch newest first).

const WINDOW_BITS = 1 << 16;
const WINDOW_WORDS = WINDOW_BITS / 32;

export class TradeIdWindow {
  private readonly bits = new Uint32Array(WINDOW_WORDS);
  private highest = 0;
  /** Ids skipped between consecutive highest ids (meaningful for sequential ids only). */
  missing = 0;
  duplicates = 0;

  /** Records `id`; false if it was seen (or is too old to tell, so it is treated as seen). */
  accept(id: number): boolean {
    const highest = this.highest;
    if (id > highest) {
      if (highest > 0) {
        this.missing += id - highest - 1;
        this.clearRange(highest + 1, id - 1);
      } else {
        this.bits.fill(0);
      }
      this.highest = id;
      this.mark(id);
      return true;
    }
    if (id <= highest - WINDOW_BITS || this.marked(id)) {
      this.duplicates++;
      return false;
    }
    // An older id not seen before fills a hole counted as missing when it was skipped.
    if (this.missing > 0) this.missing--;
    this.mark(id);
    return true;
  }

  private mark(id: number): void {
    const bit = id % WINDOW_BITS;
    this.bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  private marked(id: number): boolean {
    const bit = id % WINDOW_BITS;
    return (this.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** Clears the window bits of ids from..to (the slots reused for new ids). */
  private clearRange(from: number, to: number): void {
    if (to - from + 1 >= WINDOW_BITS) {
      this.bits.fill(0);
      return;
    }
    for (let id = from; id <= to; id++) {
      const bit = id % WINDOW_BITS;
      this.bits[bit >>> 5]! &= ~(1 << (bit & 31));
    }
  }
}
