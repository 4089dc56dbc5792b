// `alphapulse demo`: the whole plant offline in one command. It runs the exchange simulator, one
// collector per venue it simulates (src/exchanges/simulators.ts, with each venue's demo symbols)
// pointed at it, and the broadcaster with its live page, each as a child process of this same
// executable, and stops them all together. `demo --fabric` runs the fabric on one machine
// instead: a three-node nats-server cluster, two collectors per venue and two relay+broadcaster
// nodes (docs/fabric.md).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError, type Env, readCommonConfig, Settings } from "../config.ts";
import { SIMULATED_VENUES, type SimulatedVenueName } from "../exchanges/simulators.ts";
import { onShutdown, shutdown, shutdownRequested } from "../lifecycle.ts";
import { log } from "../log.ts";
import { simulatorUrls } from "../simulator/index.ts";
import { NATS_SERVER, natsNodeConfig } from "./nats-config.ts";

interface Child {
  readonly name: string;
  readonly env: Record<string, string>;
  /** Another program (nats-server) instead of a mode of this executable. */
  readonly command?: string[];
  /** Wait until this loopback port listens before starting the next child. */
  readonly waitPort?: number;
}

/** How to run this executable again: a compiled binary is its own entry; from source, bun + main.ts. */
function selfCommand(mode: string): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? [process.execPath, mode] : [process.execPath, Bun.main, mode];
}

export async function run(args: string[], env: Env): Promise<void> {
  const settings = new Settings(env);
  const simulatorPort = settings.port("SIMULATOR_PORT", 9100);
  const fabric = args.includes("--fabric");
  const unknown = args.filter((arg) => arg !== "--fabric");
  if (unknown.length > 0)
    throw new ConfigError("demo", `unknown argument ${unknown.join(" ")}; only --fabric`);
  const urls = simulatorUrls(`127.0.0.1:${simulatorPort}`);
  const venues: DemoVenue[] = (Object.keys(SIMULATED_VENUES) as SimulatedVenueName[]).map((exchange) => ({
    exchange,
    symbols: SIMULATED_VENUES[exchange].demoSymbols.join(","),
    ...urls[exchange],
  }));
  const collectorPort = settings.port("DEMO_COLLECTOR_METRICS_PORT", 8081);
  const children: Child[] = [
    { name: "simulate", env: { SIMULATOR_PORT: String(simulatorPort) }, waitPort: simulatorPort },
  ];
  let pages: Record<string, string>;
  if (fabric) {
    const plan = await fabricDemo(settings, env, venues, collectorPort);
    children.push(...plan.children);
    pages = plan.pages;
  } else {
    const websocketPort = settings.port("WEBSOCKET_PORT", 8765);
    const metricsPort = settings.port("METRICS_PORT", 8766);
    children.push(...venues.map((venue, i) => collector(venue, collectorPort + i)));
    children.push({
      name: "broadcast",
      env: { WEBSOCKET_PORT: String(websocketPort), METRICS_PORT: String(metricsPort) },
    });
    pages = {
      livePage: `http://127.0.0.1:${websocketPort}/`,
      websocket: `ws://127.0.0.1:${websocketPort}/ws`,
      metrics: `http://127.0.0.1:${metricsPort}/metrics`,
    };
  }

  const natsProcesses = new Set<ReturnType<typeof Bun.spawn>>();
  const running = new Set<ReturnType<typeof Bun.spawn>>();
  onShutdown("stop demo processes", async () => {
    // NATS last: the collectors hand their leases over through it.
    const nats = [...running].filter((child) => natsProcesses.has(child));
    for (const child of running) if (!natsProcesses.has(child)) child.kill("SIGTERM");
    await Promise.all([...running].filter((child) => !natsProcesses.has(child)).map((child) => child.exited));
    for (const child of nats) child.kill("SIGTERM");
    await Promise.all(nats.map((child) => child.exited));
  });

  for (const child of children) {
    const process_ = Bun.spawn(child.command ?? selfCommand(child.name), {
      env: { ...env, ...child.env, ALPHAPULSE_MODE: "" },
      // nats-server logs every route and leader change: the demo shows its own processes' logs only.
      stdout: child.command ? "ignore" : "inherit",
      stderr: child.command ? "ignore" : "inherit",
    });
    running.add(process_);
    if (child.command) natsProcesses.add(process_);
    process_.exited.then((code) => {
      running.delete(process_);
      if (!shutdownRequested()) {
        log.error("demo process exited; stopping the demo", { mode: child.name, ...child.env, code });
        void shutdown(`${child.name} exited`, 1);
      }
    });
    // The simulator and NATS must listen before the collectors dial them.
    if (child.waitPort !== undefined) await waitForPort(child.waitPort);
  }
  log.info("demo running", { ...pages, stop: "Ctrl-C" });
}

