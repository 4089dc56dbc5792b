// OKX's book checksum: CRC-32 (zlib's) of the top 25 bids and asks interleaved as
// "bid1px:bid1sz:ask1px:ask1sz:bid2px:..." (a side that runs out stops contributing, the other
// goes on), read as a signed 32-bit integer. It is defined on the venue's own strings. OKX
// writes a value in its plain form ("30236", "0.0002": no sign, no leading or trailing zero),
// and that is exactly what the scaled integer at the instrument's precision spells, so a level's
// text is fed to the CRC straight from its integers' digits. A level the venue spelled otherwise
// ("0.10") is recorded as it came and fed from that text.
//
// Each of the 50 places (bid rank r at 2r, ask rank r at 2r + 1; a missing level is an empty
// text) holds the CRC of ":price:size" from a zero register and its length, and a binary tree
// over them holds the CRC of each range's text: CRC is linear, so two neighbouring texts combine
// as crcAdvance(left, |right|) ^ right. A change costs its level's digits (none for a level that
// only moved a rank) and the tree path above it, not the rest of the 50 levels. The book reports
// each level it takes, so only the places between the best and the worst of them are compared.
import type { OrderBook, OrderBookSide } from "../../book/order-book.ts";
import { crcAdvance, crcByte, digitsOf } from "../crc32.ts";

const LEVELS = 25;
const COLON = 58;
const DOT = 46;

/** Whether text[start, end) is a decimal in the plain form OKX writes: what the checksum feeds. */
export function isPlainDecimal(text: string, start: number, end: number): boolean {
  if (end <= start) return false;
  const first = text.charCodeAt(start);
  if (first === 48 && end - start > 1 && text.charCodeAt(start + 1) !== DOT) return false;
  let dot = -1;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (dot >= 0 || i === start) return false;
      dot = i;
    } else if (c < 48 || c > 57) {
      return false;
    }
  }
  if (dot < 0) return true;
  const last = text.charCodeAt(end - 1);
  return last !== 48 && last !== DOT;
}

/** Places in the tree: 25 ranks a side, interleaved (bid rank r at 2r, ask rank r at 2r + 1). */
const PLACES = LEVELS * 2;
/** Leaves of the tree, a power of two; places past PLACES stay empty. */
const LEAVES = 64;
/** CRC of ":" from a zero register: every place's text starts with one, the checksum's does not. */
const COLON_CRC = crcByte(0, COLON);

export class OkxChecksum {
  /** Per place, the level the tree holds: price (0 when empty, -1 when unknown) and size. */
  private readonly prices = new Float64Array(LEAVES).fill(-1);
  private readonly sizes = new Float64Array(LEAVES);
  /** The book changed unreported since the last checksum: every place is unknown. */
  private forgotten = false;
  /** Tree nodes, root at 1, place p at LEAVES + p: CRC of the range's text from a zero register, and its length. */
  private readonly crcs = new Int32Array(2 * LEAVES);
  private readonly lengths = new Int32Array(2 * LEAVES);
  /**
   * The best and worst bid and ask prices the book took since the last checksum (none: the best
   * 0 or infinity). Levels better than the best cannot have changed or moved; levels worse than
   * the worst all moved alike, so once one of them is where it was, so are the rest.
   */
  private bestBid = 0;
  private worstBid = Number.POSITIVE_INFINITY;
  private bestAsk = Number.POSITIVE_INFINITY;
  private worstAsk = 0;
  /** One computation's changed places (ascending), with their new levels, CRCs and lengths. */
  private readonly changed = new Int32Array(LEAVES);
  private readonly changedPrices = new Float64Array(LEAVES);
  private readonly changedSizes = new Float64Array(LEAVES);
  private readonly changedCrcs = new Int32Array(LEAVES);
  private readonly changedLengths = new Int32Array(LEAVES);
  /** Digits of one number, least significant first, padded to cover its decimals. */
  private readonly digits = new Uint8Array(40);
  /** Bytes the last feedDecimal fed. */
  private fed = 0;
  /** Levels whose venue text is not the plain form of their values: "price:size" as sent, by price (asks negated). */
  private readonly texts = new Map<number, string>();

  constructor(
    private readonly priceDecimals: number,
    private readonly sizeDecimals: number,
  ) {}

  /** Whether some level's text is recorded (then every level the book takes must be reported). */
  get hasTexts(): boolean {
    return this.texts.size > 0;
  }

  /** Forgets every level: a snapshot follows. */
  reset(): void {
    this.texts.clear();
    this.forget();
  }

  /** The book changed without each level being reported: the next checksum looks at every place. */
  forget(): void {
    this.forgotten = true;
  }

