// A real AlphaPulse stack on loopback for the ops tests and bench: the simulator, collectors
// pointed at it and a broadcaster over their rings, each its own `alphapulse <mode>` process with
// its own ports and a /dev/shm/ap-test-ops-* directory. Everything it starts, it stops and removes.
import { rmSync } from "node:fs";
import path from "node:path";
import type { Subprocess } from "bun";
import { EXCHANGE_NAMES, type ExchangeName } from "../../src/exchanges/registry.ts";
import { SIMULATED_VENUES } from "../../src/exchanges/simulators.ts";
import { simulatorUrls } from "../../src/simulator/index.ts";
import { REPO_ROOT } from "./ops-source-settings.ts";

export interface StackProcess {
  readonly name: string;
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly output: () => string;
}

/** Polls `check` every `intervalMs` until it returns a value (not undefined), or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await Bun.sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${lastError === undefined ? "" : `: ${String(lastError)}`}`);
}

export async function httpStatus(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

export class OpsStack {
  readonly shmDir: string;
  readonly processes: StackProcess[] = [];

  /** `command` runs the binary: the source by default, or a compiled dist/alphapulse. */
  constructor(
    readonly name: string,
    readonly basePort: number,
    readonly command: string[] = ["bun", path.join(REPO_ROOT, "src/main.ts")],
  ) {
    this.shmDir = `/dev/shm/ap-test-ops-${name}-${process.pid}`;
  }

  get simulatorPort(): number {
    return this.basePort;
  }
  get websocketPort(): number {
    return this.basePort + 1;
  }
  get broadcasterMetricsPort(): number {
    return this.basePort + 2;
  }
  /** Collector metrics ports follow, one per venue in registry order: +3, +4, ... */
  collectorMetricsPort(exchange: ExchangeName): number {
    return this.basePort + 3 + EXCHANGE_NAMES.indexOf(exchange);
  }

  start(name: string, mode: string, env: Record<string, string>): StackProcess {
    const proc = Bun.spawn([...this.command, mode], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/tmp",
        LOG_LEVEL: "warn",
        ...env,
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let text = "";
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) text = (text + decoder.decode(chunk)).slice(-20_000);
    };
    void drain(proc.stdout);
    void drain(proc.stderr);
    const started: StackProcess = { name, proc, output: () => text };
    this.processes.push(started);
    return started;
  }

  /** The simulator, serving every venue's demo symbols. */
  startSimulator(): StackProcess {
    return this.start("simulator", "simulate", {
      SIMULATOR_PORT: String(this.simulatorPort),
      SIMULATOR_HOST: "127.0.0.1",
      SIMULATOR_UPDATES_PER_SECOND: "50",
      SIMULATOR_TRADES_PER_SECOND: "10",
    });
  }

  /** A collector of the venue's demo symbols, pointed at the simulator. */
  startCollector(exchange: ExchangeName): StackProcess {
    const urls = simulatorUrls(`127.0.0.1:${this.simulatorPort}`)[exchange];
    return this.start(`${exchange}-collector`, "collect", {
      EXCHANGE: exchange,
      SYMBOLS: SIMULATED_VENUES[exchange].demoSymbols.join(","),
      EXCHANGE_WS_URL: urls.ws,
      EXCHANGE_REST_URL: urls.rest,
      METRICS_PORT: String(this.collectorMetricsPort(exchange)),
      SHARED_MEMORY_PATH: this.shmDir,
      RING_CAPACITY: "16384",
    });
  }

  startBroadcaster(): StackProcess {
    return this.start("broadcaster", "broadcast", {
      WEBSOCKET_PORT: String(this.websocketPort),
      METRICS_PORT: String(this.broadcasterMetricsPort),
      BROADCAST_HOST: "127.0.0.1",
      SHARED_MEMORY_PATH: this.shmDir,
    });
  }

  /** Waits until `url` answers 200, failing early (with its output) if the process died. */
  async waitReady(process: StackProcess, url: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${process.name} ${url}`,
      async () => {
        if (process.proc.exitCode !== null) {
          throw new Error(`${process.name} exited ${process.proc.exitCode}: ${process.output()}`);
        }
        return (await httpStatus(url)) === 200 ? true : undefined;
      },
      timeoutMs,
    );
  }

  async stopProcess(process: StackProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (process.proc.exitCode === null && process.proc.signalCode === null) {
      process.proc.kill(signal);
      const timer = setTimeout(() => process.proc.kill("SIGKILL"), 30_000);
      await process.proc.exited;
      clearTimeout(timer);
    }
    return process.proc.exitCode ?? -1;
  }

  /** Stops everything (broadcaster first, simulator last) and removes the rings. */
  async stop(): Promise<void> {
    for (const process of [...this.processes].reverse()) await this.stopProcess(process);
    rmSync(this.shmDir, { recursive: true, force: true });
  }
}
