// `alphapulse simulate`: the exchange simulator as a service. Settings from the environment
// (SIMULATOR_*), the venue URLs logged at start, a clean stop on SIGTERM/SIGINT.
import { ConfigError, type Env, Settings } from "../config.ts";
import { onShutdown } from "../lifecycle.ts";
import { log } from "../log.ts";
import { COINBASE_DEFAULTS, type CoinbaseTradeSide } from "./coinbase.ts";
import { type SimulatorOptions, startSimulator } from "./index.ts";
import { DEFAULT_SYMBOLS, parseSymbol, UnknownSymbolError } from "./instruments.ts";

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
  const host = settings.string("SIMULATOR_HOST", "127.0.0.1");
  return {
    port: settings.port("SIMULATOR_PORT", 9100),
    hostname: host,
    symbols,
    seed: settings.int("SIMULATOR_SEED", 1, 0, 2 ** 32 - 1),
    updatesPerSecond: settings.int("SIMULATOR_UPDATES_PER_SECOND", 20, 0, 100_000),
    tradesPerSecond: settings.int("SIMULATOR_TRADES_PER_SECOND", 2, 0, 100_000),
    bookLevels: settings.int("SIMULATOR_BOOK_LEVELS", 1_000, 10, 20_000),
    coinbase: {
      tradeSide: settings.oneOf<CoinbaseTradeSide>(
        "SIMULATOR_COINBASE_TRADE_SIDE",
        ["maker", "taker"],
        COINBASE_DEFAULTS.tradeSide,
      ),
    },
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
