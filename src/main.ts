#!/usr/bin/env bun
// The one executable. It runs a mode chosen by its first argument or by ALPHAPULSE_MODE, so a
// container needs no arguments: collect, relay, broadcast, simulate, demo, replay, inspect,
// healthcheck. With ALPHAPULSE_MODE set, the arguments are that mode's (`ALPHAPULSE_MODE=inspect
// alphapulse PATH`), unless the first one names a mode itself (a container's `alphapulse healthcheck`).
import pkg from "../package.json" with { type: "json" };
import { ConfigError, type Env, readProcessConfig, Settings } from "./config.ts";
import { installSignalHandlers } from "./lifecycle.ts";
import { log } from "./log.ts";

export interface Mode {
  readonly summary: string;
  readonly usage: string;
  /** False for modes configured by the environment alone: an argument is then a mistake. */
  readonly takesArguments: boolean;
  load(env: Env): Promise<{ run(args: string[], env: Env): Promise<void> }>;
}

/** Every mode, by name. A mode's module exports run(args, env). */
export const MODES: Record<string, Mode> = {
  collect: {
    summary: "connect to one exchange, rebuild exact books, write its ring",
    usage: "EXCHANGE=kraken SYMBOLS=BTC-USD,ETH-USD [NATS_URL=nats://...] alphapulse collect",
    takesArguments: false,
    // With NATS_URL, one of several collectors of the venue: the lease holder leads, the others stand by.
    load: (env) =>
      (env.NATS_URL ?? "").trim() === "" ? import("./collector/main.ts") : import("./fabric/collect.ts"),
  },
  relay: {
    summary: "copy one venue's NATS stream into a local ring, for a broadcaster on this node",
    usage: "EXCHANGE=kraken NATS_URL=nats://... alphapulse relay",
    takesArguments: false,
    load: () => import("./fabric/relay-main.ts"),
  },
  broadcast: {
    summary: "serve every ring to WebSocket and REST clients, with the live page",
    usage: "alphapulse broadcast",
    takesArguments: false,
    load: () => import("./broadcast/main.ts"),
  },
  simulate: {
    summary: "run the built-in exchange simulator (every venue's protocol) on loopback",
    usage: "alphapulse simulate",
    takesArguments: false,
    load: () => import("./simulator/main.ts"),
  },
  demo: {
    summary: "everything offline in one process tree: simulator, a collector per venue, broadcaster",
    usage: "alphapulse demo [--fabric]",
    takesArguments: true,
    load: () => import("./cli/demo.ts"),
  },
  replay: {
    summary: "feed captured frames through a venue adapter into a ring",
    usage: "EXCHANGE=binance alphapulse replay FILE...",
    takesArguments: true,
    load: () => import("./collector/replay.ts"),
  },
  inspect: {
    summary: "print a ring's header, symbols, latest books and last records",
    usage: "alphapulse inspect [PATH] [--json] [--records N] [--levels N]",
    takesArguments: true,
    load: () => import("./cli/inspect.ts"),
  },
  healthcheck: {
    summary: "exit 0 if this host's /health answers 200 (for container HEALTHCHECKs)",
    usage: "alphapulse healthcheck [URL]",
    takesArguments: true,
    load: () => import("./cli/healthcheck.ts"),
  },
};

export function helpText(): string {
  const width = Math.max(...Object.keys(MODES).map((name) => name.length));
  const lines = Object.entries(MODES).map(([name, mode]) => `  ${name.padEnd(width)}  ${mode.summary}`);
  return [
    `alphapulse ${pkg.version}: exact crypto market data, exchange -> shared memory -> WebSocket`,
    "",
    "usage: alphapulse <mode> [args]   (or ALPHAPULSE_MODE=<mode> alphapulse [args])",
    "",
    "modes:",
    ...lines,
    "",
    "common settings (environment): SHARED_MEMORY_PATH, METRICS_PORT, LOG_LEVEL, SHUTDOWN_GRACE_MS; see README.md",
  ].join("\n");
}

/** The mode to run and its arguments, or why there is none. */
type ModeChoice = { readonly name: string; readonly args: string[] } | { readonly error: string };

/**
 * A first argument that names a mode picks it, with the rest as its arguments. Otherwise
 * ALPHAPULSE_MODE picks the mode and every argument is that mode's.
 */
function chooseMode(argv: readonly string[], env: Env): ModeChoice {
  const [first, ...rest] = argv;
  if (first !== undefined && Object.hasOwn(MODES, first)) return { name: first, args: rest };
  const fromEnv = env.ALPHAPULSE_MODE;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!Object.hasOwn(MODES, fromEnv)) {
      return { error: `ALPHAPULSE_MODE: unknown mode "${fromEnv}"; one of ${Object.keys(MODES).join(", ")}` };
    }
    return { name: fromEnv, args: [...argv] };
  }
  if (first === undefined) {
    return { error: "no mode given: pass one (collect, broadcast, ...) or set ALPHAPULSE_MODE" };
  }
  return { error: `mode: unknown mode "${first}"; one of ${Object.keys(MODES).join(", ")}` };
}

async function main(argv: string[], env: Env): Promise<number> {
  const first = argv[0];
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(helpText());
    return 0;
  }
  if (first === "--version" || first === "-v") {
    console.log(pkg.version);
    return 0;
  }
  const choice = chooseMode(argv, env);
  if ("error" in choice) {
    console.error(`alphapulse: ${choice.error}`);
    if (first === undefined) console.error("run 'alphapulse --help' for the list");
    return 2;
  }
  const { name, args } = choice;
  const mode = MODES[name]!;
  if (!mode.takesArguments && args.length > 0) {
    console.error(
      `alphapulse ${name}: takes no arguments (settings come from the environment), got ${JSON.stringify(args[0])}; usage: ${mode.usage}`,
    );
    return 2;
  }
  try {
    const { logLevel, shutdownGraceMs } = readProcessConfig(new Settings(env));
    log.setLevel(logLevel);
    installSignalHandlers(shutdownGraceMs);
    await (await mode.load(env)).run(args, env);
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

// A broadcaster's fan-out workers run this same entry (so the compiled binary needs no second
// one) as threads: they take their part from workerData, not from the command line.
const fanoutWorker = Bun.isMainThread ? null : await import("./broadcast/worker.ts");
if (fanoutWorker?.isFanoutWorker()) {
  fanoutWorker.runFanoutWorker();
} else if (import.meta.main) {
  const code = await main(process.argv.slice(2), process.env);
  // Long-running modes keep the event loop alive; one-shot modes end here.
  if (code !== 0) process.exit(code);
}
