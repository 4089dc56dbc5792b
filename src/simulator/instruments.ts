// What a venue lists for a normalized symbol (BTC-USD): its venue form and its exact precisions.
// The simulator serves every configured symbol on every venue: each venue's listing rule (in its
// folder's simulator.ts) follows its real conventions for the well-known pairs and a magnitude
// rule for the rest, from the rough starting prices here.

/** A venue's spelling and precisions of one pair. */
interface Listing {
  /** The venue's own spelling: BTC/USD (Kraken), BTCUSD (Binance), BTC-USD (Coinbase). */
  readonly venueSymbol: string;
  /** Decimals of one price tick; a tick is one unit of the scaled price. */
  readonly priceDecimals: number;
  /** Decimals of one size step; a step is one unit of the scaled size. */
  readonly sizeDecimals: number;
}

/** How a venue lists BASE-QUOTE, given the pair's starting price in quote units. */
export type ListingRule = (base: string, quote: string, startPrice: number) => Listing;

export interface Instrument extends Listing {
  readonly venue: string;
  /** Normalized BASE-QUOTE, e.g. BTC-USD. */
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  /** Starting mid price, scaled by priceDecimals. */
  readonly startPrice: number;
}

/** Rough starting prices in quote units; any other base starts at 100. */
const START_PRICES: Readonly<Record<string, number>> = { BTC: 60_000, ETH: 3_000, SOL: 150, DOGE: 0.1 };

export class UnknownSymbolError extends Error {
  constructor(readonly symbol: string) {
    super(`"${symbol}" is not a BASE-QUOTE symbol such as BTC-USD`);
    this.name = "UnknownSymbolError";
  }
}

export function parseSymbol(symbol: string): { base: string; quote: string } {
  const match = /^([A-Z0-9]{2,10})-([A-Z0-9]{2,10})$/.exec(symbol);
  if (!match) throw new UnknownSymbolError(symbol);
  return { base: match[1]!, quote: match[2]! };
}

/** The instrument `venue` lists for `symbol`, by its listing rule. */
export function instrumentFor(
  venue: { readonly name: string; readonly listing: ListingRule },
  symbol: string,
): Instrument {
  const { base, quote } = parseSymbol(symbol);
  const start = START_PRICES[base] ?? 100;
  const listing = venue.listing(base, quote, start);
  // start is a plain literal with few decimals: scaling it by a power of ten is exact here.
  const startPrice = Math.round(start * 10 ** listing.priceDecimals);
  return { venue: venue.name, symbol, base, quote, ...listing, startPrice };
}
