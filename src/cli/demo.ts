// `alphapulse demo`: the whole plant offline in one command. It runs the exchange simulator, one
// collector per venue it simulates (src/exchanges/simulators.ts, with each venue's demo symbols)
// pointed at it, and the broadcaster with its live page, each as a child process of this same
// executable, and stops them all together.
import { type Env, Settings } from "../config.ts";
import { SIMULATED_VENUES, type SimulatedVenueName } from "../exchanges/simulators.ts";
import { onShutdown, shutdown, shutdownRequested } from "../lifecycle.ts";
import { log } from "../log.ts";
import { simulatorUrls } from "../simulator/index.ts";

interface Child {
  readonly name: string;
  readonly env: Record<string, string>;
}

/** How to run this executable again: a compiled binary is its own entry; from source, bun + main.ts. */
function selfCommand(mode: string): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? [process.execPath, mode] : [process.execPath, Bun.main, mode];
}

export async function run(_args: string[], env: Env): Promise<void> {
  const settings = new Settings(env);
  const simulatorPort = settings.port("SIMULATOR_PORT", 9100);
  const websocketPort = settings.port("WEBSOCKET_PORT", 8765);
  const metricsPort = settings.port("METRICS_PORT", 8766);
  const collectorMetricsPort = settings.port("DEMO_COLLECTOR_METRICS_PORT", 8081);
  const urls = simulatorUrls(`127.0.0.1:${simulatorPort}`);
  const exchanges = Object.keys(SIMULATED_VENUES) as SimulatedVenueName[];
  const children: Child[] = [
    { name: "simulate", env: { SIMULATOR_PORT: String(simulatorPort) } },
    ...exchanges.map((exchange, i) => ({
      name: "collect",
      env: {
        EXCHANGE: exchange,
        SYMBOLS: SIMULATED_VENUES[exchange].demoSymbols.join(","),
        EXCHANGE_WS_URL: urls[exchange].ws,
        EXCHANGE_REST_URL: urls[exchange].rest,
        METRICS_PORT: String(collectorMetricsPort + i),
      },
    })),
    { name: "broadcast", env: { WEBSOCKET_PORT: String(websocketPort), METRICS_PORT: String(metricsPort) } },
  ];

  const running = new Set<ReturnType<typeof Bun.spawn>>();
  onShutdown("stop demo processes", async () => {
    for (const child of running) child.kill("SIGTERM");
    await Promise.all([...running].map((child) => child.exited));
  });

  for (const child of children) {
    const process_ = Bun.spawn(selfCommand(child.name), {
      env: { ...env, ...child.env, ALPHAPULSE_MODE: "" },
      stdout: "inherit",
      stderr: "inherit",
    });
    running.add(process_);
    process_.exited.then((code) => {
      running.delete(process_);
      if (!shutdownRequested()) {
        log.error("demo process exited; stopping the demo", { mode: child.name, ...child.env, code });
        void shutdown(`${child.name} exited`, 1);
      }
    });
    // The simulator must listen before the collectors dial it.
    if (child.name === "simulate") await waitForPort(simulatorPort);
  }
  log.info("demo running", {
    livePage: `http://127.0.0.1:${websocketPort}/`,
    websocket: `ws://127.0.0.1:${websocketPort}/ws`,
    metrics: `http://127.0.0.1:${metricsPort}/metrics`,
    stop: "Ctrl-C",
  });
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
