// Every venue the collector can run, by EXCHANGE name: one line per venue folder. The simulator's
// side of each venue is listed beside this, in simulators.ts (docs/adding-a-venue.md).
import { binance } from "./binance/venue.ts";
import { coinbase } from "./coinbase/venue.ts";
import { kraken } from "./kraken/venue.ts";
import { okx } from "./okx/venue.ts";
import type { VenueDefinition } from "./venue.ts";

export const VENUE_DEFINITIONS = {
  kraken,
  binance,
  coinbase,
  okx,
} as const satisfies Record<string, VenueDefinition>;

export type ExchangeName = keyof typeof VENUE_DEFINITIONS;
export const EXCHANGE_NAMES = Object.keys(VENUE_DEFINITIONS) as ExchangeName[];
