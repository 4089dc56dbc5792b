// The SDK's local order book: a snapshot plus the deltas after it, held as exact scaled
// integers (the snapshot says the decimals) and handed out as decimal strings.
import { parseScaled } from "../market/decimal.ts";
import type {
  BookValidity,
  DeltaMessage,
  EpochMicros,
  Level,
  SnapshotMessage,
} from "../protocol/messages.ts";
import { SortedLevels } from "../protocol/sorted-levels.ts";

export class LocalBook {
  priceDecimals = 0;
  sizeDecimals = 0;
  status: BookValidity = "unknown";
  /** Seq of the last message applied. */
  seq = -1;
  /** Exchange time of the last update. */
  ts: EpochMicros = 0;
  private bidSide = new SortedLevels(true, 0, 0);
  private askSide = new SortedLevels(false, 0, 0);
  private ready = false;

  constructor(
    readonly exchange: string,
    readonly symbol: string,
  ) {}

  /** True once a snapshot arrived (and no reset happened since). */
  get hasSnapshot(): boolean {
    return this.ready;
  }

  applySnapshot(message: SnapshotMessage): void {
    const [priceDecimals, sizeDecimals] = message.decimals;
    this.priceDecimals = priceDecimals;
    this.sizeDecimals = sizeDecimals;
    this.bidSide = new SortedLevels(true, priceDecimals, sizeDecimals);
    this.askSide = new SortedLevels(false, priceDecimals, sizeDecimals);
    for (const level of message.bids) this.setLevel(this.bidSide, level);
    for (const level of message.asks) this.setLevel(this.askSide, level);
    this.status = message.status;
    this.seq = message.seq;
    this.ts = message.ts;
    this.ready = true;
  }

  /** Applies a delta; throws if no snapshot came first (the client resubscribes then). */
  applyDelta(message: DeltaMessage): void {
    if (!this.ready) throw new Error(`${this.exchange} ${this.symbol}: delta before a snapshot`);
    for (const level of message.bids) this.setLevel(this.bidSide, level);
    for (const level of message.asks) this.setLevel(this.askSide, level);
    this.seq = message.seq;
    this.ts = message.ts;
  }

  /** Forgets the levels until the next snapshot (a gap, a writer restart). */
  reset(status: BookValidity): void {
    this.bidSide.clear();
    this.askSide.clear();
    this.status = status;
    this.ready = false;
  }

  bids(depth = Number.MAX_SAFE_INTEGER): Level[] {
    return this.bidSide.levels(depth);
  }

  asks(depth = Number.MAX_SAFE_INTEGER): Level[] {
    return this.askSide.levels(depth);
  }

  get bidCount(): number {
    return this.bidSide.count;
  }

  get askCount(): number {
    return this.askSide.count;
  }

  /** Best bid and ask as scaled integers are exact; as text they are the venue's digits. */
  bestBid(): Level | null {
    return this.bidSide.best();
  }

  bestAsk(): Level | null {
    return this.askSide.best();
  }

  private setLevel(side: SortedLevels, [price, size]: Level): void {
    side.set(parseScaled(price, this.priceDecimals), parseScaled(size, this.sizeDecimals));
  }
}