/** A venue the demo collects: its simulated feed's URLs and demo symbols. */
interface DemoVenue {
  readonly exchange: SimulatedVenueName;
  readonly symbols: string;
  readonly ws: string;
  readonly rest: string;
}

function collector(venue: DemoVenue, metricsPort: number): Child {
  return {
    name: "collect",
    env: {
      EXCHANGE: venue.exchange,
      SYMBOLS: venue.symbols,
      EXCHANGE_WS_URL: venue.ws,
      EXCHANGE_REST_URL: venue.rest,
      METRICS_PORT: String(metricsPort),
    },
  };
}

/**
 * The fabric on one machine: a three-node nats-server cluster on loopback, two collectors per
 * venue (one leads, one stands by) and two "nodes", each a relay per venue and a broadcaster
 * over its own ring folder.
 */
async function fabricDemo(
  settings: Settings,
  env: Env,
  venues: readonly DemoVenue[],
  collectorPort: number,
): Promise<{ children: Child[]; pages: Record<string, string> }> {
  if (!existsSync(NATS_SERVER)) {
    throw new ConfigError("demo --fabric", `needs nats-server (not found on PATH or at ${NATS_SERVER})`);
  }
  const natsPort = settings.port("DEMO_NATS_PORT", 14222);
  const websocketPort = settings.port("WEBSOCKET_PORT", 8765);
  const relayPort = settings.port("DEMO_RELAY_METRICS_PORT", 8091);
  const shm = readCommonConfig(settings).sharedMemoryPath;
  const store = mkdtempSync(path.join(tmpdir(), "alphapulse-demo-nats-"));
  onShutdown("remove the demo's NATS store", () => rmSync(store, { recursive: true, force: true }));
  const nodes = [0, 1, 2].map((i) => ({
    client: natsPort + i,
    cluster: natsPort + 10 + i,
    http: natsPort + 20 + i,
  }));
  const children: Child[] = nodes.map((ports, i) => {
    const config = path.join(store, `n${i + 1}.conf`);
    writeFileSync(config, natsNodeConfig(`n${i + 1}`, ports, path.join(store, `n${i + 1}`), nodes));
    return {
      name: `nats-server n${i + 1}`,
      env: {},
      command: [NATS_SERVER, "-c", config],
      waitPort: ports.client,
    };
  });
  const natsUrl = nodes.map((ports) => `nats://127.0.0.1:${ports.client}`).join(",");
  const fabricEnv = {
    NATS_URL: natsUrl,
    ...(env.FABRIC_LEASE_TTL_MS ? {} : { FABRIC_LEASE_TTL_MS: "10000" }),
  };
  venues.forEach((venue, i) => {
    for (const copy of [0, 1]) {
      const child = collector(venue, collectorPort + 2 * i + copy);
      Object.assign(child.env, fabricEnv, {
        SHARED_MEMORY_PATH: `${shm}/collector-${venue.exchange}-${copy + 1}`,
      });
      children.push(child);
    }
  });
  const pages: Record<string, string> = {};
  for (const [n, node] of ["a", "b"].entries()) {
    const dir = `${shm}/node-${node}`;
    venues.forEach(({ exchange }, i) => {
      const port = String(relayPort + venues.length * n + i);
      children.push({
        name: "relay",
        env: { ...fabricEnv, EXCHANGE: exchange, SHARED_MEMORY_PATH: dir, METRICS_PORT: port },
      });
    });
    const port = websocketPort + 10 * n;
    children.push({
      name: "broadcast",
      env: { WEBSOCKET_PORT: String(port), METRICS_PORT: String(port + 1), SHARED_MEMORY_PATH: dir },
    });
    pages[`node${node.toUpperCase()}LivePage`] = `http://127.0.0.1:${port}/`;
  }
  pages.nats = natsUrl;
  return { children, pages };
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      socket.end();
      return;
    } catch {
      await Bun.sleep(50);
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}
