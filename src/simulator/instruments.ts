// What each venue lists for a normalized symbol (BTC-USD): its venue form and its exact precisions.
// The simulator serves every configured symbol on every venue, so these follow each venue's real
// conventions for the well-known pairs and a magnitude rule for the rest.

export const VENUES = ["kraken", "binance", "coinbase"] as const;
export type Venue = (typeof VENUES)[number];

export interface Instrument {
  readonly venue: Venue;
  /** Normalized BASE-QUOTE, e.g. BTC-USD. */
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  /** The venue's own spelling: BTC/USD (Kraken), BTCUSD (Binance), BTC-USD (Coinbase). */
  readonly venueSymbol: string;
  /** Decimals of one price tick; a tick is one unit of the scaled price. */
  readonly priceDecimals: number;
  /** Decimals of one size step; a step is one unit of the scaled size. */
  readonly sizeDecimals: number;
  /** Starting mid price, scaled by priceDecimals. */
  readonly startPrice: number;
}

export const DEFAULT_SYMBOLS: readonly string[] = ["BTC-USD", "ETH-USD", "SOL-USD", "BTC-USDT", "ETH-USDT"];

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

export function instrumentFor(venue: Venue, symbol: string): Instrument {
  const { base, quote } = parseSymbol(symbol);
  const start = START_PRICES[base] ?? 100;
  let priceDecimals: number;
  let sizeDecimals: number;
  let venueSymbol: string;
  switch (venue) {
    case "kraken":
      // Kraken: BTC/USD 1/8, ETH/USD 2/8, SOL/USD 2/8 (instrument channel), DOGE 5.
      priceDecimals = start >= 10_000 ? 1 : start >= 1 ? 2 : 5;
      sizeDecimals = 8;
      venueSymbol = `${base}/${quote}`;
      break;
    case "binance":
      // Binance: tickSize 0.01 for the majors; stepSize 0.00001 BTC, 0.0001 ETH, 0.001 SOL.
      priceDecimals = start >= 1 ? 2 : 5;
      sizeDecimals = start >= 10_000 ? 5 : start >= 1_000 ? 4 : start >= 10 ? 3 : 0;
      venueSymbol = `${base}${quote}`;
      break;
    case "coinbase":
      // Coinbase: quote_increment 0.01, base_increment 0.00000001 for the majors.
      priceDecimals = start >= 1 ? 2 : 5;
      sizeDecimals = 8;
      venueSymbol = `${base}-${quote}`;
      break;
  }
  // start is a plain literal with few decimals: scaling it by a power of ten is exact here.
  const startPrice = Math.round(start * 10 ** priceDecimals);
  return { venue, symbol, base, quote, venueSymbol, priceDecimals, sizeDecimals, startPrice };
}
