// `alphapulse simulate`: the exchange simulator as a service. Settings from the environment
// (SIMULATOR_*, and each venue's own), the venue URLs logged at start, a clean stop on
// SIGTERM/SIGINT.
import { ConfigError, type Env, Settings } from "../config.ts";
import { SIMULATED_VENUES, type SimulatedVenueName } from "../exchanges/simulators.ts";
import { onShutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { DEFAULT_SYMBOLS, type SimulatorOptions, startSimulator, type VenueOptions } from "./index.ts";
import { parseSymbol, UnknownSymbolError } from "./instruments.ts";
import type { SimulatedVenue } from "./venue.ts";

export function readSimulatorOptions(env: Env): SimulatorOptions {
  const settings = new Settings(env);
  const symbols = settings.list("SIMULATOR_SYMBOLS", DEFAULT_SYMBOLS);
  for (const symbol of symbols) {
    try {
      parseSymbol(symbol);
    } catch (error) {
      if (error instanceof UnknownSymbolError) throw new ConfigError("SIMULATOR_SYMBOLS", error.message);
      throw error;
    }
  }
  const venueOptions: Record<string, unknown> = {};
  for (const name of Object.keys(SIMULATED_VENUES) as SimulatedVenueName[]) {
    const venue: SimulatedVenue = SIMULATED_VENUES[name];
    if (venue.readSettings !== undefined) venueOptions[name] = venue.readSettings(settings);
  }
  return {
    ...(venueOptions as VenueOptions),
    port: settings.port("SIMULATOR_PORT", 9100),
    hostname: settings.string("SIMULATOR_HOST", "127.0.0.1"),
    symbols,
    seed: settings.int("SIMULATOR_SEED", 1, 0, 2 ** 32 - 1),
    updatesPerSecond: settings.int("SIMULATOR_UPDATES_PER_SECOND", 20, 0, 100_000),
    tradesPerSecond: settings.int("SIMULATOR_TRADES_PER_SECOND", 2, 0, 100_000),
    bookLevels: settings.int("SIMULATOR_BOOK_LEVELS", 1_000, 10, 20_000),
  };
}

export async function run(_args: string[], env: Env): Promise<void> {
  const options = readSimulatorOptions(env);
  const simulator = startSimulator(options);
  onShutdown("simulator", () => simulator.stop());
  log.info("simulator listening", {
    port: simulator.port,
    symbols: options.symbols,
    seed: options.seed,
    updatesPerSecond: options.updatesPerSecond,
    tradesPerSecond: options.tradesPerSecond,
    urls: simulator.urls,
    control: `http://${options.hostname}:${simulator.port}/control/`,
  });
}
