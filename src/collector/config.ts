// The collector's settings, from the environment (src/config.ts accessors): which exchange and
// symbols, book depth, endpoints, ring, metrics port, capture. The ring's name and capacity are
// also a relay's (src/fabric).
import { ConfigError, type Settings } from "../config.ts";
import { EXCHANGE_NAMES, type ExchangeName, VENUE_DEFINITIONS } from "../exchanges/registry.ts";
import { isPowerOfTwo } from "../shm/layout.ts";

export interface CollectorConfig {
  readonly exchange: ExchangeName;
  readonly symbols: string[];
  readonly depth: number;
  readonly wsUrl: string;
  readonly restUrl: string;
  readonly ringName: string;
  readonly ringCapacity: number;
  readonly metricsPort: number;
  readonly capturePath: string | undefined;
  readonly captureMaxBytes: number;
  readonly maxFrameBytes: number;
}

/**
 * `ringSuffix` follows the exchange in the default RING_NAME: `replay` writes "kraken-replay",
 * never the live collector's ring.
 */
export function readCollectorConfig(settings: Settings, ringSuffix = ""): CollectorConfig {
  const exchange = settings.oneOf("EXCHANGE", EXCHANGE_NAMES, "kraken");
  const definition = VENUE_DEFINITIONS[exchange];
  const symbols = settings.list("SYMBOLS", []).map((s) => s.toUpperCase());
  if (symbols.length === 0)
    throw new ConfigError("SYMBOLS", "give at least one symbol, e.g. BTC-USD,ETH-USD");
  const duplicate = symbols.find((s, i) => symbols.indexOf(s) !== i);
  if (duplicate) throw new ConfigError("SYMBOLS", `${duplicate} appears twice`);
  return {
    exchange,
    symbols,
    depth: settings.int("BOOK_DEPTH", definition.defaultDepth, 1, 1000),
    wsUrl: trimSlash(settings.string("EXCHANGE_WS_URL", definition.defaultWsUrl)),
    restUrl: trimSlash(settings.string("EXCHANGE_REST_URL", definition.defaultRestUrl)),
    ...readRingConfig(settings, `${exchange}${ringSuffix}`),
    metricsPort: settings.port("METRICS_PORT", 8080),
    capturePath: settings.optionalString("CAPTURE_PATH"),
    captureMaxBytes: settings.int("CAPTURE_MAX_BYTES", 256 << 20, 1 << 16, 2 ** 40),
    maxFrameBytes: settings.int("MAX_FRAME_BYTES", 64 << 20, 1024, 1 << 30),
  };
}

/** The ring a writer writes: RING_NAME (`defaultName`, the exchange for a live ring) and RING_CAPACITY. */
export function readRingConfig(
  settings: Settings,
  defaultName: string,
): { ringName: string; ringCapacity: number } {
  const ringCapacity = settings.int("RING_CAPACITY", 1 << 18, 1024, 1 << 30);
  if (!isPowerOfTwo(ringCapacity))
    throw new ConfigError("RING_CAPACITY", `${ringCapacity} is not a power of two`);
  const ringName = settings.string("RING_NAME", defaultName);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(ringName)) {
    throw new ConfigError("RING_NAME", `"${ringName}" must be 1-64 letters, digits, _ or -`);
  }
  return { ringName, ringCapacity };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
