// Every venue the collector can run, by EXCHANGE name. Adding one is its folder plus one line here.
import { binance } from "./binance/venue.ts";
import { coinbase } from "./coinbase/venue.ts";
import { kraken } from "./kraken/venue.ts";
import type { VenueDefinition } from "./venue.ts";

export const VENUES = {
  kraken,
  binance,
  coinbase,
} as const satisfies Record<string, VenueDefinition>;

export type ExchangeName = keyof typeof VENUES;
export const EXCHANGE_NAMES = Object.keys(VENUES) as ExchangeName[];
