// Every venue the simulator speaks, by EXCHANGE name: one line per venue folder, beside
// registry.ts (a venue the collector runs is a venue the simulator serves). The engine that
// runs them is src/simulator.
import type { SimulatedVenue } from "../simulator/venue.ts";
import { binanceSimulator } from "./binance/simulator.ts";
import { coinbaseSimulator } from "./coinbase/simulator.ts";
import { krakenSimulator } from "./kraken/simulator.ts";
import { okxSimulator } from "./okx/simulator.ts";
import type { ExchangeName } from "./registry.ts";

export const SIMULATED_VENUES = {
  kraken: krakenSimulator,
  binance: binanceSimulator,
  coinbase: coinbaseSimulator,
  okx: okxSimulator,
} as const satisfies Record<ExchangeName, SimulatedVenue>;

export type SimulatedVenueName = keyof typeof SIMULATED_VENUES;
