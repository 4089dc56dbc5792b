// A real AlphaPulse stack on loopback for the ops tests and bench: the simulator, collectors
// pointed at it and a broadcaster over their rings, each its own `alphapulse <mode>` process on
// ports it picks itself, with a /dev/shm/ap-test-ops-* directory. Everything it starts, it stops
// and removes.
import { rmSync } from "node:fs";
import type { ExchangeName } from "../../src/exchanges/registry.ts";
import { SIMULATED_VENUES } from "../../src/exchanges/simulators.ts";
import {
  type BroadcasterProcess,
  type CollectorProcess,
  FROM_SOURCE,
  type ModeProcess,
  type SimulatorProcess,
  startBroadcasterProcess,
  startCollectorProcess,
  startSimulatorProcess,
} from "./mode-process.ts";
import { httpStatus, waitFor } from "./wait.ts";

export class OpsStack {
  readonly shmDir: string;
  readonly processes: ModeProcess[] = [];
  private simulatorProcess: SimulatorProcess | undefined;

  /** `command` runs the binary: the source by default, or a compiled dist/alphapulse. */
  constructor(
    readonly name: string,
    readonly command: readonly string[] = FROM_SOURCE,
  ) {
    this.shmDir = `/dev/shm/ap-test-ops-${name}-${process.pid}`;
  }

  /** The running simulator (started by `startSimulator`). */
  get simulator(): SimulatorProcess {
    if (this.simulatorProcess === undefined) throw new Error("OpsStack: start the simulator first");
    return this.simulatorProcess;
  }

  /** The simulator, serving every venue's demo symbols. */
  async startSimulator(): Promise<SimulatorProcess> {
    this.simulatorProcess = await this.track(
      startSimulatorProcess(
        {
          SIMULATOR_UPDATES_PER_SECOND: "50",
          SIMULATOR_TRADES_PER_SECOND: "10",
        },
        this.command,
      ),
    );
    return this.simulatorProcess;
  }

  /**
   * A collector of the venue's demo symbols, pointed at the simulator; `settings` add to its
   * environment (RING_NAME...).
   */
  startCollector(venue: ExchangeName, settings: Record<string, string> = {}): Promise<CollectorProcess> {
    return this.track(
      startCollectorProcess(
        venue,
        this.simulator.urls,
        {
          SYMBOLS: SIMULATED_VENUES[venue].demoSymbols.join(","),
          SHARED_MEMORY_PATH: this.shmDir,
          RING_CAPACITY: "16384",
          ...settings,
        },
        this.command,
        `${venue}-collector${settings.RING_NAME ? ` ${settings.RING_NAME}` : ""}`,
      ),
    );
  }

  /** A broadcaster over the stack's rings; `settings` add to its environment. */
  startBroadcaster(settings: Record<string, string> = {}): Promise<BroadcasterProcess> {
    return this.track(
      startBroadcasterProcess({ SHARED_MEMORY_PATH: this.shmDir, ...settings }, this.command),
    );
  }

  /** Waits until `url` answers 200, failing early (with its output) if the process died. */
  async waitReady(process: ModeProcess, url: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${process.name} ${url}`,
      async () => {
        if (process.proc.exitCode !== null) {
          throw new Error(`${process.name} exited ${process.proc.exitCode}: ${process.output()}`);
        }
        return (await httpStatus(url)) === 200;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  /** Stops everything (broadcaster first, simulator last) and removes the rings. */
  async stop(): Promise<void> {
    for (const process of [...this.processes].reverse()) await process.stop();
    rmSync(this.shmDir, { recursive: true, force: true });
  }

  private async track<T extends { process: ModeProcess }>(starting: Promise<T>): Promise<T> {
    const started = await starting;
    this.processes.push(started.process);
    return started;
  }
}
