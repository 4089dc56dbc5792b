// Test support: the fabric on loopback. Real nats-server nodes (./nats.ts), the simulator, and
// `alphapulse collect` (with NATS_URL) and `alphapulse relay` processes, each with its own ring
// folder under one /dev/shm test folder and its own free metrics port. Everything it starts,
// it kills and removes at stop().
import { rmSync } from "node:fs";
import type { Subprocess } from "bun";
import type { SimulatedVenueName } from "../../src/exchanges/simulators.ts";
import type { Simulator } from "../../src/simulator/index.ts";
import { metricSumIn } from "./collector-readings.ts";
import { freePort, type NatsCluster } from "./nats.ts";
import { waitFor } from "./wait.ts";

const ROOT = `${import.meta.dir}/../..`;

export class FabricProcess {
  private text = "";

  constructor(
    readonly name: string,
    readonly venue: SimulatedVenueName,
    /** Its SHARED_MEMORY_PATH. */
    readonly dir: string,
    readonly metricsPort: number,
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
  ) {
    for (const stream of [proc.stdout, proc.stderr]) {
      void (async () => {
        for await (const chunk of stream)
          this.text = (this.text + new TextDecoder().decode(chunk)).slice(-50_000);
      })();
    }
  }

  get ring(): string {
    return `${this.dir}/${this.venue}.ring`;
  }

  /** Its log lines so far (the last 50 kB), for a failing test's message. */
  output(): string {
    return this.text;
  }

  async ready(): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.metricsPort}/ready`, {
        signal: AbortSignal.timeout(2000),
      });
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** Sum of a metric's samples whose labels include every given pair; NaN when unreachable. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    let text: string;
    try {
      text = await (
        await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })
      ).text();
    } catch {
      return Number.NaN;
    }
    return metricSumIn(text, name, labels);
  }

  async leads(): Promise<boolean> {
    return (await this.metric("alphapulse_fabric_leader")) === 1;
  }

  kill(signal: "SIGKILL" | "SIGTERM" | "SIGSTOP" | "SIGCONT" = "SIGTERM"): void {
    this.proc.kill(signal);
  }
}

export class FabricStack {
  readonly dir: string;
  readonly processes: FabricProcess[] = [];

  constructor(
    name: string,
    readonly nats: NatsCluster,
    readonly simulator: Simulator,
    readonly symbols: readonly string[],
    readonly depth: number,
    /** Settings every process gets (FABRIC_LEASE_TTL_MS, ...). */
    readonly env: Record<string, string> = {},
  ) {
    this.dir = `/dev/shm/ap-test-fabric-${name}-${process.pid}`;
  }

  async collector(
    name: string,
    venue: SimulatedVenueName,
    env: Record<string, string> = {},
  ): Promise<FabricProcess> {
    const urls = this.simulator.urls[venue];
    return this.start(name, "collect", venue, {
      SYMBOLS: this.symbols.join(","),
      BOOK_DEPTH: String(this.depth),
      EXCHANGE_WS_URL: urls.ws,
      EXCHANGE_REST_URL: "rest" in urls ? urls.rest : "",
      ...env,
    });
  }

  async relay(
    name: string,
    venue: SimulatedVenueName,
    env: Record<string, string> = {},
  ): Promise<FabricProcess> {
    return this.start(name, "relay", venue, env);
  }

  private async start(
    name: string,
    mode: string,
    venue: SimulatedVenueName,
    env: Record<string, string>,
  ): Promise<FabricProcess> {
    const dir = `${this.dir}/${name}`;
    const metricsPort = await freePort();
    const proc = Bun.spawn(["bun", "src/main.ts", mode], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/tmp",
        LOG_LEVEL: "info",
        SHUTDOWN_GRACE_MS: "5000",
        EXCHANGE: venue,
        SHARED_MEMORY_PATH: dir,
        METRICS_PORT: String(metricsPort),
        NATS_URL: this.nats.urls,
        ...this.env,
        ...env,
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const started = new FabricProcess(name, venue, dir, metricsPort, proc);
    this.processes.push(started);
    return started;
  }

  /** The one collector of `venue` that leads, once exactly one does. */
  async leader(venue: SimulatedVenueName, timeoutMs = 30_000): Promise<FabricProcess> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const collectors = this.processes.filter((p) => p.venue === venue && p.proc.exitCode === null);
      const leading: FabricProcess[] = [];
      for (const p of collectors) if (await p.leads()) leading.push(p);
      if (leading.length === 1) return leading[0]!;
      if (Date.now() > deadline) throw new Error(`${venue}: ${leading.length} leaders after ${timeoutMs} ms`);
      await Bun.sleep(100);
    }
  }

  /** Everything the processes logged, for a failing test's message. */
  logs(): string {
    return this.processes.map((p) => `--- ${p.name}\n${p.output().slice(-8000)}`).join("\n");
  }

  async stop(): Promise<void> {
    for (const p of this.processes) {
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    }
    await Promise.all(this.processes.map((p) => p.proc.exited));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * waitFor (./wait.ts) every 100 ms for `check` to be true, with `detail()` (the processes' logs)
 * added to the error when it times out.
 */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  detail: () => string = () => "",
): Promise<void> {
  await waitFor(what, check, { timeoutMs, intervalMs: 100 }).catch((error: Error) => {
    throw new Error(`${error.message}\n${detail()}`);
  });
}