  /**
   * A level the book just took, with the venue's text of it ("30236.10:0.5") when that is not the
   * plain form of its values, or null when it is (or the level was deleted).
   */
  level(isAsk: boolean, price: number, text: string | null): void {
    if (isAsk) {
      if (price < this.bestAsk) this.bestAsk = price;
      if (price > this.worstAsk) this.worstAsk = price;
    } else {
      if (price > this.bestBid) this.bestBid = price;
      if (price < this.worstBid) this.worstBid = price;
    }
    const texts = this.texts;
    if (text === null && texts.size === 0) return;
    const key = isAsk ? -price : price;
    const changed = text === null ? texts.delete(key) : texts.get(key) !== text;
    if (text !== null && changed) texts.set(key, text);
    // The tree may hold this level's old text.
    if (changed) this.forget();
  }

  /** The checksum OKX would send for this book, as a signed 32-bit integer. */
  of(book: OrderBook): number {
    if (this.forgotten) {
      this.prices.fill(-1);
      this.forgotten = false;
    }
    let count = this.findChanges(book.bids, this.firstTouched(false), 0);
    count = this.findChanges(book.asks, this.firstTouched(true), count);
    this.bestBid = 0;
    this.worstBid = Number.POSITIVE_INFINITY;
    this.bestAsk = Number.POSITIVE_INFINITY;
    this.worstAsk = 0;
    if (count > 0) this.update(count);
    const length = this.lengths[1]!;
    if (length === 0) return 0;
    // The root is the CRC of ":" + the checksum text T from a zero register; CRC-32 feeds T to
    // an all-ones register: advance(-1, |T|) ^ (root ^ advance(crc(":"), |T|)), in one advance.
    return ~(crcAdvance(-1 ^ COLON_CRC, length - 1) ^ this.crcs[1]!) | 0;
  }

  /**
   * The first rank of a side that may differ from the tree: the ones before hold levels better
   * than any the book took (an unknown or empty place stops the search).
   */
  private firstTouched(isAsk: boolean): number {
    const prices = this.prices;
    // A side the book took nothing on is as it was (unless it was forgotten).
    if ((isAsk ? this.bestAsk === Number.POSITIVE_INFINITY : this.bestBid === 0) && prices[0]! >= 0)
      return LEVELS;
    let rank = 0;
    if (isAsk) {
      const best = this.bestAsk;
      while (rank < LEVELS && prices[2 * rank + 1]! > 0 && prices[2 * rank + 1]! < best) rank++;
    } else {
      const best = this.bestBid;
      while (rank < LEVELS && prices[2 * rank]! > best) rank++;
    }
    return rank;
  }

  /**
   * Compares a side's ranks from `from` on with what the tree holds, up to the first unchanged
   * level past the worst one the book took, and stages each differing place's new CRC (an
   * unchanged level one rank away lends its own); returns the changes staged so far.
   */
  private findChanges(side: OrderBookSide, from: number, count: number): number {
    if (from >= LEVELS) return count;
    const prices = this.prices;
    const sizes = this.sizes;
    const isAsk = side.isAsk;
    const first = isAsk ? 1 : 0;
    // Worse than every level the book took: an ask above the worst, a bid below it, or no level.
    const worst = isAsk ? this.worstAsk : this.worstBid;
    const end = side.count;
    for (let rank = from; rank < LEVELS; rank++) {
      const place = 2 * rank + first;
      const price = rank < end ? side.priceAt(rank) : 0;
      const size = rank < end ? side.sizeAt(rank) : 0;
      if (prices[place] === price && sizes[place] === size) {
        if (price === 0 || (isAsk ? price > worst : price < worst)) break;
        continue;
      }
      const at = this.insertChange(place, count++);
      this.changedPrices[at] = price;
      this.changedSizes[at] = size;
      if (price === 0) {
        this.changedCrcs[at] = 0;
        this.changedLengths[at] = 0;
      } else if (place >= 2 && prices[place - 2] === price && sizes[place - 2] === size) {
        this.changedCrcs[at] = this.crcs[LEAVES + place - 2]!;
        this.changedLengths[at] = this.lengths[LEAVES + place - 2]!;
      } else if (place + 2 < PLACES && prices[place + 2] === price && sizes[place + 2] === size) {
        this.changedCrcs[at] = this.crcs[LEAVES + place + 2]!;
        this.changedLengths[at] = this.lengths[LEAVES + place + 2]!;
      } else {
        this.changedCrcs[at] = this.levelCrc(side.isAsk, price, size);
        this.changedLengths[at] = this.fed;
      }
    }
    return count;
  }

