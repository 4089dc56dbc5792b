#!/usr/bin/env bun
// The one executable. It runs a mode chosen by its first argument or by ALPHAPULSE_MODE, so a
// container needs no arguments: collect, relay, broadcast, simulate, demo, replay, inspect, healthcheck.
import pkg from "../package.json" with { type: "json" };
import { ConfigError, type Env } from "./config.ts";
import { installSignalHandlers } from "./lifecycle.ts";
import { log } from "./log.ts";

export interface Mode {
  readonly summary: string;
  readonly usage: string;
  load(env: Env): Promise<{ run(args: string[], env: Env): Promise<void> }>;
}

/** Every mode, by name. A mode's module exports run(args, env). */
export const MODES: Record<string, Mode> = {
  collect: {
    summary: "connect to one exchange, rebuild exact books, write its ring",
    usage: "EXCHANGE=kraken SYMBOLS=BTC-USD,ETH-USD [NATS_URL=nats://...] alphapulse collect",
    // With NATS_URL, one of several collectors of the venue: the lease holder leads, the others stand by.
    load: (env) =>
      (env.NATS_URL ?? "").trim() === "" ? import("./collector/main.ts") : import("./fabric/collect.ts"),
  },
  relay: {
    summary: "copy one venue's NATS stream into a local ring, for a broadcaster on this node",
    usage: "EXCHANGE=kraken NATS_URL=nats://... alphapulse relay",
    load: () => import("./fabric/relay-main.ts"),
  },
  broadcast: {
    summary: "serve every ring to WebSocket and REST clients, with the live page",
    usage: "alphapulse broadcast",
    load: () => import("./broadcast/main.ts"),
  },
  simulate: {
    summary: "run the built-in exchange simulator (Kraken, Binance, Coinbase) on loopback",
    usage: "alphapulse simulate",
    load: () => import("./simulator/main.ts"),
  },
  demo: {
    summary: "everything offline in one process tree: simulator, three collectors, broadcaster",
    usage: "alphapulse demo",
    load: () => import("./cli/demo.ts"),
  },
  replay: {
    summary: "feed captured frames through a venue adapter into a ring",
    usage: "EXCHANGE=binance alphapulse replay FILE...",
    load: () => import("./collector/replay.ts"),
  },
  inspect: {
    summary: "print a ring's header, symbols, latest books and last records",
    usage: "alphapulse inspect PATH",
    load: () => import("./cli/inspect.ts"),
  },
  healthcheck: {
    summary: "exit 0 if this host's /health answers 200 (for container HEALTHCHECKs)",
    usage: "alphapulse healthcheck [URL]",
    load: () => import("./cli/healthcheck.ts"),
  },
};

export function helpText(): string {
  const width = Math.max(...Object.keys(MODES).map((name) => name.length));
  const lines = Object.entries(MODES).map(([name, mode]) => `  ${name.padEnd(width)}  ${mode.summary}`);
  return [
    `alphapulse ${pkg.version}: exact crypto market data, exchange -> shared memory -> WebSocket`,
    "",
    "usage: alphapulse <mode> [args]   (or ALPHAPULSE_MODE=<mode> alphapulse)",
    "",
    "modes:",
    ...lines,
    "",
    "common settings (environment): SHARED_MEMORY_PATH, METRICS_PORT, LOG_LEVEL; see README.md",
  ].join("\n");
}

async function main(argv: string[], env: Env): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(helpText());
    return 0;
  }
  if (first === "--version" || first === "-v") {
    console.log(pkg.version);
    return 0;
  }
  const name = first ?? env.ALPHAPULSE_MODE;
  if (name === undefined || name === "") {
    console.error("alphapulse: no mode given: pass one (collect, broadcast, ...) or set ALPHAPULSE_MODE");
    console.error("run 'alphapulse --help' for the list");
    return 2;
  }
  const mode = MODES[name];
  if (mode === undefined) {
    const source = first === undefined ? "ALPHAPULSE_MODE" : "mode";
    console.error(`alphapulse: ${source}: unknown mode "${name}"; one of ${Object.keys(MODES).join(", ")}`);
    return 2;
  }
  installSignalHandlers();
  try {
    await (await mode.load(env)).run(first === undefined ? [] : rest, env);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`alphapulse ${name}: ${error.message}`);
      return 2;
    }
    log.error("fatal", { mode: name, error });
    return 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2), process.env);
  // Long-running modes keep the event loop alive; one-shot modes end here.
  if (code !== 0) process.exit(code);
}