  /** Puts `place` into the changed list kept ascending (bids are staged before asks); returns its index. */
  private insertChange(place: number, count: number): number {
    const changed = this.changed;
    let at = count;
    while (at > 0 && changed[at - 1]! > place) {
      changed[at] = changed[at - 1]!;
      this.changedPrices[at] = this.changedPrices[at - 1]!;
      this.changedSizes[at] = this.changedSizes[at - 1]!;
      this.changedCrcs[at] = this.changedCrcs[at - 1]!;
      this.changedLengths[at] = this.changedLengths[at - 1]!;
      at--;
    }
    changed[at] = place;
    return at;
  }

  /** Writes the staged places into the tree, then every node above them. */
  private update(count: number): void {
    const changed = this.changed;
    const crcs = this.crcs;
    const lengths = this.lengths;
    if (count === 1 && this.changedLengths[0] === lengths[LEAVES + changed[0]!]) {
      this.updateOne();
      return;
    }
    for (let i = 0; i < count; i++) {
      const place = changed[i]!;
      this.prices[place] = this.changedPrices[i]!;
      this.sizes[place] = this.changedSizes[i]!;
      crcs[LEAVES + place] = this.changedCrcs[i]!;
      lengths[LEAVES + place] = this.changedLengths[i]!;
      changed[i] = LEAVES + place;
    }
    // Up the tree a row at a time; a row's changed nodes stay ascending, so two children of
    // one parent are neighbours in the list.
    let nodes = count;
    while (changed[0]! > 1) {
      let parents = 0;
      for (let i = 0; i < nodes; i++) {
        const parent = changed[i]! >> 1;
        if (parents > 0 && changed[parents - 1] === parent) continue;
        const left = parent << 1;
        const rightLength = lengths[left + 1]!;
        crcs[parent] =
          rightLength === 0 ? crcs[left]! : crcAdvance(crcs[left]!, rightLength) ^ crcs[left + 1]!;
        lengths[parent] = lengths[left]! + rightLength;
        changed[parents++] = parent;
      }
      nodes = parents;
    }
  }

  /**
   * One place changed and its text kept its length (a size written with as many digits): every
   * range above it changes by the same XOR, advanced past what follows the place in that range
   * (nothing to advance where the place's side of the range is the right one).
   */
  private updateOne(): void {
    const crcs = this.crcs;
    const lengths = this.lengths;
    const place = this.changed[0]!;
    let node = LEAVES + place;
    let delta = crcs[node]! ^ this.changedCrcs[0]!;
    this.prices[place] = this.changedPrices[0]!;
    this.sizes[place] = this.changedSizes[0]!;
    crcs[node] = this.changedCrcs[0]!;
    while (node > 1) {
      if ((node & 1) === 0) delta = crcAdvance(delta, lengths[node + 1]!);
      node >>= 1;
      crcs[node] = crcs[node]! ^ delta;
    }
  }

  /** The CRC of a level's ":price:size" from a zero register, from its recorded text or its digits; sets `fed` to its length. */
  private levelCrc(isAsk: boolean, price: number, size: number): number {
    const text = this.texts.size > 0 ? this.texts.get(isAsk ? -price : price) : undefined;
    if (text !== undefined) {
      let c = COLON_CRC;
      for (let i = 0; i < text.length; i++) c = crcByte(c, text.charCodeAt(i));
      this.fed = 1 + text.length;
      return c;
    }
    const afterPrice = crcByte(this.feedDecimal(COLON_CRC, price, this.priceDecimals), COLON);
    const priceLength = this.fed;
    const crc = this.feedDecimal(afterPrice, size, this.sizeDecimals);
    this.fed += 2 + priceLength;
    return crc;
  }

  /**
   * Feeds a scaled integer as OKX writes it at `decimals`: integer digits, then a dot and the
   * fraction without its trailing zeros, if any is left ("30236", "0.0002"). Sets `fed`.
   */
  private feedDecimal(crc: number, value: number, decimals: number): number {
    const digits = this.digits;
    let count = digitsOf(value, digits);
    while (count <= decimals) digits[count++] = 0;
    let low = 0;
    while (low < decimals && digits[low] === 0) low++;
    let c = crc;
    let at = count;
    while (at > decimals) c = crcByte(c, 48 + digits[--at]!);
    if (low === decimals) {
      this.fed = count - decimals;
      return c;
    }
    c = crcByte(c, DOT);
    while (at > low) c = crcByte(c, 48 + digits[--at]!);
    this.fed = count - low + 1;
    return c;
  }
}
